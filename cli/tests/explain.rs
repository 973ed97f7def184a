//! Every step that runs instead of coming from the cache says why, in one line under the step:
//! the first input of its key that differs from the last build of the same step. The first step
//! a change reaches names the change; the steps after it name the step before them.

mod common;

use common::{context, Kiln};
use std::path::Path;

const DOCKERFILE: &str = "FROM base:1
ARG VERSION=1.2
ENV MODE=a
COPY src/ /src/
RUN echo v=$VERSION mode=$MODE > /out
RUN cat /out /src/main.rs > /all
";

/// (step number, step name, reason) of every `#N cache miss: REASON` line, in order.
fn misses(progress: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for l in progress.lines() {
        let Some((n, reason)) = l.split_once(" cache miss: ") else {
            continue;
        };
        let Some(n) = n.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let header = format!("#{n} ");
        let name = progress
            .lines()
            .find_map(|h| h.strip_prefix(&header))
            .unwrap_or("")
            .to_string();
        out.push((n, name, reason.to_string()));
    }
    out
}

/// The first step that ran gives `first`; every later one names the step before it.
fn assert_chain(progress: &str, first: &str) {
    let m = misses(progress);
    assert!(!m.is_empty(), "no step said why it ran:\n{progress}");
    assert_eq!(
        m[0].2, first,
        "first step that ran ({}):\n{progress}",
        m[0].1
    );
    for (n, name, reason) in &m[1..] {
        assert!(
            reason.starts_with("parent step changed: #"),
            "#{n} {name}: {reason}\n{progress}"
        );
        let parent: usize = reason.rsplit('#').next().unwrap().parse().unwrap();
        assert!(
            parent < *n,
            "#{n} names a later step #{parent}:\n{progress}"
        );
    }
}

fn build(k: &Kiln, dir: &Path, extra: &[&str]) -> String {
    k.build_ok(dir, "explained:1", extra)
}

#[test]
fn each_change_is_named_by_the_first_step_it_reaches() {
    let k = Kiln::new();
    k.ok(&["tag", "busybox:latest", "base:1"]);
    let ctx = context(&[
        ("Dockerfile", DOCKERFILE),
        ("src/main.rs", "fn main() {}\n"),
        ("src/lib.rs", "pub fn f() {}\n"),
        ("unread.txt", "not copied\n"),
    ]);
    let dir = ctx.path();

    let first = build(&k, dir, &[]);
    let m = misses(&first);
    let steps = m
        .iter()
        .filter(|(_, n, _)| !n.starts_with("[internal]"))
        .count();
    assert_eq!(steps, 4, "FROM, COPY and two RUNs ran:\n{first}");
    assert!(m.iter().all(|(_, _, r)| r == "never built"), "{first}");

    // Fully cached: nothing runs, nothing says it missed.
    let again = build(&k, dir, &[]);
    assert!(misses(&again).is_empty(), "{again}");
    // A file no step reads changes nothing.
    std::fs::write(dir.join("unread.txt"), "still not copied\n").unwrap();
    assert!(misses(&build(&k, dir, &[])).is_empty());

    std::fs::write(dir.join("src/main.rs"), "fn main() { run() }\n").unwrap();
    let out = build(&k, dir, &[]);
    assert_chain(&out, "file changed: src/main.rs");
    assert_eq!(misses(&out).len(), 3, "COPY and the two RUNs:\n{out}");

    // Two files changed and one added: one is named, the others counted.
    std::fs::write(dir.join("src/main.rs"), "fn main() { run(); }\n").unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn g() {}\n").unwrap();
    std::fs::write(dir.join("src/new.rs"), "\n").unwrap();
    let out = build(&k, dir, &[]);
    assert_chain(&out, "file changed: src/lib.rs … and 2 more");

    let out = build(&k, dir, &["--build-arg", "VERSION=1.3"]);
    assert_chain(&out, "build arg changed: VERSION (1.2 → 1.3)");
    assert_eq!(misses(&out).len(), 2, "only the RUNs read VERSION:\n{out}");

    std::fs::write(
        dir.join("Dockerfile"),
        DOCKERFILE.replace("MODE=a", "MODE=b"),
    )
    .unwrap();
    let out = build(&k, dir, &["--build-arg", "VERSION=1.3"]);
    assert_chain(&out, "env changed: MODE (a → b)");

    let edited = DOCKERFILE
        .replace("MODE=a", "MODE=b")
        .replace("echo v=", "echo version=");
    std::fs::write(dir.join("Dockerfile"), &edited).unwrap();
    let out = build(&k, dir, &["--build-arg", "VERSION=1.3"]);
    assert_chain(&out, "instruction changed");
    assert_eq!(misses(&out).len(), 2, "{out}");

    // Every step was asked to skip the cache: each says so (none of their keys changed).
    let out = build(&k, dir, &["--build-arg", "VERSION=1.3", "--no-cache"]);
    let m = misses(&out);
    assert_eq!(m.len(), 4, "{out}");
    assert!(m.iter().all(|(_, _, r)| r == "--no-cache"), "{out}");

    let out = build(&k, dir, &["--build-arg", "VERSION=1.3"]);
    assert!(misses(&out).is_empty(), "{out}");
}

