//! kiln's solver: a content-addressed build graph, executed in parallel through a [`Worker`],
//! with every vertex looked up first in a persistent cache.
//!
//! It knows nothing of Dockerfiles: the frontend emits a [`Graph`] of [`Op`]s, the builder
//! implements [`Worker`] for them.

pub mod digest;
pub mod graph;
pub mod op;
pub mod vertex;

pub use digest::Digest;
pub use graph::{Graph, VertexId};
pub use op::*;
pub use vertex::{SourceLocation, Vertex, VertexMeta};
pub mod progress;
pub mod worker;

pub use progress::{Event, NoProgress, ProgressSink};
pub use worker::{ExecContext, Worker, WorkerError};

pub mod cache;
pub mod error;
pub mod explain;
mod keys;
pub mod lock;
mod par;
mod plan;
pub mod prune;
mod report;
mod run;
mod schedule;
pub mod solve;

pub use cache::{Cache, CacheRecord, CacheRecordInfo};
pub use error::{CacheError, SolveError, VertexFailure};
pub use explain::{MissReason, SummaryEntry};
pub use lock::KeyLock;
pub use prune::PruneFilter;
pub use solve::{SolveOptions, Solver};
