//! Producing layers: exact entries, metadata, determinism, round trips, export.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{describe, open, read_tar, TarBuilder, MODES};
use kiln_snapshot::{
    sha256_digest, Compression, ContentStore, LayerInfo, Mode, SnapshotId, Snapshotter,
};
use tar::EntryType;

fn base_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("d/")
        .file("d/a", b"a")
        .file("d/b", b"b")
        .dir("keep/")
        .file("keep/x", b"x1")
        .file("keep/same", b"same")
        .file("rm.txt", b"bye")
        .finish()
}

fn set_mtime(p: &std::path::Path, secs: i64) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
        .unwrap();
}

/// Base snapshot plus one with: new file (owner/mode/mtime), deleted lower file,
/// replaced directory, modified file, new hardlink pair, new symlink.
fn build(s: &Snapshotter) -> (SnapshotId, SnapshotId) {
    let base = base_layer();
    let (a, _) = s.apply_layer(None, &mut &base[..]).unwrap();
    let act = s.prepare(Some(&a)).unwrap();
    s.with_active_mounted(&act, |m| {
        fs::write(m.join("new.txt"), b"new").unwrap();
        std::os::unix::fs::chown(m.join("new.txt"), Some(1000), Some(1001)).unwrap();
        fs::set_permissions(m.join("new.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        common::set_xattr(&m.join("new.txt"), "user.k", b"v");
        set_mtime(&m.join("new.txt"), 1_234_567);
        fs::remove_file(m.join("rm.txt")).unwrap();
        fs::remove_dir_all(m.join("d")).unwrap();
        fs::create_dir(m.join("d")).unwrap();
        fs::write(m.join("d/c"), b"c").unwrap();
        set_mtime(&m.join("d/c"), 5);
        fs::write(m.join("keep/x"), b"x2").unwrap();
        set_mtime(&m.join("keep/x"), 6);
        fs::write(m.join("h1"), b"linked").unwrap();
        set_mtime(&m.join("h1"), 7);
        fs::hard_link(m.join("h1"), m.join("h2")).unwrap();
        std::os::unix::fs::symlink("new.txt", m.join("sl")).unwrap();
    })
    .unwrap();
    let b = s.commit(act).unwrap();
    (a, b)
}

fn diff(s: &Snapshotter, id: &SnapshotId, clamp: Option<i64>) -> Vec<u8> {
    let mut out = Vec::new();
    s.write_diff(id, &mut out, clamp).unwrap();
    out
}

#[test]
fn diff_has_exactly_the_changes() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let (_a, b) = build(&s);
        let raw = diff(&s, &b, None);
        let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"SCHILY.xattr.user.k=v"), "{mode:?}");
        assert!(!has(b"trusted.overlay"), "{mode:?}");
        let entries = read_tar(&raw);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let expected: Vec<&str> = match mode {
            Mode::Overlay => vec![
                "d/",
                "d/.wh..wh..opq",
                "d/c",
                "h1",
                "h2",
                "keep/",
                "keep/x",
                "new.txt",
                ".wh.rm.txt",
                "sl",
            ],
            Mode::Copy => vec![
                "d/",
                "d/.wh.a",
                "d/.wh.b",
                "d/c",
                "h1",
                "h2",
                "keep/",
                "keep/x",
                "new.txt",
                ".wh.rm.txt",
                "sl",
            ],
        };
        assert_eq!(names, expected, "mode {mode:?}");
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        let new = get("new.txt");
        assert_eq!(
            (new.uid, new.gid, new.mode, new.mtime),
            (1000, 1001, 0o640, 1_234_567)
        );
        assert_eq!(new.data, b"new");
        assert_eq!(new.kind, EntryType::Regular);
        assert_eq!(get("keep/x").data, b"x2");
        assert_eq!(get("h1").kind, EntryType::Regular);
        assert_eq!(get("h2").kind, EntryType::Link);
        assert_eq!(get("h2").link.as_deref(), Some("h1"));
        assert_eq!(get("sl").kind, EntryType::Symlink);
        assert_eq!(get("sl").link.as_deref(), Some("new.txt"));
        assert_eq!(get(".wh.rm.txt").data, b"");
        assert_eq!(get("d/").kind, EntryType::Directory);

        // Clamp.
        let clamped = read_tar(&diff(&s, &b, Some(1000)));
        for e in &clamped {
            assert!(e.mtime <= 1000, "{} not clamped", e.name);
        }
        assert_eq!(clamped.iter().find(|e| e.name == "d/c").unwrap().mtime, 5);
        assert!(!s.is_empty_diff(&b).unwrap());
    }
}

