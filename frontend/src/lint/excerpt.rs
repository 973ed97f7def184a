//! The Dockerfile excerpt docker shows under errors and check warnings: the lines of one
//! instruction marked with `>>>`, with a little context, between two rulers.

use std::fmt::Write;

/// Lines of context shown around the marked lines.
pub const EXCERPT_CONTEXT: usize = 2;

const RULER: &str = "--------------------";

/// The framed excerpt of `text` marking lines `start_line..=end_line` (1-based), or `None` when
/// `start_line` is not a line of `text`:
///
/// ```text
/// --------------------
///    1 |     FROM busybox
///    2 | >>> RUN false
/// --------------------
/// ```
pub fn source_excerpt(text: &str, start_line: usize, end_line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    if start_line < 1 || start_line > lines.len() {
        return None;
    }
    let end = end_line.clamp(start_line, lines.len());
    let from = start_line.saturating_sub(EXCERPT_CONTEXT).max(1);
    let to = (end + EXCERPT_CONTEXT).min(lines.len());
    let width = to.to_string().len().max(3);
    let mut out = String::new();
    let _ = writeln!(out, "{RULER}");
    for n in from..=to {
        let mark = if n >= start_line && n <= end {
            ">>>"
        } else {
            "   "
        };
        let _ = writeln!(out, " {n:>width$} | {mark} {}", lines[n - 1]);
    }
    let _ = writeln!(out, "{RULER}");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::source_excerpt;

    #[test]
    fn frames_and_marks() {
        let text = "FROM a\nRUN a\nRUN b \\\n  c\nRUN d\nRUN e\nRUN f\n";
        let e = source_excerpt(text, 3, 4).unwrap();
        let want = "--------------------\n   1 |     FROM a\n   2 |     RUN a\n   3 | >>> RUN b \\\n   4 | >>>   c\n   5 |     RUN d\n   6 |     RUN e\n--------------------\n";
        assert_eq!(e, want);
        assert!(source_excerpt(text, 0, 0).is_none());
        assert!(source_excerpt(text, 8, 8).is_none());
        assert!(source_excerpt("FROM a", 1, 9)
            .unwrap()
            .contains("   1 | >>> FROM a\n"));
    }
}
