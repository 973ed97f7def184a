//! COPY/ADD semantics, mirroring BuildKit's dockerfile COPY tests.

use kiln_builder::context::DockerIgnore;
use kiln_builder::fileop::{apply_actions, FileOpOptions, SourceRoot};
use kiln_solver::{Chmod, Chown, CopyAction, FileAction, UserSpec};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

fn cp(src: &str, dest: &str) -> CopyAction {
    CopyAction {
        src_input: 1,
        src: src.into(),
        dest: dest.into(),
        owner: None,
        mode: None,
        follow_symlinks: true,
        dir_copy_contents: true,
        attempt_unpack: false,
        create_dest_path: true,
        allow_wildcard: true,
        allow_empty_wildcard: true,
        exclude_patterns: vec![],
        parents: false,
        mtime: None,
    }
}

fn write(root: &Path, rel: &str, data: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, data).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn perm(root: &Path, rel: &str) -> u32 {
    std::fs::symlink_metadata(root.join(rel))
        .expect("stat")
        .mode()
        & 0o7777
}

fn owner(root: &Path, rel: &str) -> (u32, u32) {
    let m = std::fs::symlink_metadata(root.join(rel)).expect("stat");
    (m.uid(), m.gid())
}

fn run(dest: &Path, src: &SourceRoot, actions: Vec<CopyAction>) -> Result<(), String> {
    let actions: Vec<FileAction> = actions.into_iter().map(FileAction::Copy).collect();
    apply_actions(
        dest,
        std::slice::from_ref(src),
        &actions,
        &FileOpOptions::default(),
    )
    .map_err(|e| e.to_string())
}

fn ctx_source(root: &Path) -> SourceRoot {
    SourceRoot {
        root: root.to_path_buf(),
        ignore: None,
        force_owner: Some((0, 0)),
        hashed: None,
    }
}

#[test]
fn copy_wildcards() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "foo.go", "foo-contents", 0o600);
    write(sp, "bar.go", "bar-contents", 0o600);
    write(sp, "sub/dir1/dir2/foo", "foo-contents", 0o600);
    let src = ctx_source(sp);
    run(
        dp,
        &src,
        vec![
            cp("/*.go", "/gofiles/"),
            cp("/f*.go", "/foo2.go"),
            cp("/sub/*", "/subdest/"),
            cp("/sub/*/dir2/foo", "/subdest2/"),
            cp("/sub/*/dir2/foo", "/subdest3/bar"),
            cp("/", "/all/"),
            cp("/sub/dir1/", "/subdest4"),
            cp("/sub/dir1/.", "/subdest5"),
            cp("/sub/dir1", "/subdest6"),
        ],
    )
    .expect("copy");
    assert_eq!(read(dp, "gofiles/foo.go"), "foo-contents");
    assert_eq!(read(dp, "gofiles/bar.go"), "bar-contents");
    assert_eq!(read(dp, "foo2.go"), "foo-contents");
    assert_eq!(read(dp, "subdest/dir2/foo"), "foo-contents");
    assert_eq!(read(dp, "subdest2/foo"), "foo-contents");
    assert_eq!(read(dp, "subdest3/bar"), "foo-contents");
    assert_eq!(read(dp, "all/foo.go"), "foo-contents");
    for n in ["subdest4", "subdest5", "subdest6"] {
        assert_eq!(read(dp, &format!("{n}/dir2/foo")), "foo-contents");
    }
    // Context files belong to root.
    assert_eq!(owner(dp, "foo2.go"), (0, 0));
}

#[test]
fn relative_dest_rules() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "foo", "hello", 0o644);
    let src = ctx_source(sp);
    run(
        dp,
        &src,
        vec![
            cp("/foo", "/test1/test2/"),
            cp("/foo", "/test1/test2/bar/baz"),
            cp("/foo", "/test3/"),
            cp("/foo", "/test5/"),
            cp("/foo", "/test5"), // existing dir: goes inside
        ],
    )
    .expect("copy");
    assert_eq!(read(dp, "test1/test2/foo"), "hello");
    assert_eq!(read(dp, "test1/test2/bar/baz"), "hello");
    assert_eq!(read(dp, "test3/foo"), "hello");
    assert_eq!(read(dp, "test5/foo"), "hello");
    assert_eq!(perm(dp, "test1"), 0o755);
}

