//! The spec's extra mounts: binds, tmpfs and overlays, on destinations resolved inside the rootfs.

use crate::error::{Error, IoContext, Result};
use crate::fdmount::{bind, fd_path};
use crate::overlay::{mount_overlay, UpperWork};
use crate::rootfs::source_is_file;
use crate::spec::{MountKind, MountSpec};
use crate::{sys, target};
use rustix::fs::{Mode, OFlags};
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A mount's source made ready before the rootfs is mounted (so that its mount point can be
/// stubbed as a file or a directory).
pub(crate) struct Prepared {
    /// For an overlay of a path inside its layers: that entry (resolved inside the layers, which
    /// are mounted whole on a staging directory), held open. `None`: mount as the spec says.
    source: Option<OwnedFd>,
    /// The mount point must be a file, not a directory.
    pub is_file: bool,
}

/// Prepare mount `m`; `scratch` is a fresh path on the state tmpfs for its own use.
pub(crate) fn prepare(m: &MountSpec, scratch: &Path) -> Result<Prepared> {
    let Some(sub) = overlay_subpath(m) else {
        return Ok(Prepared {
            source: None,
            is_file: source_is_file(m),
        });
    };
    let (lowers, writable) = match &m.kind {
        MountKind::OverlayRo { lowers } => (lowers, false),
        MountKind::OverlayScratch { lowers } => (lowers, true),
        _ => return Err(Error::InvalidSpec("not an overlay mount".into())),
    };
    let staging = scratch.join("whole");
    fs::create_dir_all(&staging).ctx(|| format!("create {}", staging.display()))?;
    mount_layers(lowers, writable, &staging, scratch)?;
    let missing = || {
        Error::InvalidSpec(format!(
            "mount source /{sub} for {} does not exist in the mounted filesystem",
            m.dest
        ))
    };
    let in_root = |source| Error::InRoot {
        context: format!("resolve {sub} in the filesystem mounted on {}", m.dest),
        source,
    };
    let layers = inroot::Root::open(&staging).map_err(in_root)?;
    let entry = match layers.resolve(sub, true) {
        Ok(r) if r.meta.is_some() => r,
        Ok(_) => return Err(missing()),
        Err(e) if e.is_not_found() => return Err(missing()),
        Err(e) => return Err(in_root(e)),
    };
    let is_file = !entry.meta.as_ref().is_some_and(|m| m.is_dir());
    let source = if entry.name.is_empty() {
        entry
            .parent
            .as_fd()
            .try_clone_to_owned()
            .ctx(|| "duplicate a descriptor".to_string())?
    } else {
        rustix::fs::openat(
            entry.parent.as_fd(),
            &entry.name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("open /{sub} for {}", m.dest), e.into()))?
    };
    Ok(Prepared {
        source: Some(source),
        is_file,
    })
}

/// Apply one extra mount, prepared by [`prepare`] with the same `scratch`.
pub(crate) fn mount_extra(
    root: &Path,
    m: &MountSpec,
    prepared: &Prepared,
    scratch: &Path,
) -> Result<()> {
    if !m.dest.starts_with('/') {
        return Err(Error::InvalidSpec(format!(
            "mount destination {:?} is not absolute",
            m.dest
        )));
    }
    let resolved = target::ensure(root, &m.dest, prepared.is_file)?;
    // As runc: nothing may be mounted over the container's /proc (it could only hide the
    // masks, never be wanted), wherever the image's symlinks lead the destination.
    let inside = resolved.inside();
    if inside == "proc" || inside.starts_with("proc/") {
        return Err(Error::InvalidSpec(format!(
            "{:?} cannot be mounted because it is inside /proc",
            m.dest
        )));
    }
    let target = resolved.path();
    if let Some(source) = &prepared.source {
        let readonly = matches!(m.kind, MountKind::OverlayRo { .. });
        return bind(&fd_path(source.as_fd()), &target, readonly);
    }
    match &m.kind {
        MountKind::Bind { readonly } => {
            if !m.source.exists() {
                return Err(Error::InvalidSpec(format!(
                    "bind mount source {} for {} does not exist",
                    m.source.display(),
                    m.dest
                )));
            }
            bind(&m.source, &target, *readonly)?;
        }
        MountKind::Tmpfs { size } => {
            let opts = match size {
                Some(bytes) => format!("mode=1777,size={bytes}"),
                None => "mode=1777".to_string(),
            };
            sys::mount(
                Some(Path::new("tmpfs")),
                &target,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV,
                Some(&opts),
            )?;
        }
        MountKind::OverlayRo { lowers } => mount_layers(lowers, false, &target, scratch)?,
        MountKind::OverlayScratch { lowers } => mount_layers(lowers, true, &target, scratch)?,
        MountKind::MemFile {
            data,
            mode,
            uid,
            gid,
        } => crate::memfile::mount(&data.0, *mode, *uid, *gid, scratch, &target)?,
    }
    Ok(())
}

/// For the overlay kinds, the directory (or file) inside the overlay to mount when it is not the
/// overlay's root: [`MountSpec::source`] as a path inside it.
fn overlay_subpath(m: &MountSpec) -> Option<&str> {
    if !matches!(
        m.kind,
        MountKind::OverlayRo { .. } | MountKind::OverlayScratch { .. }
    ) {
        return None;
    }
    let sub = m.source.to_str()?.trim_matches('/');
    (!sub.is_empty()).then_some(sub)
}

/// Mount `lowers` (top first) on `target`: read-only, or writable with its writes going to
/// `scratch` (discarded with it). No layer gives an empty tmpfs.
fn mount_layers(lowers: &[PathBuf], writable: bool, target: &Path, scratch: &Path) -> Result<()> {
    if !writable {
        match lowers {
            [] => {
                sys::mount(
                    Some(Path::new("tmpfs")),
                    target,
                    Some("tmpfs"),
                    libc::MS_RDONLY,
                    Some("mode=755"),
                )?;
            }
            [only] => bind(only, target, true)?,
            _ => mount_overlay(lowers, None, target, true)?,
        }
        return Ok(());
    }
    if lowers.is_empty() {
        sys::mount(
            Some(Path::new("tmpfs")),
            target,
            Some("tmpfs"),
            0,
            Some("mode=755"),
        )?;
    } else {
        let (upper, work) = (scratch.join("upper"), scratch.join("work"));
        for d in [&upper, &work] {
            fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        mount_overlay(
            lowers,
            Some(&UpperWork {
                upper: &upper,
                work: &work,
            }),
            target,
            false,
        )?;
    }
    Ok(())
}
