//! Behaviour of `Solver::solve` against a fake worker.

mod common;

use common::*;
use kiln_solver::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// s → a → b → t
fn chain(g: &mut Graph) -> (VertexId, VertexId, VertexId, VertexId) {
    let s = source(g, "docker-image://base");
    let a = step(g, "a", &[s]);
    let b = step(g, "b", &[a]);
    let t = step(g, "t", &[b]);
    (s, a, b, t)
}

/// t(a(s), b(s)): two paths to s.
fn diamond(g: &mut Graph) -> (VertexId, VertexId, VertexId, VertexId) {
    let s = source(g, "docker-image://base");
    let a = step(g, "a", &[s]);
    let b = step(g, "b", &[s]);
    let t = step(g, "t", &[a, b]);
    (s, a, b, t)
}

#[test]
fn second_solve_executes_nothing_and_reports_the_target_cached() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = chain(&mut g);

    let first = solver(&fake, dir.path(), 4)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap();
    assert_eq!(
        fake.take_executed(),
        vec!["docker-image://base", "a", "b", "t"]
    );
    assert_eq!(first.content, "t(b(a(docker-image://base())))");

    let rec = Recorder::default();
    let second = solver(&fake, dir.path(), 4)
        .solve(&g, t, &rec, no_cancel())
        .unwrap();
    assert!(fake.executed().is_empty());
    assert_eq!(second, first);
    assert_eq!(rec.summary(), vec!["cached 1 t"]);
}

#[test]
fn a_cached_target_does_not_check_or_run_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (s, a, b, t) = chain(&mut g);
    let sv = solver(&fake, dir.path(), 4);
    sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    fake.take_executed();

    // The inputs' records are gone; the target's is still there.
    let keys = sv.cache_keys(&g, t).unwrap();
    for v in [s, a, b] {
        assert!(sv.cache().remove(&keys[&v]).unwrap().is_some());
    }
    let rec = Recorder::default();
    solver(&fake, dir.path(), 4)
        .solve(&g, t, &rec, no_cancel())
        .unwrap();
    assert!(fake.executed().is_empty());
    assert_eq!(rec.summary(), vec!["cached 1 t"]);
}

#[test]
fn cache_hits_are_reported_in_a_deterministic_order() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, a, _, t) = diamond(&mut g);
    let sv = solver(&fake, dir.path(), 4);
    sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    let keys = sv.cache_keys(&g, t).unwrap();

    let mut orders = Vec::new();
    for _ in 0..3 {
        fake.take_executed();
        sv.cache().remove(&keys[&t]).unwrap();
        sv.cache().remove(&keys[&a]).unwrap();
        let rec = Recorder::default();
        solver(&fake, dir.path(), 4)
            .solve(&g, t, &rec, no_cancel())
            .unwrap();
        let mut ran = fake.executed();
        ran.sort();
        assert_eq!(ran, vec!["a", "t"]);
        orders.push(
            rec.summary()
                .into_iter()
                .filter(|e| e.starts_with("cached"))
                .collect::<Vec<_>>(),
        );
    }
    // t and a miss; below a, s hits; then b hits.
    assert_eq!(
        orders[0],
        vec!["cached 1 docker-image://base", "cached 2 b"]
    );
    assert!(orders.iter().all(|o| *o == orders[0]));
}

#[test]
fn a_vertex_reached_by_several_paths_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = diamond(&mut g);
    let r = solver(&fake, dir.path(), 4)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap();
    let mut ran = fake.executed();
    ran.sort();
    assert_eq!(ran, vec!["a", "b", "docker-image://base", "t"]);
    assert_eq!(
        r.content,
        "t(a(docker-image://base()),b(docker-image://base()))"
    );
}

