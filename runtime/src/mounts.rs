//! The spec's extra mounts: binds, tmpfs and overlays, on destinations resolved inside the rootfs.

use crate::error::{Error, IoContext, Result};
use crate::overlay::{mount_overlay, UpperWork};
use crate::rootfs::{ensure_target, remount_readonly, source_is_file};
use crate::spec::{MountKind, MountSpec};
use crate::sys;
use std::fs;
use std::path::Path;

/// Apply one extra mount; `scratch` is a fresh path on the state tmpfs for its upper/work dirs.
pub(crate) fn mount_extra(root: &Path, m: &MountSpec, scratch: &Path) -> Result<()> {
    if !m.dest.starts_with('/') {
        return Err(Error::InvalidSpec(format!(
            "mount destination {:?} is not absolute",
            m.dest
        )));
    }
    let target = ensure_target(root, &m.dest, source_is_file(m))?;
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
        MountKind::OverlayRo { lowers } => match lowers.as_slice() {
            [] => {
                sys::mount(
                    Some(Path::new("tmpfs")),
                    &target,
                    Some("tmpfs"),
                    libc::MS_RDONLY,
                    Some("mode=755"),
                )?;
            }
            [only] => {
                sys::mount(
                    Some(only),
                    &target,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )?;
                remount_readonly(&target)?;
            }
            _ => mount_overlay(lowers, None, &target, true)?,
        },
        MountKind::OverlayScratch { lowers } => {
            if lowers.is_empty() {
                sys::mount(
                    Some(Path::new("tmpfs")),
                    &target,
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
                    &target,
                    false,
                )?;
            }
        }
    }
    Ok(())
}
