//! kiln-snapshot: the content store, snapshots (overlayfs or full copies), layer
//! diff/apply and compression.
//!
//! * [`ContentStore`] — blobs by sha256 digest.
//! * [`Snapshotter`] — layered snapshots; [`Snapshotter::apply_layer`] unpacks OCI layers,
//!   [`Snapshotter::write_diff`] / [`Snapshotter::export_layer`] produce them,
//!   [`Snapshotter::with_mounted`] shows a merged view in a private mount namespace.
//!
//! Known limits:
//! * Layer entries are never written through symlinks: an entry whose parent path
//!   contains a symlink (even one that stays inside the tree) is refused.
//!   [`extract::extract_archive`] (`ADD` of an archive) follows such links inside the root.
//! * In Overlay mode a hardlink entry must point at a file of the same layer.
//! * Active snapshots left by a crashed process are not listed or collected.

#![warn(missing_docs)]

mod apply;
mod changes;
mod compress;
mod content;
mod copytree;
mod diff;
mod digest;
mod error;
mod export;
pub mod extract;
mod fsmeta;
mod meta;
mod mount;
mod pgzip;
mod random;
mod snapshotter;
mod tarentry;
mod whiteout;

pub use compress::{
    Compression, GZIP_LEVEL, MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD, ZSTD_LEVEL,
};
pub use content::{BlobWriter, ContentStore};
pub use digest::{parse_digest, sha256_digest, HashingReader, HashingWriter};
pub use error::{Error, Result};
pub use export::LayerInfo;
pub use snapshotter::{Active, Mode, SnapshotId, Snapshotter};
pub use whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
