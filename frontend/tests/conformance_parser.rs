//! BuildKit's parser test data (`../shared/conformance/buildkit-parser`): every positive case
//! must dump byte-exactly to its `result`, every negative case must fail, and line numbers of
//! `testfile-line` must match.

use kiln_frontend::parser::{dump, parse};
use std::fs;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/buildkit-parser");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: ../shared/conformance not found ({})",
            dir.display()
        );
        None
    }
}

fn case_dirs(dir: PathBuf) -> Vec<(String, PathBuf)> {
    let mut cases: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    cases.sort();
    cases
}

fn report(corpus: &str, total: usize, failures: &[String]) {
    println!("{corpus}: {}/{total} passed", total - failures.len());
    assert!(
        failures.is_empty(),
        "{corpus}: {} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn testfiles_dump_exactly() {
    let Some(root) = corpus() else { return };
    let cases = case_dirs(root.join("testfiles"));
    assert_eq!(cases.len(), 33, "expected the 33 upstream cases");
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        let text = fs::read(dir.join("Dockerfile")).expect("Dockerfile");
        let text = String::from_utf8(text).expect("UTF-8 Dockerfile");
        let expected = fs::read_to_string(dir.join("result")).expect("result");
        match parse(&text, "Dockerfile") {
            Ok(file) => {
                let got = dump(&file) + "\n";
                if got != expected {
                    failures.push(format!(
                        "{name}: dump differs\n--- got\n{got}--- expected\n{expected}"
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: parse error {e}")),
        }
    }
    report("testfiles", cases.len(), &failures);
}

#[test]
fn negative_testfiles_fail() {
    let Some(root) = corpus() else { return };
    let cases = case_dirs(root.join("testfiles-negative"));
    assert_eq!(cases.len(), 4, "expected the 4 upstream negative cases");
    let expected_messages = [
        ("empty_dockerfile", "file with no instructions"),
        ("env_no_value", "ENV must have two arguments"),
        ("only_comments", "file with no instructions"),
        (
            "shykes-nested-json",
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
    ];
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        let text = fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
        match parse(&text, "Dockerfile") {
            Ok(file) => failures.push(format!("{name}: parsed but must fail: {}", dump(&file))),
            Err(e) => {
                let want = expected_messages
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, m)| *m);
                if let Some(want) = want {
                    if e.message != want {
                        failures.push(format!(
                            "{name}: message {:?}, expected {want:?}",
                            e.message
                        ));
                    }
                }
            }
        }
    }
    report("testfiles-negative", cases.len(), &failures);
}

#[test]
fn testfile_line_numbers() {
    let Some(root) = corpus() else { return };
    let text = fs::read_to_string(root.join("testfile-line/Dockerfile")).expect("Dockerfile");
    let file = parse(&text, "Dockerfile").expect("testfile-line parses");
    let ranges: Vec<(usize, usize)> = file
        .instructions
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    let expected = vec![(5, 5), (11, 12), (17, 31)];
    let mut failures = Vec::new();
    if ranges != expected {
        failures.push(format!("ranges {ranges:?}, expected {expected:?}"));
    }
    report("testfile-line", 1, &failures);
}
