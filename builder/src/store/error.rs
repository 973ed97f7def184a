//! Errors of the image store, `import`, `load` and `save`.

use std::path::PathBuf;

use oci::ReferenceError;

/// Everything that can go wrong in the image store and its archive formats.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A malformed image reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading or writing a stream (archive, layer) failed.
    #[error("{what}: {source}")]
    Stream {
        what: String,
        source: std::io::Error,
    },
    /// The content store reported an error.
    #[error("content store: {what}: {message}")]
    Content { what: String, message: String },
    /// A JSON document could not be parsed or written.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    /// No image matches the reference or ID.
    #[error("No such image: {0}")]
    NotFound(String),
    /// `push` of a reference that tags nothing here (docker's words).
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchImageToPush(String),
    /// A short ID matches several images.
    #[error("short image ID {prefix:?} is ambiguous: matches {matches:?}")]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    /// `rmi` refused (docker's "conflict" errors).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A digest string is malformed.
    #[error("invalid digest {digest:?}: {why}")]
    InvalidDigest { digest: String, why: &'static str },
    /// Content did not hash to the digest that names it.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A blob an image needs is not in the content store or archive.
    #[error("missing blob {digest} ({what})")]
    MissingBlob { digest: String, what: String },
    /// Something is wrong with an image archive (layout, names, structure).
    #[error("invalid archive: {0}")]
    Archive(String),
    /// A document is larger than we are willing to read into memory.
    #[error("{what} is too large: {size} bytes (limit {limit})")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// A media type we cannot handle here.
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType { media_type: String, what: String },
    /// An index has no manifest for the wanted platform.
    #[error("no image for platform {platform} in {what} (available: {available})")]
    NoPlatform {
        platform: String,
        what: String,
        available: String,
    },
    /// The image config does not agree with the layers given.
    #[error("invalid image: {0}")]
    InvalidImage(String),
}

/// Result alias of the image store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// An I/O error on a path.
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }

    /// A streaming I/O error.
    pub fn stream(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let what = what.into();
        move |source| StoreError::Stream { what, source }
    }

    /// A content-store error (any displayable error of kiln-snapshot).
    pub fn content<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> StoreError {
        let what = what.into();
        move |e| StoreError::Content {
            what,
            message: e.to_string(),
        }
    }

    /// A JSON error.
    pub fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> StoreError {
        let what = what.into();
        move |source| StoreError::Json { what, source }
    }
}