#[test]
fn independent_branches_run_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = diamond(&mut g);
    // a and b each wait for the other to be running: only possible if they overlap.
    let arrived = Arc::new(AtomicUsize::new(0));
    let met = Arc::new(AtomicUsize::new(0));
    for name in ["a", "b"] {
        let (arrived, met) = (arrived.clone(), met.clone());
        fake.hook(
            name,
            Arc::new(move |_| {
                arrived.fetch_add(1, Ordering::SeqCst);
                if wait_for(|| arrived.load(Ordering::SeqCst) >= 2) {
                    met.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }),
        );
    }
    solver(&fake, dir.path(), 4)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap();
    assert_eq!(
        met.load(Ordering::SeqCst),
        2,
        "a and b never ran at the same time"
    );
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 2);
}

#[test]
fn jobs_bounds_concurrent_executions() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let s = source(&mut g, "docker-image://base");
    let names = ["p1", "p2", "p3", "p4", "p5", "p6"];
    let branches: Vec<VertexId> = names.iter().map(|n| step(&mut g, n, &[s])).collect();
    let t = step(&mut g, "t", &branches);
    for n in names {
        fake.hook(
            n,
            Arc::new(|_| {
                std::thread::sleep(Duration::from_millis(10));
                Ok(())
            }),
        );
    }
    solver(&fake, dir.path(), 1)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap();
    assert_eq!(fake.executed().len(), 8);
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 1);
}

#[test]
fn failure_cancels_running_work_and_keeps_finished_results_cached() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let s = source(&mut g, "docker-image://base");
    let ok = step(&mut g, "ok", &[s]);
    let bad = step(&mut g, "bad", &[s]);
    let slow = step(&mut g, "slow", &[s]);
    let t = step(&mut g, "t", &[ok, bad, slow]);
    g.vertex_mut(bad).meta.locations = vec![SourceLocation {
        file: "Dockerfile".into(),
        start_line: 3,
        end_line: 3,
    }];
    let rec = Arc::new(Recorder::default());

    // `bad` fails once `ok` is done and `slow` is running; `slow` runs until cancelled.
    let slow_running = Arc::new(AtomicBool::new(false));
    let slow_saw_cancel = Arc::new(AtomicBool::new(false));
    {
        let (rec, slow_running) = (rec.clone(), slow_running.clone());
        fake.hook(
            "bad",
            Arc::new(move |_| {
                let ok_done = || {
                    let summary = rec.summary();
                    let started = summary
                        .iter()
                        .find_map(|e| e.strip_prefix("started ")?.strip_suffix(" ok"));
                    started.is_some_and(|i| summary.contains(&format!("done {i}")))
                };
                assert!(wait_for(ok_done), "ok never finished");
                assert!(
                    wait_for(|| slow_running.load(Ordering::SeqCst)),
                    "slow never started"
                );
                Err(WorkerError {
                    message: "exit code 2".into(),
                    log_tail: vec!["make: *** error".into()],
                })
            }),
        );
    }
    {
        let (slow_running, saw) = (slow_running.clone(), slow_saw_cancel.clone());
        fake.hook(
            "slow",
            Arc::new(move |ctx| {
                slow_running.store(true, Ordering::SeqCst);
                if wait_for(|| ctx.cancelled.load(Ordering::SeqCst)) {
                    saw.store(true, Ordering::SeqCst);
                    return Err(WorkerError::new("interrupted"));
                }
                Ok(())
            }),
        );
    }
    let cancel = no_cancel();
    let sv = solver(&fake, dir.path(), 4);
    let err = sv.solve(&g, t, &*rec, cancel.clone()).unwrap_err();
    match &err {
        SolveError::Vertex(f) => {
            assert_eq!(f.name, "bad");
            assert_eq!(f.message, "exit code 2");
            assert_eq!(f.log_tail, vec!["make: *** error".to_string()]);
            assert_eq!(f.locations[0].start_line, 3);
            assert_eq!(f.digest, g.vertex(bad).digest);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(cancel.load(Ordering::SeqCst));
    assert!(slow_saw_cancel.load(Ordering::SeqCst));
    assert!(!fake.executed().contains(&"t".to_string()));
    let summary = rec.summary();
    let index_of = |name: &str| {
        summary.iter().find_map(|e| {
            e.strip_prefix("started ")
                .and_then(|r| r.strip_suffix(&format!(" {name}")))
                .map(str::to_string)
        })
    };
    let (bad_i, slow_i) = (index_of("bad").unwrap(), index_of("slow").unwrap());
    assert!(
        summary.contains(&format!("error {bad_i} exit code 2")),
        "{summary:?}"
    );
    assert!(
        summary.contains(&format!("cancelled {slow_i}")),
        "{summary:?}"
    );

    // Next build: what succeeded comes from the cache.
    fake.clear_hooks();
    fake.take_executed();
    let rec2 = Recorder::default();
    solver(&fake, dir.path(), 4)
        .solve(&g, t, &rec2, no_cancel())
        .unwrap();
    let ran: HashSet<String> = fake.executed().into_iter().collect();
    assert_eq!(
        ran,
        ["bad", "slow", "t"].iter().map(|s| s.to_string()).collect()
    );
    assert!(rec2.cached_names().contains(&"ok".to_string()));
}

#[test]
fn changing_unselected_context_files_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set_file("/a", "1");
    fake.set_file("/b", "2");
    let mut g = Graph::new();
    let base = source(&mut g, "docker-image://base");
    let ctx = source(&mut g, "local://context");
    let t = copy_from(&mut g, "COPY a", base, ctx, "/a");
    let sv = solver(&fake, dir.path(), 2);
    let k1 = sv.cache_keys(&g, t).unwrap()[&t].clone();
    sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    fake.take_executed();

    fake.set_file("/b", "changed");
    assert_eq!(sv.cache_keys(&g, t).unwrap()[&t], k1);
    sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    assert!(fake.executed().is_empty());

    fake.set_file("/a", "changed");
    let k2 = sv.cache_keys(&g, t).unwrap()[&t].clone();
    assert_ne!(k2, k1);
    let rec = Recorder::default();
    sv.solve(&g, t, &rec, no_cancel()).unwrap();
    assert_eq!(fake.take_executed(), vec!["COPY a"]);
    assert_eq!(
        rec.cached_names(),
        vec!["docker-image://base", "local://context"]
    );
}

