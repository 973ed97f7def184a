//! The kernel filesystems of a container: a fresh `/proc`, a minimal tmpfs `/dev`, a read-only
//! `/sys`, and docker's masking of their sensitive paths.
//!
//! Every mount goes onto a descriptor of its mount point, opened without following symlinks
//! (a `/proc` that is a symlink in the image is refused, never followed: the overlay's top stub
//! layer gives `/proc`, `/sys` and `/dev` as real directories, like docker's init layer), and
//! each new mount is checked to be the filesystem it should be before anything is put in it.

use crate::error::{Error, IoContext, Result};
use crate::fdmount::{fd_path, fs_type, mount_on, mount_point, open_dir};
use crate::security::kernel_paths;
use crate::spec::Security;
use crate::sys;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

/// Host device nodes bind-mounted into the container's `/dev` (docker's default devices; the
/// device cgroup allows exactly these, see `security::devices`).
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
/// Host `/dev` entries a privileged container does not get copies of (it has its own).
const PRIVILEGED_SKIP: &[&str] = &["pts", "shm", "mqueue", "ptmx", "fd", "core", "hugepages"];

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Mount `/proc`, `/dev` and `/sys` in `root` and, in the sandbox, mask their sensitive paths.
pub(crate) fn mount_all(root: &Path, security: Security) -> Result<()> {
    let rootfd = open_dir(root)?;
    let rootfd = rootfd.as_fd();
    let proc = mount_fresh(rootfd, "proc", PROC_SUPER_MAGIC, |mp| {
        mount_on(
            Some(Path::new("proc")),
            mp,
            "/proc",
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )
    })?;
    let dev = mount_fresh(rootfd, "dev", TMPFS_MAGIC, |mp| {
        mount_on(
            Some(Path::new("tmpfs")),
            mp,
            "/dev",
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )
    })?;
    populate_dev(dev.as_fd(), security)?;
    let sys = mount_fresh(rootfd, "sys", SYSFS_MAGIC, |mp| mount_sys(mp, security))?;
    if security == Security::Sandbox {
        kernel_paths::apply(proc.as_fd(), sys.as_fd())?;
    }
    Ok(())
}

/// Mount a filesystem with `mount` on `/name` (which must be a real directory), then reopen
/// `/name` and check that it is that new filesystem (`magic`); returns its root.
fn mount_fresh(
    root: BorrowedFd<'_>,
    name: &str,
    magic: i64,
    mount: impl FnOnce(BorrowedFd<'_>) -> Result<()>,
) -> Result<OwnedFd> {
    let what = format!("filesystem {name:?}");
    let mp = mount_point(root, name, &what)?;
    mount(mp.as_fd())?;
    let fresh = mount_point(root, name, &what)?;
    if fs_type(fresh.as_fd())? != magic {
        return Err(Error::Init(format!(
            "/{name} is not the {name} filesystem just mounted on it"
        )));
    }
    Ok(fresh)
}

/// A read-only sysfs (read-write when privileged); a bind of the host's when sysfs cannot be
/// mounted here.
fn mount_sys(mp: BorrowedFd<'_>, security: Security) -> Result<()> {
    let ro = if security == Security::Sandbox {
        libc::MS_RDONLY
    } else {
        0
    };
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let fresh = mount_on(
        Some(Path::new("sysfs")),
        mp,
        "/sys",
        Some("sysfs"),
        flags | ro,
        None,
    );
    if fresh.is_ok() {
        return Ok(());
    }
    mount_on(
        Some(Path::new("/sys")),
        mp,
        "/sys",
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .map_err(|e| Error::Init(format!("cannot mount /sys: {e}")))?;
    if ro != 0 {
        // The bind sits on top of `mp`'s directory: reach it through the path, not `mp`.
        let bound = open_dir(&fd_path(mp))?;
        crate::fdmount::bind_readonly(bound.as_fd(), "/sys")?;
    }
    Ok(())
}

/// Fill the container's `/dev` (a fresh tmpfs, `dev`): the harmless host devices (every host
/// device when privileged), a private devpts, `/dev/shm` and the usual links.
fn populate_dev(dev: BorrowedFd<'_>, security: Security) -> Result<()> {
    let dir = fd_path(dev);
    match security {
        Security::Sandbox => {
            for name in DEVICES {
                let host = Path::new("/dev").join(name);
                if !host.exists() {
                    continue;
                }
                let target = dir.join(name);
                std::fs::write(&target, b"").ctx(|| format!("create /dev/{name}"))?;
                sys::mount(Some(&host), &target, None, libc::MS_BIND, None)?;
            }
        }
        Security::Privileged => copy_host_devices(Path::new("/dev"), &dir, 0)?,
    }
    let pts = dir.join("pts");
    std::fs::create_dir(&pts).ctx(|| "create /dev/pts".to_string())?;
    sys::mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = dir.join("shm");
    std::fs::create_dir(&shm).ctx(|| "create /dev/shm".to_string())?;
    sys::mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    for (name, target) in DEV_LINKS {
        symlink(target, dir.join(name)).ctx(|| format!("create symlink /dev/{name}"))?;
    }
    Ok(())
}

/// docker's `--privileged`: a node for every device of the host's `/dev` (same type, numbers,
/// mode and owner), directories recreated, symlinks and the runtime's own entries skipped.
fn copy_host_devices(from: &Path, to: &Path, depth: usize) -> Result<()> {
    let entries = std::fs::read_dir(from).ctx(|| format!("read {}", from.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if depth == 0
            && PRIVILEGED_SKIP
                .iter()
                .any(|s| name.as_bytes() == s.as_bytes())
        {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let ft = meta.file_type();
        let dest = to.join(&name);
        if ft.is_dir() && depth < 4 {
            std::fs::create_dir(&dest).ctx(|| format!("create {}", dest.display()))?;
            copy_host_devices(&entry.path(), &dest, depth + 1)?;
        } else if std::os::unix::fs::FileTypeExt::is_char_device(&ft)
            || std::os::unix::fs::FileTypeExt::is_block_device(&ft)
        {
            let c = CString::new(dest.as_os_str().as_bytes())
                .map_err(|_| Error::InvalidSpec("device name with a NUL".into()))?;
            // SAFETY: a valid C string; mode and rdev come from the host's node.
            sys::cvt(unsafe { libc::mknod(c.as_ptr(), meta.mode(), meta.rdev()) })
                .ctx(|| format!("create device {}", dest.display()))?;
            std::os::unix::fs::lchown(&dest, Some(meta.uid()), Some(meta.gid()))
                .ctx(|| format!("chown device {}", dest.display()))?;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .ctx(|| format!("chmod device {}", dest.display()))?;
        }
    }
    Ok(())
}
