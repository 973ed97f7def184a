//! Mount targets inside the container's root: a destination from the spec (or the image's
//! symlinks on the way to it) is resolved with `inroot`, so it stays inside the root whatever
//! the image holds, and the entry it leads to is held as a descriptor: the mount goes onto
//! `/proc/self/fd/N`, that very entry, never onto a path the image could redirect meanwhile.

use crate::error::{Error, Result};
use crate::fdmount::fd_path;
use rustix::fs::{Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// A resolved mount point.
#[derive(Debug)]
pub(crate) struct Target {
    fd: OwnedFd,
    /// Where it is inside the root, as `a/b`.
    inside: String,
}

impl Target {
    /// The path to give mount calls (the descriptor's magic link).
    pub fn path(&self) -> PathBuf {
        fd_path(self.fd.as_fd())
    }

    /// The in-root path, as `a/b`.
    pub fn inside(&self) -> &str {
        &self.inside
    }
}

fn in_root(context: String) -> impl FnOnce(inroot::Error) -> Error {
    move |source| Error::InRoot { context, source }
}

/// Resolve `dest` inside the root at `root` (symlinks followed inside it) and create it when
/// missing: an empty file when `file`, else a directory (with missing parents, mode 0755).
/// The root is opened anew each time: earlier mounts must be seen, not a cached directory
/// they now cover.
pub(crate) fn ensure(root: &std::path::Path, dest: &str, file: bool) -> Result<Target> {
    let ctx = || format!("mount point {dest}");
    let root = inroot::Root::open(root).map_err(in_root(ctx()))?;
    let inside = root.real_path(dest, true).map_err(in_root(ctx()))?;
    let existing = match root.resolve(dest, true) {
        Ok(r) if r.meta.is_some() => Some(r),
        Ok(_) => None,
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(in_root(ctx())(e)),
    };
    let fd = match existing {
        Some(r) if r.name.is_empty() => dup(r.parent.as_fd())?,
        Some(r) => open_path(r.parent.as_fd(), &r.name, dest)?,
        None if file => {
            let (dir, name) = root
                .create_parent(dest, 0o755, &mut |_, _| Ok(()))
                .map_err(in_root(ctx()))?;
            dir.create_file(&name, 0o644).map_err(in_root(ctx()))?;
            open_path(dir.as_fd(), &name, dest)?
        }
        None => {
            let dir = root
                .mkdir_all(dest, 0o755, &mut |_, _| Ok(()))
                .map_err(in_root(ctx()))?;
            dup(dir.as_fd())?
        }
    };
    Ok(Target { fd, inside })
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    fd.try_clone_to_owned()
        .map_err(|e| Error::io("duplicate a mount point descriptor", e))
}

/// `O_PATH` of `name` in `dir`, not following it.
fn open_path(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    dest: &str,
) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("open mount point {dest}"), e.into()))
}
