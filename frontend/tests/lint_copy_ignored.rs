//! CopyIgnoredFile: COPY/ADD sources that `.dockerignore` excludes, after BuildKit's
//! `testCopyIgnoredFiles` and `testCopyIgnoredFileContextRoot`
//! (frontend/dockerfile/dockerfile_check_test.go). The matcher the builder hands over is
//! faked here with `*` globs; the builder's real one is exercised end to end in
//! cli/tests/docker_semantics.rs.

#[path = "lower_common.rs"]
mod common;

use common::*;
use kiln_frontend::lint::check;
use kiln_frontend::lower::{lower, BuildOptions, IgnoreMatcher};
use std::sync::Arc;

/// `.dockerignore` patterns with `*` (within a name) and `**` (anything).
#[derive(Debug)]
struct Globs(Vec<String>);

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) if p.get(1) == Some(&b'*') => (0..=s.len()).any(|i| glob(&p[2..], &s[i..])),
        (Some(b'*'), _) => {
            let seg = s.iter().position(|c| *c == b'/').unwrap_or(s.len());
            (0..=seg).any(|i| glob(&p[1..], &s[i..]))
        }
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

impl IgnoreMatcher for Globs {
    fn matches_or_parent_matches(&self, path: &str) -> bool {
        let mut candidates = vec![path.to_string()];
        let mut parent = path;
        while let Some((p, _)) = parent.rsplit_once('/') {
            candidates.push(p.to_string());
            parent = p;
        }
        self.0
            .iter()
            .filter(|p| !p.starts_with('!'))
            .any(|p| candidates.iter().any(|c| glob(p.as_bytes(), c.as_bytes())))
    }

    fn patterns(&self) -> Vec<String> {
        self.0.clone()
    }
}

fn with_ignore(patterns: &[&str]) -> BuildOptions {
    let mut o = opts();
    o.dockerignore = Some(Arc::new(Globs(
        patterns.iter().map(|p| p.to_string()).collect(),
    )));
    o
}

/// (message, line) of the CopyIgnoredFile findings of `kiln build --check`.
fn findings(df: &str, o: &BuildOptions) -> Vec<(String, usize)> {
    check(df, o)
        .unwrap()
        .warnings
        .into_iter()
        .filter(|w| w.rule == "CopyIgnoredFile")
        .map(|w| (w.message, w.start_line))
        .collect()
}

fn f(msg: &str, line: usize) -> (String, usize) {
    (msg.to_string(), line)
}

#[test]
fn copy_and_add_of_an_ignored_file() {
    let o = with_ignore(&["Dockerfile"]);
    let df = "\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n";
    assert_eq!(
        findings(df, &o),
        vec![
            f(
                "Attempting to Copy file \"Dockerfile\" that is excluded by .dockerignore",
                3
            ),
            f(
                "Attempting to Add file \"Dockerfile\" that is excluded by .dockerignore",
                4
            ),
        ]
    );
    let r = check(df, &o).unwrap();
    let w = r
        .warnings
        .iter()
        .find(|w| w.rule == "CopyIgnoredFile")
        .unwrap();
    assert_eq!(
        w.description,
        "Attempting to Copy file that is excluded by .dockerignore"
    );
    assert_eq!(
        w.url,
        "https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/"
    );
    // Skipped by the check directive, silent without a .dockerignore.
    let skipped = "# check=skip=CopyIgnoredFile\n\nFROM scratch\nCOPY Dockerfile .\n";
    assert!(findings(skipped, &o).is_empty());
    assert!(findings(df, &opts()).is_empty());
}

#[test]
fn sources_from_stages_urls_and_exceptions_are_not_checked() {
    let o = with_ignore(&["foobar", "https:"]);
    let df = "\nFROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\n\nFROM base\nCOPY --from=base /foobar /Dockerfile\n";
    assert!(findings(df, &o).is_empty());
    let df = "FROM scratch\nADD https://example.com/foobar /x\n";
    assert!(findings(df, &o).is_empty());
    // With `!` exceptions nothing is checked (a file may be let back in).
    let o = with_ignore(&["**", "!Dockerfile"]);
    assert!(findings("\nFROM scratch\nCOPY ./Dockerfile .\n", &o).is_empty());
    assert!(findings("\nFROM scratch\nCOPY . .\n", &o).is_empty());
}

#[test]
fn sources_are_cleaned_and_parents_count() {
    let o = with_ignore(&["logs", "secret*"]);
    let df = "FROM scratch\nARG D=logs\nCOPY ./$D/app/../a.log keep secret.txt* /x/\n";
    assert_eq!(
        findings(df, &o),
        vec![
            f(
                "Attempting to Copy file \"logs/a.log\" that is excluded by .dockerignore",
                3
            ),
            f(
                "Attempting to Copy file \"secret.txt*\" that is excluded by .dockerignore",
                3
            ),
        ]
    );
}

#[test]
fn the_context_root_only_when_every_entry_is_excluded() {
    let df = "\nFROM scratch\nCOPY . .\n";
    assert!(findings(df, &with_ignore(&[".*"])).is_empty());
    assert_eq!(
        findings(df, &with_ignore(&["*"])),
        vec![f(
            "Attempting to Copy file \".\" that is excluded by .dockerignore",
            3
        )]
    );
}

#[test]
fn a_build_reports_it_for_the_stages_it_builds() {
    let o = with_ignore(&["secret"]);
    let df = "FROM scratch AS unused\nCOPY secret /\nFROM scratch\nCOPY secret keep /\n";
    let p = lower(df, &o, &FakeResolver::new()).unwrap();
    let got: Vec<(&str, &str, usize)> = p
        .warnings
        .iter()
        .map(|w| (w.rule.as_str(), w.message.as_str(), w.line))
        .collect();
    assert_eq!(
        got,
        vec![(
            "CopyIgnoredFile",
            "Attempting to Copy file \"secret\" that is excluded by .dockerignore",
            4
        )]
    );
}
