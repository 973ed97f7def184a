//! Progress on a terminal: one spinner per running step with its latest output line; finished
//! and cached steps scroll above.

use super::{secs, Renderer};
use crate::diag::escape;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kiln_builder::solver::{Event, ProgressSink};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtyRenderer {
    multi: MultiProgress,
    bars: Mutex<HashMap<usize, (ProgressBar, String)>>,
    /// Why each running step missed the cache, printed under its line when it ends.
    reasons: Mutex<HashMap<usize, String>>,
    /// One byte bar per transfer (vertex, id).
    transfers: Mutex<HashMap<(usize, String), ProgressBar>>,
    start: Instant,
    counts: Mutex<(usize, usize)>,
}

impl TtyRenderer {
    pub fn new() -> Self {
        let multi = MultiProgress::new();
        crate::diag::logger::set_tty(Some(multi.clone()));
        TtyRenderer {
            multi,
            bars: Mutex::new(HashMap::new()),
            reasons: Mutex::new(HashMap::new()),
            transfers: Mutex::new(HashMap::new()),
            start: Instant::now(),
            counts: Mutex::new((0, 0)),
        }
    }
}

/// Columns of the terminal on stderr (80 when unknown).
fn term_width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

/// `text` on one line (controls escaped: they would tear the display), cut to `width`
/// characters, with `…` when cut.
fn fit(text: &str, width: usize) -> String {
    let one_line = escape(&text.replace(['\n', '\t'], " ")).into_owned();
    if one_line.chars().count() <= width {
        return one_line;
    }
    let mut s: String = one_line.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// ` => NAME ........ 1.2s`: the name cut to leave the time right-aligned on one line.
fn done_line(prefix: &str, name: &str, time: &str) -> String {
    let width = term_width().max(40);
    let room = width.saturating_sub(prefix.len() + time.len() + 2);
    let name = fit(name, room);
    let pad = room.saturating_sub(name.chars().count());
    format!("{prefix}{name}{} {time}", " ".repeat(pad + 1))
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "   {prefix} {bar:30.cyan/blue} {bytes}/{total_bytes} {elapsed:.dim}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(" {spinner:.cyan} {prefix} {msg} {elapsed:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl TtyRenderer {
    /// The line under a finished step saying why it ran, if it said.
    fn print_reason(&self, vertex: usize) {
        let reason = self.reasons.lock().ok().and_then(|mut r| r.remove(&vertex));
        if let Some(reason) = reason {
            let width = term_width().max(40).saturating_sub(6);
            let _ = self
                .multi
                .println(fit(&format!("    #{vertex} cache miss: {reason}"), width));
        }
    }
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
                pb.set_prefix(fit(&name, term_width().saturating_sub(30).max(20)));
                pb.enable_steady_tick(Duration::from_millis(120));
                bars.insert(vertex, (pb, name));
            }
            Event::CacheMiss {
                vertex, message, ..
            } => {
                if let Some((pb, _)) = bars.get(&vertex) {
                    pb.set_message(fit(&format!("| cache miss: {message}"), 60));
                }
                if let Ok(mut r) = self.reasons.lock() {
                    r.insert(vertex, message);
                }
            }
            Event::Cached { name, .. } => {
                let _ = self.multi.println(done_line(" => CACHED ", &name, ""));
                if let Ok(mut c) = self.counts.lock() {
                    c.1 += 1;
                }
            }
            Event::Log { vertex, data, .. } => {
                if let Some((pb, _)) = bars.get(&vertex) {
                    if let Some(last) = data.lines().rev().find(|l| !l.trim().is_empty()) {
                        pb.set_message(format!("| {}", fit(last, 60)));
                    }
                }
            }
            Event::Done { vertex, elapsed } => {
                if let Some((pb, name)) = bars.remove(&vertex) {
                    pb.finish_and_clear();
                    let _ = self.multi.println(done_line(" => ", &name, &secs(elapsed)));
                }
                self.print_reason(vertex);
                if let Ok(mut c) = self.counts.lock() {
                    c.0 += 1;
                }
            }
            Event::Error {
                vertex, message, ..
            } => {
                if let Some((pb, name)) = bars.remove(&vertex) {
                    pb.finish_and_clear();
                    let _ = self.multi.println(done_line(" => ERROR ", &name, ""));
                    let _ = self.multi.println(format!("    {}", escape(&message)));
                }
                self.print_reason(vertex);
            }
            Event::Cancelled { vertex } => {
                if let Some((pb, name)) = bars.remove(&vertex) {
                    pb.finish_and_clear();
                    let _ = self.multi.println(done_line(" => CANCELED ", &name, ""));
                }
            }
            Event::Bytes {
                vertex,
                id,
                done,
                total,
                ..
            } => {
                let Ok(mut transfers) = self.transfers.lock() else {
                    return;
                };
                let key = (vertex, id.clone());
                let pb = transfers.entry(key.clone()).or_insert_with(|| {
                    let pb = self.multi.add(ProgressBar::new(total));
                    pb.set_style(bytes_style());
                    pb.set_prefix(fit(&id, 19));
                    pb
                });
                pb.set_length(total);
                pb.set_position(done);
                if total > 0 && done >= total {
                    pb.finish_and_clear();
                    transfers.remove(&key);
                }
            }
        }
    }
}

impl Renderer for TtyRenderer {
    fn finish(&self) {
        crate::diag::logger::set_tty(None);
        if let Ok(mut bars) = self.bars.lock() {
            for (_, (pb, _)) in bars.drain() {
                pb.finish_and_clear();
            }
        }
        if let Ok(mut transfers) = self.transfers.lock() {
            for (_, pb) in transfers.drain() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_and_aligns() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("a long step name", 6), "a lon…");
        assert_eq!(fit("two\nlines", 20), "two lines");
        let l = done_line(" => ", &"x".repeat(500), "1.2s");
        assert!(l.ends_with(" 1.2s"));
        assert!(l.chars().count() <= term_width().max(40));
    }
}