#[test]
fn diff_is_deterministic_and_export_is_memoised() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let (_a, b) = build(&s);
        assert_eq!(diff(&s, &b, None), diff(&s, &b, None));
        let cs = ContentStore::open(&dir.path().join("content")).unwrap();
        let l1 = s.export_layer(&b, &cs, Compression::Gzip, None).unwrap();
        assert_eq!(l1.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_eq!(l1.diff_id, sha256_digest(&diff(&s, &b, None)));
        assert_eq!(l1.size, cs.size(&l1.digest).unwrap());
        // Recomputed after deleting the blob: same digest (deterministic gzip).
        cs.delete(&l1.digest).unwrap();
        let l2 = s.export_layer(&b, &cs, Compression::Gzip, None).unwrap();
        assert_eq!(l1, l2);
        let plain = s.export_layer(&b, &cs, Compression::None, None).unwrap();
        assert_eq!(plain.digest, plain.diff_id);
        assert_eq!(plain.diff_id, l1.diff_id);
        assert_eq!(plain.media_type, "application/vnd.oci.image.layer.v1.tar");
        let clamped = s
            .export_layer(&b, &cs, Compression::Gzip, Some(10))
            .unwrap();
        assert_ne!(clamped.diff_id, l1.diff_id);
        let z = s.export_layer(&b, &cs, Compression::Zstd, None).unwrap();
        assert_eq!(z.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        assert_eq!(z.diff_id, l1.diff_id);
        assert_eq!(s.export_layer(&b, &cs, Compression::Zstd, None).unwrap(), z);
        // A zstd layer applies like the plain one.
        let blob = cs.read(&z.digest).unwrap();
        let (_, zid) = s.apply_layer(None, &mut &blob[..]).unwrap();
        assert_eq!(zid, z.diff_id);
        // The same build in another store gives the same layer once directory mtimes
        // (set to "now" by the build) are clamped.
        let clamp = Some(100_000);
        let mine = s.export_layer(&b, &cs, Compression::Gzip, clamp).unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        let s2 = open(dir2.path(), mode);
        let (_a2, b2) = build(&s2);
        let other = s2.export_layer(&b2, &cs, Compression::Gzip, clamp).unwrap();
        assert_eq!(other.diff_id, mine.diff_id, "mode {mode:?}");
        assert_eq!(other.digest, mine.digest);
    }
}

#[test]
fn set_layer_info_returns_original_blob() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Mode::Overlay);
    let cs = ContentStore::open(&dir.path().join("content")).unwrap();
    let base = base_layer();
    let (digest, size) = cs.write_bytes(&base).unwrap();
    let (a, diff_id) = s.apply_layer(None, &mut &base[..]).unwrap();
    let info = LayerInfo {
        digest: digest.clone(),
        size,
        diff_id: diff_id.clone(),
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
    };
    s.set_layer_info(&a, &info).unwrap();
    assert_eq!(
        s.export_layer(&a, &cs, Compression::None, None).unwrap(),
        info
    );
    // A different compression is produced from the tree.
    let gz = s.export_layer(&a, &cs, Compression::Gzip, None).unwrap();
    assert_ne!(gz.digest, digest);
}

#[test]
fn round_trip_through_another_store_gives_the_same_tree() {
    for src_mode in MODES {
        for dst_mode in MODES {
            let d1 = tempfile::tempdir().unwrap();
            let s1 = open(d1.path(), src_mode);
            let (a, b) = build(&s1);
            let la = diff(&s1, &a, None);
            let lb = diff(&s1, &b, None);
            let d2 = tempfile::tempdir().unwrap();
            let s2 = open(d2.path(), dst_mode);
            let (a2, da) = s2.apply_layer(None, &mut &la[..]).unwrap();
            let (b2, db) = s2.apply_layer(Some(&a2), &mut &lb[..]).unwrap();
            assert_eq!(da, sha256_digest(&la));
            assert_eq!(db, sha256_digest(&lb));
            let t1 = s1.with_mounted(Some(&b), describe).unwrap();
            let t2 = s2.with_mounted(Some(&b2), describe).unwrap();
            assert_eq!(t1, t2, "{src_mode:?} -> {dst_mode:?}");
            assert!(t1.contains_key("new.txt") && !t1.contains_key("rm.txt"));
            assert!(!t1.contains_key("d/a"));
            // Re-diffing the applied layer gives the same tar in the same mode.
            if src_mode == dst_mode {
                assert_eq!(diff(&s2, &b2, None), lb, "{src_mode:?}");
            }
        }
    }
}

