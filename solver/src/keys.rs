//! Cache keys, computed bottom-up without executing anything.
//!
//! `key(source) = H(digest, worker.source_key)`;
//! `key(v) = H(digest, for each input: the content digest of each part the op reads (one per
//! COPY action or mount, in order) when the op reads only parts of a content-addressable
//! source, else the input's key)`.

use crate::digest::Digest;
use crate::graph::{Graph, VertexId};
use crate::op::{ContentSelection, Op};
use crate::par::try_map;
use crate::worker::{Worker, WorkerError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

/// Version of the key scheme: bump to invalidate every existing cache record.
const SCHEME: &str = "kiln-cache-key/2";

#[derive(Serialize)]
struct KeyInput<'a> {
    scheme: &'static str,
    vertex: &'a Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Digest>,
    inputs: Vec<InputPart>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum InputPart {
    /// The input's cache key.
    Key(Digest),
    /// The content digest of each part of the input the op reads, in the op's order.
    Content(Vec<Digest>),
}

/// Why a key could not be computed: the vertex at fault and the worker's error.
pub(crate) struct KeyError {
    pub vertex: VertexId,
    pub error: WorkerError,
}

/// The vertices reachable from any of `targets`, each once, inputs before consumers.
pub(crate) fn postorder_all(graph: &Graph, targets: &[VertexId]) -> Vec<VertexId> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // (vertex, inputs pushed?); the first target on top.
    let mut stack: Vec<(VertexId, bool)> = targets.iter().rev().map(|t| (*t, false)).collect();
    while let Some((v, expanded)) = stack.pop() {
        if expanded {
            out.push(v);
            continue;
        }
        if !seen.insert(v) {
            continue;
        }
        stack.push((v, true));
        for input in graph.inputs(v).into_iter().rev() {
            if !seen.contains(&input) {
                stack.push((input, false));
            }
        }
    }
    out
}

/// A content digest the worker must compute: `selection` of source `input`, read by
/// `consumer` (its input `pos`).
struct ContentQuery {
    consumer: VertexId,
    pos: usize,
    input: VertexId,
    selection: ContentSelection,
}

/// What the keys were made of besides the input keys, for the keys computed again during
/// execution ([`dynamic_key`]).
#[derive(Default)]
pub(crate) struct KeyParts {
    /// The worker's key part of each source vertex.
    pub source_keys: HashMap<VertexId, Digest>,
    /// The content digests of each (consumer, input position) read by parts from a source.
    pub contents: HashMap<(VertexId, usize), Vec<Digest>>,
}

/// The keys of a solve: every vertex's key computed up front, and what they were made of.
pub(crate) struct Keys {
    pub keys: HashMap<VertexId, Digest>,
    pub parts: KeyParts,
}

/// Compute the key of every vertex reachable from `targets`. The worker calls (source keys,
/// source resolution, content digests) run on up to `jobs` threads; the hashing is then done
/// bottom-up. Returns `Ok(None)` when `cancel` is set meanwhile.
pub(crate) fn compute<W: Worker>(
    worker: &W,
    graph: &Graph,
    targets: &[VertexId],
    jobs: usize,
    cancel: &AtomicBool,
) -> Result<Option<Keys>, KeyError> {
    let order = postorder_all(graph, targets);
    let is_source = |v: VertexId| matches!(graph.vertex(v).op, Op::Source(_));
    let sources: Vec<VertexId> = order.iter().copied().filter(|v| is_source(*v)).collect();
    let mut queries = Vec::new();
    for &v in &order {
        let inputs = graph.inputs(v);
        let selections = graph.vertex(v).op.content_selections(inputs.len());
        for (pos, (input, parts)) in inputs.into_iter().zip(selections).enumerate() {
            let (Some(parts), true) = (parts, is_source(input)) else {
                continue;
            };
            for selection in parts {
                queries.push(ContentQuery {
                    consumer: v,
                    pos,
                    input,
                    selection,
                });
            }
        }
    }
    let mut to_resolve: Vec<VertexId> = queries.iter().map(|q| q.input).collect();
    to_resolve.sort();
    to_resolve.dedup();

    let Some(source_keys) = try_map(&sources, jobs, cancel, |&v| {
        worker
            .source_key(graph.vertex(v))
            .map_err(|error| KeyError { vertex: v, error })
    })?
    else {
        return Ok(None);
    };
    let source_keys: HashMap<VertexId, Digest> = sources.into_iter().zip(source_keys).collect();
    let Some(resolved) = try_map(&to_resolve, jobs, cancel, |&v| {
        worker
            .resolve_source(graph.vertex(v))
            .map_err(|error| KeyError { vertex: v, error })
    })?
    else {
        return Ok(None);
    };
    let resolved: HashMap<VertexId, W::Ref> = to_resolve.into_iter().zip(resolved).collect();
    let Some(contents) = try_map(&queries, jobs, cancel, |q| {
        let input = resolved.get(&q.input).ok_or_else(|| KeyError {
            vertex: q.input,
            error: WorkerError::new("internal error: source not resolved"),
        })?;
        worker
            .content_digest(input, &q.selection)
            .map_err(|error| KeyError {
                vertex: q.consumer,
                error,
            })
    })?
    else {
        return Ok(None);
    };
    let contents = gather_contents(&queries, contents);

    let mut keys: HashMap<VertexId, Digest> = HashMap::new();
    for v in order {
        let key = key_of(graph, v, &keys, &source_keys, &contents)
            .map_err(|error| KeyError { vertex: v, error })?;
        keys.insert(v, key);
    }
    Ok(Some(Keys {
        keys,
        parts: KeyParts {
            source_keys,
            contents,
        },
    }))
}

