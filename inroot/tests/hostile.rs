//! Hostile paths and trees: nothing outside the root may be read, created, changed or removed,
//! whichever resolution engine runs (the kernel's `openat2` or the fallback walk).

use inroot::{Kind, Root};
use kiln_hostile::fingerprint;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A root and, beside it, a host directory the root's symlinks point at.
struct Setup {
    _t: tempfile::TempDir,
    root: PathBuf,
    host: PathBuf,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let host = t.path().join("host");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&host).unwrap();
    fs::write(host.join("secret"), b"host secret").unwrap();
    fs::set_permissions(host.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&host, fs::Permissions::from_mode(0o700)).unwrap();
    Setup { _t: t, root, host }
}

fn open(root: &Path, walk_only: bool) -> Root {
    if walk_only {
        Root::open_walk_only(root).unwrap()
    } else {
        Root::open(root).unwrap()
    }
}

macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod kernel { $( #[test] fn $name() { super::$name(false) } )* }
        mod walk { $( #[test] fn $name() { super::$name(true) } )* }
    };
}

both_engines!(
    absolute_symlink_in_a_parent_stays_inside,
    relative_dotdot_symlinks_stay_inside,
    final_symlink_is_never_followed_by_single_name_ops,
    open_file_follows_inside_the_root_and_refuses_special_files,
    symlink_loops_are_an_error,
    dangling_symlink_targets_are_created_inside,
    remove_all_never_follows_links,
    deep_trees_are_made_and_removed,
    real_path_keeps_missing_components,
    cached_resolution_sees_replaced_directories,
    dotdot_in_a_link_below_a_cached_directory,
    hard_link_of_a_symlink_links_the_symlink,
    names_must_be_plain,
    files_cannot_be_created_through_a_dangling_final_symlink,
);

fn absolute_symlink_in_a_parent_stays_inside(walk_only: bool) {
    let s = setup();
    let before = fingerprint(&s.host);
    symlink(&s.host, s.root.join("evil")).unwrap();
    let r = open(&s.root, walk_only);
    let (dir, name) = r
        .create_parent("evil/secret", 0o755, &mut |_, _| Ok(()))
        .unwrap();
    dir.create_file(&name, 0o644)
        .unwrap()
        .write_all(b"x")
        .unwrap();
    dir.chmod(&name, 0o777).unwrap();
    dir.chown(&name, 12, 34).unwrap();
    let inside = s
        .root
        .join(s.host.strip_prefix("/").unwrap())
        .join("secret");
    assert_eq!(fs::read(&inside).unwrap(), b"x");
    assert_eq!(fingerprint(&s.host), before);
    // Opening a directory through it lands inside too.
    let d = r.open_dir("evil").unwrap();
    assert_eq!(d.read_dir().unwrap(), ["secret"]);
}

fn relative_dotdot_symlinks_stay_inside(walk_only: bool) {
    let s = setup();
    let before = fingerprint(&s.host);
    fs::create_dir_all(s.root.join("a/b")).unwrap();
    symlink("../../../../../../../../host", s.root.join("a/b/up")).unwrap();
    let r = open(&s.root, walk_only);
    let d = r
        .mkdir_all("a/b/up/made", 0o700, &mut |_, _| Ok(()))
        .unwrap();
    d.create_file(OsStr::new("f"), 0o600).unwrap();
    assert!(s.root.join("host/made/f").is_file());
    assert_eq!(fingerprint(&s.host), before);
    let got = r.resolve("a/b/up/made/f", true).unwrap();
    assert_eq!(got.rel(), "host/made/f");
}

fn final_symlink_is_never_followed_by_single_name_ops(walk_only: bool) {
    let s = setup();
    let before = fingerprint(&s.host);
    symlink(s.host.join("secret"), s.root.join("link")).unwrap();
    symlink(&s.host, s.root.join("dirlink")).unwrap();
    let r = open(&s.root, walk_only);
    let (dir, name) = r.parent("link").unwrap();
    assert_eq!(
        dir.chmod(&name, 0o777).unwrap_err().raw_os_error(),
        Some(libc::EOPNOTSUPP)
    );
    dir.chown(&name, 5, 6).unwrap();
    dir.set_times(&name, (1, 0), (2, 0)).unwrap();
    assert!(dir.create_file(&name, 0o644).is_err());
    assert!(dir.open_dir(OsStr::new("dirlink")).is_err());
    assert!(dir.open_file(&name).is_err());
    dir.unlink(&name).unwrap();
    assert_eq!(fingerprint(&s.host), before);
    assert!(fs::symlink_metadata(s.root.join("link")).is_err());
}

fn open_file_follows_inside_the_root_and_refuses_special_files(walk_only: bool) {
    let s = setup();
    fs::create_dir(s.root.join("etc")).unwrap();
    fs::write(s.root.join("etc/passwd"), b"inside").unwrap();
    symlink("/etc/passwd", s.root.join("pw")).unwrap();
    let r = open(&s.root, walk_only);
    let mut text = String::new();
    r.open_file("pw")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "inside");
    // A fifo is refused without blocking; so is a directory.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert!(r.open_file("fifo").is_err());
    assert!(r.open_file("etc").is_err());
    assert!(r.open_file("missing").unwrap_err().is_not_found());
}

fn symlink_loops_are_an_error(walk_only: bool) {
    let s = setup();
    symlink("b", s.root.join("a")).unwrap();
    symlink("a", s.root.join("b")).unwrap();
    symlink("self/x", s.root.join("self")).unwrap();
    let r = open(&s.root, walk_only);
    let e = r.open_dir("a/x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    assert!(r.resolve("self", true).is_err());
    assert!(r.mkdir_all("a/new", 0o755, &mut |_, _| Ok(())).is_err());
}

fn dangling_symlink_targets_are_created_inside(walk_only: bool) {
    let s = setup();
    symlink("/var/run/made", s.root.join("dangling")).unwrap();
    let r = open(&s.root, walk_only);
    let mut made = Vec::new();
    r.mkdir_all("dangling/deeper", 0o750, &mut |_, n| {
        made.push(n.to_string_lossy().into_owned());
        Ok(())
    })
    .unwrap();
    assert_eq!(made, ["var", "run", "made", "deeper"]);
    let md = fs::metadata(s.root.join("var/run/made/deeper")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o750, "the umask does not apply");
    assert!(!Path::new("/var/run/made").exists());
}

fn remove_all_never_follows_links(walk_only: bool) {
    let s = setup();
    let before = fingerprint(&s.host);
    fs::create_dir_all(s.root.join("tree/sub")).unwrap();
    symlink(&s.host, s.root.join("tree/sub/hostdir")).unwrap();
    symlink(s.host.join("secret"), s.root.join("tree/hostfile")).unwrap();
    fs::write(s.root.join("tree/sub/f"), b"x").unwrap();
    let r = open(&s.root, walk_only);
    let top = r.dir().unwrap();
    assert!(top.remove_all(OsStr::new("tree")).unwrap());
    assert!(!top.remove_all(OsStr::new("tree")).unwrap());
    assert!(!s.root.join("tree").exists());
    assert_eq!(fingerprint(&s.host), before);
}

fn deep_trees_are_made_and_removed(walk_only: bool) {
    let s = setup();
    let r = open(&s.root, walk_only);
    let deep: String = std::iter::repeat_n("d", 3000).collect::<Vec<_>>().join("/");
    let d = r.mkdir_all(&deep, 0o755, &mut |_, _| Ok(())).unwrap();
    d.create_file(OsStr::new("leaf"), 0o644).unwrap();
    let got = r.resolve(format!("{deep}/leaf"), false).unwrap();
    assert_eq!(got.meta.unwrap().kind, Kind::File);
    assert!(r.dir().unwrap().remove_all(OsStr::new("d")).unwrap());
    assert_eq!(fs::read_dir(&s.root).unwrap().count(), 0);
}

fn real_path_keeps_missing_components(walk_only: bool) {
    let s = setup();
    fs::create_dir(s.root.join("run")).unwrap();
    fs::create_dir(s.root.join("var")).unwrap();
    symlink("/run", s.root.join("var/run")).unwrap();
    let r = open(&s.root, walk_only);
    assert_eq!(r.real_path("/var/run/x/y", true).unwrap(), "run/x/y");
    assert_eq!(r.real_path("/var/run", false).unwrap(), "var/run");
    assert_eq!(r.real_path("/var/run", true).unwrap(), "run");
    assert_eq!(r.real_path("/", true).unwrap(), "");
    assert_eq!(r.real_path("/nope/../x", true).unwrap(), "x");
}

fn cached_resolution_sees_replaced_directories(walk_only: bool) {
    let s = setup();
    fs::create_dir_all(s.root.join("a/b")).unwrap();
    fs::create_dir_all(s.root.join("elsewhere/b")).unwrap();
    let r = open(&s.root, walk_only);
    let d = r.open_dir("a/b").unwrap();
    d.create_file(OsStr::new("one"), 0o644).unwrap();
    // Replace `a` by a symlink through the root's own operations: the remembered `a/b` is stale.
    let top = r.dir().unwrap();
    top.remove_all(OsStr::new("a")).unwrap();
    top.symlink(OsStr::new("a"), OsStr::new("elsewhere"))
        .unwrap();
    let d = r.open_dir("a/b").unwrap();
    d.create_file(OsStr::new("two"), 0o644).unwrap();
    assert!(s.root.join("elsewhere/b/two").is_file());
}

fn dotdot_in_a_link_below_a_cached_directory(walk_only: bool) {
    let s = setup();
    fs::create_dir_all(s.root.join("x/y")).unwrap();
    fs::create_dir_all(s.root.join("x/z")).unwrap();
    symlink("../z", s.root.join("x/y/toz")).unwrap();
    let r = open(&s.root, walk_only);
    // Prime the cache with `x/y` resolved by the kernel (where it has openat2), then go
    // through a `..` link below it.
    r.open_dir("x/y").unwrap();
    let d = r
        .mkdir_all("x/y/toz/new", 0o755, &mut |_, _| Ok(()))
        .unwrap();
    d.create_file(OsStr::new("f"), 0o644).unwrap();
    assert!(s.root.join("x/z/new/f").is_file());
    assert_eq!(r.resolve("x/y/toz/new/f", true).unwrap().rel(), "x/z/new/f");
}

fn hard_link_of_a_symlink_links_the_symlink(walk_only: bool) {
    let s = setup();
    symlink(s.host.join("secret"), s.root.join("link")).unwrap();
    let r = open(&s.root, walk_only);
    let top = r.dir().unwrap();
    top.hard_link(OsStr::new("hl"), &top, OsStr::new("link"))
        .unwrap();
    let md = fs::symlink_metadata(s.root.join("hl")).unwrap();
    assert!(md.file_type().is_symlink());
    assert_eq!(md.nlink(), 2);
}

fn names_must_be_plain(walk_only: bool) {
    let s = setup();
    let r = open(&s.root, walk_only);
    let top = r.dir().unwrap();
    for bad in ["a/b", "..", ".", "x\0y"] {
        let e = top.create_file(OsStr::new(bad), 0o644).unwrap_err();
        assert!(
            matches!(e, inroot::Error::InvalidName { .. }),
            "{bad:?}: {e}"
        );
    }
    assert!(r.parent("/").is_err());
}

fn files_cannot_be_created_through_a_dangling_final_symlink(walk_only: bool) {
    let s = setup();
    symlink(s.host.join("new-file"), s.root.join("trap")).unwrap();
    let r = open(&s.root, walk_only);
    let (dir, name) = r.parent("trap").unwrap();
    assert!(dir.create_file(&name, 0o644).is_err());
    assert!(!s.host.join("new-file").exists());
}
