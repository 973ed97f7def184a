//! Rendering the build's event stream: `tty` (indicatif), `plain` (BuildKit-style numbered
//! lines) and `rawjson` (one JSON event per line).

mod json;
mod plain;
mod tty;

use kiln_builder::solver::ProgressSink;
use std::io::IsTerminal;

/// `--progress` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    Auto,
    Plain,
    Tty,
    Rawjson,
    Quiet,
}

/// A renderer: receives events, and prints a summary when the build ends.
pub trait Renderer: ProgressSink {
    /// Called once after the build, before the result or error is printed.
    fn finish(&self);
}

/// The renderer for `mode`; `auto` picks tty when stderr is a terminal.
pub fn renderer(mode: ProgressMode) -> Box<dyn Renderer> {
    match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => Box::new(tty::TtyRenderer::new()),
        ProgressMode::Tty => Box::new(tty::TtyRenderer::new()),
        ProgressMode::Rawjson => Box::new(json::JsonRenderer::new()),
        ProgressMode::Quiet => Box::new(plain::PlainRenderer::quiet()),
        ProgressMode::Auto | ProgressMode::Plain => Box::new(plain::PlainRenderer::new()),
    }
}

/// Seconds as BuildKit prints them: `0.4s`, `12.3s`.
pub fn secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
