//! Errors of the solver and of its persistent cache.

use crate::digest::Digest;
use crate::vertex::SourceLocation;
use std::path::PathBuf;

/// Errors of the on-disk cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A filesystem operation on the cache directory failed.
    #[error("cache: {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading record`, `creating directory`...).
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record file exists but cannot be decoded (it is ignored and can be removed).
    #[error("cache: record {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A key that is not `sha256:<64 hex>` (never produced by the solver).
    #[error("cache: invalid key {0:?}: expected sha256:<64 hex>")]
    InvalidKey(String),
}

impl CacheError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        CacheError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// A vertex that failed: computing its cache key, loading it from the cache, running it or
/// saving its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VertexFailure {
    /// The vertex's display name (`[build 2/4] RUN make`).
    pub name: String,
    /// Its progress index (`#N`).
    pub index: usize,
    /// Where it comes from in the user's source.
    pub locations: Vec<SourceLocation>,
    /// The vertex's digest.
    pub digest: Digest,
    /// What went wrong, as reported by the worker or the cache.
    pub message: String,
    /// Last lines of the step's output.
    pub log_tail: Vec<String>,
}

/// Why a solve failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// A vertex failed (the first failure of the solve).
    #[error("{}: {}", .0.name, .0.message)]
    Vertex(Box<VertexFailure>),
    /// The build was cancelled from outside (the `cancel` flag was set) before it finished.
    #[error("build cancelled")]
    Cancelled,
    /// The target given to `solve` is not a vertex of the graph.
    #[error("vertex {0} is not in the graph")]
    UnknownVertex(usize),
    /// The cache itself failed (not attributable to one vertex).
    #[error(transparent)]
    Cache(#[from] CacheError),
}
