//! A vertex of the build graph: an op, its inputs, and what the user is shown about it.

use crate::digest::Digest;
use crate::op::Op;
use serde::{Deserialize, Serialize};

/// Where in the user's source a vertex comes from (for progress and errors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    pub file: String,
    /// 1-based, inclusive.
    pub start_line: usize,
    pub end_line: usize,
}

/// What is shown for a vertex; never part of its digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexMeta {
    /// e.g. `[build 2/4] RUN make`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<SourceLocation>,
    /// Do not look this vertex up in the cache (`--no-cache`, `--no-cache-filter`).
    #[serde(default)]
    pub ignore_cache: bool,
    /// Free-form label of the stage this vertex belongs to, for `--no-cache-filter` and progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Names of the exec op's environment entries that are build arguments (ARG), so that a
    /// cache miss they cause is told apart from one an ENV causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_args: Vec<String>,
}

/// One node of the graph. Its digest covers `op` and the digests of `inputs`, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vertex {
    pub digest: Digest,
    pub op: Op,
    pub inputs: Vec<Digest>,
    pub meta: VertexMeta,
}
