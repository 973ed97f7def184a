//! `kiln debug ast` prints BuildKit's parser dump; `kiln debug graph` the lowered graph.

mod common;

use common::{context, Kiln};
use std::path::PathBuf;

fn conformance() -> Option<PathBuf> {
    let p = common::repo().join("../shared/conformance/buildkit-parser/testfiles");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/conformance not found");
        None
    }
}

#[test]
fn debug_ast_matches_buildkit_dumps() {
    let Some(dir) = conformance() else { return };
    let k = Kiln::empty();
    let mut checked = 0;
    for case in std::fs::read_dir(&dir).unwrap().flatten() {
        let expected = std::fs::read_to_string(case.path().join("result")).unwrap();
        let out = k.ok(&[
            "debug",
            "ast",
            case.path().join("Dockerfile").to_str().unwrap(),
        ]);
        assert_eq!(out, expected, "case {}", case.path().display());
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} cases found");
}

#[test]
fn debug_graph_shows_only_what_the_target_needs() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS a\nRUN echo a\n\nFROM busybox AS b\nRUN echo b\n\nFROM scratch\nCOPY --from=a /bin/busybox /bb\n",
    )]);
    let df = ctx.path().join("Dockerfile");
    let out = k.ok(&["debug", "graph", df.to_str().unwrap()]);
    let vertices: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = vertices
        .iter()
        .map(|v| v["name"].as_str().unwrap_or(""))
        .collect();
    assert!(names.iter().any(|n| n.contains("RUN echo a")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("RUN echo b")),
        "stage b is not needed: {names:?}"
    );
    assert_eq!(vertices.iter().filter(|v| v["result"] == true).count(), 1);
    // inputs come before the vertices that use them
    let pos = |d: &serde_json::Value| vertices.iter().position(|v| &v["digest"] == d).unwrap();
    for (i, v) in vertices.iter().enumerate() {
        for input in v["inputs"].as_array().unwrap() {
            assert!(pos(input) < i);
        }
    }
    let dot = k.ok(&["debug", "graph", "--format", "dot", df.to_str().unwrap()]);
    assert!(
        dot.starts_with("digraph kiln {") && dot.contains("->"),
        "{dot}"
    );
    let bad = k.run(&["debug", "ast", ctx.path().join("missing").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
}