#[test]
fn copy_symlinks_are_followed_for_the_source() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "bar", "bar-contents", 0o600);
    std::os::unix::fs::symlink("bar", sp.join("foo")).expect("ln");
    write(sp, "sub/lfile", "lfile-contents", 0o600);
    std::os::unix::fs::symlink("subfile", sp.join("sub/l0")).expect("ln");
    write(sp, "sub/subfile", "subfile-contents", 0o600);
    std::os::unix::fs::symlink("second", sp.join("sub/l1")).expect("ln");
    std::os::unix::fs::symlink("baz", sp.join("sub/second")).expect("ln");
    write(sp, "sub/baz", "baz-contents", 0o600);
    write(sp, "tree/x", "x", 0o600);
    std::os::unix::fs::symlink("x", sp.join("tree/lx")).expect("ln");
    let src = ctx_source(sp);
    run(
        dp,
        &src,
        vec![
            cp("/foo", "/"),
            cp("/sub/l*", "/alllinks/"),
            cp("/tree", "/tree/"),
        ],
    )
    .expect("copy");
    assert_eq!(read(dp, "foo"), "bar-contents");
    assert!(std::fs::symlink_metadata(dp.join("foo"))
        .expect("stat")
        .is_file());
    assert_eq!(read(dp, "alllinks/l0"), "subfile-contents");
    assert_eq!(read(dp, "alllinks/lfile"), "lfile-contents");
    assert_eq!(read(dp, "alllinks/l1"), "baz-contents");
    // Symlinks inside a copied tree are preserved.
    assert_eq!(
        std::fs::read_link(dp.join("tree/lx")).expect("readlink"),
        Path::new("x")
    );
}

#[test]
fn symlink_at_destination_stays_inside_root() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "f", "data", 0o644);
    std::fs::create_dir(dp.join("real")).expect("mkdir");
    std::os::unix::fs::symlink("/real", dp.join("abs")).expect("ln");
    std::os::unix::fs::symlink(outside.path(), dp.join("escape")).expect("ln");
    std::os::unix::fs::symlink("../../../../../..", dp.join("up")).expect("ln");
    let src = ctx_source(sp);
    run(
        dp,
        &src,
        vec![cp("/f", "/abs/"), cp("/f", "/escape/f"), cp("/f", "/up/g")],
    )
    .expect("copy");
    assert_eq!(read(dp, "real/f"), "data");
    assert!(
        std::fs::read_dir(outside.path())
            .expect("ls")
            .next()
            .is_none(),
        "nothing written outside"
    );
    assert_eq!(read(dp, "g"), "data");
    let host_escape = dp
        .join(outside.path().strip_prefix("/").expect("abs"))
        .join("f");
    assert_eq!(
        std::fs::read_to_string(host_escape).expect("inside"),
        "data"
    );
}

#[test]
fn copy_chmod_and_implicit_parents() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "foo", "foo-contents", 0o600);
    write(sp, "bar", "bar-contents", 0o700);
    let src = ctx_source(sp);
    let with = |s: &str, d: &str, m: u32| CopyAction {
        mode: Some(Chmod::Octal(m)),
        ..cp(s, d)
    };
    run(
        dp,
        &src,
        vec![
            with("/foo", "/", 0o644),
            with("/bar", "/baz", 0o777),
            with("/foo", "/foobis", 0),
            with("/foo", "/parent/foo", 0o777),
            with("/foo", "/parent/sub/foo", 0o770),
        ],
    )
    .expect("copy");
    assert_eq!(perm(dp, "foo"), 0o644);
    assert_eq!(perm(dp, "baz"), 0o777);
    assert_eq!(perm(dp, "foobis"), 0);
    // Directories the copy creates are 0755 whatever --chmod says, as Docker 20.10's BuildKit
    // makes them (issue 9, item 4). Newer BuildKit's testCopyChmod gives them the octal mode.
    assert_eq!(perm(dp, "parent"), 0o755);
    assert_eq!(perm(dp, "parent/sub"), 0o755);
    assert_eq!(perm(dp, "parent/sub/foo"), 0o770);
}

