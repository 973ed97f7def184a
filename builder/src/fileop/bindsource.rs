//! The host path a `RUN --mount=type=bind` of the build context mounts: the context itself when
//! that is safe, otherwise a private copy (ignored files left out, writes thrown away with it).

use super::{apply_actions, FileOpError, FileOpOptions, SourceRoot};
use crate::context::resolve::rel_of;
use crate::context::walk::{walk_dir, WalkControl, WalkFilter};
use crate::context::DockerIgnore;
use inroot::{Dir, Root};
use kiln_solver::{CopyAction, FileAction};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// What to bind-mount for a context mount; keep it alive until the container is gone.
///
/// When the context is used in place, `path` is the real path (inside the context) that the
/// selector resolved to; the runtime mounts it by that path. (A descriptor cannot be handed to
/// the container's mount namespace as a bind source by path: the kernel refuses binds of
/// another namespace's mounts.)
#[derive(Debug)]
pub struct BindSource {
    /// The host file or directory to mount.
    pub path: PathBuf,
    /// The private copy `path` lies in, removed when dropped; `None` when `path` is in the
    /// context itself.
    pub copy: Option<tempfile::TempDir>,
}

/// Where a bind mount of `selector` (a path in the context `src`) comes from. The context
/// directory is used in place for a read-only mount that no ignore rule touches; a writable
/// mount, or one with ignored entries, gets a copy made under `tmp_parent`. Symlinks in
/// `selector` resolve inside the context.
pub fn context_bind_source(
    src: &SourceRoot,
    selector: &str,
    writable: bool,
    tmp_parent: &Path,
) -> Result<BindSource, FileOpError> {
    let asked = rel_of(selector);
    let not_found = || FileOpError::NotFound(format!("/{asked}"));
    let root = Root::open(&src.root)?;
    let found = match root.resolve(asked.as_str(), true) {
        Ok(f) => f,
        Err(e) if e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(not_found())
        }
        Err(e) => return Err(e.into()),
    };
    let meta = found.meta.ok_or_else(not_found)?;
    // Ignore rules apply to where symlinks lead, as in the context BuildKit receives.
    let rel = found.rel();
    let is_dir = meta.is_dir();
    let dir = if is_dir {
        Some(found.open_dir()?)
    } else {
        None
    };
    let hides = match (src.ignore.as_deref(), &dir) {
        (Some(ig), d) => ignores_something(ig, &rel, d.as_ref())?,
        (None, _) => false,
    };
    if !writable && !hides {
        return Ok(BindSource {
            path: src.root.join(&rel),
            copy: None,
        });
    }
    let tmp = tempfile::Builder::new()
        .prefix("bind-")
        .tempdir_in(tmp_parent)
        .map_err(FileOpError::io("create a directory in", tmp_parent))?;
    // A copy, never hard links to the context's files: a link changes their ctime (a change
    // kiln must not make to the user's files), which the stat cache and the check that a copied
    // file is the one hashed for the key both read as an edit.
    let name = if is_dir { "dir" } else { "file" };
    let dest = format!("/{name}{}", if is_dir { "/" } else { "" });
    let action = FileAction::Copy(CopyAction::plain(1, format!("/{rel}"), dest));
    apply_actions(
        tmp.path(),
        std::slice::from_ref(src),
        &[action],
        &FileOpOptions::default(),
    )?;
    let path = tmp.path().join(name);
    if is_dir {
        // The copy's top directory gets the mode of the one it stands for.
        Root::open(tmp.path())?
            .dir()?
            .chmod(OsStr::new(name), meta.perm)?;
    }
    Ok(BindSource {
        path,
        copy: Some(tmp),
    })
}

/// Does `ig` hide `rel` or anything below it (`dir` is it, when it is a directory)?
fn ignores_something(ig: &DockerIgnore, rel: &str, dir: Option<&Dir>) -> Result<bool, FileOpError> {
    if !rel.is_empty() && ig.matches(rel) {
        return Ok(true);
    }
    let Some(dir) = dir else {
        return Ok(false);
    };
    let mut found = false;
    walk_dir(dir, rel, WalkFilter::default(), &mut |e| {
        if found || ig.matches(&e.rel) {
            found = true;
            return Ok(WalkControl::SkipDir);
        }
        Ok(WalkControl::Continue)
    })
    .map_err(FileOpError::io("read", rel))?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ctx(ignore: &str) -> (tempfile::TempDir, SourceRoot) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("a.txt"), "a").unwrap();
        std::fs::write(d.path().join("sub/b.log"), "b").unwrap();
        std::fs::write(d.path().join("sub/c.txt"), "c").unwrap();
        let ig = DockerIgnore::parse(ignore).unwrap();
        let src = SourceRoot {
            root: d.path().to_path_buf(),
            ignore: (!ig.is_empty()).then(|| Arc::new(ig)),
            force_owner: Some((0, 0)),
            hashed: None,
        };
        (d, src)
    }

    #[test]
    fn untouched_read_only_mounts_use_the_context_in_place() {
        let (d, src) = ctx("*.md\n");
        let tmp = tempfile::tempdir().unwrap();
        let b = context_bind_source(&src, "/sub", false, tmp.path()).unwrap();
        assert!(b.copy.is_none());
        assert_eq!(b.path, d.path().join("sub"));
    }

    #[test]
    fn ignored_entries_and_writable_mounts_get_a_copy() {
        let (d, src) = ctx("sub/*.log\n");
        let tmp = tempfile::tempdir().unwrap();
        use std::os::unix::fs::MetadataExt;
        let stat = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            (m.ino(), m.nlink(), m.ctime(), m.ctime_nsec())
        };
        let before = stat(&d.path().join("sub/c.txt"));
        let b = context_bind_source(&src, "/sub", false, tmp.path()).unwrap();
        assert!(b.copy.is_some());
        assert_eq!(std::fs::read_to_string(b.path.join("c.txt")).unwrap(), "c");
        assert!(!b.path.join("b.log").exists());
        // A copy: the context's files are not touched (a hard link would change their ctime).
        assert_ne!(stat(&b.path.join("c.txt")).0, before.0);
        assert_eq!(stat(&d.path().join("sub/c.txt")), before);
        let w = context_bind_source(&src, "/a.txt", true, tmp.path()).unwrap();
        assert_ne!(w.path, d.path().join("a.txt"));
        assert_eq!(std::fs::read_to_string(&w.path).unwrap(), "a");
    }

    #[test]
    fn symlinks_stay_inside_and_missing_sources_are_not_found() {
        let (d, src) = ctx("");
        std::os::unix::fs::symlink("/etc", d.path().join("esc")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let b = context_bind_source(&src, "/esc", false, tmp.path());
        match b {
            Ok(b) => {
                let real = std::fs::canonicalize(&b.path).unwrap();
                assert!(
                    real.starts_with(std::fs::canonicalize(d.path()).unwrap()),
                    "{real:?}"
                );
            }
            Err(e) => assert!(e.to_string().contains("not found"), "{e}"),
        }
        let e = context_bind_source(&src, "/nope", false, tmp.path()).unwrap_err();
        assert_eq!(e.to_string(), "\"/nope\": not found");
    }
}
