//! Mounting on file descriptors: a mount target is opened once, without following symlinks, and
//! the mount goes onto that very directory (through its `/proc/self/fd/N` magic link or the new
//! mount API), so that nothing in the image can redirect it between the check and the mount.

use crate::error::{Error, Result};
use crate::sys;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The magic link through which `fd` is reached.
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Open directory `path` (trusted: a path of the runtime's own) as an `O_PATH` descriptor.
pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("open {}", path.display()), e.into()))
}

/// Open `name` (one component) in `dir` as a mount point that must be a real directory: a
/// symlink, a file or anything else is refused, never followed.
pub(crate) fn mount_point(dir: BorrowedFd<'_>, name: &str, what: &str) -> Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP => Error::Init(format!(
            "{what} must be mounted on an ordinary directory: /{name} in the root filesystem is not one"
        )),
        e => Error::io(format!("open mount point /{name}"), e.into()),
    })
}

/// Open `rel` below `dir` without following any symlink and without leaving `dir`'s mount;
/// `Ok(None)` when it does not exist.
pub(crate) fn open_beneath(dir: BorrowedFd<'_>, rel: &str) -> Result<Option<OwnedFd>> {
    let resolve = ResolveFlags::BENEATH
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV;
    match rustix::fs::openat2(
        dir,
        rel,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::io(format!("open {rel}"), e.into())),
    }
}

/// The filesystem magic of `fd` (statfs `f_type`).
pub(crate) fn fs_type(fd: BorrowedFd<'_>) -> Result<i64> {
    let st = rustix::fs::fstatfs(fd).map_err(|e| Error::io("statfs a mount point", e.into()))?;
    Ok(st.f_type as i64)
}

/// Is `fd` a directory?
pub(crate) fn is_dir(fd: BorrowedFd<'_>) -> Result<bool> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::io("stat a mount point", e.into()))?;
    Ok(rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory)
}

/// mount(2) onto the directory or file `target` is open on; `name` is for messages.
pub(crate) fn mount_on(
    source: Option<&Path>,
    target: BorrowedFd<'_>,
    name: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    sys::mount(source, &fd_path(target), fstype, flags, data).map_err(|e| match e {
        Error::Io { source, .. } => Error::io(
            format!("mount {} on {name}", fstype.unwrap_or("(bind)")),
            source,
        ),
        other => other,
    })
}

/// Make the mount tree at `target` read-only, recursively: a read-only clone of it is put on
/// top of it (open_tree, mount_setattr, move_mount), all on descriptors.
pub(crate) fn bind_readonly(target: BorrowedFd<'_>, name: &str) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| Error::io(format!("{what} {name} read-only"), e);
    let tree = open_tree(
        target,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| fail("clone", e.into()))?;
    set_readonly(tree.as_fd()).map_err(|e| fail("make", e))?;
    move_mount(
        tree.as_fd(),
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| fail("mount", e.into()))
}

/// `MOUNT_ATTR_RDONLY`.
const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC`.
const MOUNT_ATTR_SEALED: u64 = 0x2 | 0x4 | 0x8;

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, { attr_set: MOUNT_ATTR_RDONLY })`.
fn set_readonly(tree: BorrowedFd<'_>) -> std::io::Result<()> {
    set_attrs(tree, MOUNT_ATTR_RDONLY)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, { attr_set })`.
fn set_attrs(tree: BorrowedFd<'_>, attr_set: u64) -> std::io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid fd, an empty C string, and a mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Bind-mount the tree at `source` (a trusted host path, or `/proc/self/fd/N`) onto `target`
/// (likewise), recursively, read-only if asked: a detached clone of the source is made
/// read-only before it is attached, so the mount is never writable, even for a moment.
pub(crate) fn bind(source: &Path, target: &Path, readonly: bool) -> Result<()> {
    bind_with(source, target, if readonly { MOUNT_ATTR_RDONLY } else { 0 })
}

/// [`bind`], read-only, `nosuid`, `nodev` and `noexec` (how BuildKit mounts a secret).
pub(crate) fn bind_sealed(source: &Path, target: &Path) -> Result<()> {
    bind_with(source, target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_SEALED)
}

fn bind_with(source: &Path, target: &Path, attrs: u64) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        Error::io(
            format!(
                "{what} bind of {} on {}",
                source.display(),
                target.display()
            ),
            e,
        )
    };
    let tree = open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE,
    )
    .map_err(|e| fail("clone for the", e.into()))?;
    if attrs != 0 {
        set_attrs(tree.as_fd(), attrs).map_err(|e| fail("read-only", e))?;
    }
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        // A `/proc/self/fd/N` target is a magic link to follow.
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_SYMLINKS,
    )
    .map_err(|e| fail("attach the", e.into()))
}
