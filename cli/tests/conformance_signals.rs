//! `kiln run` in the foreground passes the signals it gets on to the container's command, as
//! docker run's signal proxy (`--sig-proxy`, on by default) does (issue 9, item 13).
//!
//! Recorded from Docker 20.10.24 on this machine: `docker run --rm --network none IMG sh -c
//! "trap 'echo got-SIG; exit 42' SIG; echo ready; while :; do sleep 0.1; done"`, then `kill -SIG`
//! of the `docker` process: `ready`, `got-SIG` and exit status 42 for each of INT, TERM, HUP,
//! QUIT, USR1 and USR2. docker forwards every SIGINT and never kills the container itself;
//! kiln, as the issue asks, kills it on the second SIGINT (a second Ctrl-C still stops it).

mod common;

use common::Kiln;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Start `kiln run` of `script` and wait until it printed `ready`.
fn start(k: &Kiln, script: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = k
        .cmd()
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

fn wait(child: &mut Child, within: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("kiln run did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_reach_the_containers_trap_and_its_status_is_kilns() {
    let k = Kiln::new();
    for (name, sig) in [
        ("INT", libc::SIGINT),
        ("TERM", libc::SIGTERM),
        ("HUP", libc::SIGHUP),
        ("QUIT", libc::SIGQUIT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
    ] {
        let script = format!(
            "trap 'echo got-{name}; exit 42' {name}; echo ready; while :; do sleep 0.1; done"
        );
        let (mut child, mut out) = start(&k, &script);
        signal(&child, sig);
        let code = wait(&mut child, Duration::from_secs(20));
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert_eq!(rest, format!("got-{name}\n"), "SIG{name}");
        assert_eq!(code, Some(42), "SIG{name}");
    }
    assert!(k.leftover_mounts().is_empty(), "{:?}", k.leftover_mounts());
}

#[test]
fn a_second_interrupt_kills_a_container_that_ignores_the_first() {
    let k = Kiln::new();
    let (mut child, _out) = start(&k, "trap '' INT; echo ready; sleep 73; echo done");
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "one SIGINT is passed on, not fatal"
    );
    signal(&child, libc::SIGINT);
    let code = wait(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(137), "killed");
    assert!(k.leftover_mounts().is_empty(), "{:?}", k.leftover_mounts());
    // Nothing of the container is left running.
    let ps = std::process::Command::new("sh")
        .args(["-c", "ps -eo args | grep -c '^sleep 73$'"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "0");
}
