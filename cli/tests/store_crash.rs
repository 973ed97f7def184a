//! `kill -9` at random points of a build, an export and a load never leaves the store damaged:
//! after each kill `kiln system check` is clean and the next build succeeds. (A few trials
//! here; `bench/crash.sh` runs many.)

mod common;
mod store_support;

use common::{context, Kiln};
use std::time::{Duration, Instant};
use store_support::{kill_group, spawn_group};

/// xorshift64: the delays of a run are reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn sigkill_during_build_export_and_load_leaves_a_sound_store() {
    let k = Kiln::new();
    let big = vec![b'x'; 1 << 20];
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN head -c 2000000 /dev/urandom > /r1\nCOPY big /big\nRUN head -c 1000000 /dev/urandom > /r2\n",
        ),
        ("big", std::str::from_utf8(&big).unwrap()),
    ]);
    let out_tar = k.root.path().join("../crash-export.tar");
    let archive = k.root.path().join("../crash-load.tar");
    let dir = ctx.path().to_str().unwrap().to_string();
    let build = |extra: &[&str]| {
        let mut c = k.cmd();
        c.args(["build", "--progress=plain", "-t", "crash:1"])
            .args(extra)
            .arg(&dir);
        c
    };
    k.build_ok(ctx.path(), "crash:1", &[]);
    k.ok(&["save", "-o", archive.to_str().unwrap(), "crash:1"]);

    type Op<'a> = (&'a str, Box<dyn Fn() -> std::process::Command + 'a>);
    let ops: Vec<Op> = vec![
        ("build", Box::new(|| build(&["--no-cache"]))),
        (
            "export",
            Box::new(|| {
                let dest = format!("type=oci,dest={}", out_tar.display());
                build(&["--no-cache", "--output", &dest])
            }),
        ),
        (
            "load",
            Box::new(|| {
                let mut c = k.cmd();
                c.args(["load", "-i", archive.to_str().unwrap()]);
                c
            }),
        ),
    ];
    let seed = std::env::var("KILN_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("KILN_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    for (name, op) in &ops {
        // How long the operation takes when left alone: kills land anywhere in it.
        let t = Instant::now();
        let st = op()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{name} runs to completion");
        let full = t.elapsed().as_millis() as u64;
        for trial in 0..2 {
            let delay = rng.below(full + 1);
            let mut child = spawn_group(op());
            std::thread::sleep(Duration::from_millis(delay));
            kill_group(&mut child);
            let out = k.run(&["system", "check"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("No problems found"),
                "{name} killed after {delay} of {full} ms (trial {trial}, KILN_CRASH_SEED={seed}):\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(k.leftover_mounts().is_empty());
            k.build_ok(ctx.path(), "crash:1", &[]);
        }
    }
    let _ = std::fs::remove_file(&out_tar);
    let _ = std::fs::remove_file(&archive);
    // Nothing the kills left escapes accounting: prune frees it all, a second prune nothing.
    k.ok(&["prune"]);
    let again = k.ok(&["prune"]);
    assert!(again.contains("Total reclaimed space: 0B"), "{again}");
    assert_eq!(k.sh("crash:1", "wc -c < /r1").trim(), "2000000");
}
