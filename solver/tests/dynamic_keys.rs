//! Keys computed again once inputs have results: a step that reads part of a stage is keyed by
//! the content of that part, so it stays cached when the stage changed elsewhere (BuildKit's
//! content-based keys of selected inputs), and the steps after it stay cached too.

mod common;

use common::*;
use kiln_solver::*;

/// context → stage (COPY of the whole context) ; base → run (mounts /sub of the stage) → next.
fn graph() -> (Graph, VertexId) {
    let mut g = Graph::new();
    let ctx = source(&mut g, "local://context");
    let base = source(&mut g, "docker-image://base");
    let stage = copy_from(&mut g, "stage", base, ctx, "/");
    let run = exec_with_mounts(&mut g, "run", base, stage, &[("/sub", "/m")]);
    let next = step(&mut g, "next", &[run]);
    (g, next)
}

/// The steps (not the sources) that ran since the last call.
fn ran(w: &Fake) -> Vec<String> {
    w.take_executed()
        .into_iter()
        .filter(|n| !n.contains("://"))
        .collect()
}

/// The steps reported cached.
fn cached(rec: &Recorder) -> Vec<String> {
    rec.cached_names()
        .into_iter()
        .filter(|n| !n.contains("://"))
        .collect()
}

#[test]
fn a_step_reading_an_unchanged_part_of_a_changed_stage_stays_cached() {
    let dir = tempfile::tempdir().unwrap();
    let w = Fake::new();
    w.set_file("/a", "1");
    w.result_files
        .lock()
        .unwrap()
        .insert("/sub".into(), "s1".into());
    let (g, t) = graph();
    let solve = |w: &std::sync::Arc<Fake>| {
        let rec = Recorder::default();
        solver(w, dir.path(), 2)
            .solve(&g, t, &rec, no_cancel())
            .unwrap();
        rec
    };
    solve(&w);
    assert_eq!(ran(&w), ["stage", "run", "next"]);

    // The stage changes (its context did), the part the step reads does not.
    w.set_file("/a", "2");
    let rec = solve(&w);
    assert_eq!(ran(&w), ["stage"]);
    assert_eq!(cached(&rec), ["run", "next"]);

    // The same build again: found before anything runs (the result was recorded under the
    // up-front key too).
    let rec = solve(&w);
    assert!(ran(&w).is_empty());
    assert_eq!(cached(&rec), ["next"]);

    // The part the step reads changes: it runs, and so does what follows.
    w.set_file("/a", "3");
    w.result_files
        .lock()
        .unwrap()
        .insert("/sub".into(), "s2".into());
    solve(&w);
    assert_eq!(ran(&w), ["stage", "run", "next"]);
}

#[test]
fn a_part_the_worker_cannot_digest_is_keyed_by_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let w = Fake::new();
    w.set_file("/a", "1");
    let (g, t) = graph();
    solver(&w, dir.path(), 2)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap();
    assert_eq!(ran(&w), ["stage", "run", "next"]);
    w.set_file("/a", "2");
    solver(&w, dir.path(), 2)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap();
    assert_eq!(ran(&w), ["stage", "run", "next"]);
}
