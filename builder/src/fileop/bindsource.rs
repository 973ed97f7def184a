//! The host path a `RUN --mount=type=bind` of the build context mounts: the context itself when
//! that is safe, otherwise a private copy (ignored files left out, writes thrown away with it).

use super::{apply_actions, FileOpError, FileOpOptions, SourceRoot};
use crate::context::resolve::{host_path, rel_of};
use crate::context::walk::{walk, WalkControl, WalkFilter};
use crate::context::DockerIgnore;
use kiln_solver::{CopyAction, FileAction};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What to bind-mount for a context mount; keep `copy` alive until the container is gone.
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
    let host = host_path(&src.root, &asked, true).map_err(|_| not_found())?;
    let meta = std::fs::metadata(&host).map_err(|_| not_found())?;
    // Ignore rules apply to where symlinks lead, as in the context BuildKit receives.
    let rel = match host.strip_prefix(&src.root) {
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => return Err(not_found()),
    };
    let hides = match src.ignore.as_deref() {
        Some(ig) => ignores_something(ig, &rel, &host, meta.is_dir())?,
        None => false,
    };
    if !writable && !hides {
        return Ok(BindSource {
            path: host,
            copy: None,
        });
    }
    let tmp = tempfile::Builder::new()
        .prefix("bind-")
        .tempdir_in(tmp_parent)
        .map_err(FileOpError::io("create a directory in", tmp_parent))?;
    if !writable && meta.is_dir() {
        // Read-only: a tree of hard links is enough (and cheap); a copy when the context is on
        // another filesystem than the kiln root.
        let path = tmp.path().join("dir");
        let ignore = src.ignore.as_deref();
        if link_tree(&host, &rel, ignore, &path, meta.permissions().mode()).is_ok() {
            return Ok(BindSource {
                path,
                copy: Some(tmp),
            });
        }
        let _ = std::fs::remove_dir_all(&path);
    }
    let name = if meta.is_dir() { "dir" } else { "file" };
    let dest = format!("/{name}{}", if meta.is_dir() { "/" } else { "" });
    let action = FileAction::Copy(CopyAction::plain(1, format!("/{rel}"), dest));
    apply_actions(
        tmp.path(),
        std::slice::from_ref(src),
        &[action],
        &FileOpOptions::default(),
    )?;
    let path = tmp.path().join(name);
    if meta.is_dir() {
        // The copy's top directory gets the mode of the one it stands for.
        std::fs::set_permissions(
            &path,
            std::fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
        )
        .map_err(FileOpError::io("chmod", &path))?;
    }
    Ok(BindSource {
        path,
        copy: Some(tmp),
    })
}

/// Mirror the directory `host` (at `rel` in the context) at `dest` with hard links to its files,
/// leaving out what `ignore` hides.
fn link_tree(
    host: &Path,
    rel: &str,
    ignore: Option<&DockerIgnore>,
    dest: &Path,
    mode: u32,
) -> std::io::Result<()> {
    std::fs::create_dir(dest)?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode & 0o7777))?;
    let filter = WalkFilter {
        exclude: ignore,
        include: None,
    };
    walk(host, rel, filter, &mut |e| {
        let below = if rel.is_empty() {
            e.rel.as_str()
        } else {
            e.rel
                .strip_prefix(rel)
                .and_then(|r| r.strip_prefix('/'))
                .unwrap_or(&e.rel)
        };
        let target = dest.join(below);
        let ft = e.meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&target)?;
            std::fs::set_permissions(&target, e.meta.permissions())?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&e.path)?, &target)?;
        } else if ft.is_file() {
            std::fs::hard_link(&e.path, &target)?;
        }
        // Devices, fifos and sockets are not part of a build context.
        Ok(WalkControl::Continue)
    })
}

/// Does `ig` hide `rel` or anything below it (`host` is its path on the host)?
fn ignores_something(
    ig: &DockerIgnore,
    rel: &str,
    host: &Path,
    is_dir: bool,
) -> Result<bool, FileOpError> {
    if !rel.is_empty() && ig.matches(rel) {
        return Ok(true);
    }
    if !is_dir {
        return Ok(false);
    }
    let mut found = false;
    walk(host, rel, WalkFilter::default(), &mut |e| {
        if found || ig.matches(&e.rel) {
            found = true;
            return Ok(WalkControl::SkipDir);
        }
        Ok(WalkControl::Continue)
    })
    .map_err(FileOpError::io("read", host))?;
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
        let b = context_bind_source(&src, "/sub", false, tmp.path()).unwrap();
        assert!(b.copy.is_some());
        assert!(b.path.join("c.txt").exists());
        assert!(!b.path.join("b.log").exists());
        // Read-only: hard links to the context's files.
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&b.path.join("c.txt")), ino(&d.path().join("sub/c.txt")));
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
            Ok(b) => assert!(b.path.starts_with(d.path()), "{:?}", b.path),
            Err(e) => assert!(e.to_string().contains("not found"), "{e}"),
        }
        let e = context_bind_source(&src, "/nope", false, tmp.path()).unwrap_err();
        assert_eq!(e.to_string(), "\"/nope\": not found");
    }
}