/// Does `v`'s key have to be computed again now that its inputs have results? Yes when an
/// input's result was found or made under another key than its up-front one, or when `v`
/// reads parts of an input that is not a source (a stage: its content is known only now).
pub(crate) fn needs_dynamic(
    graph: &Graph,
    v: VertexId,
    keys: &HashMap<VertexId, Digest>,
    effective: &HashMap<VertexId, Digest>,
) -> bool {
    let inputs = graph.inputs(v);
    let selections = graph.vertex(v).op.content_selections(inputs.len());
    inputs.iter().zip(selections).any(|(i, sel)| {
        effective.get(i) != keys.get(i)
            || (sel.is_some() && !matches!(graph.vertex(*i).op, Op::Source(_)))
    })
}

/// The key of `v` once its inputs have results (`inputs`, in order): as its up-front key, but
/// each input stands for the key its result was found or made under (`effective`), and a read
/// of parts of a stage is keyed by the content of those parts when the worker can digest them
/// (BuildKit's content-based keys of selected inputs). Equal to the up-front key when neither
/// applies.
pub(crate) fn dynamic_key<W: Worker>(
    worker: &W,
    graph: &Graph,
    v: VertexId,
    inputs: &[W::Ref],
    parts: &KeyParts,
    effective: &HashMap<VertexId, Digest>,
) -> Result<Digest, WorkerError> {
    let input_ids = graph.inputs(v);
    let selections = graph.vertex(v).op.content_selections(input_ids.len());
    let mut contents: HashMap<(VertexId, usize), Vec<Digest>> = HashMap::new();
    for (pos, (input, sel)) in input_ids.iter().zip(selections).enumerate() {
        if let Some(c) = parts.contents.get(&(v, pos)) {
            contents.insert((v, pos), c.clone());
            continue;
        }
        let (Some(sel), Some(result)) = (sel, inputs.get(pos)) else {
            continue;
        };
        if matches!(graph.vertex(*input).op, Op::Source(_)) {
            continue;
        }
        let mut digests = Vec::with_capacity(sel.len());
        for s in &sel {
            match worker.result_content_digest(result, s)? {
                Some(d) => digests.push(d),
                None => break,
            }
        }
        if digests.len() == sel.len() {
            contents.insert((v, pos), digests);
        }
    }
    key_of(graph, v, effective, &parts.source_keys, &contents)
}

/// The content digests of each (consumer, input position), parts in order (`queries` lists them
/// so); an input any of whose parts the worker cannot digest (`None`: not content-addressable)
/// is keyed by its key instead.
fn gather_contents(
    queries: &[ContentQuery],
    digests: Vec<Option<Digest>>,
) -> HashMap<(VertexId, usize), Vec<Digest>> {
    let mut parts: HashMap<(VertexId, usize), Option<Vec<Digest>>> = HashMap::new();
    for (q, d) in queries.iter().zip(digests) {
        let slot = parts
            .entry((q.consumer, q.pos))
            .or_insert_with(|| Some(Vec::new()));
        match (slot.as_mut(), d) {
            (Some(ds), Some(d)) => ds.push(d),
            _ => *slot = None,
        }
    }
    parts
        .into_iter()
        .filter_map(|(at, ds)| ds.map(|ds| (at, ds)))
        .collect()
}

/// Hash one vertex's key from what was gathered.
fn key_of(
    graph: &Graph,
    v: VertexId,
    keys: &HashMap<VertexId, Digest>,
    source_keys: &HashMap<VertexId, Digest>,
    contents: &HashMap<(VertexId, usize), Vec<Digest>>,
) -> Result<Digest, WorkerError> {
    let vertex = graph.vertex(v);
    let mut parts = Vec::new();
    for (pos, input) in graph.inputs(v).into_iter().enumerate() {
        let part = match contents.get(&(v, pos)) {
            Some(d) => InputPart::Content(d.clone()),
            None => InputPart::Key(keys.get(&input).cloned().ok_or_else(|| {
                WorkerError::new(format!("internal error: input {pos} has no cache key yet"))
            })?),
        };
        parts.push(part);
    }
    let body = serde_json::to_vec(&KeyInput {
        scheme: SCHEME,
        vertex: &vertex.digest,
        source: source_keys.get(&v),
        inputs: parts,
    })
    .map_err(|e| WorkerError::new(format!("internal error: cannot encode cache key: {e}")))?;
    Ok(Digest::sha256(&body))
}