#[test]
fn keys_of_non_source_inputs_ignore_selectors() {
    // A COPY --from another stage: the input is not a source, so its key is used.
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Graph::new();
    let base = source(&mut g, "docker-image://base");
    let built = step(&mut g, "built", &[base]);
    let t = copy_from(&mut g, "COPY --from", base, built, "/out");
    let sv = solver(&fake, dir.path(), 2);
    let k1 = sv.cache_keys(&g, t).unwrap();
    fake.set_file("/out", "irrelevant");
    assert_eq!(sv.cache_keys(&g, t).unwrap(), k1);
    assert!(
        fake.executed().is_empty(),
        "computing keys executes nothing"
    );
    assert_eq!(fake.content_queries.load(Ordering::SeqCst), 0);
}

#[test]
fn each_copy_is_keyed_on_its_own_selection() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set_file("/a", "1");
    fake.set_file("/b", "2");
    let mut g = Graph::new();
    let base = source(&mut g, "docker-image://base");
    let ctx = source(&mut g, "local://context");
    let ca = copy_from(&mut g, "COPY a", base, ctx, "/a");
    let cb = copy_from(&mut g, "COPY b", base, ctx, "/b");
    let t = step(&mut g, "t", &[ca, cb]);
    let sv = solver(&fake, dir.path(), 2);
    let k1 = sv.cache_keys(&g, t).unwrap();
    assert_eq!(fake.content_queries.load(Ordering::SeqCst), 2);
    assert!(fake.executed().is_empty());

    fake.set_file("/a", "changed");
    let k2 = sv.cache_keys(&g, t).unwrap();
    assert_ne!(k2[&ca], k1[&ca]);
    assert_ne!(k2[&t], k1[&t]);
    assert_eq!(k2[&cb], k1[&cb]);
    assert_eq!(k2[&ctx], k1[&ctx]);
}

