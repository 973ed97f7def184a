//! `kiln prune` during builds never breaks them: 8 concurrent builds (each several times)
//! while another process prunes everything in a loop, and not one fails.

mod common;

use common::{context, Kiln};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn eight_builds_with_a_prune_loop_never_fail() {
    let k = Arc::new(Kiln::new());
    // Shared first steps (one cache entry several builds race for), then per-build ones, a
    // COPY, and a second stage reading the first: every kind of snapshot a build relies on.
    let dockerfile = "FROM busybox AS base\n\
        RUN echo shared > /shared && head -c 20000 /dev/urandom > /r\n\
        ARG N\n\
        RUN echo build-$N > /n && head -c 20000 /dev/urandom > /r$N\n\
        COPY ctx.txt /ctx.txt\n\
        FROM busybox\n\
        COPY --from=base /n /ctx.txt /out/\n\
        RUN cat /out/n /out/ctx.txt > /out/all\n";
    let stop = Arc::new(AtomicBool::new(false));
    let prunes = Arc::new(AtomicUsize::new(0));
    let pruner = {
        let (k, stop, prunes) = (k.clone(), stop.clone(), prunes.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let args: &[&str] = if prunes.load(Ordering::SeqCst) % 2 == 0 {
                    &["prune", "--all"]
                } else {
                    &["prune"]
                };
                let out = k.run(args);
                if !out.status.success() {
                    failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                prunes.fetch_add(1, Ordering::SeqCst);
            }
            failures
        })
    };
    let builders: Vec<_> = (0..8)
        .map(|n| {
            let k = k.clone();
            let df = dockerfile.to_string();
            std::thread::spawn(move || {
                let ctx = context(&[("Dockerfile", &df), ("ctx.txt", &format!("ctx-{n}"))]);
                let mut failures = Vec::new();
                for round in 0..3 {
                    let tag = format!("c{n}:{round}");
                    let arg = format!("N={n}");
                    let (ok, err) = k.build(ctx.path(), &tag, &["--build-arg", &arg]);
                    if !ok {
                        failures.push(format!("build {tag}:\n{err}"));
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures: Vec<String> = Vec::new();
    for b in builders {
        failures.extend(b.join().unwrap());
    }
    stop.store(true, Ordering::SeqCst);
    let prune_failures = pruner.join().unwrap();
    let n_prunes = prunes.load(Ordering::SeqCst);
    eprintln!("{n_prunes} prunes ran during 24 builds");
    assert!(n_prunes >= 2, "prune ran during the builds");
    assert!(
        prune_failures.is_empty(),
        "prune failed: {prune_failures:?}"
    );
    assert!(
        failures.is_empty(),
        "{} builds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for n in 0..8 {
        let out = k.sh(&format!("c{n}:2"), "cat /out/all");
        assert_eq!(out, format!("build-{n}\nctx-{n}"));
    }
    let check = k.ok(&["system", "check"]);
    assert!(check.contains("No problems found"), "{check}");
}
