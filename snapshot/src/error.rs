//! The crate error type.

use std::io;
use std::path::{Path, PathBuf};

/// Errors of the content store, the snapshotter and the layer code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("create", "rename", ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An I/O error on a stream (layer tar, compressed stream, output writer).
    #[error("{context}: {source}")]
    Stream {
        /// What was being read or written.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A digest string is not `sha256:<64 lowercase hex>`.
    #[error("invalid digest {0:?}: expected \"sha256:\" followed by 64 lowercase hex digits")]
    InvalidDigest(String),
    /// Written content did not hash to the expected digest.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: String,
        /// The digest of the bytes actually received.
        actual: String,
    },
    /// No blob with that digest is stored.
    #[error("blob {0} not found in the content store")]
    BlobNotFound(String),
    /// No snapshot with that id exists.
    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),
    /// A snapshot id is not a valid id string.
    #[error("invalid snapshot id {0:?}")]
    InvalidSnapshotId(String),
    /// The snapshot is the parent of another snapshot and cannot be removed.
    #[error("snapshot {id} is the parent of snapshot {child}; remove the child first")]
    HasChildren {
        /// The snapshot that was to be removed.
        id: String,
        /// One of its children.
        child: String,
    },
    /// A snapshot's metadata file is unreadable.
    #[error("corrupt snapshot metadata {path}: {source}")]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A file operation inside a tree failed (see [`inroot::Error`]).
    #[error(transparent)]
    InRoot(#[from] inroot::Error),
    /// A layer tar entry would escape the snapshot or is otherwise refused.
    #[error("refused layer entry {path:?}: {reason}")]
    UnsafeEntry {
        /// The entry name as it appears in the tar.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A layer tar is malformed.
    #[error("malformed layer tar at entry {path:?}: {reason}")]
    BadTar {
        /// The entry name (or "" when the header itself is unreadable).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Setting up a mount (namespace, overlay, bind) failed.
    #[error("mount failed: {what}: {source}")]
    Mount {
        /// What was being mounted.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A feature that this build does not provide.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The closure run inside a mount namespace panicked.
    #[error("the function run with the mounted snapshot panicked")]
    Panicked,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Attach a path and an operation name to an `io::Result`.
pub(crate) trait IoContext<T> {
    /// Map the error into [`Error::Io`] naming `op` and `path`.
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Map a stream error into [`Error::Stream`].
pub(crate) fn stream_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Stream { context, source }
}