#[test]
fn chmod_non_octal() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "file", "", 0o666);
    for n in ["d1", "d2", "d3"] {
        std::fs::create_dir_all(sp.join("dirs").join(n).join(n)).expect("mkdir");
        std::fs::set_permissions(
            sp.join("dirs").join(n).join(n),
            std::fs::Permissions::from_mode(0o124),
        )
        .expect("chmod");
    }
    let src = SourceRoot::new(sp.to_path_buf());
    let with = |s: &str, d: &str, m: &str| CopyAction {
        mode: Some(Chmod::Symbolic(m.into())),
        ..cp(s, d)
    };
    run(
        dp,
        &src,
        vec![
            with("/file", "/f1", "go-w"),
            with("/file", "/f2", "u=rw,g=r,o=r"),
            with("/file", "/f3", "a+X"),
            with("/dirs/d1", "/", "go-w"),
            with("/dirs/d2", "/", "u+rw,g+r,o-x,o+w"),
            with("/dirs/d3", "/", "a+X"),
        ],
    )
    .expect("copy");
    assert_eq!(perm(dp, "f1"), 0o644);
    assert_eq!(perm(dp, "f2"), 0o644);
    assert_eq!(perm(dp, "f3"), 0o666);
    assert_eq!(perm(dp, "d1"), 0o104);
    assert_eq!(perm(dp, "d2"), 0o766);
    assert_eq!(perm(dp, "d3"), 0o135);
    let bad = run(dp, &src, vec![with("/file", "/x", "u+q")]).expect_err("bad mode");
    assert!(bad.contains("u+q"), "{bad}");
}

#[test]
fn copy_chown_by_name_and_id() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "foo", "x", 0o644);
    write(sp, "bar/sub", "", 0o600);
    write(dp, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\nuser:x:1000:1001::/home/user:/bin/sh\n", 0o644);
    write(
        dp,
        "etc/group",
        "root:x:0:\ndaemon:x:1:\nnobody:x:65534:\n",
        0o644,
    );
    let src = ctx_source(sp);
    let name = |n: &str| UserSpec::Name(n.into());
    let with = |s: &str, d: &str, u: UserSpec, g: Option<UserSpec>| CopyAction {
        owner: Some(Chown { user: u, group: g }),
        ..cp(s, d)
    };
    run(
        dp,
        &src,
        vec![
            with("/foo", "/fooowner", name("daemon"), Some(name("daemon"))),
            with("/bar", "/subdir/", UserSpec::Id(1000), Some(name("nobody"))),
            with("/foo", "/byname", name("user"), None),
            with("/foo", "/numeric", UserSpec::Id(1000), None),
            with("/foo", "/numstr", name("2000"), None),
            with("/foo", "/newparent/deep/f", UserSpec::Id(7), None),
        ],
    )
    .expect("copy");
    assert_eq!(owner(dp, "fooowner"), (1, 1));
    assert_eq!(owner(dp, "subdir/sub"), (1000, 65534));
    assert_eq!(owner(dp, "byname"), (1000, 1001));
    assert_eq!(owner(dp, "numeric"), (1000, 1000));
    assert_eq!(owner(dp, "numstr"), (2000, 2000));
    assert_eq!(owner(dp, "newparent"), (7, 7));
    assert_eq!(owner(dp, "newparent/deep"), (7, 7));
    let e = run(dp, &src, vec![with("/foo", "/x", name("ghost"), None)]).expect_err("unknown user");
    assert_eq!(e, "unable to find user ghost");
    let e = run(
        dp,
        &src,
        vec![with("/foo", "/x", name("user"), Some(name("ghosts")))],
    )
    .expect_err("unknown group");
    assert_eq!(e, "unable to find group ghosts");
}

