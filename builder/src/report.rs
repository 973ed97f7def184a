//! How a failed step is shown, like BuildKit: the step's last output lines, then the Dockerfile
//! lines it comes from, marked with `>>>`.

use kiln_solver::VertexFailure;
use std::fmt::Write;

/// The report shown before `ERROR: failed to solve: ...`.
pub fn failure_detail(f: &VertexFailure, dockerfile_name: &str, dockerfile: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "------");
    let _ = writeln!(out, " > {}:", f.name);
    for l in &f.log_tail {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out, "------");
    for loc in &f.locations {
        if let Some(excerpt) =
            kiln_frontend::lint::source_excerpt(dockerfile, loc.start_line, loc.end_line)
        {
            let _ = writeln!(out, "{dockerfile_name}:{}", loc.start_line);
            out.push_str(&excerpt);
        }
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
            digest: Digest::sha256(b"x"),
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
