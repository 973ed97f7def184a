//! The lazy part of a solve: walk down from the target, stopping at cache hits.
//!
//! Checks happen in a fixed order (depth first, inputs in order) before anything runs, so the
//! `Cached` events of a solve come out in the same order every time.

use crate::error::SolveError;
use crate::graph::VertexId;
use crate::run::Run;
use crate::worker::Worker;
use std::collections::{HashMap, HashSet};

/// What must run and what the cache already has.
pub(crate) struct Plan<R> {
    /// Results restored from the cache.
    pub hits: HashMap<VertexId, R>,
    /// Vertices to execute, in the order they were checked (consumers before their inputs).
    pub misses: Vec<VertexId>,
    /// Vertices that must run whatever the cache holds (see [`forced`]).
    pub forced: HashSet<VertexId>,
}

/// Check `targets` and, below each miss or forced vertex, its inputs. Returns `None` if cancelled meanwhile.
pub(crate) fn plan<W: Worker>(
    run: &Run<'_, W>,
    targets: &[VertexId],
) -> Result<Option<Plan<W::Ref>>, SolveError> {
    let forced = forced(run, targets);
    let mut hits = HashMap::new();
    let mut misses = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<VertexId> = targets.iter().rev().copied().collect();
    while let Some(v) = stack.pop() {
        if !seen.insert(v) {
            continue;
        }
        if run.cancelled() {
            return Ok(None);
        }
        if !forced.contains(&v) {
            if let Some(r) = run.lookup(v)? {
                run.report_cached(v);
                hits.insert(v, r);
                continue;
            }
        }
        misses.push(v);
        for input in run.graph.inputs(v).into_iter().rev() {
            if !seen.contains(&input) {
                stack.push(input);
            }
        }
    }
    Ok(Some(Plan {
        hits,
        misses,
        forced,
    }))
}

/// The vertices that skip the cache: those with `meta.ignore_cache` and every consumer of one
/// (otherwise a cached consumer would hide the vertex that was asked to run again). Their
/// fresh results replace their cache records.
fn forced<W: Worker>(run: &Run<'_, W>, targets: &[VertexId]) -> HashSet<VertexId> {
    let mut forced = HashSet::new();
    for v in crate::keys::postorder_all(run.graph, targets) {
        if run.graph.vertex(v).meta.ignore_cache
            || run.graph.inputs(v).iter().any(|i| forced.contains(i))
        {
            forced.insert(v);
        }
    }
    forced
}
