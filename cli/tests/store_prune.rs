//! `kiln prune` and `kiln system df` tell the truth: what df calls reclaimable is what prune
//! then frees, a second prune frees nothing, and what dead processes left (partial blobs,
//! uncommitted snapshots) is collected while what live ones use is not.

mod common;
mod store_support;

use common::{context, Kiln};
use std::io::Write;
use std::process::{Command, Stdio};
use store_support::{
    active_snapshots, df_reclaimable, kill_group, partial_blobs, prune_reclaimed, spawn_group,
    wait_for,
};

#[test]
fn df_reclaimable_is_what_prune_reclaims_and_a_second_prune_reclaims_nothing() {
    let k = Kiln::new();
    let df = "FROM busybox\nRUN head -c 300000 /dev/urandom > /junk\nCOPY f /f\nRUN echo done\n";
    let ctx = context(&[("Dockerfile", df), ("f", "one")]);
    k.build_ok(ctx.path(), "junk:1", &[]);
    // Results no record points at any more, and exported layers no image references.
    k.build_ok(ctx.path(), "junk:1", &["--no-cache"]);
    std::fs::write(ctx.path().join("f"), "two").unwrap();
    k.build_ok(ctx.path(), "junk:2", &[]);
    k.ok(&["rmi", "junk:2"]);

    for args in [&["prune"][..], &["prune", "--all"][..]] {
        let before = df_reclaimable(&k.ok(&["system", "df"]));
        let out = k.ok(args);
        let reclaimed = prune_reclaimed(&out);
        if args.len() == 1 {
            assert_ne!(before, "0B", "there is something to reclaim");
            assert_eq!(
                reclaimed, before,
                "df said {before}, prune freed {reclaimed}:\n{out}"
            );
        }
        assert_eq!(df_reclaimable(&k.ok(&["system", "df"])), "0B");
        let again = k.ok(args);
        assert_eq!(prune_reclaimed(&again), "0B", "second {args:?}:\n{again}");
    }
    // Everything the images need is still there.
    assert_eq!(k.sh("junk:1", "cat /f").trim(), "one");
    let check = k.ok(&["system", "check"]);
    assert!(check.contains("No problems found"), "{check}");
}

#[test]
fn a_running_builds_snapshot_survives_prune_and_a_killed_ones_is_collected() {
    let k = Kiln::new();
    // The step waits for the test to open a gate: a file in its cache mount, which is a host
    // directory under the root (so the test decides when the build may finish).
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=cache,target=/gate,id=gate \\\n    head -c 1000000 /dev/urandom > /junk && touch /written \\\n    && until [ -e /gate/open ]; do sleep 0.05; done && echo ok\n",
    )]);
    let gate = || -> Option<std::path::PathBuf> {
        std::fs::read_dir(k.root.path().join("cache-mounts"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with("new-"))
    };
    let build = |tag: &str| {
        let mut c = k.cmd();
        c.args([
            "build",
            "--no-cache",
            "--progress=plain",
            "-t",
            tag,
            ctx.path().to_str().unwrap(),
        ]);
        c
    };
    let written = |id: &String| {
        k.root
            .path()
            .join("snapshots/snapshots")
            .join(id)
            .join("fs/written")
            .exists()
    };

    // A live build: prune (even --all) and other commands leave its step's snapshot alone.
    let live = build("live:1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(60, "the RUN step to write", || {
        active_snapshots(k.root.path()).iter().any(written)
    });
    let running = active_snapshots(k.root.path());
    k.ok(&["prune", "--all"]);
    k.ok(&["images"]);
    for id in &running {
        assert!(
            active_snapshots(k.root.path()).contains(id),
            "{id} was collected"
        );
    }
    let gate = gate().expect("the step's cache mount");
    std::fs::write(gate.join("open"), "").unwrap();
    let out = live.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(active_snapshots(k.root.path()).is_empty());
    std::fs::remove_file(gate.join("open")).unwrap();

    // A killed build: the next command collects its uncommitted snapshot.
    let mut dead = spawn_group(build("dead:1"));
    wait_for(60, "the RUN step to write", || {
        active_snapshots(k.root.path()).iter().any(written)
    });
    kill_group(&mut dead);
    assert!(
        !active_snapshots(k.root.path()).is_empty(),
        "the kill left it"
    );
    k.ok(&["images"]);
    assert_eq!(active_snapshots(k.root.path()), Vec::<String>::new());
    let check = k.ok(&["system", "check"]);
    assert!(check.contains("No problems found"), "{check}");
}

