//! `kiln build --explain`: after the build, a table of the steps that ran and why, so that a CI
//! log shows at a glance what busted the cache.

use super::Renderer;
use crate::diag::escape;
use kiln_builder::solver::{Event, ProgressSink};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Widest step name shown in the table; longer names are cut with `…`.
const NAME_WIDTH: usize = 50;

/// Passes every event on to the renderer and keeps, per step that ran, its name and reason.
pub struct ExplainTable<'a> {
    inner: &'a dyn Renderer,
    rows: Mutex<BTreeMap<usize, Row>>,
}

#[derive(Default, Clone)]
struct Row {
    name: String,
    reason: Option<String>,
}

impl<'a> ExplainTable<'a> {
    pub fn new(inner: &'a dyn Renderer) -> Self {
        ExplainTable {
            inner,
            rows: Mutex::new(BTreeMap::new()),
        }
    }

    /// The table: one line per step that ran with a known reason, in step order.
    pub fn table(&self) -> String {
        let rows = self.rows.lock().map(|r| r.clone()).unwrap_or_default();
        let rows: Vec<(String, String, String)> = rows
            .into_iter()
            .filter_map(|(v, r)| {
                let reason = r.reason?;
                Some((
                    format!("#{v}"),
                    cut(&escape(&r.name), NAME_WIDTH),
                    escape(&reason).into_owned(),
                ))
            })
            .collect();
        if rows.is_empty() {
            return "every step came from the cache\n".to_string();
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
        let w1 = rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let mut out = format!("{:<w0$}   {:<w1$}   REASON\n", "STEP", "NAME");
        for (n, name, reason) in rows {
            let pad = w1 - name.chars().count();
            out.push_str(&format!(
                "{n:<w0$}   {name}{}   {reason}\n",
                " ".repeat(pad)
            ));
        }
        out
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

impl ProgressSink for ExplainTable<'_> {
    fn event(&self, event: Event) {
        if let Ok(mut rows) = self.rows.lock() {
            match &event {
                Event::Started { vertex, name } => {
                    rows.entry(*vertex).or_default().name = name.clone();
                }
                Event::CacheMiss {
                    vertex, message, ..
                } => {
                    rows.entry(*vertex).or_default().reason = Some(message.clone());
                }
                _ => {}
            }
        }
        self.inner.event(event);
    }
}

impl Renderer for ExplainTable<'_> {
    fn finish(&self) {
        self.inner.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_builder::solver::MissReason;

    struct Null;
    impl ProgressSink for Null {
        fn event(&self, _: Event) {}
    }
    impl Renderer for Null {
        fn finish(&self) {}
    }

    #[test]
    fn lists_the_steps_that_ran_with_their_reasons_in_order() {
        let t = ExplainTable::new(&Null);
        for (v, name, reason) in [
            (3, "[2/3] RUN make", MissReason::ParentChanged { step: 2 }),
            (
                2,
                "[1/3] COPY src /src",
                MissReason::FileChanged {
                    paths: vec!["src/a\x1b[31m".into()],
                    more: 0,
                },
            ),
        ] {
            t.event(Event::Started {
                vertex: v,
                name: name.into(),
            });
            t.event(Event::CacheMiss {
                vertex: v,
                message: reason.to_string(),
                reason,
            });
        }
        // A step that started without a reason (the export) is not listed.
        t.event(Event::Started {
            vertex: 4,
            name: "exporting to image".into(),
        });
        let table = t.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("STEP"));
        assert!(lines[1].starts_with("#2") && lines[1].contains("file changed: src/a"));
        assert!(
            !table.contains('\x1b'),
            "control bytes are escaped: {table:?}"
        );
        assert!(lines[2].starts_with("#3") && lines[2].ends_with("parent step changed: #2"));
    }
}
