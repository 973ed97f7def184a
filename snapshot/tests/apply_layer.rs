//! Unpacking layers: merged views, whiteouts, compression, hostile tars.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use common::{describe, open, TarBuilder, MODES};
use kiln_snapshot::{sha256_digest, Error, Mode};
use tar::EntryType;

fn base_layer() -> Vec<u8> {
    TarBuilder::new()
        .dir("etc/")
        .file("etc/passwd", b"root:x:0:0")
        .dir("d/")
        .file("d/a", b"a")
        .file("d/b", b"b")
        .dir("keep/")
        .file("keep/x", b"x1")
        .file("rm.txt", b"bye")
        .symlink("link", "etc/passwd")
        .finish()
}

fn top_layer() -> Vec<u8> {
    TarBuilder::new()
        .file(".wh.rm.txt", b"")
        .dir("d/")
        .file("d/.wh..wh..opq", b"")
        .file("d/c", b"c")
        .file("keep/.wh.x", b"")
        .raw(
            "bin/",
            EntryType::Directory,
            0o755,
            b"",
            None,
            (0, 0),
            1_500_000_000,
        )
        .raw(
            "bin/su",
            EntryType::Regular,
            0o4755,
            b"su!",
            None,
            (0, 0),
            1_234_567,
        )
        .hardlink("bin/su2", "bin/su")
        .symlink("abs", "/etc/passwd")
        .raw(
            "owned",
            EntryType::Regular,
            0o640,
            b"o",
            None,
            (1000, 2000),
            42,
        )
        .file_with_xattr("xa", b"x", "user.test", b"val")
        .raw("fifo", EntryType::Fifo, 0o600, b"", None, (0, 0), 7)
        .finish()
}

fn expected_view() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "abs",
            "link:/etc/passwd mode=0 owner=0:0 mtime=1600000000 xattrs=[]",
        ),
        ("bin", "dir mode=755 owner=0:0 mtime=0 xattrs=[]"),
        (
            "bin/su",
            "file:su! mode=4755 owner=0:0 mtime=1234567 xattrs=[]",
        ),
        (
            "bin/su2",
            "file:su! mode=4755 owner=0:0 mtime=1234567 xattrs=[]",
        ),
        ("d", "dir mode=755 owner=0:0 mtime=0 xattrs=[]"),
        (
            "d/c",
            "file:c mode=644 owner=0:0 mtime=1600000000 xattrs=[]",
        ),
        ("etc", "dir mode=755 owner=0:0 mtime=0 xattrs=[]"),
        (
            "etc/passwd",
            "file:root:x:0:0 mode=644 owner=0:0 mtime=1600000000 xattrs=[]",
        ),
        ("fifo", "fifo mode=600 owner=0:0 mtime=7 xattrs=[]"),
        ("keep", "dir mode=755 owner=0:0 mtime=0 xattrs=[]"),
        (
            "link",
            "link:etc/passwd mode=0 owner=0:0 mtime=1600000000 xattrs=[]",
        ),
        (
            "owned",
            "file:o mode=640 owner=1000:2000 mtime=42 xattrs=[]",
        ),
        (
            "xa",
            "file:x mode=644 owner=0:0 mtime=1600000000 xattrs=[\"user.test\"]",
        ),
    ]
}

#[test]
fn layers_merge_with_whiteouts_and_opaque_dirs() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let base = base_layer();
        let (a, diff_a) = s.apply_layer(None, &mut &base[..]).unwrap();
        assert_eq!(diff_a, sha256_digest(&base));
        let top = top_layer();
        let (b, diff_b) = s.apply_layer(Some(&a), &mut &top[..]).unwrap();
        assert_eq!(diff_b, sha256_digest(&top));
        assert_eq!(s.chain(&b).unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(s.parent(&b).unwrap(), Some(a.clone()));

        let view = s.with_mounted(Some(&b), describe).unwrap();
        let got: Vec<(String, String)> = view.into_iter().collect();
        let want: Vec<(String, String)> = expected_view()
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "mode {mode:?}");

        // Hardlink kept as one inode, view read-only.
        s.with_mounted(Some(&b), |p| {
            let m1 = fs::metadata(p.join("bin/su")).unwrap();
            let m2 = fs::metadata(p.join("bin/su2")).unwrap();
            assert_eq!(m1.ino(), m2.ino());
            assert!(
                fs::write(p.join("new"), b"x").is_err(),
                "view must be read-only"
            );
        })
        .unwrap();
        // The lower snapshot is unchanged.
        let base_view = s.with_mounted(Some(&a), describe).unwrap();
        assert!(base_view.contains_key("rm.txt") && base_view.contains_key("d/a"));
        assert!(common::mounted_under(dir.path()).is_empty());
    }
}

#[test]
fn gzip_layers_are_detected_and_diff_id_is_of_the_tar() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let tar = base_layer();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let (id, diff_id) = s.apply_layer(None, &mut &gz[..]).unwrap();
        assert_eq!(diff_id, sha256_digest(&tar));
        let view = s
            .with_mounted(Some(&id), |p| fs::read(p.join("keep/x")).unwrap())
            .unwrap();
        assert_eq!(view, b"x1");
    }
}

fn assert_rejected(mode: Mode, tar: Vec<u8>, outside: &std::path::Path) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), mode);
    let base = TarBuilder::new().file("ok", b"ok").finish();
    let (parent, _) = s.apply_layer(None, &mut &base[..]).unwrap();
    let before = fs::read_dir(dir.path().join("snapshots")).unwrap().count();
    let err = s.apply_layer(Some(&parent), &mut &tar[..]).unwrap_err();
    assert!(
        matches!(err, Error::UnsafeEntry { .. }),
        "expected UnsafeEntry, got {err}"
    );
    eprintln!("rejected: {err}");
    assert_eq!(s.list().unwrap(), vec![parent]);
    let after = fs::read_dir(dir.path().join("snapshots")).unwrap().count();
    assert_eq!(before, after, "aborted snapshot left behind");
    assert_eq!(
        fs::read_dir(outside).unwrap().count(),
        0,
        "something was written outside"
    );
}

