//! The spec's extra mounts: binds, tmpfs and overlays, on destinations resolved inside the rootfs.

use crate::error::{Error, IoContext, Result};
use crate::overlay::{mount_overlay, UpperWork};
use crate::paths::secure_join;
use crate::rootfs::{ensure_target, remount_readonly, source_is_file};
use crate::spec::{MountKind, MountSpec};
use crate::sys;
use std::fs;
use std::path::{Path, PathBuf};

/// A mount's source made ready before the rootfs is mounted (so that its mount point can be
/// stubbed as a file or a directory).
pub(crate) struct Prepared {
    /// For an overlay of a path inside its layers: that path, in the layers mounted whole on a
    /// staging directory. `None`: mount as the spec says.
    source: Option<PathBuf>,
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
    let source = secure_join(&staging, sub)
        .ctx(|| format!("resolve {sub} in the filesystem mounted on {}", m.dest))?;
    let meta = fs::metadata(&source).map_err(|_| {
        Error::InvalidSpec(format!(
            "mount source /{sub} for {} does not exist in the mounted filesystem",
            m.dest
        ))
    })?;
    Ok(Prepared {
        source: Some(source),
        is_file: !meta.is_dir(),
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
    let target = ensure_target(root, &m.dest, prepared.is_file)?;
    // As runc: nothing may be mounted over the container's /proc (it could only hide the
    // masks, never be wanted), wherever the image's symlinks lead the destination.
    let inside = target.strip_prefix(root).unwrap_or(&target);
    if inside.starts_with("proc") {
        return Err(Error::InvalidSpec(format!(
            "{:?} cannot be mounted because it is inside /proc",
            m.dest
        )));
    }
    if let Some(source) = &prepared.source {
        sys::mount(
            Some(source),
            &target,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )?;
        if matches!(m.kind, MountKind::OverlayRo { .. }) {
            remount_readonly(&target)?;
        }
        return Ok(());
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
            sys::mount(
                Some(&m.source),
                &target,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
            if *readonly {
                remount_readonly(&target)?;
            }
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
            [only] => {
                sys::mount(Some(only), target, None, libc::MS_BIND | libc::MS_REC, None)?;
                remount_readonly(target)?;
            }
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
