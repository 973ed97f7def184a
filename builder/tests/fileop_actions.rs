//! ADD unpacking and the mkdir/mkfile/rm/symlink actions.

use kiln_builder::fileop::{apply_actions, FileOpOptions, SourceRoot};
use kiln_solver::{Chown, CopyAction, FileAction, UserSpec};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn add(src: &str, dest: &str) -> FileAction {
    FileAction::Copy(CopyAction {
        src_input: 1,
        src: src.into(),
        dest: dest.into(),
        owner: None,
        mode: None,
        follow_symlinks: true,
        dir_copy_contents: true,
        attempt_unpack: true,
        create_dest_path: true,
        allow_wildcard: true,
        allow_empty_wildcard: false,
        exclude_patterns: vec![],
        parents: false,
        mtime: None,
    })
}

fn apply(dest: &Path, src: &Path, actions: Vec<FileAction>) -> Result<(), String> {
    let s = SourceRoot {
        root: src.to_path_buf(),
        ignore: None,
        force_owner: Some((0, 0)),
        hashed: None,
    };
    apply_actions(dest, &[s], &actions, &FileOpOptions::default()).map_err(|e| e.to_string())
}

fn tar_bytes(entries: &[(&str, &[u8])], link: Option<(&str, &str)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(777);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).expect("append");
    }
    if let Some((name, target)) = link {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, target).expect("link");
    }
    b.into_inner().expect("tar")
}

/// A tar whose single entry is named `name` verbatim (the tar crate refuses `..` itself).
fn raw_tar(name: &str) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    let mut data = b"evil".to_vec();
    data.resize(512, 0);
    out.extend(data);
    out.extend(vec![0u8; 1024]);
    out
}

#[test]
fn add_unpacks_plain_and_gzip_tars() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    let t = tar_bytes(
        &[("dir/a.txt", b"A"), ("b.txt", b"B")],
        Some(("dir/l", "/etc/passwd")),
    );
    std::fs::write(sp.join("plain.tar"), &t).expect("write");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t).expect("gz");
    std::fs::write(sp.join("x.tar.gz"), gz.finish().expect("gz")).expect("write");
    std::fs::write(sp.join("notatar.gz"), b"\x1f\x8bnot really").expect("write");
    apply(
        dp,
        sp,
        vec![
            add("/plain.tar", "/p/"),
            add("/x.tar.gz", "/g"),
            add("/notatar.gz", "/n/"),
        ],
    )
    .expect("add");
    for base in ["p", "g"] {
        assert_eq!(
            std::fs::read_to_string(dp.join(base).join("dir/a.txt")).expect("read"),
            "A"
        );
        let m = std::fs::metadata(dp.join(base).join("b.txt")).expect("stat");
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o777, m.mtime()),
            (1234, 5678, 0o640, 777)
        );
        assert_eq!(
            std::fs::read_link(dp.join(base).join("dir/l")).expect("link"),
            Path::new("/etc/passwd")
        );
    }
    assert_eq!(
        std::fs::read(dp.join("n/notatar.gz")).expect("copied as a file"),
        b"\x1f\x8bnot really"
    );
}

#[test]
fn hostile_tar_is_rejected() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    std::fs::write(sp.join("evil.tar"), raw_tar("../../evil")).expect("write");
    let e = apply(dp, sp, vec![add("/evil.tar", "/out/")]).expect_err("rejected");
    assert!(e.contains("escapes the destination"), "{e}");
    assert!(!dp.join("../evil").exists() && !dp.parent().expect("parent").join("evil").exists());
    // An archive symlink cannot redirect a later entry out of the root.
    let t = tar_bytes(&[("esc/f", b"x")], None);
    let mut with_link = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    with_link
        .append_link(&mut h, "esc", "/../../../../tmp")
        .expect("link");
    let mut bytes = with_link.into_inner().expect("tar");
    bytes.truncate(bytes.len() - 1024);
    bytes.extend(t);
    std::fs::write(sp.join("link.tar"), bytes).expect("write");
    apply(dp, sp, vec![add("/link.tar", "/o2/")]).expect("add");
    assert_eq!(
        std::fs::read_to_string(dp.join("tmp/f")).expect("stays inside"),
        "x"
    );
}

#[test]
fn mkdir_mkfile_rm_symlink() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let dp = d.path();
    std::fs::create_dir_all(dp.join("etc")).expect("mkdir");
    std::fs::write(dp.join("etc/passwd"), "app:x:100:101::/:/bin/sh\n").expect("write");
    let owner = Some(Chown {
        user: UserSpec::Name("app".into()),
        group: None,
    });
    apply(
        dp,
        s.path(),
        vec![
            FileAction::Mkdir {
                path: "/a/b/c".into(),
                mode: 0o700,
                make_parents: true,
                owner: owner.clone(),
            },
            FileAction::Mkfile {
                path: "/a/b/c/f".into(),
                mode: 0o600,
                data: b"hi".to_vec(),
                owner: owner.clone(),
            },
            FileAction::Mkfile {
                path: "/x1".into(),
                mode: 0o644,
                data: vec![],
                owner: None,
            },
            FileAction::Mkfile {
                path: "/x2".into(),
                mode: 0o644,
                data: vec![],
                owner: None,
            },
            FileAction::Rm {
                path: "/x*".into(),
                allow_not_found: false,
                allow_wildcard: true,
            },
            FileAction::Rm {
                path: "/nothing".into(),
                allow_not_found: true,
                allow_wildcard: false,
            },
            FileAction::Symlink {
                target: "/a/b".into(),
                link: "/lnk".into(),
            },
        ],
    )
    .expect("apply");
    let c = std::fs::metadata(dp.join("a/b/c")).expect("stat");
    assert_eq!((c.mode() & 0o7777, c.uid(), c.gid()), (0o700, 100, 101));
    assert_eq!(std::fs::metadata(dp.join("a")).expect("stat").uid(), 100);
    let f = std::fs::metadata(dp.join("a/b/c/f")).expect("stat");
    assert_eq!((f.mode() & 0o7777, f.uid()), (0o600, 100));
    assert!(!dp.join("x1").exists() && !dp.join("x2").exists());
    assert_eq!(
        std::fs::read_link(dp.join("lnk")).expect("link"),
        Path::new("/a/b")
    );
    let e = apply(
        dp,
        s.path(),
        vec![FileAction::Rm {
            path: "/nothing".into(),
            allow_not_found: false,
            allow_wildcard: false,
        }],
    )
    .expect_err("missing");
    assert_eq!(e, "\"/nothing\": not found");
    let e = apply(
        dp,
        s.path(),
        vec![FileAction::Mkdir {
            path: "/q/r".into(),
            mode: 0o755,
            make_parents: false,
            owner: None,
        }],
    )
    .expect_err("no parent");
    assert!(e.contains("mkdir"), "{e}");
    // Copy within the destination (input 0) and a missing input.
    let FileAction::Copy(mut c0) = add("/a/b/c/f", "/copied") else {
        unreachable!()
    };
    c0.src_input = 0;
    apply(dp, s.path(), vec![FileAction::Copy(c0.clone())]).expect("copy from dest");
    assert_eq!(
        std::fs::read_to_string(dp.join("copied")).expect("read"),
        "hi"
    );
    c0.src_input = 5;
    assert!(apply(dp, s.path(), vec![FileAction::Copy(c0)])
        .expect_err("input")
        .contains("input 5"));
}
