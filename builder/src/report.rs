//! How a failed step is shown, like BuildKit: the step's last output lines, then the Dockerfile
//! lines it comes from, marked with `>>>`.

use kiln_solver::VertexFailure;
use std::fmt::Write;

/// Lines of context shown around the failing instruction.
const CONTEXT: usize = 2;

/// The report shown before `ERROR: failed to solve: ...`.
pub fn failure_detail(f: &VertexFailure, dockerfile_name: &str, dockerfile: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "------");
    let _ = writeln!(out, " > {}:", f.name);
    for l in &f.log_tail {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out, "------");
    let lines: Vec<&str> = dockerfile.lines().collect();
    for loc in f
        .locations
        .iter()
        .filter(|l| l.start_line >= 1 && l.start_line <= lines.len())
    {
        let end = loc.end_line.clamp(loc.start_line, lines.len());
        let _ = writeln!(out, "{dockerfile_name}:{}", loc.start_line);
        let _ = writeln!(out, "--------------------");
        let from = loc.start_line.saturating_sub(CONTEXT).max(1);
        let to = (end + CONTEXT).min(lines.len());
        let width = to.to_string().len().max(3);
        for n in from..=to {
            let mark = if n >= loc.start_line && n <= end {
                ">>>"
            } else {
                "   "
            };
            let _ = writeln!(out, " {n:>width$} | {mark} {}", lines[n - 1]);
        }
        let _ = writeln!(out, "--------------------");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_solver::{Digest, SourceLocation};

    #[test]
    fn marks_the_instruction_lines() {
        let f = VertexFailure {
            name: "[stage-0 3/4] RUN false".into(),
            index: 3,
            locations: vec![SourceLocation {
                file: "Dockerfile".into(),
                start_line: 3,
                end_line: 4,
            }],
            digest: Digest::of(b"x"),
            message: "exit code: 1".into(),
            log_tail: vec!["oops".into()],
        };
        let text = "FROM a\nRUN a\nRUN b \\\n  c\nRUN d\nRUN e\nRUN f\n";
        let d = failure_detail(&f, "Dockerfile", text);
        assert!(d.contains(" > [stage-0 3/4] RUN false:\noops\n"), "{d}");
        assert!(d.contains("Dockerfile:3\n"), "{d}");
        assert!(d.contains("   3 | >>> RUN b \\\n"), "{d}");
        assert!(d.contains("   4 | >>>   c\n"), "{d}");
        assert!(d.contains("   1 |     FROM a\n"), "{d}");
        assert!(d.contains("   6 |     RUN e\n"), "{d}");
        assert!(!d.contains("   7 |"), "only two lines of context: {d}");
    }
}
