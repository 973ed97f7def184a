//! Containers as docker keeps them (issue 9, item 18): a name in use is refused, `rmi` will not
//! take an image from a container, `rm -f` removes a running one. Expected messages and
//! statuses were recorded from Docker 20.10.24 on this machine (`docker run --network none`,
//! `docker rmi`, `docker rm`); docker's "Error response from daemon: " is kiln's "Error
//! response: " (kiln has no daemon).

mod common;

use common::{context, Kiln};
use std::time::{Duration, Instant};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The full ID of the container named `name`.
fn id_of(k: &Kiln, name: &str) -> String {
    let out = k.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    out.lines()
        .find_map(|l| l.strip_suffix(&format!(" {name}")))
        .unwrap_or_else(|| panic!("no container {name} in:\n{out}"))
        .to_string()
}

#[test]
fn a_name_in_use_is_refused_until_the_container_is_removed() {
    let k = Kiln::new();
    k.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "web",
        "busybox",
        "true",
    ]);
    let id = id_of(&k, "web");
    for rm in [&[][..], &["--rm"][..]] {
        let mut cmd = vec!["run", "--network", "none", "--name", "web"];
        cmd.extend(rm);
        cmd.extend(["busybox", "echo", "ran"]);
        let out = k.run(&cmd);
        // docker: `docker: Error response from daemon: Conflict. The container name "/web" is
        // already in use by container "<id>". You have to remove (or rename) that container
        // to be able to reuse that name.`, exit 125.
        assert_eq!(out.status.code(), Some(125), "{cmd:?}");
        assert!(out.stdout.is_empty(), "the command must not run");
        assert!(
            stderr(&out).contains(&format!("Conflict. The container name \"/web\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")),
            "{}",
            stderr(&out)
        );
    }
    // `/web` is the same name.
    assert_eq!(
        k.run(&[
            "run",
            "--network",
            "none",
            "--name",
            "/web",
            "busybox",
            "true"
        ])
        .status
        .code(),
        Some(125)
    );
    let ps = k.ok(&["ps", "-a", "-q"]);
    assert_eq!(ps.lines().count(), 1, "the refused runs left nothing: {ps}");
    k.ok(&["rm", "web"]);
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--name",
            "web",
            "busybox",
            "echo",
            "ok"
        ]),
        "ok\n"
    );
    // `--rm` gave the name back.
    k.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "web",
        "busybox",
        "true",
    ]);
}

#[test]
fn concurrent_runs_never_share_a_name() {
    let k = Kiln::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            k.cmd()
                .args([
                    "run",
                    "--network",
                    "none",
                    "--name",
                    "race",
                    "busybox",
                    "true",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<Option<i32>> = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().code())
        .collect();
    assert!(
        codes.iter().filter(|c| **c == Some(0)).count() <= 1,
        "{codes:?}"
    );
    assert!(
        codes.iter().all(|c| *c == Some(0) || *c == Some(125)),
        "{codes:?}"
    );
    let names = k.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        names.lines().filter(|n| *n == "race").count() <= 1,
        "{names}"
    );
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nLABEL solo=1\n")]);
    k.build_ok(ctx.path(), "solo", &[]);
    let image = k.inspect("solo")["Id"].as_str().unwrap().to_string();
    let short_image = &image[7..19];
    k.ok(&["run", "--network", "none", "--name", "user", "solo", "true"]);
    let short_c = &id_of(&k, "user")[..12];
    // docker: `Error response from daemon: conflict: unable to remove repository reference
    // "solo" (must force) - container <c> is using its referenced image <i>`, exit 1.
    let out = k.run(&["rmi", "solo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("conflict: unable to remove repository reference \"solo\" (must force) - container {short_c} is using its referenced image {short_image}")), "{}", stderr(&out));
    // docker: `conflict: unable to delete <i> (must be forced) - image is being used by
    // stopped container <c>`, exit 1 (by full and by short ID).
    for by in [image.as_str(), short_image] {
        let out = k.run(&["rmi", by]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(&format!("conflict: unable to delete {short_image} (must be forced) - image is being used by stopped container {short_c}")), "{}", stderr(&out));
    }
    assert_eq!(k.inspect("solo")["Id"], image.as_str(), "still there");
    // Another tag of the image may go: the image stays (docker: `Untagged: other:latest`).
    k.ok(&["tag", "solo", "other"]);
    assert_eq!(k.ok(&["rmi", "other"]), "Untagged: other:latest\n");
    // docker: `Untagged: solo:latest` and `Deleted: <image id>`, exit 0.
    let out = k.ok(&["rmi", "-f", "solo"]);
    assert_eq!(out, format!("Untagged: solo:latest\nDeleted: {image}\n"));
    // The container survives its image and can still be removed.
    assert_eq!(k.ok(&["rm", "user"]), "user\n");
}

#[test]
fn rm_refuses_a_running_container_and_rm_f_kills_it() {
    let k = Kiln::new();
    let mut child = k
        .cmd()
        .args([
            "run",
            "--network",
            "none",
            "--name",
            "busy",
            "busybox",
            "sleep",
            "71",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let id = loop {
        let out = k.ok(&[
            "ps",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.State}}",
        ]);
        if let Some(id) = out.lines().find_map(|l| l.strip_suffix(" busy running")) {
            break id.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never running: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = k.ok(&["ps", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Up "), "{status}");
    // docker: `Error response from daemon: You cannot remove a running container <id>. Stop
    // the container before attempting removal or force remove`, exit 1.
    let out = k.run(&["rm", "busy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("You cannot remove a running container {id}. Stop the container before attempting removal or force remove")), "{}", stderr(&out));
    // docker: `rm -f` prints the name, exit 0; the container is gone.
    assert_eq!(k.ok(&["rm", "-f", "busy"]), "busy\n");
    let _ = child.wait();
    assert_eq!(k.ok(&["ps", "-a", "-q"]), "");
    assert!(k.leftover_mounts().is_empty(), "{:?}", k.leftover_mounts());
    // docker 20.10: `rm -f` of no such container says `Error: No such container: x` and
    // exits 0; without -f it exits 1.
    let out = k.run(&["rm", "-f", "nosuch"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("Error: No such container: nosuch"));
    assert_eq!(k.run(&["rm", "nosuch"]).status.code(), Some(1));
}
