//! Usage errors exit as docker's do (checked against docker 20.10): a bad flag (unknown, or
//! missing its value) exits 125, a missing or extra argument and an unknown command exit 1;
//! `--help`, `--version` and a command group given alone print and exit 0. Walks every command
//! `kiln --help` lists, so a new one is covered the day it is added.

mod common;

use common::Kiln;
use std::process::Output;

fn run(k: &Kiln, args: &[&str]) -> Output {
    k.run(args)
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// The command names of a help text's `Commands:` section.
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Every runnable command: `["build"]`, `["system", "df"]`...
fn leaves(k: &Kiln) -> Vec<Vec<String>> {
    let top = String::from_utf8(run(k, &["--help"]).stdout).unwrap();
    let mut out = Vec::new();
    for c in commands(&top) {
        let help = String::from_utf8(run(k, &[&c, "--help"]).stdout).unwrap();
        let subs = commands(&help);
        if subs.is_empty() {
            out.push(vec![c]);
        } else {
            out.extend(subs.into_iter().map(|s| vec![c.clone(), s]));
        }
    }
    out
}

/// Does the usage line name a required positional argument (`<X>` outside `[...]`)?
fn needs_an_argument(help: &str) -> bool {
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap_or("");
    let mut depth = 0;
    for c in usage.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '<' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// The first `--flag <VALUE>` of a help text's options (not the global `--root`).
fn flag_with_value(help: &str) -> Option<String> {
    help.lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| {
            let long = l.split_whitespace().find(|w| w.starts_with("--"))?;
            let takes_value = l.contains(&format!("{long} <"));
            (takes_value && long != "--root").then(|| long.trim_end_matches(',').to_string())
        })
        .next()
}

#[test]
fn every_command_answers_usage_errors_as_docker_does() {
    let k = Kiln::empty();
    let all = leaves(&k);
    assert!(all.len() >= 15, "commands found: {all:?}");
    let mut checked_args = 0;
    let mut checked_values = 0;
    for path in &all {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let name = p.join(" ");

        let mut a = p.clone();
        a.push("--no-such-flag");
        let o = run(&k, &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(code(&o), Some(125), "kiln {name} --no-such-flag:\n{err}");
        assert!(err.contains("--no-such-flag"), "kiln {name}: {err}");

        let mut a = p.clone();
        a.push("--help");
        let o = run(&k, &a);
        let help = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(code(&o), Some(0), "kiln {name} --help");
        assert!(help.contains(&format!("Usage: kiln {name}")), "{help}");

        if needs_an_argument(&help) {
            let o = run(&k, &p);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(
                code(&o),
                Some(1),
                "kiln {name} without its argument:\n{err}"
            );
            assert!(err.contains("required"), "{err}");
            checked_args += 1;
        }
        if let Some(flag) = flag_with_value(&help) {
            let mut a = p.clone();
            a.push(&flag);
            let o = run(&k, &a);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(
                code(&o),
                Some(125),
                "kiln {name} {flag} without a value:\n{err}"
            );
            checked_values += 1;
        }
    }
    assert!(
        checked_args >= 8,
        "commands with a required argument: {checked_args}"
    );
    assert!(
        checked_values >= 8,
        "commands with a valued flag: {checked_values}"
    );
}

#[test]
fn the_top_level_answers_as_docker_does() {
    let k = Kiln::empty();
    let o = run(&k, &[]);
    assert_eq!(code(&o), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: kiln"));
    for group in ["system", "debug"] {
        let o = run(&k, &[group]);
        assert_eq!(code(&o), Some(0), "kiln {group}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(&format!("Usage: kiln {group}")), "{out}");
    }
    assert_eq!(code(&run(&k, &["--version"])), Some(0));
    assert_eq!(code(&run(&k, &["--help"])), Some(0));
    assert_eq!(code(&run(&k, &["nosuchcommand"])), Some(1));
    assert_eq!(code(&run(&k, &["--no-such-global", "images"])), Some(125));
    assert_eq!(code(&run(&k, &["images", "--root"])), Some(125));
    // Too many arguments is an argument error, not a flag error.
    assert_eq!(code(&run(&k, &["tag", "a", "b", "c"])), Some(1));
    assert_eq!(code(&run(&k, &["images", "a", "b"])), Some(1));
}
