//! `--format` as docker users write it (issue 9, items 16 and 17), and a closed stdout.
//!
//! Expected values were recorded from Docker 20.10.24 on this machine, on an image built from
//! the same Dockerfile (`FROM <busybox>` + `USER 4242`, BuildKit) and tagged `c9-groups`:
//! `docker inspect -f TEMPLATE c9-groups`, `docker images --format …`, `docker ps -a
//! --format …`, `docker history --format …`.

mod common;

use common::{context, Kiln};
use std::os::unix::process::ExitStatusExt;

fn image(k: &Kiln) {
    let ctx = context(&[("Dockerfile", "FROM busybox\nUSER 4242\n")]);
    k.build_ok(ctx.path(), "c9-groups", &[]);
}

#[test]
fn inspect_templates_print_what_docker_prints() {
    let k = Kiln::new();
    image(&k);
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (tpl, docker) in [
        ("{{.Config.Env}}", format!("[{path}]")),
        ("{{.Config.Cmd}}", "[]".into()),
        ("{{.Config.Entrypoint}}", "[]".into()),
        ("{{json .Config.Cmd}}", "null".into()),
        ("{{.Config.Labels}}", "map[]".into()),
        ("{{json .Config.Labels}}", "null".into()),
        ("{{.Config.User}}", "4242".into()),
        ("{{index .RepoTags 0}}", "c9-groups:latest".into()),
        (
            "{{range .RepoTags}}[{{.}}]{{end}}",
            "[c9-groups:latest]".into(),
        ),
        ("{{if .Config.Cmd}}cmd{{else}}nocmd{{end}}", "nocmd".into()),
        ("{{join .Config.Env \",\"}}", path.into()),
        ("{{println .Os}}", "linux\n".into()),
        (
            "{{upper .Os}}|{{lower \"ABC\"}}|{{title \"hello world\"}}",
            "LINUX|abc|Hello World".into(),
        ),
        ("{{.Architecture}} {{.Os}}", "amd64 linux".into()),
        ("{{split \"a,b\" \",\"}}", "[a b]".into()),
        ("{{.Config.Env | len}}", "1".into()),
        (
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}",
            "".into(),
        ),
        ("{{json \"<&>\"}}", "\"<&>\"".into()),
        ("a\\tb\\nc", "a\\tb\\nc".into()),
    ] {
        let out = k.ok(&["inspect", "-f", tpl, "c9-groups"]);
        assert_eq!(out, format!("{docker}\n"), "{tpl}");
        assert_eq!(k.ok(&["inspect", "--format", tpl, "c9-groups"]), out);
    }
    // Values only kiln's store knows, through the same forms.
    let v = k.inspect("c9-groups");
    let id = v["Id"].as_str().unwrap();
    assert_eq!(
        k.ok(&["inspect", "-f", "{{.Id}}", "c9-groups"]),
        format!("{id}\n")
    );
    let layers = v["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(
        k.ok(&["inspect", "-f", "{{len .RootFS.Layers}}", "c9-groups"]),
        format!("{layers}\n")
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&k.ok(&["inspect", "-f", "{{json .Config}}", "c9-groups"])).unwrap();
    assert_eq!(cfg["User"], "4242");
    assert_eq!(cfg["Env"][0], path);
    assert!(cfg["Cmd"].is_null());
    // Two images, one line each.
    k.ok(&["tag", "c9-groups", "second"]);
    assert_eq!(
        k.ok(&["inspect", "-f", "{{.Config.User}}", "c9-groups", "second"]),
        "4242\n4242\n"
    );
    // docker: `map has no entry for key "NoSuch"`, exit 1.
    let out = k.run(&["inspect", "-f", "{{.Config.NoSuch}}", "c9-groups"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NoSuch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        k.run(&["inspect", "-f", "{{", "c9-groups"]).status.code(),
        Some(1)
    );
}

