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

/// All extended attributes of `path` (not following symlinks), sorted by name.
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let p = cpath(path)?;
    let mut names = vec![0u8; 1024];
    let n = loop {
        // SAFETY: buffer pointer and length describe a valid writable allocation.
        let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    };
    names.truncate(n);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name = OsStr::from_bytes(name);
        if let Some(v) = get_xattr(path, name)? {
            out.push((name.to_os_string(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// All extended attributes of an open file, sorted by name (no path lookup: for the many
/// regular files of a layer, which are opened anyway).
pub(crate) fn list_xattrs_fd(f: &std::fs::File) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    let mut names = vec![0u8; 1024];
    let n = loop {
        // SAFETY: an open descriptor; buffer pointer and length describe a valid allocation.
        let n = unsafe { libc::flistxattr(fd, names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    };
    names.truncate(n);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let c = cname(OsStr::from_bytes(name))?;
        let mut buf = vec![0u8; 256];
        let value = loop {
            // SAFETY: as above, with a valid C string.
            let r = unsafe { libc::fgetxattr(fd, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if r >= 0 {
                buf.truncate(r as usize);
                break Some(buf);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
                Some(libc::ENODATA) | Some(libc::ENOTSUP) => break None,
                _ => return Err(e),
            }
        };
        if let Some(v) = value {
            out.push((OsStr::from_bytes(name).to_os_string(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// One extended attribute of `path` (not following symlinks); `None` if absent.
pub(crate) fn get_xattr(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let n = cname(name)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: buffer pointer and length describe a valid writable allocation.
        let r =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Ok(None),
            _ => return Err(e),
        }
    }
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
