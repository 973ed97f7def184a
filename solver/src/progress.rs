//! The progress event stream of a build: one stream, rendered by the CLI (tty, plain, json).

use serde::Serialize;
use std::time::Duration;

/// One event. `vertex` is a stable index of the vertex within the build, numbered in the order
/// vertices are first reported (like BuildKit's `#N`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A vertex starts running (`#5 [build 2/4] RUN make`).
    Started { vertex: usize, name: String },
    /// A vertex's result came from the cache.
    Cached { vertex: usize, name: String },
    /// Why a vertex that just started could not come from the cache: `message` is `reason`
    /// as one line (`file changed: src/main.rs`).
    CacheMiss {
        vertex: usize,
        reason: crate::explain::MissReason,
        message: String,
    },
    /// Output of a running vertex; `stream` 1 = stdout, 2 = stderr. `data` is one chunk, usually
    /// one line with its newline.
    Log {
        vertex: usize,
        stream: u8,
        data: String,
        elapsed: Duration,
    },
    /// A vertex finished.
    Done { vertex: usize, elapsed: Duration },
    /// A vertex failed.
    Error {
        vertex: usize,
        message: String,
        elapsed: Duration,
    },
    /// A vertex was stopped because the build was cancelled.
    Cancelled { vertex: usize },
    /// Bytes of one transfer of a vertex (a layer pulled or pushed, a blob exported): `done`
    /// of `total` (0 when unknown). `id` names the transfer (a digest).
    Bytes {
        vertex: usize,
        id: String,
        done: u64,
        total: u64,
        elapsed: Duration,
    },
}

/// Receives events. Must be cheap and thread-safe: workers call it from many threads.
pub trait ProgressSink: Send + Sync {
    fn event(&self, event: Event);
}

/// A sink that drops everything.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _event: Event) {}
}