#[test]
fn each_mount_of_the_context_enters_the_exec_key() {
    // The case: a mount of the whole context beside a mount of one file.
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set_file("/a.txt", "a");
    fake.set_file("/b.txt", "b");
    let mut g = Graph::new();
    let base = source(&mut g, "docker-image://base");
    let ctx = source(&mut g, "local://context");
    let run = exec_with_mounts(&mut g, "RUN", base, ctx, &[("/", "/a"), ("/b.txt", "/b")]);
    let sv = solver(&fake, dir.path(), 2);
    let k1 = sv.cache_keys(&g, run).unwrap()[&run].clone();
    assert_eq!(
        fake.content_queries.load(Ordering::SeqCst),
        2,
        "one content digest per mount"
    );
    sv.solve(&g, run, &NoProgress, no_cancel()).unwrap();
    assert!(fake.take_executed().contains(&"RUN".to_string()));

    fake.set_file("/a.txt", "changed");
    assert_ne!(sv.cache_keys(&g, run).unwrap()[&run], k1);
    sv.solve(&g, run, &NoProgress, no_cancel()).unwrap();
    assert_eq!(
        fake.take_executed(),
        vec!["RUN"],
        "an edit under a mount reruns"
    );
    sv.solve(&g, run, &NoProgress, no_cancel()).unwrap();
    assert!(fake.take_executed().is_empty(), "and nothing else does");
}

#[test]
fn an_exec_is_keyed_per_mount_not_on_the_union() {
    // Two mounts whose union is the same set of files but whose selections differ: moving the
    // one file between them changes what each exposes, so the key must change.
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.set_file("/x/f", "1");
    let mut g = Graph::new();
    let base = source(&mut g, "docker-image://base");
    let ctx = source(&mut g, "local://context");
    let one = exec_with_mounts(&mut g, "RUN", base, ctx, &[("/x", "/m"), ("/y", "/n")]);
    let sv = solver(&fake, dir.path(), 2);
    let k1 = sv.cache_keys(&g, one).unwrap()[&one].clone();
    fake.context.lock().unwrap().clear();
    fake.set_file("/y/f", "1");
    assert_ne!(sv.cache_keys(&g, one).unwrap()[&one], k1);
    // Files outside every mount do not count.
    let k2 = sv.cache_keys(&g, one).unwrap()[&one].clone();
    fake.set_file("/z", "elsewhere");
    assert_eq!(sv.cache_keys(&g, one).unwrap()[&one], k2);
}

#[test]
fn an_exec_root_from_a_source_is_keyed_by_its_key() {
    // A mount of an image (not content-addressable) keys on the image, not on a digest.
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let base = source(&mut g, "docker-image://base");
    let other = source(&mut g, "docker-image://other");
    let run = exec_with_mounts(&mut g, "RUN", base, other, &[("/etc", "/e")]);
    let sv = solver(&fake, dir.path(), 2);
    let k1 = sv.cache_keys(&g, run).unwrap()[&run].clone();
    let mut g2 = Graph::new();
    let base2 = source(&mut g2, "docker-image://base");
    let other2 = source(&mut g2, "docker-image://other2");
    let run2 = exec_with_mounts(&mut g2, "RUN", base2, other2, &[("/etc", "/e")]);
    assert_ne!(sv.cache_keys(&g2, run2).unwrap()[&run2], k1);
}

#[test]
fn a_key_failure_sets_the_cancel_flag() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let s = source(&mut g, "bad://thing");
    let t = step(&mut g, "t", &[s]);
    let cancel = no_cancel();
    assert!(solver(&fake, dir.path(), 2)
        .solve(&g, t, &NoProgress, cancel.clone())
        .is_err());
    assert!(cancel.load(Ordering::SeqCst));
}

