//! The store is private: an unprivileged host user can reach neither the setuid binaries nor
//! the device nodes of a stored image or snapshot (the pattern of CVE-2021-41091), including in
//! a root made by an older kiln with 0755 directories.

mod common;
mod store_support;

use common::{context, Kiln};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use store_support::{dangerous_files, hostile_rootfs, mode, nobody_can_stat};

/// A root holding the hostile image, unpacked (by a build with a RUN) and as blobs.
fn store_with_hostile_image() -> Kiln {
    let k = Kiln::empty();
    // As `mkdir -p /var/lib/kiln` leaves it (the test's temporary directory starts as 0700).
    std::fs::set_permissions(k.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let rootfs = tempfile::tempdir_in(common::test_tmp()).unwrap();
    hostile_rootfs(rootfs.path());
    k.ok(&["import", rootfs.path().to_str().unwrap(), "hostile:1"]);
    let ctx = context(&[("Dockerfile", "FROM hostile:1\nRUN echo built > /built\n")]);
    k.build_ok(ctx.path(), "derived:1", &[]);
    k
}

/// Everything an attacker wants in `root` is there, and nobody can reach any of it, while
/// nobody can reach an ordinary world-readable file (so the probe itself works).
fn assert_unreachable(root: &Path) {
    assert!(
        nobody_can_stat(Path::new("/bin/busybox")),
        "the probe must be able to succeed"
    );
    let found = dangerous_files(root);
    assert!(
        found.iter().any(|p| p.ends_with("bin/suid"))
            && found.iter().any(|p| p.ends_with("dev/rawnull")),
        "the store holds the image's setuid binary and device node: {found:?}"
    );
    for p in &found {
        assert!(!nobody_can_stat(p), "nobody can reach {}", p.display());
    }
    let blobs = root.join("content/blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap().flatten() {
        assert!(
            !nobody_can_stat(&e.path()),
            "nobody can read blob {}",
            e.path().display()
        );
    }
    assert_eq!(mode(root), 0o710, "the root is 0710 like /var/lib/docker");
    for e in std::fs::read_dir(root).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            assert_eq!(mode(&e.path()), 0o700, "{} is private", e.path().display());
        }
    }
}

#[test]
fn an_unprivileged_user_cannot_reach_setuid_binaries_or_devices_in_the_store() {
    let k = store_with_hostile_image();
    assert_unreachable(k.root.path());
    // The image still works for its owner: a setuid binary inside is the image's business.
    assert_eq!(k.sh("derived:1", "cat /built").trim(), "built");
}

#[test]
fn a_root_made_world_readable_by_an_older_kiln_is_tightened_when_opened() {
    let k = store_with_hostile_image();
    let root = k.root.path();
    // What kiln used to leave: 0755 all the way down to the snapshots' trees.
    let st = std::process::Command::new("find")
        .arg(root)
        .args(["-type", "d", "-exec", "chmod", "go+rx", "{}", "+"])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::metadata(root).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let exposed = dangerous_files(root);
    assert!(
        exposed.iter().any(|p| nobody_can_stat(p)),
        "the old layout exposes them (the test's premise)"
    );
    k.ok(&["images"]);
    assert_unreachable(root);
}
