//! Explaining cache misses: for every step that runs instead of coming from the cache, the
//! first input of its key that differs from the last build of the same step.
//!
//! When a step runs, the components of its key are kept beside its cache record (see
//! [`record`]); after every solve, each step's current key is remembered per build scope (see
//! [`steps`]). On a miss the step's record from the last build is looked up and compared with
//! the components now, and the reason is reported as [`Event::CacheMiss`]. Explaining never
//! fails a build: a record that cannot be read or written only costs the explanation.
//!
//! A fully cached build reads one small file (the scope's steps) and writes nothing.

mod reason;
mod record;
mod steps;
mod store;
mod summary;

pub use reason::MissReason;
pub use summary::{ContentSummary, SummaryDiff, SummaryEntry};

use crate::cache::Cache;
use crate::error::CacheError;
use crate::graph::VertexId;
use crate::op::Op;
use crate::progress::Event;
use crate::run::Run;
use crate::worker::Worker;
use record::{CurrentInput, KeyRecord};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use steps::{ScopeRecord, StepId};
use store::ExplainStore;

/// What a solve learns for explanations.
pub(crate) struct Explainer {
    store: ExplainStore,
    scope: String,
    /// The scope's steps as they were before this solve (read on first need).
    previous: OnceLock<ScopeRecord>,
    hits: Mutex<Vec<VertexId>>,
    executed: Mutex<Vec<VertexId>>,
}

/// The record of a step being run, to be kept once its result is.
pub(crate) struct Pending(KeyRecord);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Explainer {
    pub fn new(cache: &Cache, scope: &str) -> Explainer {
        Explainer {
            store: ExplainStore::new(cache),
            scope: scope.to_string(),
            previous: OnceLock::new(),
            hits: Mutex::new(Vec::new()),
            executed: Mutex::new(Vec::new()),
        }
    }

    fn previous(&self) -> &ScopeRecord {
        self.previous.get_or_init(|| self.store.scope(&self.scope))
    }

    /// `v` came from the cache.
    pub fn hit(&self, v: VertexId) {
        lock(&self.hits).push(v);
    }

    /// `v` is about to run (`forced`: whatever the cache holds): report why as an event after
    /// `Started`, and return its record, to be kept with [`Explainer::executed`].
    pub fn miss<W: Worker>(
        &self,
        run: &Run<'_, W>,
        v: VertexId,
        inputs: &[W::Ref],
        forced: bool,
    ) -> Option<Pending> {
        let vertex = run.graph.vertex(v);
        let key = run.keys.get(&v)?;
        let current = current_inputs(run, v, inputs);
        let now = KeyRecord::new(key, vertex, &current);
        let reason = if forced {
            if vertex.meta.ignore_cache {
                MissReason::NoCache
            } else {
                let step = run
                    .graph
                    .inputs(v)
                    .into_iter()
                    .find(|i| ignores_cache(run, *i))
                    .map(|i| run.index(i))
                    .unwrap_or(0);
                MissReason::ParentRanUncached { step }
            }
        } else {
            let before = StepId::of(vertex)
                .and_then(|id| self.previous().find(&id).cloned())
                .and_then(|e| self.store.key_record(&e.key));
            match before {
                Some(b) => b.explain(&now, &current),
                None => MissReason::NeverBuilt,
            }
        };
        run.event(Event::CacheMiss {
            vertex: run.index(v),
            message: reason.to_string(),
            reason,
        });
        Some(Pending(now))
    }

    /// `v` ran and its result is in the cache: keep its record.
    pub fn executed(&self, v: VertexId, pending: Option<Pending>) {
        if let Some(Pending(r)) = pending {
            if let Err(e) = self.store.put_key_record(&r) {
                log::warn!("cannot keep the explanation record of a step: {e}");
            }
        }
        lock(&self.executed).push(v);
    }

    /// After the solve: remember the key of every step that ran or came from the cache (and of
    /// the steps below a cached one, which it implies). Writes only when a step's key changed.
    pub fn finish<W: Worker>(&self, run: &Run<'_, W>) {
        let mut settled: Vec<VertexId> = lock(&self.executed).clone();
        let mut seen: HashSet<VertexId> = settled.iter().copied().collect();
        for h in lock(&self.hits).iter() {
            if seen.contains(h) {
                continue;
            }
            for a in crate::keys::postorder_all(run.graph, &[*h]) {
                if seen.insert(a) {
                    settled.push(a);
                }
            }
        }
        let steps: Vec<(StepId, crate::Digest)> = settled
            .into_iter()
            .filter_map(|v| {
                let id = StepId::of(run.graph.vertex(v))?;
                Some((id, run.keys.get(&v)?.clone()))
            })
            .collect();
        let mut probe = self.previous().clone();
        let mut changed = false;
        for (id, key) in &steps {
            changed |= probe.set(id.clone(), key);
        }
        if !changed {
            return;
        }
        let result = self.store.update_scope(&self.scope, |r| {
            let mut any = false;
            for (id, key) in steps {
                any |= r.set(id, &key);
            }
            any
        });
        if let Err(e) = result {
            log::warn!("cannot remember this build's steps for explanations: {e}");
        }
    }
}

/// Whether `v` or a vertex below it skips the cache.
fn ignores_cache<W: Worker>(run: &Run<'_, W>, v: VertexId) -> bool {
    crate::keys::postorder_all(run.graph, &[v])
        .into_iter()
        .any(|a| run.graph.vertex(a).meta.ignore_cache)
}

/// How each input of `v` contributes to its key now: the entries of each part read of a
/// content-addressed source (as the key's computation took them), else the input's key.
fn current_inputs<W: Worker>(run: &Run<'_, W>, v: VertexId, refs: &[W::Ref]) -> Vec<CurrentInput> {
    let vertex = run.graph.vertex(v);
    let inputs = run.graph.inputs(v);
    let selections = vertex.op.content_selections(inputs.len());
    let mut out = Vec::with_capacity(inputs.len());
    for (pos, (input, parts)) in inputs.into_iter().zip(selections).enumerate() {
        let is_source = matches!(run.graph.vertex(input).op, Op::Source(_));
        let listed = match (parts, is_source, refs.get(pos)) {
            (Some(parts), true, Some(r)) => parts
                .iter()
                .map(|sel| match run.worker.content_entries(r, sel) {
                    Ok(e) => e,
                    Err(e) => {
                        log::warn!("cannot list what a step reads to explain it: {e}");
                        None
                    }
                })
                .collect::<Option<Vec<_>>>()
                .map(|p| p.into_iter().map(Some).collect()),
            _ => None,
        };
        out.push(match listed {
            Some(parts) => CurrentInput::Content(parts),
            None => CurrentInput::Key {
                key: run
                    .keys
                    .get(&input)
                    .cloned()
                    .unwrap_or_else(|| crate::Digest::sha256(b"kiln-explain/no-key")),
                step: run.index(input),
            },
        });
    }
    out
}

impl Cache {
    /// After records were removed: drop the explanation records nothing refers to any more.
    /// Returns the bytes freed.
    pub fn sweep_explanations(&self) -> Result<u64, CacheError> {
        ExplainStore::new(self).sweep()
    }

    /// Bytes the explanation records take.
    pub fn explanations_size(&self) -> u64 {
        ExplainStore::new(self).size()
    }

    pub(crate) fn remove_explanation(&self, key: &crate::Digest) {
        ExplainStore::new(self).remove_key_record(key);
    }
}