#[test]
fn a_base_image_retagged_is_named_with_both_digests() {
    let k = Kiln::new();
    let other = context(&[("Dockerfile", "FROM busybox\nRUN echo other > /other\n")]);
    k.build_ok(other.path(), "other:1", &[]);
    k.ok(&["tag", "busybox:latest", "base:1"]);
    let ctx = context(&[("Dockerfile", DOCKERFILE), ("src/main.rs", "x\n")]);
    build(&k, ctx.path(), &[]);

    k.ok(&["tag", "other:1", "base:1"]);
    let out = build(&k, ctx.path(), &[]);
    let m = misses(&out);
    let (_, name, reason) = &m[0];
    assert!(name.contains("FROM"), "the FROM step runs first:\n{out}");
    assert!(
        reason.starts_with("base image changed: ") && reason.contains("base:1 (sha256:"),
        "{out}"
    );
    let digests: Vec<&str> = reason.split("sha256:").skip(1).collect();
    assert_eq!(digests.len(), 2, "old and new digest: {reason}");
    assert_ne!(digests[0][..12], digests[1][..12], "{reason}");
    assert_chain(&out, reason);
    assert_eq!(m.len(), 4, "everything on the base runs again:\n{out}");
}

#[test]
fn rawjson_carries_the_reason_as_a_field_and_explain_prints_a_table() {
    let k = Kiln::new();
    k.ok(&["tag", "busybox:latest", "base:1"]);
    let ctx = context(&[("Dockerfile", DOCKERFILE), ("src/main.rs", "one\n")]);
    let dir = ctx.path().to_str().unwrap();
    k.ok(&["build", "--progress=plain", "-t", "j:1", dir]);
    std::fs::write(ctx.path().join("src/main.rs"), "two\n").unwrap();

    let out = k.run(&["build", "--progress=rawjson", "--explain", "-t", "j:1", dir]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let missed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "cache_miss")
        .collect();
    assert_eq!(missed.len(), 3, "{stderr}");
    assert_eq!(missed[0]["reason"]["kind"], "file_changed", "{stderr}");
    assert_eq!(missed[0]["reason"]["paths"][0], "src/main.rs", "{stderr}");
    assert_eq!(missed[0]["message"], "file changed: src/main.rs");
    assert_eq!(missed[1]["reason"]["kind"], "parent_changed");
    assert_eq!(missed[1]["reason"]["step"], missed[0]["vertex"]);

    // --explain: after the events, one row per step that ran, in step order.
    let table: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("STEP "))
        .collect();
    assert_eq!(table.len(), 4, "a header and three rows:\n{stderr}");
    assert!(
        table[1].contains("COPY src/ /src/") && table[1].ends_with("file changed: src/main.rs")
    );
    assert!(table[2].contains("RUN echo") && table[2].contains("parent step changed: #"));

    // Nothing ran: the table says so.
    let out = k.run(&["build", "--progress=plain", "--explain", "-t", "j:1", dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("every step came from the cache"),
        "{stderr}"
    );
}

#[test]
fn explanations_are_pruned_with_the_cache_and_hold_no_secret_looking_values() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nARG API_TOKEN=hunter2-first\nARG NAME=one\nRUN echo \"$NAME\" > /n\n",
    )]);
    let dir = ctx.path();
    k.build_ok(dir, "s:1", &[]);
    let out = k.build_ok(dir, "s:1", &["--build-arg", "API_TOKEN=hunter2-second"]);
    // The RUN sees the variable, so it runs again; the reason names it, not its values.
    assert_eq!(
        misses(&out)[0].2,
        "build arg changed: API_TOKEN (value not shown)",
        "{out}"
    );
    let explain = k.root.path().join("cache/explain");
    let mut files = Vec::new();
    for sub in ["keys", "scopes"] {
        for e in std::fs::read_dir(explain.join(sub)).unwrap().flatten() {
            files.push(e.path());
        }
    }
    assert!(files.len() >= 2, "records are kept: {files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("hunter2"),
            "{} holds a secret-looking value",
            f.display()
        );
    }

    k.ok(&["prune", "--all"]);
    let left: Vec<_> = ["keys", "scopes"]
        .iter()
        .flat_map(|s| std::fs::read_dir(explain.join(s)).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_none())
        .collect();
    assert!(left.is_empty(), "explanations outlived the cache: {left:?}");
    // With nothing left to compare with, every step is new again.
    let out = k.build_ok(dir, "s:1", &[]);
    assert!(misses(&out).iter().all(|m| m.2 == "never built"), "{out}");
}

#[test]
fn concurrent_builds_of_one_scope_leave_a_record_the_next_build_reads() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nARG V=0\nRUN echo \"$V\" > /v\n",
    )]);
    let dir = ctx.path().to_str().unwrap().to_string();
    let children: Vec<_> = (1..=4)
        .map(|i| {
            k.cmd()
                .args(["build", "--progress=plain", "--build-arg"])
                .arg(format!("V={i}"))
                .args(["-t", &format!("c:{i}"), &dir])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = k.build_ok(ctx.path(), "c:5", &["--build-arg", "V=5"]);
    let m = misses(&out);
    assert_eq!(m.len(), 1, "{out}");
    let r = &m[0].2;
    assert!(
        (1..=4).any(|i| *r == format!("build arg changed: V ({i} → 5)")),
        "the last build's value is one the concurrent builds wrote: {r}"
    );
}
