//! Files held in memory (build secrets): written on the container's private state tmpfs, owned
//! and moded as asked, then bind-mounted read-only, `nosuid`, `nodev`, `noexec` on their mount
//! point. The state tmpfs is reachable only by the init before `pivot_root`, and goes with the
//! container's mount namespace: the bytes never touch a disk.

use crate::error::{Error, Result};
use crate::fdmount::bind_sealed;
use rustix::fs::{Gid, Mode, OFlags, Uid};
use std::io::Write;
use std::path::Path;

/// Write `data` to a new file in `scratch` (a fresh path on the state tmpfs) and mount it on
/// `target` (a mount point descriptor's magic link).
pub(crate) fn mount(
    data: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
    scratch: &Path,
    target: &Path,
) -> Result<()> {
    std::fs::create_dir_all(scratch)
        .map_err(|e| Error::io(format!("create {}", scratch.display()), e))?;
    let path = scratch.join("data");
    let fd = rustix::fs::open(
        &path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::io(format!("create {}", path.display()), e.into()))?;
    let fail = |what: &str, e: std::io::Error| Error::io(format!("{what} a file in memory"), e);
    rustix::fs::fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .map_err(|e| fail("chown", e.into()))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))
        .map_err(|e| fail("chmod", e.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data).map_err(|e| fail("write", e))?;
    drop(file);
    bind_sealed(&path, target)
}