#[test]
fn a_running_loads_partial_blob_survives_prune_and_a_killed_ones_is_collected() {
    let k = Kiln::new();
    // An image with a 4 MB incompressible layer, saved to an archive.
    let rootfs = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let mut junk = vec![0u8; 4 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in junk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(rootfs.path().join("junk"), &junk).unwrap();
    k.ok(&["import", rootfs.path().to_str().unwrap(), "big:1"]);
    let archive = k.root.path().join("../big.tar");
    k.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        archive.to_str().unwrap(),
        "big:1",
    ]);
    k.ok(&["rmi", "big:1"]);
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::remove_file(&archive).unwrap();

    let load = |group: bool| {
        let mut c = k.cmd();
        c.args(["load"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if group {
            use std::os::unix::process::CommandExt;
            c.process_group(0);
        }
        c.spawn().unwrap()
    };
    // Feed the archive until a partial blob shows up, then pause.
    let feed_until_partial = |child: &mut std::process::Child| -> usize {
        let stdin = child.stdin.as_mut().unwrap();
        let mut sent = 0;
        while partial_blobs(k.root.path()).iter().all(|(_, n)| *n == 0) {
            assert!(
                sent < bytes.len(),
                "the whole archive went in without a partial blob"
            );
            let end = (sent + 64 * 1024).min(bytes.len());
            stdin.write_all(&bytes[sent..end]).unwrap();
            stdin.flush().unwrap();
            sent = end;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        sent
    };

    let mut live = load(false);
    let sent = feed_until_partial(&mut live);
    let partial = partial_blobs(k.root.path());
    k.ok(&["prune", "--all"]);
    k.ok(&["images"]);
    for (name, _) in &partial {
        assert!(
            partial_blobs(k.root.path()).iter().any(|(n, _)| n == name),
            "a live load's partial blob {name} was collected"
        );
    }
    live.stdin
        .as_mut()
        .unwrap()
        .write_all(&bytes[sent..])
        .unwrap();
    drop(live.stdin.take());
    let out = live.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(k.ok(&["images"]).contains("big "));
    k.ok(&["rmi", "big:1"]);

    let mut dead = load(true);
    feed_until_partial(&mut dead);
    kill_group(&mut dead);
    assert!(!partial_blobs(k.root.path()).is_empty(), "the kill left it");
    k.ok(&["images"]);
    assert_eq!(partial_blobs(k.root.path()), Vec::new());
    let check = k.ok(&["system", "check"]);
    assert!(check.contains("No problems found"), "{check}");
    // And the same load goes through afterwards.
    let mut again = Command::new(common::kiln_bin());
    again
        .env("KILN_ROOT", k.root.path())
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut again = again.spawn().unwrap();
    again.stdin.take().unwrap().write_all(&bytes).unwrap();
    assert!(again.wait().unwrap().success());
}

/// The snapshots of a store (committed or not).
fn snapshot_dirs(k: &Kiln) -> usize {
    std::fs::read_dir(k.root.path().join("snapshots/snapshots"))
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            n.len() == 32 && n.to_string_lossy().bytes().all(|b| b.is_ascii_hexdigit())
        })
        .count()
}

/// A built image runs on the snapshots its build made (its layers are not unpacked a second
/// time), keeps them through `kiln prune` while it is in the store, as a docker image keeps its
/// layers through `docker builder prune`, and gives them up once removed. Prune still empties
/// the build cache: a rebuild takes nothing from before, not even unchanged COPY files. A layer
/// written with SOURCE_DATE_EPOCH has other file times than the build's snapshot: running that
/// image shows the layer's.
#[test]
fn a_built_image_runs_on_its_own_layers_which_prune_keeps_until_it_is_removed() {
    let k = Kiln::new();
    let df = "FROM busybox\nCOPY d/ /d/\nRUN echo ran >> /d/f\n";
    let ctx = context(&[("Dockerfile", df), ("d/f", "one\n"), ("d/g", "g\n")]);
    let c = ctx.path();
    k.build_ok(c, "own:1", &[]);
    // busybox, the COPY and the RUN.
    assert_eq!(snapshot_dirs(&k), 3);
    assert_eq!(k.sh("own:1", "cat /d/f"), "one\nran\n");
    assert_eq!(
        snapshot_dirs(&k),
        3,
        "running the image unpacked its layers again"
    );
    let first = k.inspect("own:1")["Id"].as_str().unwrap().to_string();
    // Without a prune, a change to one file reuses the other.
    std::fs::write(c.join("d/g"), "g2\n").unwrap();
    let warm = k.build_ok(c, "own:1", &[]);
    assert!(warm.contains("1 unchanged files reused"), "{warm}");

    let out = k.ok(&["prune"]);
    assert!(out.contains(" 0 snapshots"), "{out}");
    assert_eq!(k.sh("own:1", "cat /d/f /d/g"), "one\nran\ng2\n");
    let kept = snapshot_dirs(&k);
    // A rebuild after prune is a cold one.
    std::fs::write(c.join("d/g"), "g3\n").unwrap();
    let again = k.build_ok(c, "own:2", &[]);
    assert!(!again.contains("CACHED"), "{again}");
    assert_eq!(
        again.matches("cache miss: never built").count(),
        4,
        "{again}"
    );
    assert!(!again.contains("reused"), "{again}");
    assert_eq!(snapshot_dirs(&k), kept + 2);
    // The first own:1 is dangling now, but still an image: its layers stay until it goes.
    k.ok(&["rmi", "own:1", "own:2"]);
    k.ok(&["prune"]);
    assert_eq!(
        snapshot_dirs(&k),
        3,
        "busybox and the dangling image's two layers"
    );
    k.ok(&["rmi", &first]);
    k.ok(&["prune"]);
    assert_eq!(snapshot_dirs(&k), 1, "only busybox's layer is left");

    let out = k.build_ok(
        c,
        "own:epoch",
        &["--build-arg", "SOURCE_DATE_EPOCH=1600000000"],
    );
    assert!(out.contains("DONE"), "{out}");
    assert_eq!(k.sh("own:epoch", "stat -c %Y /d/g"), "1600000000\n");
}