#[test]
fn ignore_cache_forces_execution_and_replaces_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, a, _, t) = chain(&mut g);
    let sv = solver(&fake, dir.path(), 2);
    let first = sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    let key_t = sv.cache_keys(&g, t).unwrap()[&t].clone();
    fake.take_executed();

    g.vertex_mut(t).meta.ignore_cache = true;
    assert_eq!(
        sv.cache_keys(&g, t).unwrap()[&t],
        key_t,
        "ignore_cache is not part of the key"
    );
    let second = sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    assert_eq!(fake.take_executed(), vec!["t"]);
    assert_ne!(second.id, first.id);
    let record = sv.cache().get(&key_t).unwrap().unwrap();
    assert_eq!(record.data, second.id.to_string().into_bytes());

    // Ignoring the cache below a cached consumer re-runs the chain above it too.
    g.vertex_mut(t).meta.ignore_cache = false;
    g.vertex_mut(a).meta.ignore_cache = true;
    sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    assert_eq!(fake.take_executed(), vec!["a", "b", "t"]);
}

#[test]
fn a_record_whose_data_was_pruned_reruns_the_vertex() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = chain(&mut g);
    let sv = solver(&fake, dir.path(), 2);
    let first = sv.solve(&g, t, &NoProgress, no_cancel()).unwrap();
    fake.take_executed();

    fake.forget(first.id);
    let rec = Recorder::default();
    let second = sv.solve(&g, t, &rec, no_cancel()).unwrap();
    assert_eq!(fake.take_executed(), vec!["t"]);
    assert_eq!(rec.cached_names(), vec!["b"]);
    assert_eq!(second.content, first.content);
    let key_t = sv.cache_keys(&g, t).unwrap()[&t].clone();
    assert_eq!(
        sv.cache().get(&key_t).unwrap().unwrap().data,
        second.id.to_string().into_bytes()
    );
}

#[test]
fn two_solvers_on_one_cache_dir_execute_a_slow_vertex_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let s = source(&mut g, "docker-image://base");
    let slow = step(&mut g, "slow", &[s]);
    fake.hook(
        "slow",
        Arc::new(|_| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        }),
    );
    let barrier = Barrier::new(2);
    let results: Vec<FakeRef> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (fake, g, barrier, path) = (&fake, &g, &barrier, dir.path());
                sc.spawn(move || {
                    let sv = solver(fake, path, 2);
                    barrier.wait();
                    sv.solve(g, slow, &NoProgress, no_cancel()).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results[0], results[1]);
    let ran = fake.executed();
    assert_eq!(ran.iter().filter(|n| *n == "slow").count(), 1, "{ran:?}");
    assert_eq!(ran.len(), 2, "{ran:?}");
}

#[test]
fn progress_indices_start_at_one_and_match_the_worker_context() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = diamond(&mut g);
    let rec = Recorder::default();
    solver(&fake, dir.path(), 4)
        .solve(&g, t, &rec, no_cancel())
        .unwrap();
    let mut started: Vec<(String, usize)> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Started { vertex, name } => Some((name, vertex)),
            _ => None,
        })
        .collect();
    let mut idx: Vec<usize> = started.iter().map(|(_, i)| *i).collect();
    idx.sort();
    assert_eq!(idx, vec![1, 2, 3, 4]);
    let mut from_worker = fake.indices.lock().unwrap().clone();
    started.sort();
    from_worker.sort();
    assert_eq!(started, from_worker);
    // Every started vertex is done, and logs carry its index.
    for i in 1..=4 {
        assert!(rec.summary().contains(&format!("done {i}")));
    }
    assert!(rec
        .events()
        .iter()
        .any(|e| matches!(e, Event::Log { vertex: 1, .. })));
}

