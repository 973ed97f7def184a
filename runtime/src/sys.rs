//! Thin, checked wrappers over the system calls the runtime needs (libc), with errors that name
//! what was being done.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A C string from a path; a NUL inside is an error naming the path.
pub fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidSpec(format!("path {:?} contains a NUL byte", p.display())))
}

/// A C string from text; a NUL inside is an error naming it.
pub fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidSpec(format!("{s:?} contains a NUL byte")))
}

/// `-1` → the last OS error.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// mount(2). `what` is used in the error message (e.g. `"overlay"`, `"bind /src"`).
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let src = source.map(cpath).transpose()?;
    let tgt = cpath(target)?;
    let fst = fstype.map(cstr).transpose()?;
    let dat = data.map(cstr).transpose()?;
    // SAFETY: all pointers are valid NUL-terminated strings or null for the duration of the call.
    let ret = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            tgt.as_ptr(),
            fst.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            dat.as_ref().map_or(std::ptr::null(), |s| s.as_ptr().cast()),
        )
    };
    cvt(ret).map(drop).map_err(|e| {
        let what = match (fstype, source) {
            (Some(t), _) => t.to_string(),
            (None, Some(s)) => s.display().to_string(),
            (None, None) => "(remount)".to_string(),
        };
        Error::io(format!("mount {what} on {}", target.display()), e)
    })
}

/// umount2(2).
pub fn umount2(target: &Path, flags: libc::c_int) -> Result<()> {
    let tgt = cpath(target)?;
    // SAFETY: valid C string.
    cvt(unsafe { libc::umount2(tgt.as_ptr(), flags) })
        .map(drop)
        .map_err(|e| Error::io(format!("unmount {}", target.display()), e))
}

/// pivot_root(2).
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<()> {
    let a = cpath(new_root)?;
    let b = cpath(put_old)?;
    // SAFETY: valid C strings; the syscall has no other memory effects.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) };
    if ret == -1 {
        return Err(Error::io(
            format!("pivot_root to {}", new_root.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// A pipe whose both ends are close-on-exec: (read, write).
pub fn pipe_cloexec() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for two descriptors.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors that we now own.
    unsafe {
        use std::os::fd::FromRawFd;
        Ok((
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        ))
    }
}

/// Set or clear FD_CLOEXEC on `fd` (async-signal-safe).
pub fn set_cloexec(fd: libc::c_int, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer descriptor has no memory effects.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) }).map(drop)
}

/// Mark every descriptor from `first` up close-on-exec (async-signal-safe): `close_range` with
/// `CLOSE_RANGE_CLOEXEC` (Linux 5.11), else each open descriptor in turn.
pub fn cloexec_from(first: libc::c_int) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) })?;
    let max = limit.rlim_cur.min(1 << 20) as libc::c_int;
    for fd in first..max {
        // SAFETY: fcntl on an integer descriptor; EBADF for the closed ones is ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Decode a wait status into an exit code (128+signal when killed).
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// waitpid(2) for `pid`, retrying on EINTR; returns the raw status.
pub fn wait_pid(pid: libc::pid_t) -> io::Result<libc::c_int> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(status);
    }
}

/// Install `handler` for `sig` (SA_RESTART, no mask).
pub fn set_signal_handler(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler is either SIG_DFL/SIG_IGN or an
    // `extern "C" fn(c_int)` that only does async-signal-safe work.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        cvt(libc::sigaction(sig, &sa, std::ptr::null_mut())).map(drop)
    }
}

/// Write all of `data` to `fd`, retrying on EINTR; errors are ignored (best effort reporting).
pub fn write_all_fd(fd: libc::c_int, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: data is a valid buffer of the given length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        data = &data[n as usize..];
    }
}