#[test]
fn copy_chown_existing_dir() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    let chown = |root: &Path, rel: &str, u: u32, g: u32| {
        std::os::unix::fs::chown(root.join(rel), Some(u), Some(g)).expect("chown")
    };
    write(sp, "file", "", 0o644);
    write(sp, "dir/subdir/nestedfile", "", 0o644);
    chown(sp, "file", 100, 200);
    chown(sp, "dir", 100, 200);
    chown(sp, "dir/subdir", 101, 201);
    chown(sp, "dir/subdir/nestedfile", 102, 202);
    for dest in [dp.join("plain"), dp.join("chowned")] {
        write(&dest, "existingdir/existingfile", "", 0o644);
        std::fs::create_dir(dest.join("existingdir/existingsubdir")).expect("mkdir");
        chown(&dest, "existingdir", 500, 600);
        chown(&dest, "existingdir/existingsubdir", 501, 601);
        chown(&dest, "existingdir/existingfile", 501, 601);
    }
    let stage = SourceRoot::new(sp.to_path_buf());
    let plain = dp.join("plain");
    run(
        &plain,
        &stage,
        vec![
            cp("/file", "/"),
            cp("/dir", "/dir"),
            cp("/dir/.", "/existingdir"),
        ],
    )
    .expect("copy");
    assert_eq!(owner(&plain, "file"), (100, 200));
    assert_eq!(owner(&plain, "dir"), (0, 0));
    assert_eq!(owner(&plain, "dir/subdir"), (101, 201));
    assert_eq!(owner(&plain, "dir/subdir/nestedfile"), (102, 202));
    assert_eq!(owner(&plain, "existingdir"), (500, 600));
    assert_eq!(owner(&plain, "existingdir/existingsubdir"), (501, 601));
    assert_eq!(owner(&plain, "existingdir/existingfile"), (501, 601));
    assert_eq!(owner(&plain, "existingdir/subdir"), (101, 201));
    assert_eq!(owner(&plain, "existingdir/subdir/nestedfile"), (102, 202));

    let ch = dp.join("chowned");
    let with = |s: &str, d: &str| CopyAction {
        owner: Some(Chown {
            user: UserSpec::Id(300),
            group: Some(UserSpec::Id(400)),
        }),
        ..cp(s, d)
    };
    run(
        &ch,
        &stage,
        vec![
            with("/file", "/"),
            with("/dir", "/dir"),
            with("/dir/.", "/existingdir"),
        ],
    )
    .expect("copy");
    for p in [
        "file",
        "dir",
        "dir/subdir",
        "dir/subdir/nestedfile",
        "existingdir/subdir",
        "existingdir/subdir/nestedfile",
    ] {
        assert_eq!(owner(&ch, p), (300, 400), "{p}");
    }
    assert_eq!(owner(&ch, "existingdir"), (500, 600));
    assert_eq!(owner(&ch, "existingdir/existingfile"), (501, 601));
}

#[test]
fn empty_wildcard_and_not_found() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "foo", "contents0", 0o600);
    let src = ctx_source(sp);
    run(dp, &src, vec![cp("/foo", "/"), cp("/nomatch*", "/")]).expect("empty wildcard allowed");
    assert_eq!(read(dp, "foo"), "contents0");
    let strict = CopyAction {
        allow_empty_wildcard: false,
        ..cp("/nomatch*", "/")
    };
    assert_eq!(
        run(dp, &src, vec![strict]).expect_err("strict"),
        "\"/nomatch*\": not found"
    );
    assert_eq!(
        run(dp, &src, vec![cp("/missing", "/")]).expect_err("missing"),
        "\"/missing\": not found"
    );
    // Ignored files are not found either.
    let ig = SourceRoot {
        ignore: Some(Arc::new(DockerIgnore::parse("foo").expect("parse"))),
        ..ctx_source(sp)
    };
    assert_eq!(
        run(dp, &ig, vec![cp("/foo", "/x")]).expect_err("ignored"),
        "\"/foo\": not found"
    );
}

