//! Store directories are private to their owner (like docker's `/var/lib/docker/*`, mode 0700):
//! snapshots hold images' files with their modes as the image says — setuid-root binaries, 0666
//! device nodes — which must never be reachable by another user of the host (CVE-2021-41091).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::error::{IoContext, Result};

/// Mode of every store directory that leads to image content.
pub(crate) const PRIVATE_DIR_MODE: u32 = 0o700;

/// Create `dir` (and missing parents, 0700) or tighten an existing one to 0700 when it lets
/// group or others in (stores made by older versions were 0755).
pub fn private_dir(dir: &Path) -> Result<()> {
    restrict_dir(dir, PRIVATE_DIR_MODE)
}

/// Create `dir` with `mode` or, when it exists, remove every permission bit `mode` does not
/// grant (never adds any).
pub fn restrict_dir(dir: &Path, mode: u32) -> Result<()> {
    match fs::metadata(dir) {
        Ok(md) if md.is_dir() => {
            let cur = md.permissions().mode() & 0o7777;
            if cur & !mode != 0 {
                match fs::set_permissions(dir, fs::Permissions::from_mode(cur & mode)) {
                    Ok(()) => {}
                    // Not ours to change (another user's store, a read-only mount): use it
                    // as it is.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EROFS)) => {
                    }
                    Err(e) => return Err(e).ctx("chmod", dir),
                }
            }
            Ok(())
        }
        _ => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).ctx("create directory", parent)?;
            }
            match fs::DirBuilder::new().mode(mode).create(dir) {
                Ok(()) => {}
                // Made by a concurrent process meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(e).ctx("create directory", dir),
            }
            // The umask may have taken bits away that `mode` grants to the owner.
            let md = fs::metadata(dir).ctx("stat", dir)?;
            if md.permissions().mode() & 0o7777 != mode {
                fs::set_permissions(dir, fs::Permissions::from_mode(mode)).ctx("chmod", dir)?;
            }
            Ok(())
        }
    }
}
