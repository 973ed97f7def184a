//! `kiln pull` and `kiln push` output, shaped as docker's: one line per layer named by its
//! short ID (`9ad63333ebc9: Pull complete`). On a terminal each layer is a line that changes in
//! place, with a byte bar while it transfers; otherwise each state change is a new line (the
//! byte counts are left out, as docker leaves them out).

use super::human_bytes;
use crate::diag::escape;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// Where the layer lines go; clones draw on the same lines.
#[derive(Clone)]
pub struct LayerLines(Arc<Inner>);

struct Inner {
    quiet: bool,
    /// Lines go to stderr (a build's progress), not stdout (`kiln pull`'s output).
    stderr: bool,
    tty: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// The last state printed per layer (plain output prints each change once).
    last: Mutex<HashMap<String, String>>,
}

/// The 12 hex digits docker names a layer by.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

impl LayerLines {
    /// Lines on stdout (as docker prints them), drawn in place when it is a terminal;
    /// nothing at all when `quiet`.
    pub fn new(quiet: bool) -> LayerLines {
        let tty = (!quiet && std::io::stdout().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        LayerLines(Arc::new(Inner {
            quiet,
            stderr: false,
            tty,
            bars: Mutex::new(HashMap::new()),
            last: Mutex::new(HashMap::new()),
        }))
    }

    /// The same lines on stderr, where a build's progress goes (`kiln build --push`).
    pub fn on_stderr(quiet: bool) -> LayerLines {
        let tty = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        LayerLines(Arc::new(Inner {
            quiet,
            stderr: true,
            tty,
            bars: Mutex::new(HashMap::new()),
            last: Mutex::new(HashMap::new()),
        }))
    }

    /// A line of its own (`Digest: …`, `Status: …`).
    pub fn line(&self, text: &str) {
        if self.0.quiet {
            return;
        }
        let text = escape(text);
        match &self.0.tty {
            Some(m) => {
                let _ = m.println(text);
            }
            None => self.plain(&text),
        }
    }

    /// Layer `id` is now in `state` (`Pulling fs layer`, `Pushed`...).
    pub fn state(&self, id: &str, state: &str) {
        if self.0.quiet {
            return;
        }
        {
            let mut last = self.0.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.get(id).map(String::as_str) == Some(state) {
                return;
            }
            last.insert(id.to_string(), state.to_string());
        }
        match &self.0.tty {
            Some(_) => {
                let bar = self.bar(id);
                bar.set_style(ProgressStyle::with_template("{prefix}: {msg}").expect("valid"));
                bar.set_message(state.to_string());
                bar.tick();
            }
            None => self.plain(&format!("{id}: {state}")),
        }
    }

    /// `done` of `total` bytes of layer `id` are through (`verb`: `Downloading`, `Pushing`).
    pub fn bytes(&self, id: &str, verb: &str, done: u64, total: u64) {
        if self.0.quiet || self.0.tty.is_none() {
            return;
        }
        self.0
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), verb.to_string());
        let bar = self.bar(id);
        bar.set_style(ProgressStyle::with_template("{prefix}: {msg}").expect("valid"));
        bar.set_message(format!("{verb} {}", docker_bar(done, total)));
        bar.tick();
    }

    fn plain(&self, line: &str) {
        if self.0.stderr {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }

    fn bar(&self, id: &str) -> ProgressBar {
        let mut bars = self.0.bars.lock().unwrap_or_else(|p| p.into_inner());
        bars.entry(id.to_string())
            .or_insert_with(|| {
                let b = self
                    .0
                    .tty
                    .as_ref()
                    .map(|m| m.add(ProgressBar::new(1)))
                    .unwrap_or_else(ProgressBar::hidden);
                b.set_prefix(id.to_string());
                b
            })
            .clone()
    }

    /// Leave every layer's last state on the screen.
    pub fn finish(&self) {
        let bars = self.0.bars.lock().unwrap_or_else(|p| p.into_inner());
        for b in bars.values() {
            b.abandon();
        }
    }
}

/// docker's transfer bar: `[=====>      ]  1.2MB/3.4MB` (50 columns).
fn docker_bar(done: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    if total == 0 {
        return human_bytes(done);
    }
    let filled = ((done.min(total) as f64 / total as f64) * WIDTH as f64) as usize;
    let mut bar = "=".repeat(filled.saturating_sub(1));
    if filled > 0 {
        bar.push('>');
    }
    bar.push_str(&" ".repeat(WIDTH - filled));
    format!("[{bar}]  {}/{}", human_bytes(done), human_bytes(total))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_as_docker_draws_them() {
        let b = super::docker_bar(500, 1000);
        assert_eq!(b.len(), 52 + "  500B/1kB".len());
        assert!(b.starts_with("[========================>      "));
        assert!(super::docker_bar(1000, 1000).contains("=>]"));
        assert_eq!(super::short_id("sha256:9ad63333ebc9aaaa"), "9ad63333ebc9");
    }
}
