//! `--progress=rawjson`: every event as one JSON line on stderr, for CI tools.

use super::Renderer;
use kiln_builder::solver::{Event, ProgressSink};
use std::io::Write;

pub struct JsonRenderer;

impl JsonRenderer {
    pub fn new() -> Self {
        JsonRenderer
    }
}

impl ProgressSink for JsonRenderer {
    fn event(&self, event: Event) {
        if let Ok(line) = serde_json::to_string(&event) {
            let stderr = std::io::stderr();
            let mut out = stderr.lock();
            let _ = writeln!(out, "{line}");
        }
    }
}

impl Renderer for JsonRenderer {
    fn finish(&self) {}
}
