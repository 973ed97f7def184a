//! What the phases of one solve share: the graph, its keys, the worker, the cache, progress.

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{CacheError, SolveError, VertexFailure};
use crate::graph::{Graph, VertexId};
use crate::progress::{Event, ProgressSink};
use crate::report::Numbering;
use crate::worker::Worker;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The context of one solve.
pub(crate) struct Run<'a, W: Worker> {
    pub worker: &'a W,
    pub cache: &'a Cache,
    pub graph: &'a Graph,
    pub keys: &'a HashMap<VertexId, Digest>,
    /// What the keys were made of, for the keys computed again during execution.
    pub key_parts: &'a crate::keys::KeyParts,
    pub progress: &'a dyn ProgressSink,
    pub numbering: &'a Numbering,
    pub cancel: &'a Arc<AtomicBool>,
}

impl<W: Worker> Run<'_, W> {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    pub fn key(&self, v: VertexId) -> Result<&Digest, SolveError> {
        self.keys.get(&v).ok_or_else(|| {
            self.failure(
                v,
                "internal error: no cache key computed".into(),
                Vec::new(),
            )
        })
    }

    pub fn index(&self, v: VertexId) -> usize {
        self.numbering.index(&self.graph.vertex(v).digest)
    }

    pub fn event(&self, e: Event) {
        self.progress.event(e);
    }

    /// Report `v` as cached.
    pub fn report_cached(&self, v: VertexId) {
        let vertex = self.graph.vertex(v);
        self.event(Event::Cached {
            vertex: self.index(v),
            name: vertex.meta.name.clone(),
        });
    }

    /// The error for a failure of `v`.
    pub fn failure(&self, v: VertexId, message: String, log_tail: Vec<String>) -> SolveError {
        let vertex = self.graph.vertex(v);
        SolveError::Vertex(Box::new(VertexFailure {
            name: vertex.meta.name.clone(),
            index: self.index(v),
            locations: vertex.meta.locations.clone(),
            digest: vertex.digest.clone(),
            message,
            log_tail,
        }))
    }

    /// Look `v` up in the cache and restore its result. A record whose data is gone
    /// (`Worker::load` → `None`) or that cannot be decoded is dropped: the vertex runs again.
    pub fn lookup(&self, v: VertexId) -> Result<Option<W::Ref>, SolveError> {
        self.lookup_at(v, self.key(v)?)
    }

    /// [`Run::lookup`] under `key` (a key computed during execution).
    pub fn lookup_at(&self, v: VertexId, key: &Digest) -> Result<Option<W::Ref>, SolveError> {
        let record = match self.cache.get(key) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(CacheError::Corrupt { .. }) => {
                self.drop_record(v, key)?;
                return Ok(None);
            }
            Err(e) => return Err(self.failure(v, format!("reading the cache: {e}"), Vec::new())),
        };
        match self.worker.load(&record.data) {
            Ok(Some(r)) => Ok(Some(r)),
            Ok(None) => {
                self.drop_record(v, key)?;
                Ok(None)
            }
            Err(e) => Err(self.failure(
                v,
                format!("restoring cache record {key}: {}", e.message),
                e.log_tail,
            )),
        }
    }

    fn drop_record(&self, v: VertexId, key: &Digest) -> Result<(), SolveError> {
        // Remove without decoding: the file may be the corrupt one.
        match self.cache.remove(key) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failure(v, format!("dropping stale cache record: {e}"), Vec::new())),
        }
    }
}
