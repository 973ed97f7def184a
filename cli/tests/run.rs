//! End-to-end `kiln run`: docker's ENTRYPOINT/CMD rules, flags, exit codes, isolation.

mod common;

use common::{context, Kiln};

fn image_with(k: &Kiln, tag: &str, dockerfile: &str) {
    let ctx = context(&[("Dockerfile", dockerfile)]);
    k.build_ok(ctx.path(), tag, &[]);
}

#[test]
fn entrypoint_and_cmd_follow_docker() {
    let k = Kiln::new();
    image_with(
        &k,
        "ep:1",
        "FROM busybox\nENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"default\"]\n",
    );
    assert_eq!(k.ok(&["run", "--rm", "ep:1"]).trim(), "ep default");
    assert_eq!(
        k.ok(&["run", "--rm", "ep:1", "given", "args"]).trim(),
        "ep given args"
    );
    // --entrypoint replaces ENTRYPOINT and drops the image's CMD.
    assert_eq!(
        k.ok(&["run", "--rm", "--entrypoint", "echo", "ep:1"])
            .trim(),
        ""
    );
    assert_eq!(
        k.ok(&["run", "--rm", "--entrypoint", "echo", "ep:1", "x"])
            .trim(),
        "x"
    );
    image_with(&k, "shell:1", "FROM busybox\nCMD echo shell form $HOME\n");
    assert_eq!(k.ok(&["run", "--rm", "shell:1"]).trim(), "shell form /root");
}

#[test]
fn exit_code_env_workdir_user() {
    let k = Kiln::new();
    let out = k.run(&["run", "--rm", "busybox", "sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42));
    let out = k.ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp/new/dir",
        "-u",
        "app",
        "busybox",
        "sh",
        "-c",
        "echo $FOO; pwd; id -un; id -G",
    ]);
    assert_eq!(out, "bar\n/tmp/new/dir\napp\n1000 50\n");
    let out = k.ok(&["run", "--rm", "-u", "1234:5678", "busybox", "id"]);
    assert!(
        out.contains("uid=1234") && out.contains("gid=5678"),
        "{out}"
    );
}

#[test]
fn the_container_is_isolated() {
    let k = Kiln::new();
    // Own PID namespace: the command's shell is a low PID and sees few processes.
    let out = k.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /proc | grep -c '^[0-9]'",
    ]);
    let n: usize = out.trim().parse().unwrap();
    assert!(n < 6, "the container sees {n} processes");
    let out = k.ok(&["run", "--rm", "--hostname", "boxy", "busybox", "hostname"]);
    assert_eq!(out.trim(), "boxy");
    // Writes do not reach the image.
    k.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo x > /written && rm /bin/ls",
    ]);
    assert_eq!(
        k.sh(
            "busybox",
            "test -e /written && echo yes || echo no; test -e /bin/ls && echo ls-there"
        ),
        "no\nls-there\n"
    );
    // --network none has only loopback.
    let out = k.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net 2>/dev/null || cat /proc/net/dev",
    ]);
    assert!(out.contains("lo") && !out.contains("eth"), "{out}");
    assert!(k.leftover_mounts().is_empty(), "{:?}", k.leftover_mounts());
}

#[test]
fn missing_image_and_missing_command_are_clear_errors() {
    let k = Kiln::new();
    let out = k.run(&["run", "--rm", "nosuch:image"]);
    // docker's status when docker itself fails (see conformance_run_cli.rs).
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch:image"));
    let out = k.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-command"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn containers_without_rm_are_listed_and_removable() {
    let k = Kiln::new();
    let out = k.run(&["run", "--name", "keepme", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let ps = k.ok(&["ps", "-a"]);
    assert!(ps.contains("keepme") && ps.contains("Exited (3)"), "{ps}");
    k.ok(&["rm", "keepme"]);
    assert!(!k.ok(&["ps", "-a"]).contains("keepme"));
}
