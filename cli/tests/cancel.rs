//! Ctrl-C during a RUN stops the container and leaves no mounts or processes behind.

mod common;

use common::{context, printed, Kiln};
use std::time::{Duration, Instant};

#[test]
fn sigint_during_run_stops_cleanly() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo started && sleep 300 && echo finished\n",
    )]);
    let mut child = k
        .cmd()
        .args([
            "build",
            "--progress=plain",
            "-t",
            "cancel:1",
            ctx.path().to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the step to start: its first line printed, and its `sleep` running.
    let stderr = child.stderr.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_by_reader = seen.clone();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        let mut signalled = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            all.push_str(&line);
            all.push('\n');
            if printed(&line, "started") && !signalled {
                signalled = true;
                seen_by_reader.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        all
    });
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let ps = std::process::Command::new("sh")
            .arg("-c")
            .arg("ps -eo args | grep -c '^sleep 300'")
            .output()
            .unwrap();
        if String::from_utf8_lossy(&ps.stdout).trim() != "0"
            && seen.load(std::sync::atomic::Ordering::SeqCst)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the RUN step never started"
        );
    }
    // SAFETY: sending a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let t = Instant::now();
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "kiln took {:?} to stop",
        t.elapsed()
    );
    assert!(!status.success(), "{err}");
    assert!(!printed(&err, "finished"), "{err}");
    assert!(k.leftover_mounts().is_empty(), "{:?}", k.leftover_mounts());
    let ps = std::process::Command::new("sh")
        .arg("-c")
        .arg("ps -eo args | grep -c '^sleep 300'")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ps.stdout).trim(),
        "0",
        "the container's process survived"
    );
    assert!(k.run(&["inspect", "cancel:1"]).status.code() == Some(1));
}