#[test]
fn external_cancel_stops_the_solve() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = chain(&mut g);
    let cancel = no_cancel();
    {
        let cancel = cancel.clone();
        fake.hook(
            "a",
            Arc::new(move |_| {
                cancel.store(true, Ordering::SeqCst);
                Ok(())
            }),
        );
    }
    let err = solver(&fake, dir.path(), 2)
        .solve(&g, t, &NoProgress, cancel)
        .unwrap_err();
    assert!(matches!(err, SolveError::Cancelled), "{err:?}");
    assert_eq!(fake.executed(), vec!["docker-image://base", "a"]);
}

#[test]
fn a_panicking_worker_fails_the_vertex_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let (_, _, _, t) = diamond(&mut g);
    fake.hook("a", Arc::new(|_| panic!("boom")));
    let err = solver(&fake, dir.path(), 2)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap_err();
    assert!(err.to_string().contains("worker panicked: boom"), "{err}");
}

#[test]
fn a_failing_source_key_names_the_vertex() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let s = source(&mut g, "bad://thing");
    let t = step(&mut g, "t", &[s]);
    let err = solver(&fake, dir.path(), 2)
        .solve(&g, t, &NoProgress, no_cancel())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad://thing: computing the cache key: no such source"
    );
    assert!(fake.executed().is_empty());
}

#[test]
fn an_unknown_target_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let g = Graph::new();
    let err = solver(&fake, dir.path(), 2)
        .solve(&g, VertexId::new(3), &NoProgress, no_cancel())
        .unwrap_err();
    assert!(matches!(err, SolveError::UnknownVertex(3)));
}

/// Two targets sharing an input (the images of a two-platform build over one build stage):
/// solved together, the shared work runs once, the rest in parallel, results in target order.
#[test]
fn solve_all_runs_shared_work_once_and_the_targets_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut g = Graph::new();
    let s = source(&mut g, "docker-image://base");
    let shared = step(&mut g, "shared", &[s]);
    let amd = step(&mut g, "amd64", &[shared]);
    let arm = step(&mut g, "arm64", &[shared]);
    let arrived = Arc::new(AtomicUsize::new(0));
    let met = Arc::new(AtomicUsize::new(0));
    for name in ["amd64", "arm64"] {
        let (arrived, met) = (arrived.clone(), met.clone());
        fake.hook(
            name,
            Arc::new(move |_| {
                arrived.fetch_add(1, Ordering::SeqCst);
                if wait_for(|| arrived.load(Ordering::SeqCst) >= 2) {
                    met.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }),
        );
    }
    let rec = Recorder::default();
    let out = solver(&fake, dir.path(), 4)
        .solve_all(&g, &[arm, amd], &rec, no_cancel())
        .unwrap();
    assert_eq!(
        out.iter().map(|r| r.content.as_str()).collect::<Vec<_>>(),
        [
            "arm64(shared(docker-image://base()))",
            "amd64(shared(docker-image://base()))"
        ]
    );
    let mut ran = fake.take_executed();
    ran.sort();
    assert_eq!(ran, ["amd64", "arm64", "docker-image://base", "shared"]);
    assert_eq!(met.load(Ordering::SeqCst), 2, "the targets overlapped");
    let started = rec
        .summary()
        .into_iter()
        .filter(|l| l.starts_with("started") && l.ends_with(" shared"))
        .count();
    assert_eq!(started, 1);

    // Again: both from the cache, nothing runs.
    fake.clear_hooks();
    let rec = Recorder::default();
    let again = solver(&fake, dir.path(), 4)
        .solve_all(&g, &[arm, amd], &rec, no_cancel())
        .unwrap();
    assert_eq!(again, out);
    assert!(fake.executed().is_empty());
    let mut cached = rec.cached_names();
    cached.sort();
    assert_eq!(cached, ["amd64", "arm64"]);
}
