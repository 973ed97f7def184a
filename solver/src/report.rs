//! Progress indices: each vertex gets `#N` the first time it is reported, from 1.

use crate::digest::Digest;
use std::collections::HashMap;
use std::sync::Mutex;

/// Assigns stable progress indices to vertices, by digest.
#[derive(Debug, Default)]
pub(crate) struct Numbering {
    inner: Mutex<HashMap<Digest, usize>>,
}

impl Numbering {
    /// The index of the vertex with `digest`, assigning the next one on first use.
    pub(crate) fn index(&self, digest: &Digest) -> usize {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let next = map.len() + 1;
        *map.entry(digest.clone()).or_insert(next)
    }
}
