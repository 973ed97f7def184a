//! kiln-snapshot: the content store, snapshots (overlayfs or full copies), layer
//! diff/apply and compression.
//!
//! * [`ContentStore`] — blobs by sha256 digest.
//! * [`Snapshotter`] — layered snapshots; [`Snapshotter::apply_layer`] unpacks OCI layers,
//!   [`Snapshotter::write_diff`] / [`Snapshotter::export_layer`] produce them,
//!   [`Snapshotter::with_mounted`] shows a merged view in a private mount namespace.
//! * [`Leases`] — what live processes hold; [`gc`] collects everything no root and no live
//!   lease keeps. Store directories are private (0700).
//!
//! Known limits:
//! * Layer entries are never written through symlinks: an entry whose parent path
//!   contains a symlink (even one that stays inside the tree) is refused.
//!   [`extract::extract_archive`] (`ADD` of an archive) follows such links inside the root.
//! * In Overlay mode a hardlink entry must point at a file of the same layer.
//! * Active snapshots and partial blobs made through a handle without a lease
//!   ([`Snapshotter::with_lease`], [`ContentStore::with_lease`]) have no owner: a collection
//!   removes them (partial blobs after [`gc::UNOWNED_GRACE`]).

#![warn(missing_docs)]

mod apply;
mod changes;
mod compress;
mod content;
mod copytree;
mod derive;
mod diff;
mod digest;
mod error;
mod export;
pub mod extract;
mod fsmeta;
pub mod gc;
mod lease;
mod memosweep;
mod meta;
mod mount;
mod perms;
mod pgzip;
mod pipeline;
mod random;
mod resumable;
mod snapshotter;
mod tarentry;
mod trash;
mod tree;
mod whiteout;

pub use compress::{
    Compression, GZIP_LEVEL, MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD, ZSTD_LEVEL,
};
pub use content::{BlobWriter, ContentStore};
pub use derive::{derive_layers, Target};
pub use digest::{parse_digest, sha256_digest, HashingReader, HashingWriter};
pub use error::{Error, Result};
pub use export::LayerInfo;
pub use lease::{GcLock, Held, Lease, Leases};
pub use memosweep::MemoSweep;
pub use perms::{private_dir, restrict_dir};
pub use resumable::ResumableIngest;
pub use snapshotter::{Active, Mode, SnapshotId, Snapshotter};
pub use whiteout::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