#[test]
fn copy_override_files() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "sub/dir1/dir2/foo", "foo-contents", 0o600);
    write(sp, "files/foo.go", "foo.go-contents", 0o600);
    let src = ctx_source(sp);
    run(
        dp,
        &src,
        vec![
            cp("/sub", "/sub"),
            cp("/sub", "/sub"),
            cp("/files/foo.go", "/dest/foo.go"),
            cp("/files/foo.go", "/dest/foo.go"),
            cp("/files", "/dest"),
        ],
    )
    .expect("copy");
    assert_eq!(read(dp, "sub/dir1/dir2/foo"), "foo-contents");
    assert_eq!(read(dp, "dest/foo.go"), "foo.go-contents");
}

#[test]
fn preserves_metadata_hardlinks_and_sockets() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "t/a", "a", 0o751);
    std::fs::hard_link(sp.join("t/a"), sp.join("t/b")).expect("link");
    let f = std::fs::File::options()
        .write(true)
        .open(sp.join("t/a"))
        .expect("open");
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .expect("mtime");
    let _sock = std::os::unix::net::UnixListener::bind(sp.join("t/sock")).expect("bind");
    write(sp, "t/äöü ☺.txt", "unicode", 0o644);
    let src = SourceRoot::new(sp.to_path_buf());
    run(dp, &src, vec![cp("/t", "/t")]).expect("copy");
    let a = std::fs::metadata(dp.join("t/a")).expect("stat");
    let b = std::fs::metadata(dp.join("t/b")).expect("stat");
    assert_eq!(a.mode() & 0o7777, 0o751);
    assert_eq!(a.mtime(), 1_000_000);
    assert_eq!(a.ino(), b.ino(), "hardlink kept");
    assert!(
        std::fs::metadata(dp.join("t/sock"))
            .expect("stat")
            .is_file(),
        "socket becomes a file"
    );
    assert_eq!(read(dp, "t/äöü ☺.txt"), "unicode");
    let fixed = CopyAction {
        mtime: Some(42),
        ..cp("/t/a", "/fixed")
    };
    run(dp, &src, vec![fixed]).expect("copy");
    assert_eq!(
        std::fs::metadata(dp.join("fixed")).expect("stat").mtime(),
        42
    );
}

#[test]
fn parents_and_excludes() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "x/a.txt", "xa", 0o644);
    write(sp, "y/a.txt", "ya", 0o644);
    write(sp, "x/y/b.txt", "xyb", 0o644);
    write(sp, "src/keep.rs", "k", 0o644);
    write(sp, "src/skip.md", "s", 0o644);
    write(sp, "src/docs/readme.md", "r", 0o644);
    write(sp, "hom1", "1", 0o644);
    write(sp, "homa.txt", "2", 0o644);
    let src = ctx_source(sp);
    let par = |s: &str, d: &str| CopyAction {
        parents: true,
        ..cp(s, d)
    };
    let ex = |s: &str, d: &str, e: &[&str]| CopyAction {
        exclude_patterns: e.iter().map(|x| x.to_string()).collect(),
        ..cp(s, d)
    };
    run(
        dp,
        &src,
        vec![
            par("/x/a.txt", "/no_pivot/"),
            par("/y/a.txt", "/no_pivot/"),
            par("/x/./y/b.txt", "/pivot/"),
            par("/*/a.txt", "/wild/"),
            ex("/src", "/ex/", &["*.md"]),
            ex("/hom*", "/h/", &["*.txt"]),
        ],
    )
    .expect("copy");
    assert_eq!(read(dp, "no_pivot/x/a.txt"), "xa");
    assert_eq!(read(dp, "no_pivot/y/a.txt"), "ya");
    assert_eq!(read(dp, "pivot/y/b.txt"), "xyb");
    assert_eq!(read(dp, "wild/x/a.txt"), "xa");
    assert_eq!(read(dp, "wild/y/a.txt"), "ya");
    assert_eq!(read(dp, "ex/keep.rs"), "k");
    assert!(!dp.join("ex/skip.md").exists());
    // Docker patterns are anchored: `*.md` does not reach into `docs/` (that takes `**/*.md`).
    assert_eq!(read(dp, "ex/docs/readme.md"), "r");
    assert_eq!(read(dp, "h/hom1"), "1");
    assert!(!dp.join("h/homa.txt").exists());
}