#[test]
fn empty_diff_and_removal_rules() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let base = base_layer();
        let (a, _) = s.apply_layer(None, &mut &base[..]).unwrap();
        let act = s.prepare(Some(&a)).unwrap();
        let b = s.commit(act).unwrap();
        assert!(s.is_empty_diff(&b).unwrap(), "{mode:?}");
        assert_eq!(read_tar(&diff(&s, &b, None)), vec![]);
        assert!(s.usage(&a).unwrap() >= 11);
        assert!(matches!(
            s.remove(&a),
            Err(kiln_snapshot::Error::HasChildren { .. })
        ));
        let mut l = s.list().unwrap();
        l.sort();
        let mut want = vec![a.clone(), b.clone()];
        want.sort();
        assert_eq!(l, want);
        s.remove(&b).unwrap();
        s.remove(&a).unwrap();
        assert!(!s.exists(&a));
        assert!(s.list().unwrap().is_empty());
        let act = s.prepare(None).unwrap();
        let id = act.id.clone();
        s.abort(act).unwrap();
        assert!(!s.exists(&id));
        assert!(s.prepare(Some(&id)).is_err());
        assert!(s.parent(&SnapshotId("../x".into())).is_err());
    }
}

#[test]
fn same_size_same_mtime_content_change_is_detected() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let base = base_layer();
        let (a, _) = s.apply_layer(None, &mut &base[..]).unwrap();
        let act = s.prepare(Some(&a)).unwrap();
        s.with_active_mounted(&act, |m| {
            fs::write(m.join("keep/same"), b"SAME").unwrap();
            set_mtime(&m.join("keep/same"), 1_600_000_000);
        })
        .unwrap();
        let b = s.commit(act).unwrap();
        let entries = read_tar(&diff(&s, &b, None));
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["keep/", "keep/same"], "{mode:?}");
        assert_eq!(entries[1].data, b"SAME");
        assert_eq!(entries[1].mtime, 1_600_000_000);
    }
}

#[test]
fn long_names_devices_and_fifos_round_trip() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let long_dir = format!("{}/{}/{}", "a".repeat(120), "b".repeat(100), "c".repeat(90));
        let long_file = format!("{long_dir}/{}", "f".repeat(200));
        let long_target = "t".repeat(180);
        let act = s.prepare(None).unwrap();
        let (lf, ld, lt) = (long_file.clone(), long_dir.clone(), long_target.clone());
        s.with_active_mounted(&act, move |m| {
            fs::create_dir_all(m.join(&ld)).unwrap();
            fs::write(m.join(&lf), b"deep").unwrap();
            std::os::unix::fs::symlink(&lt, m.join("longlink")).unwrap();
            fs::hard_link(m.join(&lf), m.join("hl")).unwrap();
            let c = std::ffi::CString::new(m.join("null").to_str().unwrap()).unwrap();
            // SAFETY: valid C string.
            let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
            assert_eq!(r, 0);
            let c = std::ffi::CString::new(m.join("pipe").to_str().unwrap()).unwrap();
            // SAFETY: valid C string.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        })
        .unwrap();
        let id = s.commit(act).unwrap();
        let layer = diff(&s, &id, None);
        let entries = read_tar(&layer);
        let get = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        assert_eq!(get(&long_file).data, b"deep");
        assert_eq!(get("longlink").link.as_deref(), Some(long_target.as_str()));
        assert_eq!(get("null").kind, EntryType::Char);
        assert_eq!(get("pipe").kind, EntryType::Fifo);
        // The first name of the inode (sorted order) carries the data.
        assert_eq!(get("hl").kind, EntryType::Link);
        // GNU tar reads it too (PAX long names and link targets).
        if std::path::Path::new("/usr/bin/tar").exists()
            || std::path::Path::new("/bin/tar").exists()
        {
            use std::io::Write;
            let mut child = std::process::Command::new("tar")
                .args(["tvf", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(&layer).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(listing.contains(&long_file), "{listing}");
            assert!(
                listing.contains(&format!("longlink -> {long_target}")),
                "{listing}"
            );
        }
        let d2 = tempfile::tempdir().unwrap();
        let s2 = open(d2.path(), mode);
        let (id2, _) = s2.apply_layer(None, &mut &layer[..]).unwrap();
        let t1 = s.with_mounted(Some(&id), describe).unwrap();
        let t2 = s2.with_mounted(Some(&id2), describe).unwrap();
        assert_eq!(t1, t2, "{mode:?}");
        assert!(t2
            .get("null")
            .unwrap()
            .starts_with(&format!("chr:{}", libc::makedev(1, 3))));
    }
}
