//! The hostile-tar corpus (testdata/hostile) through `ADD` of a local archive and through
//! `COPY` of what such an archive made: refused cases fail, accepted ones land inside the
//! destination, and nothing outside it changes on the host — also through the symlinks a base
//! image already has (`/var/run -> /run`, a link to a host directory).

use kiln_builder::fileop::{apply_actions, FileOpOptions, SourceRoot};
use kiln_hostile::{corpus, prepare_add_target, Outcome, Sentinel, Tar};
use kiln_solver::{CopyAction, FileAction};
use std::path::Path;

fn add(src: &str, dest: &str) -> FileAction {
    let mut c = CopyAction::plain(1, src, dest);
    c.attempt_unpack = true;
    c.allow_wildcard = true;
    c.dir_copy_contents = true;
    FileAction::Copy(c)
}

fn run(dest: &Path, src: &Path, action: FileAction) -> Result<(), String> {
    apply_actions(
        dest,
        &[SourceRoot::new(src.to_path_buf())],
        &[action],
        &FileOpOptions::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn add_of_every_hostile_archive_is_refused_or_contained() {
    let host = tempfile::tempdir().unwrap();
    let sentinel = Sentinel::new(host.path());
    let mut failures = Vec::new();
    for case in corpus(&sentinel) {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        prepare_add_target(dest.path(), &sentinel);
        std::fs::write(src.path().join("case.tar"), &case.tar).unwrap();
        let got = run(dest.path(), src.path(), add("/case.tar", "/"));
        match (case.add, got) {
            (Outcome::Refused, Ok(())) => failures.push(format!("{}: accepted", case.name)),
            (Outcome::Accepted, Err(e)) => failures.push(format!("{}: refused: {e}", case.name)),
            (Outcome::Accepted, Ok(())) => {
                if let Some(check) = case.check {
                    if let Err(e) = check(dest.path()) {
                        failures.push(format!("{}: {e}", case.name));
                    }
                }
                // What the archive made is copied on (COPY --from a stage): still contained.
                let next = tempfile::tempdir().unwrap();
                prepare_add_target(next.path(), &sentinel);
                let copy = FileAction::Copy(CopyAction::plain(1, "/", "/copied/"));
                if let Err(e) = run(next.path(), dest.path(), copy) {
                    failures.push(format!("{}: copying the result: {e}", case.name));
                }
            }
            (Outcome::Refused, Err(_)) => {}
        }
        if let Err(e) = sentinel.check() {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn add_through_symlinks_already_in_the_image_stays_inside() {
    let host = tempfile::tempdir().unwrap();
    let sentinel = Sentinel::new(host.path());
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    prepare_add_target(dest.path(), &sentinel);
    let tar = Tar::new()
        .dir("var/run/", 0o777)
        .file("var/run/app.pid", b"1")
        .file("hostlink/pwned", b"x")
        .dir("hostlink/sub/", 0o777)
        .finish();
    std::fs::write(src.path().join("t.tar"), tar).unwrap();
    run(dest.path(), src.path(), add("/t.tar", "/")).unwrap();
    sentinel.check().unwrap();
    // The entries went where the links lead inside the root: `/run` and `/<sentinel path>`.
    let inside = dest.path().join(sentinel.rel());
    assert!(inside.join("pwned").is_file());
    assert!(inside.join("sub").is_dir());
    // `var/run/` as a directory entry replaced the link (as docker does) and holds the file.
    let vr = std::fs::symlink_metadata(dest.path().join("var/run")).unwrap();
    assert!(vr.is_dir());
    assert!(dest.path().join("var/run/app.pid").is_file());
    assert!(!Path::new("/run/app.pid").exists());
}