/// Sorted keys of a `{{json .}}` line.
fn keys(line: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn images_ps_and_history_take_dockers_formats() {
    let k = Kiln::new();
    image(&k);
    // docker images c9-busybox --format '{{json .}}'
    let line = k.ok(&["images", "--format", "{{json .}}", "c9-groups"]);
    assert_eq!(
        keys(&line),
        [
            "Containers",
            "CreatedAt",
            "CreatedSince",
            "Digest",
            "ID",
            "Repository",
            "SharedSize",
            "Size",
            "Tag",
            "UniqueSize",
            "VirtualSize"
        ]
    );
    // docker: `c9-busybox:latest`.
    assert_eq!(
        k.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "c9-groups"
        ]),
        "c9-groups:latest\n"
    );
    // docker: "REPOSITORY:TAG      IMAGE ID\nc9-busybox:latest   6ecc15b223b3\n" (the first
    // column as wide as its widest cell plus 3).
    let id = k.ok(&["images", "-q", "c9-groups"]);
    assert_eq!(
        k.ok(&[
            "images",
            "--format",
            "table {{.Repository}}:{{.Tag}}\\t{{.ID}}",
            "c9-groups"
        ]),
        format!("REPOSITORY:TAG     IMAGE ID\nc9-groups:latest   {id}")
    );
    // The default is docker's table.
    let table = k.ok(&["images"]);
    assert!(
        table.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{table}"
    );

    // docker ps -a --format '{{json .}}' after `run --name c9ps … sh -c 'exit 3'`.
    let out = k.run(&[
        "run",
        "--network",
        "none",
        "--name",
        "c9ps",
        "c9-groups",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let line = k.ok(&["ps", "-a", "--format", "{{json .}}"]);
    assert_eq!(
        keys(&line),
        [
            "Command",
            "CreatedAt",
            "ID",
            "Image",
            "Labels",
            "LocalVolumes",
            "Mounts",
            "Names",
            "Networks",
            "Ports",
            "RunningFor",
            "Size",
            "State",
            "Status"
        ]
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["Command"], "\"sh -c 'exit 3'\"");
    assert_eq!(v["State"], "exited");
    assert!(
        v["Status"].as_str().unwrap().starts_with("Exited (3) "),
        "{v}"
    );
    // docker: "NAMES     STATUS\nc9ps      Exited (3) Less than a second ago\n".
    let t = k.ok(&["ps", "-a", "--format", "table {{.Names}}\\t{{.Status}}"]);
    let mut lines = t.lines();
    assert_eq!(lines.next(), Some("NAMES     STATUS"));
    assert!(
        lines.next().unwrap().starts_with("c9ps      Exited (3) "),
        "{t}"
    );
    assert!(k
        .ok(&["ps", "-a"])
        .starts_with("CONTAINER ID   IMAGE       COMMAND            CREATED"));

    // docker history --format '{{json .}}' c9-groups
    let out = k.ok(&["history", "--format", "{{json .}}", "c9-groups"]);
    let first = out.lines().next().unwrap();
    assert_eq!(
        keys(first),
        [
            "Comment",
            "CreatedAt",
            "CreatedBy",
            "CreatedSince",
            "ID",
            "Size"
        ]
    );
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(v["CreatedBy"], "USER 4242");
    assert_eq!(v["Comment"], "buildkit.dockerfile.v0");
    assert_eq!(v["Size"], "0B");
    // docker: "IMAGE          CREATED BY   …" — 12-character IDs, then `<missing>`.
    let t = k.ok(&[
        "history",
        "--format",
        "table {{.ID}}\\t{{.CreatedBy}}",
        "c9-groups",
    ]);
    let mut lines = t.lines();
    assert_eq!(lines.next(), Some("IMAGE          CREATED BY"));
    assert_eq!(lines.next().unwrap(), format!("{}   USER 4242", id.trim()));
    assert!(lines.all(|l| l.starts_with("<missing>      ")), "{t}");
}

/// Run kiln with a stdout whose reader is already gone.
fn with_closed_stdout(k: &Kiln, args: &[&str]) -> std::process::Output {
    let mut fds = [0; 2];
    // SAFETY: a two-int array for pipe(2).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closing the read end we own; the write end becomes the child's stdout.
    unsafe { libc::close(fds[0]) };
    let stdout = unsafe { <std::process::Stdio as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    k.cmd().args(args).stdout(stdout).output().unwrap()
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let k = Kiln::new();
    image(&k);
    k.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "kept",
        "busybox",
        "true",
    ]);
    for args in [
        &["images"][..],
        &["images", "--format", "{{json .}}"],
        &["inspect", "c9-groups"],
        &["inspect", "-f", "{{.Id}}", "c9-groups"],
        &["history", "c9-groups"],
        &["ps", "-a"],
        &["version"],
        &["info"],
        &["system", "df"],
        &["save", "c9-groups"],
        &["tag", "c9-groups", "t2"],
        &["rmi", "t2"],
        &["build", "-q", "-t", "q", "--progress=plain"],
    ] {
        let mut args = args.to_vec();
        let ctx = context(&[("Dockerfile", "FROM busybox\n")]);
        let dir = ctx.path().to_str().unwrap().to_string();
        if args[0] == "build" {
            args.push(&dir);
        }
        let out = with_closed_stdout(&k, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "kiln {args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "kiln {args:?}: {err}");
        // Like a docker command (a Go program): killed by SIGPIPE, or done before noticing.
        assert!(
            out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
            "kiln {args:?}: {:?} {err}",
            out.status
        );
    }
}
