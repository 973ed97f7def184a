//! docker's masked and read-only kernel paths, applied on descriptors of the container's own
//! `/proc` and `/sys` mounts: a path that exists is masked or the container does not start.

use crate::error::{Error, Result};
use crate::fdmount::{self, bind_readonly, mount_on, open_beneath};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Where a kernel path lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Under the container's `/proc`.
    Proc,
    /// Under the container's `/sys`.
    Sys,
}

/// Paths hidden from the container (docker's `MaskedPaths`, moby `oci/defaults.go`): a file is
/// covered by `/dev/null`, a directory by an empty read-only tmpfs.
pub const MASKED: &[(Base, &str)] = &[
    (Base::Proc, "asound"),
    (Base::Proc, "acpi"),
    (Base::Proc, "kcore"),
    (Base::Proc, "keys"),
    (Base::Proc, "latency_stats"),
    (Base::Proc, "timer_list"),
    (Base::Proc, "timer_stats"),
    (Base::Proc, "sched_debug"),
    (Base::Proc, "scsi"),
    (Base::Sys, "firmware"),
    (Base::Sys, "devices/virtual/powercap"),
];

/// Paths made read-only (docker's `ReadonlyPaths`); `/sys` as a whole is mounted read-only.
pub const READONLY: &[(Base, &str)] = &[
    (Base::Proc, "bus"),
    (Base::Proc, "fs"),
    (Base::Proc, "irq"),
    (Base::Proc, "sys"),
    (Base::Proc, "sysrq-trigger"),
];

/// Mask and freeze the paths above. `proc` and `sys` are descriptors of the container's fresh
/// procfs and sysfs mounts (checked by the caller). Missing paths are skipped (this kernel does
/// not have them); any other failure is an error: the container must not start half-masked.
pub fn apply(proc: BorrowedFd<'_>, sys: BorrowedFd<'_>) -> Result<()> {
    let base = |b: Base| match b {
        Base::Proc => (proc, "/proc"),
        Base::Sys => (sys, "/sys"),
    };
    for (b, rel) in MASKED {
        let (dir, prefix) = base(*b);
        let name = format!("{prefix}/{rel}");
        let Some(target) = open_beneath(dir, rel)? else {
            continue;
        };
        let masked = if fdmount::is_dir(target.as_fd())? {
            mount_on(
                Some(Path::new("tmpfs")),
                target.as_fd(),
                &name,
                Some("tmpfs"),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("size=0,mode=0555"),
            )
        } else {
            mount_on(
                Some(Path::new("/dev/null")),
                target.as_fd(),
                &name,
                None,
                libc::MS_BIND,
                None,
            )
        };
        masked.map_err(|e| Error::Init(format!("cannot mask {name}: {e}")))?;
    }
    for (b, rel) in READONLY {
        let (dir, prefix) = base(*b);
        let name = format!("{prefix}/{rel}");
        let Some(target) = open_beneath(dir, rel)? else {
            continue;
        };
        bind_readonly(target.as_fd(), &name)
            .map_err(|e| Error::Init(format!("cannot make {name} read-only: {e}")))?;
    }
    Ok(())
}
