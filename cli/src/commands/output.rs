//! `kiln build --output …`, `--iidfile`, `--metadata-file`: the values are parsed and the
//! exports run in the builder (`kiln_builder::export`); this module adapts them to the CLI:
//! docker's push lines for the registry exporter, and the files buildx writes after a build.

use crate::progress::layers::LayerLines;
use crate::progress::Renderer;
use anyhow::anyhow;
use kiln_builder::export::{parse_output, Metadata, OutputSpec, PushLines};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Parse an `--output` value (buildx's forms).
pub fn parse(s: &str) -> anyhow::Result<OutputSpec> {
    Ok(parse_output(s)?)
}

/// docker's push lines on stderr, drawn once the build's progress display has finished (a
/// push is the build's last step).
pub struct BuildPushLines {
    lines: LayerLines,
    renderer: Arc<OnceRenderer>,
}

impl BuildPushLines {
    pub fn new(renderer: Arc<OnceRenderer>, quiet: bool) -> BuildPushLines {
        BuildPushLines {
            lines: LayerLines::on_stderr(quiet),
            renderer,
        }
    }
}

impl PushLines for BuildPushLines {
    fn line(&self, text: &str) {
        self.renderer.finish_once();
        self.lines.line(text);
    }
    fn state(&self, id: &str, state: &str) {
        self.renderer.finish_once();
        self.lines.state(id, state);
    }
    fn bytes(&self, id: &str, verb: &str, done: u64, total: u64) {
        self.lines.bytes(id, verb, done, total);
    }
    fn finish(&self) {
        self.lines.finish();
    }
}

/// `kiln push`'s lines.
impl PushLines for LayerLines {
    fn line(&self, text: &str) {
        LayerLines::line(self, text);
    }
    fn state(&self, id: &str, state: &str) {
        LayerLines::state(self, id, state);
    }
    fn bytes(&self, id: &str, verb: &str, done: u64, total: u64) {
        LayerLines::bytes(self, id, verb, done, total);
    }
    fn finish(&self) {
        LayerLines::finish(self);
    }
}

/// A renderer finished at most once (by the push's first line, or after the build).
pub struct OnceRenderer {
    inner: Box<dyn Renderer>,
    done: AtomicBool,
}

impl OnceRenderer {
    pub fn new(inner: Box<dyn Renderer>) -> OnceRenderer {
        OnceRenderer {
            inner,
            done: AtomicBool::new(false),
        }
    }

    pub fn sink(&self) -> &dyn Renderer {
        &*self.inner
    }

    pub fn finish_once(&self) {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.inner.finish();
        }
    }
}

/// Check that `--iidfile`/`--metadata-file` can be written, before the build runs.
pub fn check_file(path: &Path, flag: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| anyhow!("{flag} {}: cannot write there: {e}", path.display()))
}

/// Write `bytes` to `path` atomically (temporary file beside it, renamed into place).
pub fn write_file(path: &Path, bytes: &[u8], flag: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: &dyn std::fmt::Display| anyhow!("{flag} {}: {e}", path.display());
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    std::io::Write::write_all(tmp.as_file_mut(), bytes).map_err(|e| fail(&e))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = tmp
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644));
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// buildx's `--metadata-file` JSON.
pub fn metadata_json(m: &Metadata) -> anyhow::Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(m)?;
    v.push(b'\n');
    Ok(v)
}
