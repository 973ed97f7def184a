//! The kernel filesystems of a container: a fresh `/proc`, a minimal tmpfs `/dev`, a read-only
//! `/sys`, and docker's masking of their sensitive paths.

use crate::error::{IoContext, Result};
use crate::rootfs::{ensure_target, remount_readonly};
use crate::spec::Network;
use crate::sys;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Host device nodes bind-mounted into the container's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];
/// `/dev` symlinks.
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];
/// Kernel files hidden behind `/dev/null` (as docker does).
const MASKED_FILES: &[&str] = &[
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
];
/// Kernel directories hidden behind an empty read-only tmpfs.
const MASKED_DIRS: &[&str] = &["proc/acpi", "proc/asound", "proc/scsi", "sys/firmware"];
/// Kernel paths made read-only.
const READONLY_PATHS: &[&str] = &[
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// A fresh procfs for the container's PID namespace.
pub(crate) fn mount_proc(root: &Path) -> Result<()> {
    let target = ensure_target(root, "/proc", false)?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    sys::mount(Some(Path::new("proc")), &target, Some("proc"), flags, None)
}

/// A tmpfs `/dev` with the host's harmless device nodes, a private devpts, `/dev/shm` and the usual links.
pub(crate) fn mount_dev(root: &Path) -> Result<()> {
    let dev = ensure_target(root, "/dev", false)?;
    sys::mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let target = dev.join(name);
        fs::write(&target, b"").ctx(|| format!("create {}", target.display()))?;
        sys::mount(Some(&host), &target, None, libc::MS_BIND, None)?;
    }
    let pts = dev.join("pts");
    fs::create_dir(&pts).ctx(|| format!("create {}", pts.display()))?;
    sys::mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).ctx(|| format!("create {}", shm.display()))?;
    sys::mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    for (name, target) in DEV_LINKS {
        let link = dev.join(name);
        symlink(target, &link).ctx(|| format!("create symlink {}", link.display()))?;
    }
    Ok(())
}

/// A read-only `/sys`. Best effort: sysfs for a new network namespace, else a read-only bind of the
/// host's; a failure leaves `/sys` empty rather than failing the container.
pub(crate) fn mount_sys(root: &Path, network: Network) {
    let Ok(target) = ensure_target(root, "/sys", false) else {
        return;
    };
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY;
    if sys::mount(
        Some(Path::new("sysfs")),
        &target,
        Some("sysfs"),
        flags,
        None,
    )
    .is_ok()
    {
        return;
    }
    if network == Network::Host
        && sys::mount(
            Some(Path::new("/sys")),
            &target,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .is_ok()
    {
        let _ = sys::mount(
            None,
            &target,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | flags,
            None,
        );
    }
}

/// Hide or freeze the sensitive parts of `/proc` and `/sys` (missing paths are skipped).
pub(crate) fn mask_kernel_paths(root: &Path) -> Result<()> {
    let null = root.join("dev/null");
    for rel in MASKED_FILES {
        let target = root.join(rel);
        if target.is_file() && null.exists() {
            sys::mount(Some(&null), &target, None, libc::MS_BIND, None)?;
        }
    }
    for rel in MASKED_DIRS {
        let target = root.join(rel);
        if target.is_dir() {
            sys::mount(
                Some(Path::new("tmpfs")),
                &target,
                Some("tmpfs"),
                libc::MS_RDONLY,
                Some("size=0"),
            )?;
        }
    }
    for rel in READONLY_PATHS {
        let target = root.join(rel);
        if target.exists() {
            sys::mount(
                Some(&target),
                &target,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
            remount_readonly(&target)?;
        }
    }
    Ok(())
}
