//! `kiln build --check`: run docker's build checks on the Dockerfile, build nothing, and print
//! the findings as `docker build --check` does.

use anyhow::Context as _;
use kiln_builder::build::{dockerfile_path, BuildRequest};
use kiln_builder::frontend::lint::{
    check_until_error, source_excerpt, LintOptions, LintReport, LintWarning,
};
use kiln_builder::resolver::StoreResolver;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// Runs the checks; exit code 1 when they fail the build (`check=error=true` with findings)
/// or cannot run (unreadable or invalid Dockerfile).
pub fn run(root: &Path, req: &BuildRequest) -> anyhow::Result<ExitCode> {
    let df_path = dockerfile_path(req).map_err(|e| anyhow::anyhow!(e.message))?;
    let text = if df_path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("failed to read dockerfile from stdin")?;
        s
    } else {
        std::fs::read_to_string(&df_path)
            .with_context(|| format!("failed to read dockerfile {}", df_path.display()))?
    };
    let mut options = req.options.clone();
    if options.dockerfile_name.is_empty() || options.dockerfile_name == "Dockerfile" {
        options.dockerfile_name = df_path
            .strip_prefix(&req.context_dir)
            .unwrap_or(&df_path)
            .display()
            .to_string();
    }
    // The checks see the .dockerignore a build would apply (CopyIgnoredFile).
    options.dockerignore = kiln_builder::build::dockerignore(req)?;
    let kiln = super::open(root)?;
    let resolver = StoreResolver { kiln: &kiln };
    let lint = LintOptions {
        resolver: Some(&resolver),
        all_stages: req.options.target.is_none(),
    };
    let (report, broken) = check_until_error(&text, &options, lint);
    print!("{}", render(&report, &text));
    if let Some(e) = broken {
        crate::diag::error(&e);
        return Ok(ExitCode::from(1));
    }
    if let Some(msg) = report.error_message() {
        crate::diag::error(&msg);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as `docker build --check` prints it.
pub fn render(report: &LintReport, text: &str) -> String {
    let mut out = String::new();
    for w in &report.warnings {
        out.push_str(&render_warning(w, text));
        out.push('\n');
    }
    let n = report.warnings.len();
    match n {
        0 => out.push_str("Check complete, no warnings found.\n"),
        1 => out.push_str("Check complete, 1 warning has been found!\n"),
        n => {
            let _ = writeln!(out, "Check complete, {n} warnings have been found!");
        }
    }
    out
}

fn render_warning(w: &LintWarning, text: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "WARNING: {} - {}", w.rule, w.url);
    let _ = writeln!(out, "{}", w.description);
    let _ = writeln!(out, "{}", w.message);
    if let Some(excerpt) = source_excerpt(text, w.start_line, w.end_line) {
        let _ = writeln!(out, "{}:{}", w.file, w.start_line);
        out.push_str(&excerpt);
    }
    out
}

/// The lint findings of a finished build, as docker prints them after it:
/// `N warnings found:` then ` - Rule: message (line N)`.
pub fn build_summary(warnings: &[kiln_builder::frontend::lower::Warning]) -> String {
    let lint: Vec<_> = warnings.iter().filter(|w| !w.rule.is_empty()).collect();
    if lint.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let plural = if lint.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "{} warning{plural} found:", lint.len());
    for w in lint {
        let _ = write!(out, " - {}: {}", w.rule, w.message);
        if w.line > 0 {
            let _ = write!(out, " (line {})", w.line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_builder::frontend::lower::Warning;

    #[test]
    fn renders_like_docker() {
        let text =
            "#check=skip=ConsistentInstructionCasing\nFROM scratch as base\ncopy Dockerfile .\n";
        let report = kiln_builder::frontend::lint::check(
            text,
            &kiln_builder::frontend::lower::BuildOptions::default(),
        )
        .unwrap();
        let out = render(&report, text);
        let want = "WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n\
The 'as' keyword should match the case of the 'from' keyword\n\
'as' and 'FROM' keywords' casing do not match\n\
Dockerfile:2\n\
--------------------\n   1 |     #check=skip=ConsistentInstructionCasing\n   2 | >>> FROM scratch as base\n   3 |     copy Dockerfile .\n--------------------\n\n\
Check complete, 1 warning has been found!\n";
        assert_eq!(out, want);
        assert_eq!(
            render(&LintReport::default(), ""),
            "Check complete, no warnings found.\n"
        );
    }

    #[test]
    fn summarises_build_warnings() {
        let w = |rule: &str, line| Warning {
            rule: rule.into(),
            message: "m".into(),
            file: "Dockerfile".into(),
            line,
        };
        assert_eq!(build_summary(&[w("", 0)]), "");
        assert_eq!(
            build_summary(&[w("A", 2), w("", 0), w("B", 3)]),
            "2 warnings found:\n - A: m (line 2)\n - B: m (line 3)\n"
        );
        assert_eq!(
            build_summary(&[w("A", 2)]),
            "1 warning found:\n - A: m (line 2)\n"
        );
    }
}
