//! The solver: cache keys, then a lazy walk from the target through the cache, then parallel
//! execution of what is missing.

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{SolveError, VertexFailure};
use crate::explain::Explainer;
use crate::graph::{Graph, VertexId};
use crate::progress::ProgressSink;
use crate::report::Numbering;
use crate::run::Run;
use crate::worker::Worker;
use crate::{keys, plan, schedule};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a [`Solver`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolveOptions {
    /// At most this many `Worker::execute` calls at once (0 is taken as 1). Default: the
    /// number of cores.
    pub jobs: usize,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// Solves vertices of a [`Graph`] through a [`Worker`] and a persistent [`Cache`].
///
/// Progress indices (`#N`) are kept per solver: a vertex reported by several `solve` calls on
/// the same solver keeps its number.
pub struct Solver<W: Worker> {
    worker: Arc<W>,
    cache: Cache,
    opts: SolveOptions,
    numbering: Numbering,
    explain_scope: String,
}

impl<W: Worker> Solver<W> {
    /// A solver executing through `worker`, with results recorded in `cache`.
    pub fn new(worker: Arc<W>, cache: Cache, opts: SolveOptions) -> Self {
        Solver {
            worker,
            cache,
            opts,
            numbering: Numbering::default(),
            explain_scope: String::new(),
        }
    }

    /// Explain cache misses relative to the last build in `scope` (e.g. one context directory
    /// and Dockerfile): a step's last build is the one of the same stage and position, or of
    /// the same instruction, in that scope. Without it, every solve shares one scope.
    pub fn with_explain_scope(self, scope: impl Into<String>) -> Self {
        Solver {
            explain_scope: scope.into(),
            ..self
        }
    }

    /// The worker.
    pub fn worker(&self) -> &Arc<W> {
        &self.worker
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The options.
    pub fn options(&self) -> &SolveOptions {
        &self.opts
    }

    /// The cache key of every vertex reachable from `target` (itself included), computed
    /// without executing anything.
    pub fn cache_keys(
        &self,
        graph: &Graph,
        target: VertexId,
    ) -> Result<HashMap<VertexId, Digest>, SolveError> {
        Ok(self.keys(graph, target, &AtomicBool::new(false))?.keys)
    }

    fn keys(
        &self,
        graph: &Graph,
        target: VertexId,
        cancel: &AtomicBool,
    ) -> Result<keys::Keys, SolveError> {
        if target.index() >= graph.len() {
            return Err(SolveError::UnknownVertex(target.index()));
        }
        self.keys_all(graph, &[target], cancel)
    }

    fn keys_all(
        &self,
        graph: &Graph,
        targets: &[VertexId],
        cancel: &AtomicBool,
    ) -> Result<keys::Keys, SolveError> {
        match keys::compute(&*self.worker, graph, targets, self.opts.jobs, cancel) {
            Ok(Some(k)) => Ok(k),
            Ok(None) => Err(SolveError::Cancelled),
            Err(e) => {
                let vertex = graph.vertex(e.vertex);
                Err(SolveError::Vertex(Box::new(VertexFailure {
                    name: vertex.meta.name.clone(),
                    index: self.numbering.index(&vertex.digest),
                    locations: vertex.meta.locations.clone(),
                    digest: vertex.digest.clone(),
                    message: format!("computing the cache key: {}", e.error.message),
                    log_tail: e.error.log_tail,
                })))
            }
        }
    }

    /// Produce the result of `target`: from the cache when its key has a record, else by
    /// solving its inputs (in parallel, each vertex at most once) and executing it.
    ///
    /// On the first failure `cancel` is set, in-flight work is waited for and the failure is
    /// returned; results finished before stay cached. Setting `cancel` from outside stops the
    /// solve with [`SolveError::Cancelled`].
    pub fn solve(
        &self,
        graph: &Graph,
        target: VertexId,
        progress: &dyn ProgressSink,
        cancel: Arc<AtomicBool>,
    ) -> Result<W::Ref, SolveError> {
        let result = self.solve_inner(graph, target, progress, &cancel);
        if matches!(result, Err(SolveError::Vertex(_) | SolveError::Cache(_))) {
            cancel.store(true, Ordering::SeqCst);
        }
        result
    }

    /// Produce the results of several `targets` in one solve (the images of a multi-platform
    /// build): one key computation, one cache walk and one pool of `jobs` threads for all of
    /// them, so a vertex they share (the build context, a stage on the build platform) runs
    /// once and the rest run in parallel. Results come in the order of `targets`.
    pub fn solve_all(
        &self,
        graph: &Graph,
        targets: &[VertexId],
        progress: &dyn ProgressSink,
        cancel: Arc<AtomicBool>,
    ) -> Result<Vec<W::Ref>, SolveError> {
        let result = self.solve_many(graph, targets, progress, &cancel);
        if matches!(result, Err(SolveError::Vertex(_) | SolveError::Cache(_))) {
            cancel.store(true, Ordering::SeqCst);
        }
        result
    }

    fn solve_inner(
        &self,
        graph: &Graph,
        target: VertexId,
        progress: &dyn ProgressSink,
        cancel: &Arc<AtomicBool>,
    ) -> Result<W::Ref, SolveError> {
        let mut results = self.solve_many(graph, &[target], progress, cancel)?;
        results.pop().ok_or(SolveError::Cancelled)
    }

    fn solve_many(
        &self,
        graph: &Graph,
        targets: &[VertexId],
        progress: &dyn ProgressSink,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Vec<W::Ref>, SolveError> {
        if let Some(t) = targets.iter().find(|t| t.index() >= graph.len()) {
            return Err(SolveError::UnknownVertex(t.index()));
        }
        let keys = self.keys_all(graph, targets, cancel)?;
        let explain = Explainer::new(&self.cache, &self.explain_scope);
        let run = Run {
            worker: &*self.worker,
            cache: &self.cache,
            graph,
            keys: &keys.keys,
            key_parts: &keys.parts,
            progress,
            numbering: &self.numbering,
            cancel,
            explain: &explain,
        };
        let result = Self::run_plan(&run, targets, self.opts.jobs);
        explain.finish(&run);
        result
    }

    fn run_plan(
        run: &Run<'_, W>,
        targets: &[VertexId],
        jobs: usize,
    ) -> Result<Vec<W::Ref>, SolveError> {
        let Some(plan) = plan::plan(run, targets)? else {
            return Err(SolveError::Cancelled);
        };
        let results = if targets.iter().all(|t| plan.hits.contains_key(t)) {
            plan.hits
        } else {
            schedule::execute(run, plan, targets, jobs)?
        };
        targets
            .iter()
            .map(|t| results.get(t).cloned().ok_or(SolveError::Cancelled))
            .collect()
    }
}
