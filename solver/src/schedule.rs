//! Running the vertices a plan left to execute: inputs first, independent ones in parallel on
//! a pool of `jobs` threads, each vertex once.

use crate::error::SolveError;
use crate::graph::VertexId;
use crate::plan::Plan;
use crate::progress::Event;
use crate::run::Run;
use crate::worker::{ExecContext, Worker};
use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Shared state of the pool.
struct State<R> {
    /// Vertices whose inputs are all available, in the order they became so.
    ready: VecDeque<VertexId>,
    /// For each waiting vertex, how many of its (distinct) inputs are still to run.
    waiting: HashMap<VertexId, usize>,
    /// For each vertex to run, the vertices to run that consume it.
    dependents: HashMap<VertexId, Vec<VertexId>>,
    /// Available results: cache hits and finished vertices.
    results: HashMap<VertexId, R>,
    /// Vertices not yet finished.
    remaining: usize,
    /// The first failure.
    error: Option<SolveError>,
    /// Vertices that must run without consulting the cache.
    forced: HashSet<VertexId>,
    /// The key each available result was found or made under (a cache hit's up-front key, or
    /// the key computed again when its vertex ran: see [`crate::keys::dynamic_key`]).
    effective: HashMap<VertexId, crate::Digest>,
}

/// How running one vertex ended.
enum Outcome<R> {
    /// The result and the key it was found or made under.
    Done(R, crate::Digest),
    Failed(SolveError),
    /// Stopped (or never started) because the build was cancelled.
    Cancelled,
}

/// Execute `plan.misses`; returns every result (hits included).
pub(crate) fn execute<W: Worker>(
    run: &Run<'_, W>,
    plan: Plan<W::Ref>,
    targets: &[VertexId],
    jobs: usize,
) -> Result<HashMap<VertexId, W::Ref>, SolveError> {
    let to_run: HashSet<VertexId> = plan.misses.iter().copied().collect();
    let mut waiting = HashMap::new();
    let mut dependents: HashMap<VertexId, Vec<VertexId>> = HashMap::new();
    let mut ready = VecDeque::new();
    // Inputs before consumers, inputs in order.
    let order = crate::keys::postorder_all(run.graph, targets)
        .into_iter()
        .filter(|v| to_run.contains(v));
    for v in order {
        let mut pending: Vec<VertexId> = run
            .graph
            .inputs(v)
            .into_iter()
            .filter(|i| to_run.contains(i))
            .collect();
        pending.sort();
        pending.dedup();
        for input in &pending {
            dependents.entry(*input).or_default().push(v);
        }
        if pending.is_empty() {
            ready.push_back(v);
        } else {
            waiting.insert(v, pending.len());
        }
    }
    let effective = plan
        .hits
        .keys()
        .filter_map(|v| run.keys.get(v).map(|k| (*v, k.clone())))
        .collect();
    let state = Mutex::new(State {
        ready,
        waiting,
        dependents,
        effective,
        results: plan.hits,
        remaining: plan.misses.len(),
        error: None,
        forced: plan.forced,
    });
    let wake = Condvar::new();
    let threads = jobs.max(1).min(plan.misses.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| pool_thread(run, &state, &wake));
        }
    });
    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = state.error {
        return Err(e);
    }
    if state.remaining > 0 {
        return Err(SolveError::Cancelled);
    }
    Ok(state.results)
}

