//! Which earlier build is "the last build of the same step": per build scope (the builder names
//! it, e.g. after the context and the Dockerfile), the key each step had last, found by stage
//! and position, or by instruction text when steps moved.

use crate::digest::Digest;
use crate::op::Op;
use crate::vertex::Vertex;
use serde::{Deserialize, Serialize};

/// At most this many steps are remembered per scope; the least recently changed go first.
pub(crate) const MAX_STEPS: usize = 4096;

/// Where a step sits in the user's build, as far as its display name tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepId {
    /// The stage (`meta.stage`), empty for vertices outside stages.
    pub stage: String,
    /// `N` of `[stage N/M]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<u32>,
    /// The op's kind (a `COPY --link` is a file op and a merge at one position).
    pub kind: String,
    /// The instruction as shown, a base image's digest left out.
    pub text: String,
}

/// One remembered step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepEntry {
    #[serde(flatten)]
    pub id: StepId,
    pub key: Digest,
}

/// The steps of one scope, least recently changed first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScopeRecord {
    pub steps: Vec<StepEntry>,
}

fn kind(op: &Op) -> &'static str {
    match op {
        Op::Source(_) => "source",
        Op::Exec(_) => "exec",
        Op::File(_) => "file",
        Op::Merge(_) => "merge",
        Op::Diff(_) => "diff",
    }
}

/// Strip `@sha256:<hex>` from the text (a `FROM name@digest` step keeps its name).
fn without_digest(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("@sha256:") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 8..];
        let n = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

impl StepId {
    /// The identity of `vertex`; `None` for a vertex without a name.
    pub fn of(vertex: &Vertex) -> Option<StepId> {
        let name = vertex.meta.name.as_str();
        if name.is_empty() {
            return None;
        }
        let (pos, text) = match name.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((bracket, text)) => {
                let pos = bracket
                    .rsplit(' ')
                    .next()
                    .and_then(|t| t.split_once('/'))
                    .and_then(|(n, _)| n.trim().parse().ok());
                (pos, text)
            }
            None => (None, name),
        };
        Some(StepId {
            stage: vertex.meta.stage.clone().unwrap_or_default(),
            pos,
            kind: kind(&vertex.op).to_string(),
            text: without_digest(text),
        })
    }

    fn same_place(&self, o: &StepId) -> bool {
        self.pos.is_some() && self.stage == o.stage && self.pos == o.pos && self.kind == o.kind
    }

    fn same_text(&self, o: &StepId) -> bool {
        self.stage == o.stage && self.kind == o.kind && self.text == o.text
    }
}

impl ScopeRecord {
    /// The entry of the last build of step `id`: the same place with the same text, else the
    /// same text elsewhere in the stage (steps moved), else the same place (the text changed).
    pub fn find(&self, id: &StepId) -> Option<&StepEntry> {
        let newest = |f: &dyn Fn(&StepEntry) -> bool| self.steps.iter().rev().find(|e| f(e));
        newest(&|e| e.id.same_place(id) && e.id.text == id.text)
            .or_else(|| newest(&|e| e.id.same_text(id)))
            .or_else(|| newest(&|e| e.id.same_place(id)))
    }

    /// Record that step `id` has key `key` now; returns whether anything changed.
    pub fn set(&mut self, id: StepId, key: &Digest) -> bool {
        let at = self.steps.iter().position(|e| {
            if id.pos.is_some() {
                e.id.same_place(&id)
            } else {
                e.id.same_text(&id)
            }
        });
        if let Some(i) = at {
            if self.steps[i].id == id && self.steps[i].key == *key {
                return false;
            }
            self.steps.remove(i);
        }
        self.steps.push(StepEntry {
            id,
            key: key.clone(),
        });
        if self.steps.len() > MAX_STEPS {
            let extra = self.steps.len() - MAX_STEPS;
            self.steps.drain(..extra);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Op, SourceOp};
    use crate::vertex::VertexMeta;

    fn v(name: &str, stage: Option<&str>) -> Vertex {
        Vertex {
            digest: Digest::sha256(name.as_bytes()),
            op: Op::Source(SourceOp {
                identifier: "scratch".into(),
                attrs: Default::default(),
            }),
            inputs: Vec::new(),
            meta: VertexMeta {
                name: name.into(),
                stage: stage.map(String::from),
                ..Default::default()
            },
        }
    }

    #[test]
    fn identity_from_the_display_name() {
        let id = StepId::of(&v("[build 2/4] RUN make", Some("build"))).unwrap();
        assert_eq!((id.pos, id.text.as_str()), (Some(2), "RUN make"));
        let id = StepId::of(&v("[ 3/12] COPY a b", Some("stage-0"))).unwrap();
        assert_eq!(id.pos, Some(3));
        let hex = "0".repeat(64);
        let id = StepId::of(&v(&format!("[1/2] FROM busybox:1@sha256:{hex}"), None)).unwrap();
        assert_eq!(id.text, "FROM busybox:1");
        let id = StepId::of(&v("[internal] load build context", None)).unwrap();
        assert_eq!((id.pos, id.text.as_str()), (None, "load build context"));
        assert!(StepId::of(&v("", None)).is_none());
    }

    #[test]
    fn finds_by_place_then_text() {
        let mut r = ScopeRecord::default();
        let id = |n: &str| StepId::of(&v(n, Some("s"))).unwrap();
        let (k1, k2, k3) = (
            Digest::sha256(b"1"),
            Digest::sha256(b"2"),
            Digest::sha256(b"3"),
        );
        assert!(r.set(id("[s 2/3] RUN a"), &k1));
        assert!(r.set(id("[s 3/3] RUN b"), &k2));
        assert!(!r.set(id("[s 3/3] RUN b"), &k2));
        // A step inserted before: `RUN b` moved to 4 and is found by its text.
        assert_eq!(r.find(&id("[s 4/4] RUN b")).unwrap().key, k2);
        // An edited step is found at its place.
        assert_eq!(r.find(&id("[s 2/3] RUN c")).unwrap().key, k1);
        let other_stage = StepId::of(&v("[t 2/3] RUN a", Some("t"))).unwrap();
        assert!(r.find(&other_stage).is_none());
        assert!(r.set(id("[s 2/3] RUN c"), &k3));
        assert_eq!(r.steps.len(), 2);
    }
}