#[test]
fn hostile_tars_are_rejected_without_writing_outside() {
    for mode in MODES {
        let outside = tempfile::tempdir().unwrap();
        let out = outside.path().to_string_lossy().into_owned();
        // 1. `..` escape (written raw: the tar crate refuses to build it).
        let depth = "../".repeat(12);
        let escape = format!("{depth}{}/escaped", out.trim_start_matches('/'));
        assert_rejected(
            mode,
            TarBuilder::new().file(&escape, b"x").finish(),
            outside.path(),
        );
        // 2. absolute symlink, then a file through it.
        let t = TarBuilder::new()
            .symlink("evil", &out)
            .file("evil/pwned", b"x")
            .finish();
        assert_rejected(mode, t, outside.path());
        // 3. relative symlink climbing out, then a directory and file through it.
        let t = TarBuilder::new()
            .symlink("up", &depth)
            .file(&format!("up/{}/pwned", out.trim_start_matches('/')), b"x")
            .finish();
        assert_rejected(mode, t, outside.path());
        // 4. hardlinks to host files.
        let t = TarBuilder::new().hardlink("pw", "/etc/passwd").finish();
        assert_rejected(mode, t, outside.path());
        let t = TarBuilder::new()
            .hardlink("pw", &format!("{depth}etc/passwd"))
            .finish();
        assert_rejected(mode, t, outside.path());
        // 5. hardlink through a symlinked directory.
        let t = TarBuilder::new()
            .symlink("etcl", "/etc")
            .hardlink("pw", "etcl/passwd")
            .finish();
        assert_rejected(mode, t, outside.path());
        // 6. a `..` whiteout.
        let t = TarBuilder::new()
            .file(&format!("{depth}.wh.etc"), b"")
            .finish();
        assert_rejected(mode, t, outside.path());
    }
    assert!(fs::metadata("/etc/passwd").is_ok());
}

#[test]
fn truncated_tar_is_an_error_and_leaves_nothing() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let mut t = TarBuilder::new().file("big", &vec![7u8; 10_000]).finish();
        t.truncate(2048);
        assert!(s.apply_layer(None, &mut &t[..]).is_err());
        assert!(s.list().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("snapshots")).unwrap().count(),
            0
        );
    }
}

#[test]
fn overlay_private_xattrs_from_tars_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Mode::Overlay);
    let t = TarBuilder::new()
        .dir("d/")
        .file_with_xattr("f", b"x", "trusted.overlay.opaque", b"y")
        .finish();
    let (id, _) = s.apply_layer(None, &mut &t[..]).unwrap();
    let upper = s.lowers(&id).unwrap()[0].join("f");
    assert!(upper.exists());
    assert!(!common::has_xattr(&upper, "trusted.overlay.opaque"));
}

#[test]
fn implied_parent_of_an_opaque_lower_dir_is_not_opaque() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let l1 = TarBuilder::new().dir("o/").file("o/a", b"a").finish();
        let l2 = TarBuilder::new()
            .dir("o/")
            .file("o/.wh..wh..opq", b"")
            .file("o/b", b"b")
            .finish();
        // No "o/" entry: the directory is implied.
        let l3 = TarBuilder::new()
            .file("o/c", b"c")
            .file("o/.wh.zz", b"")
            .dir("n/")
            .file("n/.wh.nothing", b"")
            .file("n/.wh..wh..opq", b"")
            .file("o/.wh.a", b"")
            .finish();
        let (a, _) = s.apply_layer(None, &mut &l1[..]).unwrap();
        let (b, _) = s.apply_layer(Some(&a), &mut &l2[..]).unwrap();
        let (c, _) = s.apply_layer(Some(&b), &mut &l3[..]).unwrap();
        let names = s
            .with_mounted(Some(&c), |p| {
                let mut v: Vec<String> = fs::read_dir(p.join("o"))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            })
            .unwrap();
        assert_eq!(names, vec!["b", "c"], "{mode:?}");
        // Whiteouts with nothing below them must not show up as device files.
        let n = s
            .with_mounted(Some(&c), |p| {
                fs::read_dir(p.join("n"))
                    .map(|d| d.count())
                    .map_err(|e| format!("{mode:?}: {e} {:?}", describe(p)))
            })
            .unwrap();
        assert_eq!(n, Ok(0), "{mode:?}");
    }
}

#[test]
fn root_entry_sets_the_root_metadata_for_upper_layers_too() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), mode);
        let t = TarBuilder::new()
            .raw("./", EntryType::Directory, 0o750, b"", None, (0, 5), 99)
            .file("f", b"x")
            .finish();
        let (base, _) = s.apply_layer(None, &mut &t[..]).unwrap();
        let t2 = TarBuilder::new().file("g", b"y").finish();
        let (id, _) = s.apply_layer(Some(&base), &mut &t2[..]).unwrap();
        let root_meta = |id| {
            s.with_mounted(Some(id), |p| {
                let m = fs::metadata(p).unwrap();
                (m.mode() & 0o7777, m.gid(), m.mtime())
            })
            .unwrap()
        };
        assert_eq!(root_meta(&base), (0o750, 5, 99), "{mode:?}");
        // The upper layer added a file to the root (new mtime) but keeps mode and owner.
        let (perm, gid, _) = root_meta(&id);
        assert_eq!((perm, gid), (0o750, 5), "{mode:?}");
    }
}
