//! BuildKit's plain progress: `#5 [build 2/4] RUN make`, `#5 0.412 output`, `#5 DONE 1.2s`.

use super::{human_bytes, secs, Renderer};
use crate::diag::escape;
use kiln_builder::solver::{Event, ProgressSink};
use std::io::Write;
use std::sync::Mutex;

pub struct PlainRenderer {
    quiet: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The vertex whose lines were printed last (a blank line separates groups).
    last: Option<usize>,
    /// Partial output lines per vertex, flushed on newline.
    partial: std::collections::HashMap<usize, String>,
    names: std::collections::HashMap<usize, String>,
    /// When each transfer's line was last printed: at most one a second, and the last one.
    transfers: std::collections::HashMap<(usize, String), std::time::Duration>,
}

impl PlainRenderer {
    pub fn new() -> Self {
        PlainRenderer {
            quiet: false,
            state: Mutex::new(State::default()),
        }
    }

    pub fn quiet() -> Self {
        PlainRenderer {
            quiet: true,
            state: Mutex::new(State::default()),
        }
    }
}

impl State {
    /// Print a line of vertex `v`, re-announcing the vertex when another one printed between.
    fn line(&mut self, out: &mut impl Write, v: usize, text: &str) {
        if self.last != Some(v) {
            if self.last.is_some() {
                let _ = writeln!(out);
            }
            if let Some(name) = self.names.get(&v) {
                if !text.starts_with(name.as_str()) {
                    let _ = writeln!(out, "#{v} {name}");
                }
            }
            self.last = Some(v);
        }
        let _ = writeln!(out, "#{v} {text}");
    }
}

impl ProgressSink for PlainRenderer {
    fn event(&self, event: Event) {
        if self.quiet {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let stderr = std::io::stderr();
        let mut out = stderr.lock();
        match event {
            Event::Started { vertex, name } => {
                // Step names quote the Dockerfile, errors quote files: escape them. A step's own
                // output is shown as it is, as BuildKit shows it.
                let name = escape(&name).into_owned();
                st.names.insert(vertex, name.clone());
                st.last = st.last.filter(|l| *l != vertex);
                if st.last.is_some() {
                    let _ = writeln!(out);
                }
                let _ = writeln!(out, "#{vertex} {name}");
                st.last = Some(vertex);
            }
            Event::Cached { vertex, name } => {
                let name = escape(&name).into_owned();
                st.names.insert(vertex, name.clone());
                if st.last.is_some() {
                    let _ = writeln!(out);
                }
                let _ = writeln!(out, "#{vertex} {name}");
                let _ = writeln!(out, "#{vertex} CACHED");
                st.last = Some(vertex);
            }
            Event::CacheMiss {
                vertex, message, ..
            } => {
                st.line(
                    &mut out,
                    vertex,
                    &format!("cache miss: {}", escape(&message)),
                );
            }
            Event::Log {
                vertex,
                data,
                elapsed,
                ..
            } => {
                let mut buf = st.partial.remove(&vertex).unwrap_or_default();
                buf.push_str(&data);
                while let Some(pos) = buf.find('\n') {
                    let line: String = buf.drain(..=pos).collect();
                    let line = line.trim_end_matches('\n').trim_end_matches('\r');
                    st.line(
                        &mut out,
                        vertex,
                        &format!("{:.3} {line}", elapsed.as_secs_f64()),
                    );
                }
                if !buf.is_empty() {
                    st.partial.insert(vertex, buf);
                }
            }
            Event::Done { vertex, elapsed } => {
                if let Some(rest) = st.partial.remove(&vertex) {
                    st.line(
                        &mut out,
                        vertex,
                        &format!("{:.3} {rest}", elapsed.as_secs_f64()),
                    );
                }
                st.line(&mut out, vertex, &format!("DONE {}", secs(elapsed)));
            }
            Event::Error {
                vertex,
                message,
                elapsed,
            } => {
                if let Some(rest) = st.partial.remove(&vertex) {
                    st.line(
                        &mut out,
                        vertex,
                        &format!("{:.3} {rest}", elapsed.as_secs_f64()),
                    );
                }
                st.line(&mut out, vertex, &format!("ERROR: {}", escape(&message)));
            }
            Event::Cancelled { vertex } => st.line(&mut out, vertex, "CANCELED"),
            Event::Bytes {
                vertex,
                id,
                done,
                total,
                elapsed,
            } => {
                let key = (vertex, id.clone());
                let finished = total > 0 && done >= total;
                let due = match st.transfers.get(&key) {
                    None => true,
                    Some(last) => elapsed.saturating_sub(*last).as_secs() >= 1,
                };
                if !(finished || due) {
                    return;
                }
                st.transfers.insert(key, elapsed);
                let size = if total > 0 {
                    format!("{} / {}", human_bytes(done), human_bytes(total))
                } else {
                    human_bytes(done)
                };
                let tail = if finished { " done" } else { "" };
                let id = escape(&id).into_owned();
                st.line(
                    &mut out,
                    vertex,
                    &format!("{id} {size} {}{tail}", secs(elapsed)),
                );
            }
        }
    }
}

impl Renderer for PlainRenderer {
    fn finish(&self) {
        if !self.quiet {
            eprintln!();
        }
    }
}
