//! End-to-end behaviour of the solver a user sees: parallel stages, cancellation on failure,
//! deduplication across processes, --no-cache, prune, system df, and the JSON event stream.

mod common;

use common::{context, printed, Kiln};
use std::time::{Duration, Instant};

#[test]
fn two_builds_at_once_run_an_identical_step_once() {
    let k = Kiln::new();
    // The step appends to a cache mount (shared across builds) and takes a while: if both
    // builds ran it, the count would be 2.
    let df = "FROM busybox\nRUN --mount=type=cache,target=/c,id=dedup echo run >> /c/count && sleep 2 && echo done > /marker\n";
    let a = context(&[("Dockerfile", df)]);
    let b = context(&[("Dockerfile", df)]);
    let spawn = |dir: &std::path::Path, tag: &str| {
        k.cmd()
            .args([
                "build",
                "--progress=plain",
                "-t",
                tag,
                dir.to_str().unwrap(),
            ])
            .output()
    };
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| spawn(a.path(), "dedup:a").unwrap());
        let hb = s.spawn(|| spawn(b.path(), "dedup:b").unwrap());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(ra.status.success() && rb.status.success());
    let ea = String::from_utf8_lossy(&ra.stderr);
    let eb = String::from_utf8_lossy(&rb.stderr);
    assert!(
        ea.contains("CACHED") || eb.contains("CACHED"),
        "one build must take the other's result:\n{ea}\n{eb}"
    );
    let check = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=cache,target=/c,id=dedup cat /c/count > /count\n",
    )]);
    k.build_ok(check.path(), "dedup:check", &[]);
    assert_eq!(k.sh("dedup:check", "cat /count"), "run\n");
}

#[test]
fn a_failing_stage_cancels_the_others() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS slow\nRUN sleep 60 && echo slow-finished\n\nFROM busybox AS bad\nRUN echo failing && exit 9\n\nFROM busybox\nCOPY --from=slow / /slow\nCOPY --from=bad / /bad\n",
    )]);
    let t = Instant::now();
    let (ok, err) = k.build(ctx.path(), "cancel:1", &[]);
    assert!(!ok);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "the slow stage was not cancelled: {:?}",
        t.elapsed()
    );
    assert!(err.contains("exit code: 9"), "{err}");
    assert!(
        err.contains("CANCELED"),
        "the other stage is reported cancelled:\n{err}"
    );
    assert!(!printed(&err, "slow-finished"));
    assert!(k.leftover_mounts().is_empty());
}

#[test]
fn no_cache_prune_and_disk_usage() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo ran-the-step && cat /proc/sys/kernel/random/uuid > /stamp\n",
    )]);
    let first = k.build_ok(ctx.path(), "nc:1", &[]);
    assert!(printed(&first, "ran-the-step"));
    let stamp1 = k.sh("nc:1", "cat /stamp");
    let cached = k.build_ok(ctx.path(), "nc:1", &[]);
    assert!(!printed(&cached, "ran-the-step"));
    let again = k.build_ok(ctx.path(), "nc:1", &["--no-cache"]);
    assert!(
        printed(&again, "ran-the-step"),
        "--no-cache re-runs:\n{again}"
    );
    assert_ne!(k.sh("nc:1", "cat /stamp"), stamp1);

    let df = k.ok(&["system", "df"]);
    assert!(df.contains("Build Cache"), "{df}");
    let before = build_cache_count(&df);
    assert!(before > 0, "{df}");
    let out = k.ok(&["prune", "--all"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(build_cache_count(&k.ok(&["system", "df"])), 0);
    // The image still runs (its blobs are in the image store), and the next build re-runs
    // the step since its cached result is gone.
    assert!(!k.sh("nc:1", "cat /stamp").is_empty());
    let after = k.build_ok(ctx.path(), "nc:1", &[]);
    assert!(
        printed(&after, "ran-the-step"),
        "after prune the step runs again:\n{after}"
    );
}

fn build_cache_count(df: &str) -> usize {
    df.lines()
        .find(|l| l.starts_with("Build Cache"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

#[test]
fn rawjson_progress_is_one_event_per_line() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo hello-json\n")]);
    let out = k.run(&[
        "build",
        "--progress=rawjson",
        "-t",
        "json:1",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["data"] == "hello-json\n"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e["event"] == "started"
        && e["name"]
            .as_str()
            .unwrap_or("")
            .contains("RUN echo hello-json")));
    assert!(events.iter().filter(|e| e["event"] == "done").count() >= 2);
}
