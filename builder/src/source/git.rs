//! `ADD <git repository>`.

use crate::root::Kiln;
use kiln_snapshot::SnapshotId;
use kiln_solver::{Digest, SourceOp};

/// An `ADD <repository>` that went wrong.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0}: git sources are not supported yet")]
    Unsupported(String),
}

/// The repositories of one build.
#[derive(Default)]
pub struct GitSource {}

impl GitSource {
    /// The cache key part of `op`: the commit its ref names.
    pub fn key(&self, _kiln: &Kiln, op: &SourceOp) -> Result<Digest, GitError> {
        Err(GitError::Unsupported(op.identifier.clone()))
    }

    /// The snapshot of `op`'s tree.
    pub fn snapshot(&self, _kiln: &Kiln, op: &SourceOp) -> Result<SnapshotId, GitError> {
        Err(GitError::Unsupported(op.identifier.clone()))
    }
}
