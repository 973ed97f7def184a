//! What can go wrong when a build's result leaves the build.

use std::path::PathBuf;

/// Why an `--output` could not be parsed or an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// An `--output` value that cannot be understood (the message names the key or type).
    #[error("invalid --output {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
    /// A destination that cannot be written (checked before the build runs).
    #[error("--output {path}: cannot write there: {source}", path = path.display())]
    Destination {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the export failed (a full disk, say); nothing is left under the destination.
    #[error("--output {path}: {what}: {source}", path = path.display())]
    Write {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The image store could not give or take what the export needs.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A layer could not be read, compressed or unpacked.
    #[error(transparent)]
    Snapshot(#[from] kiln_snapshot::Error),
    /// A push to a registry failed.
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    /// The image in the store does not hold together (diff IDs and layers disagree).
    #[error("image {image} is inconsistent: {reason}")]
    Inconsistent { image: String, reason: String },
}

impl From<ExportError> for crate::Error {
    fn from(e: ExportError) -> Self {
        crate::Error::new(e.to_string())
    }
}
