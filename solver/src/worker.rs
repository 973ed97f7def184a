//! The trait through which the solver gets work done. The builder implements it.

use crate::digest::Digest;
use crate::op::ContentSelection;
use crate::progress::ProgressSink;
use crate::vertex::Vertex;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Errors a worker reports. `message` is shown to the user as is.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WorkerError {
    pub message: String,
    /// Last lines of the step's output, for the error report.
    pub log_tail: Vec<String>,
}

impl WorkerError {
    pub fn new(message: impl Into<String>) -> Self {
        WorkerError {
            message: message.into(),
            log_tail: Vec::new(),
        }
    }
}

/// What a worker gets besides the vertex and its inputs.
pub struct ExecContext<'a> {
    /// Where to send the step's output lines (`ProgressSink::log`).
    pub progress: &'a dyn ProgressSink,
    /// Index of the vertex in progress events.
    pub vertex_index: usize,
    /// Set when the build is cancelled (another vertex failed, SIGINT); long work checks it.
    pub cancelled: Arc<AtomicBool>,
}

/// Executes ops and manages their results.
pub trait Worker: Send + Sync {
    /// A handle to a result (e.g. a snapshot).
    type Ref: Clone + Send + Sync;

    /// The cache-key part of a source vertex that is not in the op itself (an image's manifest
    /// digest; for the build context, a constant: its content is keyed per COPY source and per
    /// mount through [`Worker::content_digest`]).
    fn source_key(&self, vertex: &Vertex) -> Result<Digest, WorkerError>;

    /// Resolve a source vertex to a ref without running anything heavy (the context directory,
    /// an image's snapshot chain). Called for inputs whose content decides a key.
    fn resolve_source(&self, vertex: &Vertex) -> Result<Self::Ref, WorkerError>;

    /// Content digest of what `selection` (one COPY source or one mount) reads of `input`,
    /// exactly as the op will see it (ignore rules and exclusions applied), or `None` when this
    /// input is not content-addressable and its cache key should be used instead. It must
    /// change whenever anything the selection exposes changes, and only then.
    fn content_digest(
        &self,
        input: &Self::Ref,
        selection: &ContentSelection,
    ) -> Result<Option<Digest>, WorkerError>;

    /// Content digest of what `selection` reads of `input`, the result of a vertex that is
    /// not a source (a stage), once it exists; `None` keys the read by the input's cache key.
    /// The solver asks for it when a consumer's key missed, so a step reading an unchanged part
    /// of a changed stage is still cached (BuildKit's content-based keys of selected inputs).
    /// Same contract as [`Worker::content_digest`].
    fn result_content_digest(
        &self,
        _input: &Self::Ref,
        _selection: &ContentSelection,
    ) -> Result<Option<Digest>, WorkerError> {
        Ok(None)
    }

    /// Run one vertex over its resolved inputs.
    fn execute(
        &self,
        ctx: &ExecContext<'_>,
        vertex: &Vertex,
        inputs: &[Self::Ref],
    ) -> Result<Self::Ref, WorkerError>;

    /// Persist a result for the cache: the bytes come back to [`Worker::load`].
    fn save(&self, r: &Self::Ref) -> Result<Vec<u8>, WorkerError>;

    /// Restore a cached result; `Ok(None)` when its data is gone (pruned), and the vertex runs
    /// again.
    fn load(&self, record: &[u8]) -> Result<Option<Self::Ref>, WorkerError>;

    /// Bytes of storage a result holds (e.g. its snapshot's disk usage), recorded in the cache
    /// for `keep_storage` pruning. `None` (the default) = unknown; the record's length is used.
    fn result_size(&self, _r: &Self::Ref) -> Option<u64> {
        None
    }
}
