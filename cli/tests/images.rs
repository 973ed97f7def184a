//! End-to-end image commands: import, images, tag, rmi, save/load, inspect.

mod common;

use common::{context, Kiln};

#[test]
fn import_tag_images_rmi() {
    let k = Kiln::new();
    let out = k.ok(&["images"]);
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{out}"
    );
    k.ok(&["tag", "busybox", "localhost:5000/tools/bb:v1"]);
    let out = k.ok(&["images"]);
    assert!(out.contains("localhost:5000/tools/bb"), "{out}");
    let id = k.inspect("busybox")["Id"].as_str().unwrap().to_string();
    assert_eq!(k.inspect("localhost:5000/tools/bb:v1")["Id"], id.as_str());
    // a short ID resolves too
    assert_eq!(k.inspect(&id[7..19])["Id"], id.as_str());
    let out = k.ok(&["rmi", "localhost:5000/tools/bb:v1"]);
    assert!(
        out.contains("Untagged: localhost:5000/tools/bb:v1"),
        "{out}"
    );
    assert!(
        k.run(&["inspect", "localhost:5000/tools/bb:v1"])
            .status
            .code()
            == Some(1)
    );
    // the image is still there under its other name
    assert_eq!(k.inspect("busybox:latest")["Id"], id.as_str());
    let out = k.ok(&["rmi", "busybox"]);
    assert!(out.contains("Deleted:"), "{out}");
    assert_eq!(k.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn save_and_load_round_trip_both_formats() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo payload > /p.txt\nCMD [\"cat\", \"/p.txt\"]\n",
    )]);
    k.build_ok(ctx.path(), "rt:1", &[]);
    let id = k.inspect("rt:1")["Id"].as_str().unwrap().to_string();
    for format in ["docker", "oci"] {
        let tar = k.root.path().join(format!("rt-{format}.tar"));
        k.ok(&[
            "save",
            "--format",
            format,
            "-o",
            tar.to_str().unwrap(),
            "rt:1",
        ]);
        let other = Kiln::empty();
        let out = other.ok(&["load", "-i", tar.to_str().unwrap()]);
        assert!(out.contains("rt:1") || out.contains(&id), "{format}: {out}");
        assert_eq!(other.inspect("rt:1")["Id"], id.as_str(), "{format}");
        assert_eq!(
            other.ok(&["run", "--rm", "rt:1"]).trim(),
            "payload",
            "{format}"
        );
    }
}

#[test]
fn load_rejects_a_tampered_archive_and_keeps_the_store() {
    let k = Kiln::new();
    let tar = k.root.path().join("bb.tar");
    k.ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    let other = Kiln::empty();
    // Flip bytes in the middle of the archive (inside a layer).
    let mut bytes = std::fs::read(&tar).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let bad = k.root.path().join("bad.tar");
    std::fs::write(&bad, &bytes).unwrap();
    let out = other.run(&["load", "-i", bad.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
    assert_eq!(
        other.ok(&["images", "-q"]).trim(),
        "",
        "nothing half-loaded is listed"
    );
}
