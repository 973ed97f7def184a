//! Incremental COPY: a rebuild after a few context files changed takes the unchanged ones from
//! the previous result of the same COPY, and still makes exactly the layers a cold build of the
//! same context makes in a fresh store. The earlier image keeps its own files.
//!
//! The directory a COPY creates to hold what it copies gets the time of the build (as with
//! BuildKit), so builds are compared with `SOURCE_DATE_EPOCH` set after every context time.

mod common;

use common::{context, printed, Kiln};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DOCKERFILE: &str = "FROM busybox\n\
COPY data/ /data/\n\
RUN echo appended >> /data/keep.txt\n";

const EPOCH: &[&str] = &["--build-arg", "SOURCE_DATE_EPOCH=1600000000"];

/// Every time in the context: long before [`EPOCH`].
const CONTEXT_TIME: i64 = 1_500_000_000;

/// The diff IDs of the COPY's and the RUN's layers (those above busybox's) of `image`.
fn copy_layer(k: &Kiln, image: &str) -> Vec<serde_json::Value> {
    let v = k.inspect(image);
    let layers = v["RootFS"]["Layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 3, "busybox, COPY, RUN: {layers:?}");
    layers[1..].to_vec()
}

/// The layers a cold build of `dir` makes in a fresh store.
fn cold_copy_layer(dir: &Path) -> Vec<serde_json::Value> {
    let fresh = Kiln::new();
    fresh.build_ok(dir, "cold:1", EPOCH);
    copy_layer(&fresh, "cold:1")
}

/// Give every entry of `dir` the time [`CONTEXT_TIME`].
fn age(dir: &Path) {
    let st = std::process::Command::new("find")
        .arg(dir)
        .args([
            "-exec",
            "touch",
            "-h",
            "-d",
            &format!("@{CONTEXT_TIME}"),
            "{}",
            "+",
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn set_mtime(path: &Path, secs: i64) {
    let f = std::fs::File::open(path).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    f.set_modified(t).unwrap();
}

#[test]
fn rebuild_after_changes_is_the_cold_layer_and_keeps_the_earlier_image() {
    let k = Kiln::new();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let ctx = context(&[
        ("Dockerfile", DOCKERFILE),
        ("data/keep.txt", "keep\n"),
        ("data/a.txt", "a1\n"),
        ("data/gone.txt", "gone\n"),
        ("data/todir", "a file for now\n"),
        ("data/mode.sh", "#!/bin/sh\n"),
        ("data/touch.txt", "touch\n"),
        ("data/sub/b.txt", "b\n"),
        ("data/sub/c.txt", "c\n"),
        ("data/zz/last.txt", "last\n"),
    ]);
    let c = ctx.path();
    write(c, "data/big.bin", &big);
    std::os::unix::fs::symlink("a.txt", c.join("data/link")).unwrap();
    age(c);
    let first = k.build_ok(c, "inc:1", EPOCH);
    assert!(
        !first.contains("unchanged files reused"),
        "a first build has nothing to reuse:\n{first}"
    );
    assert_eq!(copy_layer(&k, "inc:1"), cold_copy_layer(c));

    // Modify, add, delete, chmod, touch, a file turned into a directory, a file swapped for a
    // symlink leading out of the context.
    write(c, "data/a.txt", b"a2\n");
    write(c, "data/new.txt", b"new\n");
    std::fs::remove_file(c.join("data/gone.txt")).unwrap();
    std::fs::set_permissions(c.join("data/mode.sh"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::remove_file(c.join("data/todir")).unwrap();
    write(c, "data/todir/inner.txt", b"inner\n");
    std::fs::remove_file(c.join("data/sub/b.txt")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", c.join("data/sub/b.txt")).unwrap();
    age(c);
    set_mtime(&c.join("data/touch.txt"), 1_000_000_000);
    let second = k.build_ok(c, "inc:2", EPOCH);
    // keep, mode.sh, touch.txt, sub/c.txt, zz/last.txt and big.bin have the content the last
    // build copied;
    // a.txt, new.txt and todir/inner.txt are new.
    assert!(
        printed(
            &second,
            "6 unchanged files reused from the previous build of this step, 3 copied"
        ),
        "the rebuild must take the unchanged files from the previous COPY:\n{second}"
    );
    assert_eq!(copy_layer(&k, "inc:2"), cold_copy_layer(c));
    let shown = k.sh(
        "inc:2",
        "cat /data/keep.txt /data/a.txt /data/todir/inner.txt; stat -c '%a %Y' /data/mode.sh /data/touch.txt; readlink /data/sub/b.txt; wc -c < /data/big.bin",
    );
    assert_eq!(
        shown,
        "keep\nappended\na2\ninner\n755 1500000000\n644 1000000000\n/etc/passwd\n300000\n"
    );
    // The earlier image still has its own files: sharing them changed nothing there, and the
    // RUN that appended to keep.txt in each image wrote to its own copy.
    let old = k.sh(
        "inc:1",
        "cat /data/keep.txt /data/a.txt /data/gone.txt /data/sub/b.txt; stat -c %a /data/mode.sh",
    );
    assert_eq!(old, "keep\nappended\na1\ngone\nb\n644\n");

    // A directory swapped for a symlink, and one more change: still the cold layer.
    std::fs::remove_dir_all(c.join("data/sub")).unwrap();
    std::os::unix::fs::symlink("/etc", c.join("data/sub")).unwrap();
    write(c, "data/keep.txt", b"keep 3\n");
    age(c);
    set_mtime(&c.join("data/touch.txt"), 1_000_000_000);
    let third = k.build_ok(c, "inc:3", EPOCH);
    assert!(
        printed(
            &third,
            "7 unchanged files reused from the previous build of this step, 1 copied"
        ),
        "{third}"
    );
    assert_eq!(copy_layer(&k, "inc:3"), cold_copy_layer(c));
    assert_eq!(
        k.sh("inc:3", "readlink /data/sub; cat /data/keep.txt"),
        "/etc\nkeep 3\nappended\n"
    );
    assert!(k.leftover_mounts().is_empty());
}

/// Sources whose names meet in a directory the COPY makes: the last one written wins (the copy
/// does not look for a name it has not written yet in a directory it made, so a second source
/// must still replace the first).
#[test]
fn names_two_sources_share_in_a_new_directory_are_the_last_ones() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             COPY a/ b/ /both/\n\
             COPY a/x b/x /files/\n\
             COPY a/dir b/dir /dirs/\n",
        ),
        ("a/x", "from a\n"),
        ("b/x", "from b\n"),
        ("a/only-a", "a\n"),
        ("a/dir/f", "a's f\n"),
        ("b/dir/f", "b's f\n"),
        ("b/dir/g", "b's g\n"),
    ]);
    k.build_ok(ctx.path(), "meet:1", EPOCH);
    assert_eq!(
        k.sh(
            "meet:1",
            "cat /both/x /both/only-a /files/x /dirs/f /dirs/g"
        ),
        "from b\na\nfrom b\nb's f\nb's g\n"
    );
}
