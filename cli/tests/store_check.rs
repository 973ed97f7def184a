//! A damaged store: one broken image never breaks the listing of the others, and
//! `kiln system check [--repair]` finds (and removes) exactly what is broken.

mod common;

use common::{context, Kiln};
use std::path::PathBuf;

fn blob_path(k: &Kiln, digest: &str) -> PathBuf {
    k.root
        .path()
        .join("content/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A store with `busybox:latest` and a second image `app:1` built on it, plus `other:1` (a
/// second import) whose config blob is then deleted. Returns (root, app's ID, other's ID).
fn store_with_broken_image() -> (Kiln, String, String) {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo app > /app\n")]);
    k.build_ok(ctx.path(), "app:1", &[]);
    let rootfs = tempfile::tempdir_in(common::test_tmp()).unwrap();
    std::fs::write(rootfs.path().join("only-file"), "other").unwrap();
    k.ok(&["import", rootfs.path().to_str().unwrap(), "other:1"]);
    let app = k.inspect("app:1")["Id"].as_str().unwrap().to_string();
    let other = k.inspect("other:1")["Id"].as_str().unwrap().to_string();
    std::fs::remove_file(blob_path(&k, &other)).unwrap();
    (k, app, other)
}

#[test]
fn images_lists_the_others_and_marks_the_broken_one() {
    let (k, app, other) = store_with_broken_image();
    let out = k.run(&["images"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kiln images failed:\n{stderr}");
    let row = |repo: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{repo} ")))
            .unwrap_or_else(|| panic!("no {repo} row in:\n{stdout}"))
            .to_string()
    };
    assert!(row("app").contains(&app[7..19]), "{stdout}");
    assert!(!row("app").contains("<broken>"), "{stdout}");
    assert!(!row("busybox").contains("<broken>"), "{stdout}");
    assert!(row("other").contains("<broken>"), "{stdout}");
    assert!(row("other").contains(&other[7..19]), "{stdout}");
    assert!(
        stderr.contains("other:1") && stderr.contains("missing blob") && stderr.contains(&other),
        "the warning names the image and the missing blob:\n{stderr}"
    );
    // The other images keep working while the broken one is there.
    assert_eq!(k.sh("app:1", "cat /app").trim(), "app");
    k.ok(&["inspect", &app[7..19]]);
    k.ok(&["tag", "app:1", "app:2"]);
    let out = k.ok(&["rmi", "app:2"]);
    assert!(out.contains("Untagged: app:2"), "{out}");
}

#[test]
fn rmi_of_the_broken_image_works_and_spares_the_others() {
    let (k, app, other) = store_with_broken_image();
    let out = k.ok(&["rmi", "other:1"]);
    assert!(out.contains("Untagged: other:1"), "{out}");
    assert!(out.contains(&format!("Deleted: {other}")), "{out}");
    let images = k.ok(&["images"]);
    assert!(!images.contains("other"), "{images}");
    assert!(!images.contains("<broken>"), "{images}");
    assert_eq!(k.inspect("app:1")["Id"], app.as_str());
    // Its layer, which nothing else used, went with it; the store is sound again.
    let check = k.ok(&["system", "check"]);
    assert!(check.contains("No problems found"), "{check}");
}

#[test]
fn check_reports_a_broken_image_and_repair_untags_only_it() {
    let (k, app, other) = store_with_broken_image();
    let out = k.run(&["system", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "problems remain: exit 1\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("image other:1: ") && l.contains(&other)),
        "{stdout}"
    );
    assert!(stdout.contains("1 problem found"), "{stdout}");
    assert!(
        !stdout.contains("app:1"),
        "the good image is not reported:\n{stdout}"
    );

    let out = k.run(&["system", "check", "--repair"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("(untagged and removed)"), "{stdout}");
    assert!(stdout.contains("1 problem found, 1 repaired"), "{stdout}");
    let images = k.ok(&["images"]);
    assert!(!images.contains("other"), "{images}");
    assert_eq!(k.inspect("app:1")["Id"], app.as_str());
    assert!(k.inspect("busybox")["Id"].is_string());
    assert!(k.ok(&["system", "check"]).contains("No problems found"));
}

#[test]
fn check_verifies_every_blob_digest() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo one > /one\n")]);
    k.build_ok(ctx.path(), "one:1", &[]);
    let clean = k.ok(&["system", "check"]);
    assert!(clean.contains("No problems found"), "{clean}");
    // Flip one byte of the built image's top layer.
    let top = k.inspect("one:1")["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(top, 2);
    let manifest: serde_json::Value = {
        let d = k.inspect("one:1")["Descriptor"]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        serde_json::from_slice(&std::fs::read(blob_path(&k, &d)).unwrap()).unwrap()
    };
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let p = blob_path(&k, &layer);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();

    let out = k.run(&["system", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("blob {layer}: content hashes to sha256:"))),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("image one:1: ") && l.contains(&layer)),
        "the image using it is broken too:\n{stdout}"
    );
    let out = k.run(&["system", "check", "--repair"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!p.exists(), "the corrupt blob is removed");
    assert!(
        k.inspect("busybox")["Id"].is_string(),
        "the good image stays"
    );
    assert!(k.ok(&["system", "check"]).contains("No problems found"));
    // The build cache still has the step: the next build re-exports the layer.
    k.build_ok(ctx.path(), "one:1", &[]);
    assert_eq!(k.sh("one:1", "cat /one").trim(), "one");
}

#[test]
fn check_finds_records_and_base_layers_whose_snapshots_are_gone() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo two > /two\n")]);
    k.build_ok(ctx.path(), "two:1", &[]);
    // Lose every snapshot (a disk cleanup gone wrong): records and the base-image index now
    // point at nothing.
    let snaps = k.root.path().join("snapshots/snapshots");
    let mut lost = 0;
    for e in std::fs::read_dir(&snaps).unwrap().flatten() {
        std::fs::remove_dir_all(e.path()).unwrap();
        lost += 1;
    }
    assert!(lost >= 2);
    let out = k.run(&["system", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("cache record sha256:") && l.contains("not found")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("base layer sha256:") && l.contains("not found")),
        "{stdout}"
    );
    let out = k.run(&["system", "check", "--repair"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(k.ok(&["system", "check"]).contains("No problems found"));
    // Images are intact (their blobs are in the content store): the next build unpacks again.
    k.build_ok(ctx.path(), "two:2", &[]);
    assert_eq!(k.sh("two:2", "cat /two").trim(), "two");
}
