//! Mounting overlayfs: the classic mount(2) option string when it fits in a page, otherwise the
//! new mount API with one `lowerdir+` per layer (Linux 6.8+), which has no length limit.

use crate::error::{Error, Result};
use crate::sys;
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags, FsOpenFlags,
    MountAttrFlags, MoveMountFlags,
};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// mount(2) copies at most one page of options.
const MAX_LEGACY_OPTIONS: usize = 4000;

/// The writable part of an overlay.
pub struct UpperWork<'a> {
    /// Where writes land.
    pub upper: &'a Path,
    /// overlayfs's work directory.
    pub work: &'a Path,
}

/// Escape characters that overlayfs's option parser treats specially.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for ch in p.to_string_lossy().chars() {
        if matches!(ch, '\\' | ':' | ',') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The legacy option string for `lowers` (top first) and the optional upper/work pair.
pub fn legacy_options(lowers: &[PathBuf], rw: Option<&UpperWork<'_>>) -> String {
    let lower = lowers
        .iter()
        .map(|p| escape(p))
        .collect::<Vec<_>>()
        .join(":");
    let mut opts = format!("lowerdir={lower}");
    if let Some(rw) = rw {
        opts.push_str(&format!(
            ",upperdir={},workdir={}",
            escape(rw.upper),
            escape(rw.work)
        ));
    }
    opts
}

/// Mount an overlay of `lowers` (top first, at least one; two without `rw`) on `target`.
pub fn mount_overlay(
    lowers: &[PathBuf],
    rw: Option<&UpperWork<'_>>,
    target: &Path,
    readonly: bool,
) -> Result<()> {
    for p in lowers
        .iter()
        .map(PathBuf::as_path)
        .chain(rw.iter().flat_map(|r| [r.upper, r.work]))
    {
        if sys::cpath(p).is_err() || p.as_os_str().is_empty() {
            return Err(Error::InvalidSpec(format!(
                "bad overlay layer path {:?}",
                p.display()
            )));
        }
    }
    let opts = legacy_options(lowers, rw);
    let flags = if readonly { libc::MS_RDONLY } else { 0 };
    if opts.len() < MAX_LEGACY_OPTIONS {
        return sys::mount(
            Some(Path::new("overlay")),
            target,
            Some("overlay"),
            flags,
            Some(&opts),
        );
    }
    mount_overlay_fsapi(lowers, rw, target, readonly).map_err(|e| {
        Error::io(
            format!(
                "mount overlay of {} layers on {} (new mount API)",
                lowers.len(),
                target.display()
            ),
            e,
        )
    })
}

/// The new-mount-API path: one `lowerdir+` per layer.
fn mount_overlay_fsapi(
    lowers: &[PathBuf],
    rw: Option<&UpperWork<'_>>,
    target: &Path,
    readonly: bool,
) -> std::io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for l in lowers {
        fsconfig_set_string(&fs, "lowerdir+", l.as_os_str().as_bytes())?;
    }
    if let Some(rw) = rw {
        fsconfig_set_string(&fs, "upperdir", rw.upper.as_os_str().as_bytes())?;
        fsconfig_set_string(&fs, "workdir", rw.work.as_os_str().as_bytes())?;
    }
    fsconfig_create(&fs)?;
    let attrs = if readonly {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        // A `/proc/self/fd/N` target is a magic link to follow.
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_SYMLINKS,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_options_escape_separators() {
        let lowers = vec![PathBuf::from("/a:b"), PathBuf::from("/c,d")];
        let up = UpperWork {
            upper: Path::new("/u"),
            work: Path::new("/w\\x"),
        };
        assert_eq!(
            legacy_options(&lowers, Some(&up)),
            "lowerdir=/a\\:b:/c\\,d,upperdir=/u,workdir=/w\\\\x"
        );
        assert_eq!(legacy_options(&lowers[..1], None), "lowerdir=/a\\:b");
    }
}
