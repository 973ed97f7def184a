//! Progress on a terminal: one spinner per running step with its latest output line; finished
//! and cached steps scroll above.

use super::{secs, Renderer};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kiln_solver::{Event, ProgressSink};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtyRenderer {
    multi: MultiProgress,
    bars: Mutex<HashMap<usize, (ProgressBar, String)>>,
    start: Instant,
    counts: Mutex<(usize, usize)>,
}

impl TtyRenderer {
    pub fn new() -> Self {
        TtyRenderer {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            start: Instant::now(),
            counts: Mutex::new((0, 0)),
        }
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(" {spinner:.cyan} {prefix} {msg} {elapsed:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl ProgressSink for TtyRenderer {
    fn event(&self, event: Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            Event::Started { vertex, name } => {
                let pb = self.multi.add(ProgressBar::new_spinner());
                pb.set_style(style());
                pb.set_prefix(name.clone());
                pb.enable_steady_tick(Duration::from_millis(120));
                bars.insert(vertex, (pb, name));
            }
            Event::Cached { name, .. } => {
                let _ = self.multi.println(format!(" => CACHED {name}"));
                if let Ok(mut c) = self.counts.lock() {
                    c.1 += 1;
                }
            }
            Event::Log { vertex, data, .. } => {
                if let Some((pb, _)) = bars.get(&vertex) {
                    if let Some(last) = data.lines().rev().find(|l| !l.trim().is_empty()) {
                        let short: String = last.chars().take(80).collect();
                        pb.set_message(format!("| {short}"));
                    }
                }
            }
            Event::Done { vertex, elapsed } => {
                if let Some((pb, name)) = bars.remove(&vertex) {
                    pb.finish_and_clear();
                    let _ = self.multi.println(format!(" => {name} {}", secs(elapsed)));
                }
                if let Ok(mut c) = self.counts.lock() {
                    c.0 += 1;
                }
            }
            Event::Error {
                vertex, message, ..
            } => {
                if let Some((pb, name)) = bars.remove(&vertex) {
                    pb.finish_and_clear();
                    let _ = self.multi.println(format!(" => ERROR {name}: {message}"));
                }
            }
            Event::Cancelled { vertex } => {
                if let Some((pb, name)) = bars.remove(&vertex) {
                    pb.finish_and_clear();
                    let _ = self.multi.println(format!(" => CANCELED {name}"));
                }
            }
        }
    }
}

impl Renderer for TtyRenderer {
    fn finish(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, (pb, _)) in bars.drain() {
                pb.finish_and_clear();
            }
        }
        let (done, cached) = self.counts.lock().map(|c| *c).unwrap_or((0, 0));
        let _ = self.multi.println(format!(
            "[+] Building {} ({done} steps run, {cached} cached)",
            secs(self.start.elapsed())
        ));
    }
}
