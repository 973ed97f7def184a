//! Rendering the build's event stream: `tty` (indicatif), `plain` (BuildKit-style numbered
//! lines) and `rawjson` (one JSON event per line).

pub mod explain;
mod json;
pub mod layers;
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

/// A byte count as BuildKit prints it (decimal units, four significant digits): `772.8kB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = if u == 0 {
        format!("{n}")
    } else {
        let s = format!("{v:.digits$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    format!("{s}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_as_buildkit_prints_them() {
        assert_eq!(super::human_bytes(0), "0B");
        assert_eq!(super::human_bytes(999), "999B");
        assert_eq!(super::human_bytes(772_790), "772.8kB");
        assert_eq!(super::human_bytes(2_098_000), "2.098MB");
        assert_eq!(super::human_bytes(400_000_000), "400MB");
    }
}
