//! The build graph: a `petgraph` DAG of vertices, deduplicated by digest.

use crate::digest::Digest;
use crate::op::Op;
use crate::vertex::{Vertex, VertexMeta};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use std::collections::HashMap;

/// Handle of a vertex in a [`Graph`].
pub type VertexId = NodeIndex;

/// A DAG of vertices. Edges point from an input to the vertex that consumes it; the edge weight
/// is the input's position. Adding a vertex whose digest is already present returns the
/// existing one, so identical work appears once.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    dag: DiGraph<Vertex, usize>,
    by_digest: HashMap<Digest, VertexId>,
}

#[derive(Serialize)]
struct DigestInput<'a> {
    op: &'a Op,
    inputs: Vec<&'a Digest>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or find) the vertex for `op` over `inputs`.
    pub fn add(&mut self, op: Op, inputs: &[VertexId], meta: VertexMeta) -> VertexId {
        let input_digests: Vec<Digest> =
            inputs.iter().map(|i| self.dag[*i].digest.clone()).collect();
        let digest = {
            let body = serde_json::to_vec(&DigestInput {
                op: &op,
                inputs: input_digests.iter().collect(),
            })
            .expect("ops always serialise");
            Digest::sha256(&body)
        };
        if let Some(&id) = self.by_digest.get(&digest) {
            // Keep the first meta, but an ignore_cache request from any user of it wins.
            if meta.ignore_cache {
                self.dag[id].meta.ignore_cache = true;
            }
            return id;
        }
        let id = self.dag.add_node(Vertex {
            digest: digest.clone(),
            op,
            inputs: input_digests,
            meta,
        });
        for (pos, input) in inputs.iter().enumerate() {
            self.dag.add_edge(*input, id, pos);
        }
        self.by_digest.insert(digest, id);
        id
    }

    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.dag[id]
    }

    pub fn vertex_mut(&mut self, id: VertexId) -> &mut Vertex {
        &mut self.dag[id]
    }

    /// The inputs of `id`, in input order.
    pub fn inputs(&self, id: VertexId) -> Vec<VertexId> {
        let mut ins: Vec<(usize, VertexId)> = self
            .dag
            .edges_directed(id, petgraph::Direction::Incoming)
            .map(|e| (*e.weight(), petgraph::visit::EdgeRef::source(&e)))
            .collect();
        ins.sort();
        ins.into_iter().map(|(_, v)| v).collect()
    }

    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// The underlying petgraph DAG.
    pub fn dag(&self) -> &DiGraph<Vertex, usize> {
        &self.dag
    }
}
