//! Low-level file metadata helpers that never follow symlinks: xattrs, owners, times,
//! device nodes.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains NUL"))
}

fn cname(n: &OsStr) -> io::Result<CString> {
    CString::new(n.as_bytes()).map_err(|_| io::Error::other("xattr name contains NUL"))
}

/// Run an xattr list/get call with a buffer that grows until the answer fits; `Ok(None)` for
/// the error numbers in `absent` (no such attribute, no xattrs on this filesystem).
fn sized(mut call: impl FnMut(&mut [u8]) -> isize, absent: &[i32]) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = call(&mut buf);
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(c) if absent.contains(&c) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// The attributes named in a `listxattr` answer, with their values from `get` (sorted).
fn collect_xattrs(
    names: Option<Vec<u8>>,
    mut get: impl FnMut(&OsStr) -> io::Result<Option<Vec<u8>>>,
) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let names = names.unwrap_or_default();
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name = OsStr::from_bytes(name);
        if let Some(v) = get(name)? {
            out.push((name.to_os_string(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// All extended attributes of `path` (not following symlinks), sorted by name.
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let p = cpath(path)?;
    // SAFETY (both calls): a valid C string; the buffer pointer and length describe a valid
    // writable allocation.
    let names = sized(
        |b| unsafe { libc::llistxattr(p.as_ptr(), b.as_mut_ptr().cast(), b.len()) },
        &[libc::ENOTSUP],
    )?;
    collect_xattrs(names, |name| get_xattr(path, name))
}

/// All extended attributes of an open file, sorted by name (no path lookup: for the many
/// regular files of a layer, which are opened anyway).
pub(crate) fn list_xattrs_fd(f: &std::fs::File) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    // SAFETY (both calls): an open descriptor, a valid C string; the buffer pointer and
    // length describe a valid writable allocation.
    let names = sized(
        |b| unsafe { libc::flistxattr(fd, b.as_mut_ptr().cast(), b.len()) },
        &[libc::ENOTSUP],
    )?;
    collect_xattrs(names, |name| {
        let n = cname(name)?;
        sized(
            |b| unsafe { libc::fgetxattr(fd, n.as_ptr(), b.as_mut_ptr().cast(), b.len()) },
            &[libc::ENODATA, libc::ENOTSUP],
        )
    })
}

/// One extended attribute of `path` (not following symlinks); `None` if absent.
pub(crate) fn get_xattr(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: valid C strings; the buffer pointer and length describe a valid allocation.
    sized(
        |b| unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), b.as_mut_ptr().cast(), b.len()) },
        &[libc::ENODATA, libc::ENOTSUP],
    )
}

/// Set an extended attribute on `path` without following symlinks.
pub(crate) fn set_xattr(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: valid C strings and a valid value slice.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `lchown(path, uid, gid)`.
pub(crate) fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// Set atime and mtime of `path` to `(secs, nanos)` without following symlinks.
pub(crate) fn set_times(path: &Path, secs: i64, nanos: u32) -> io::Result<()> {
    let p = cpath(path)?;
    let ts = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos.min(999_999_999) as libc::c_long,
    };
    let times = [ts, ts];
    // SAFETY: valid C string and a two-element timespec array.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Kind of special file for [`mknod`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
}

/// Create a device node or fifo with permission bits `perm` and device numbers.
pub(crate) fn mknod(
    path: &Path,
    kind: NodeKind,
    perm: u32,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    let p = cpath(path)?;
    let fmt = match kind {
        NodeKind::Char => libc::S_IFCHR,
        NodeKind::Block => libc::S_IFBLK,
        NodeKind::Fifo => libc::S_IFIFO,
    };
    let dev = libc::makedev(major, minor);
    // SAFETY: valid C string.
    let r = unsafe { libc::mknod(p.as_ptr(), fmt | (perm & 0o7777), dev) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Split a `st_rdev` into `(major, minor)`.
pub(crate) fn dev_major_minor(rdev: u64) -> (u32, u32) {
    (libc::major(rdev), libc::minor(rdev))
}