#[test]
fn xattrs_fifos_and_unfollowed_symlinks() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "t/x", "x", 0o644);
    let has_xattr = rustix::fs::setxattr(
        sp.join("t/x"),
        c"user.kiln",
        b"v1",
        rustix::fs::XattrFlags::empty(),
    )
    .is_ok();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        sp.join("t/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .expect("mkfifo");
    std::os::unix::fs::symlink("t/x", sp.join("link")).expect("ln");
    let src = SourceRoot::new(sp.to_path_buf());
    let nofollow = CopyAction {
        follow_symlinks: false,
        ..cp("/link", "/link")
    };
    run(dp, &src, vec![cp("/t", "/t"), nofollow]).expect("copy");
    if has_xattr {
        let mut buf = [0u8; 16];
        let n = rustix::fs::getxattr(dp.join("t/x"), c"user.kiln", &mut buf).expect("xattr copied");
        assert_eq!(&buf[..n], b"v1");
    }
    let f = std::fs::symlink_metadata(dp.join("t/fifo")).expect("stat");
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&f.file_type()));
    assert_eq!(f.mode() & 0o7777, 0o640);
    assert_eq!(
        std::fs::read_link(dp.join("link")).expect("kept as a link"),
        Path::new("t/x")
    );
}

#[test]
fn parents_keeps_directories_of_dir_sources() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "a/b/c.txt", "c", 0o644);
    let src = ctx_source(sp);
    let par = |s: &str, d: &str| CopyAction {
        parents: true,
        ..cp(s, d)
    };
    run(dp, &src, vec![par("/a/b", "/out/"), par("/a/./b", "/piv/")]).expect("copy");
    assert_eq!(read(dp, "out/a/b/c.txt"), "c");
    assert_eq!(read(dp, "piv/b/c.txt"), "c");
}

#[test]
fn dir_copied_as_itself_keeps_its_metadata() {
    let s = tempfile::tempdir().expect("tmp");
    let d = tempfile::tempdir().expect("tmp");
    let (sp, dp) = (s.path(), d.path());
    write(sp, "dir/f", "f", 0o644);
    std::fs::set_permissions(sp.join("dir"), std::fs::Permissions::from_mode(0o711))
        .expect("chmod");
    std::os::unix::fs::chown(sp.join("dir"), Some(42), Some(43)).expect("chown");
    std::fs::create_dir(dp.join("existing")).expect("mkdir");
    let src = SourceRoot::new(sp.to_path_buf());
    let whole = |d: &str| CopyAction {
        dir_copy_contents: false,
        ..cp("/dir", d)
    };
    run(dp, &src, vec![whole("/new"), whole("/existing")]).expect("copy");
    assert_eq!((perm(dp, "new"), owner(dp, "new")), (0o711, (42, 43)));
    assert_eq!(read(dp, "new/f"), "f");
    assert_eq!(
        (perm(dp, "existing/dir"), owner(dp, "existing/dir")),
        (0o711, (42, 43))
    );
    assert_eq!(read(dp, "existing/dir/f"), "f");
}
