//! Whiteouts: OCI tar form (`.wh.NAME`, `.wh..wh..opq`) and overlayfs on-disk form
//! (char device 0/0, `trusted.overlay.opaque=y`).

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::fsmeta;

/// Prefix of an OCI whiteout file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The overlayfs xattr marking an opaque directory.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Prefix of overlayfs private xattrs that must never travel in layers.
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// Prefix of overlayfs private xattrs used in user-xattr mode (also never in layers).
pub const USER_OVERLAY_XATTR_PREFIX: &str = "user.overlay.";

/// Is this the overlayfs whiteout form (a character device 0/0)?
pub fn is_overlay_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// Does the directory carry the overlayfs opaque xattr?
pub fn is_overlay_opaque(path: &Path) -> io::Result<bool> {
    Ok(fsmeta::get_xattr(path, OsStr::new(OVERLAY_OPAQUE_XATTR))?.as_deref() == Some(b"y"))
}

/// Mark a directory opaque for overlayfs.
pub fn set_overlay_opaque(path: &Path) -> io::Result<()> {
    fsmeta::set_xattr(path, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
}

/// Is this xattr overlayfs-private (never exported, never accepted from a tar)?
pub fn is_overlay_private_xattr(name: &[u8]) -> bool {
    name.starts_with(OVERLAY_XATTR_PREFIX.as_bytes())
        || name.starts_with(USER_OVERLAY_XATTR_PREFIX.as_bytes())
}