fn lock<R>(m: &Mutex<State<R>>) -> MutexGuard<'_, State<R>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn pool_thread<W: Worker>(run: &Run<'_, W>, state: &Mutex<State<W::Ref>>, wake: &Condvar) {
    let mut st = lock(state);
    loop {
        if run.cancelled() || st.remaining == 0 {
            break;
        }
        let Some(v) = st.ready.pop_front() else {
            st = wake.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        let inputs: Option<Vec<W::Ref>> = run
            .graph
            .inputs(v)
            .iter()
            .map(|i| st.results.get(i).cloned())
            .collect();
        let forced = st.forced.contains(&v);
        // Only what a dynamic key can need: the inputs' effective keys.
        let effective: HashMap<VertexId, crate::Digest> = run
            .graph
            .inputs(v)
            .iter()
            .filter_map(|i| st.effective.get(i).map(|k| (*i, k.clone())))
            .collect();
        drop(st);
        let outcome = match inputs {
            Some(inputs) => run_one(run, v, &inputs, forced, &effective),
            None => Outcome::Failed(run.failure(
                v,
                "internal error: an input has no result".into(),
                Vec::new(),
            )),
        };
        st = lock(state);
        match outcome {
            Outcome::Done(r, key) => {
                st.results.insert(v, r);
                st.effective.insert(v, key);
                st.remaining -= 1;
                let consumers = st.dependents.remove(&v).unwrap_or_default();
                for c in consumers {
                    if let Some(n) = st.waiting.get_mut(&c) {
                        *n -= 1;
                        if *n == 0 {
                            st.waiting.remove(&c);
                            st.ready.push_back(c);
                        }
                    }
                }
            }
            Outcome::Failed(e) => {
                if st.error.is_none() {
                    st.error = Some(e);
                }
                run.cancel.store(true, Ordering::SeqCst);
            }
            Outcome::Cancelled => {}
        }
        wake.notify_all();
    }
    drop(st);
    wake.notify_all();
}

/// Run one vertex whose inputs are ready: compute its key again if its inputs call for it
/// ([`crate::keys::dynamic_key`]), then under the key's lock check the cache again (another
/// build may just have produced it, or the new key may have a record), else execute it and
/// record the result (under the up-front key too, so the next identical build finds it
/// before running anything). A `forced` vertex skips the lock and the cache check.
fn run_one<W: Worker>(
    run: &Run<'_, W>,
    v: VertexId,
    inputs: &[W::Ref],
    forced: bool,
    effective: &HashMap<VertexId, crate::Digest>,
) -> Outcome<W::Ref> {
    let vertex = run.graph.vertex(v);
    let upfront = match run.key(v) {
        Ok(k) => k.clone(),
        Err(e) => return Outcome::Failed(e),
    };
    let key = if crate::keys::needs_dynamic(run.graph, v, run.keys, effective) {
        match crate::keys::dynamic_key(run.worker, run.graph, v, inputs, run.key_parts, effective) {
            Ok(k) => k,
            Err(e) => {
                return Outcome::Failed(run.failure(
                    v,
                    format!("computing the cache key: {}", e.message),
                    e.log_tail,
                ))
            }
        }
    } else {
        upfront.clone()
    };
    let _lock = if forced {
        None
    } else {
        match run.cache.lock_key(&key, run.cancel) {
            Ok(Some(l)) => {
                match run.lookup_at(v, &key) {
                    Ok(Some(r)) => {
                        run.report_cached(v);
                        if key != upfront {
                            // A failure to alias only costs a recomputation next time.
                            let _ = record(run, &upfront, vertex, &r);
                        }
                        return Outcome::Done(r, key);
                    }
                    Ok(None) => {}
                    Err(e) => return Outcome::Failed(e),
                }
                Some(l)
            }
            Ok(None) => return Outcome::Cancelled,
            Err(e) => {
                return Outcome::Failed(run.failure(
                    v,
                    format!("locking the cache key: {e}"),
                    Vec::new(),
                ))
            }
        }
    };
    if run.cancelled() {
        return Outcome::Cancelled;
    }
    let index = run.index(v);
    run.event(Event::Started {
        vertex: index,
        name: vertex.meta.name.clone(),
    });
    let explained = run.explain.miss(run, v, inputs, forced);
    let start = Instant::now();
    let ctx = ExecContext {
        progress: run.progress,
        vertex_index: index,
        cancelled: run.cancel.clone(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        run.worker.execute(&ctx, vertex, inputs)
    }))
    .unwrap_or_else(|panic| {
        Err(crate::worker::WorkerError::new(format!(
            "worker panicked: {}",
            panic_message(&panic)
        )))
    });
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            if run.cancelled() {
                run.event(Event::Cancelled { vertex: index });
                return Outcome::Cancelled;
            }
            run.event(Event::Error {
                vertex: index,
                message: e.message.clone(),
                elapsed: start.elapsed(),
            });
            return Outcome::Failed(run.failure(v, e.message, e.log_tail));
        }
    };
    let recorded = record(run, &key, vertex, &r).and_then(|()| {
        if key != upfront {
            record(run, &upfront, vertex, &r)
        } else {
            Ok(())
        }
    });
    if let Err(message) = recorded {
        run.event(Event::Error {
            vertex: index,
            message: message.clone(),
            elapsed: start.elapsed(),
        });
        return Outcome::Failed(run.failure(v, message, Vec::new()));
    }
    run.explain.executed(v, explained);
    run.event(Event::Done {
        vertex: index,
        elapsed: start.elapsed(),
    });
    Outcome::Done(r, key)
}

/// Save a fresh result in the cache (replacing any older record).
fn record<W: Worker>(
    run: &Run<'_, W>,
    key: &crate::Digest,
    vertex: &crate::Vertex,
    r: &W::Ref,
) -> Result<(), String> {
    let data = run
        .worker
        .save(r)
        .map_err(|e| format!("saving the result for the cache: {}", e.message))?;
    run.cache
        .put(key, &vertex.meta.name, run.worker.result_size(r), &data)
        .map_err(|e| format!("writing the cache record: {e}"))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
