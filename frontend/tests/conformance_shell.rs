//! BuildKit's shell lexer test data: `shell/envVarTest` (single-word expansion, platforms A
//! and U) and `shell/wordsTest` (expansion with word splitting).

use kiln_frontend::shell::Lexer;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit-parser/shell");
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

fn report(corpus: &str, total: usize, failures: &[String]) {
    println!("{corpus}: {}/{total} passed", total - failures.len());
    assert!(total > 0, "{corpus}: no cases found");
    assert!(
        failures.is_empty(),
        "{corpus}: {} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn env_var_test() {
    let Some(dir) = corpus() else { return };
    let text = fs::read_to_string(dir.join("envVarTest")).expect("envVarTest");
    let env: BTreeMap<String, String> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lexer = Lexer::new('\\');
    let mut total = 0;
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let [platform, input, expected] = fields[..] else {
            panic!("envVarTest line {}: malformed {line:?}", n + 1);
        };
        if platform == "W" {
            continue;
        }
        total += 1;
        let got = lexer.process_word(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(s), want) => want != "error" && s == want,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {input:?} gave {got:?}, expected {expected:?}",
                n + 1
            ));
        }
    }
    report("envVarTest", total, &failures);
}

#[test]
fn words_test() {
    let Some(dir) = corpus() else { return };
    let text = fs::read_to_string(dir.join("wordsTest")).expect("wordsTest");
    let mut env: Vec<String> = Vec::new();
    let lexer = Lexer::new('\\');
    let mut total = 0;
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(kv) = line.strip_prefix("ENV ") {
            env.push(kv.trim_start().to_string());
            continue;
        }
        let Some((input, expected)) = line.split_once('|') else {
            continue;
        };
        total += 1;
        let input = input.trim();
        let expected = expected.trim_start();
        let got = lexer.process_words(input, &env);
        let ok = match &got {
            Err(_) => expected == "error",
            Ok(words) => expected != "error" && *words == expected.split(',').collect::<Vec<_>>(),
        };
        if !ok {
            failures.push(format!(
                "line {}: {input:?} gave {got:?}, expected {expected:?}",
                n + 1
            ));
        }
    }
    report("wordsTest", total, &failures);
}
