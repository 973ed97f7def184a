//! Graph shape: stages, targets, sources, dedup, `--link`.

#[path = "lower_common.rs"]
mod common;

use common::*;
use kiln_frontend::lower::{lower, BuildOptions};
use kiln_solver::{MountKind, Op};

const MULTI: &str = "\
FROM busybox AS base
RUN echo base > /base

FROM base AS build
RUN echo build > /build

FROM alpine AS unused
RUN echo unused

FROM scratch AS final
COPY --from=build /build /out
";

#[test]
fn last_stage_pulls_only_what_it_needs() {
    let r = FakeResolver::new();
    let p = lower(MULTI, &opts(), &r).unwrap();
    assert_eq!(p.stages, vec!["base", "build", "final"]);
    // The unused stage is neither resolved nor lowered.
    assert_eq!(*r.calls.borrow(), vec!["busybox".to_string()]);
    assert!(execs(&p)
        .iter()
        .all(|(_, e)| e.meta.args.last().unwrap() != "echo unused"));
    // scratch + busybox + 2 RUNs + context? no: COPY --from uses the stage, not the context.
    let ids = source_ids(&p);
    assert!(ids.contains(&"scratch".to_string()));
    assert!(ids
        .iter()
        .any(|i| i.starts_with("docker-image://docker.io/library/busybox:latest@sha256:")));
    assert!(!ids.contains(&"local://context".to_string()));
    assert_eq!(p.graph.len(), 5, "{:#?}", p.graph.dag());
    // The result is the COPY over scratch, reading the build stage's RUN.
    let result = v(&p, p.result);
    let ins = p.graph.inputs(p.result);
    assert!(matches!(result.op, Op::File(_)));
    assert_eq!(ins.len(), 2);
    assert!(
        matches!(&v(&p, ins[1]).op, Op::Exec(e) if e.meta.args.last().unwrap() == "echo build > /build")
    );
}

#[test]
fn target_selects_a_stage_case_insensitively() {
    let o = BuildOptions {
        target: Some("BUILD".into()),
        ..opts()
    };
    let p = plan_with(MULTI, &o);
    assert_eq!(p.stages, vec!["base", "build"]);
    assert!(
        matches!(&v(&p, p.result).op, Op::Exec(e) if e.meta.args.last().unwrap() == "echo build > /build")
    );
    // The target inherits base's config (busybox's) and history steps of both stages.
    assert_eq!(created_by(&p).len(), 2);
    assert_eq!(p.config.rootfs.diff_ids.len(), 1);
    let o = BuildOptions {
        target: Some("1".into()),
        ..opts()
    };
    assert_eq!(plan_with(MULTI, &o).stages, vec!["base", "build"]);
}

#[test]
fn target_typo_suggests() {
    let o = BuildOptions {
        target: Some("bulid".into()),
        ..opts()
    };
    assert_eq!(
        err_with(MULTI, &o),
        "Dockerfile: target stage \"bulid\" could not be found (did you mean build?)"
    );
}

#[test]
fn no_stages_is_an_error() {
    assert!(err("ARG foo=bar\n").contains("dockerfile contains no stages to build"));
}

#[test]
fn stage_references_must_point_backwards() {
    let o = BuildOptions {
        target: Some("first".into()),
        ..opts()
    };
    let e = err_with(
        "FROM scratch AS first\nCOPY --from=later /a /b\nFROM scratch AS later\n",
        &o,
    );
    assert!(
        e.contains("cannot copy from stage \"later\", it needs to be defined before current stage"),
        "{e}"
    );
    let e = err("FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n");
    assert!(
        e.contains("circular dependency detected on stage: stage0"),
        "{e}"
    );
}

#[test]
fn copy_from_index_and_image() {
    let p = plan("FROM busybox\nRUN touch /x\nFROM scratch\nCOPY --from=0 /x /x\nCOPY --from=alpine /etc/passwd /p\n");
    let ids = source_ids(&p);
    assert!(ids.iter().any(|i| i.contains("library/alpine")));
    let copy_inputs = p.graph.inputs(p.result);
    assert!(matches!(&v(&p, copy_inputs[1]).op, Op::Source(s) if s.identifier.contains("alpine")));
}

#[test]
fn identical_run_in_two_stages_is_one_vertex() {
    let p = plan("FROM busybox AS a\nRUN make\nFROM busybox AS b\nRUN make\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n");
    let runs: Vec<_> = execs(&p)
        .into_iter()
        .filter(|(_, e)| e.meta.args.last().unwrap() == "make")
        .collect();
    assert_eq!(runs.len(), 1);
}

#[test]
fn copy_link_builds_on_scratch_and_merges() {
    let p = plan("FROM busybox\nCOPY --link a /a\n");
    let result = v(&p, p.result);
    assert!(matches!(result.op, Op::Merge(_)), "{:?}", result.op);
    let ins = p.graph.inputs(p.result);
    assert!(
        matches!(&v(&p, ins[0]).op, Op::Source(s) if s.identifier.starts_with("docker-image://"))
    );
    assert!(matches!(&v(&p, ins[1]).op, Op::File(_)));
    let copy_ins = p.graph.inputs(ins[1]);
    assert!(matches!(&v(&p, copy_ins[0]).op, Op::Source(s) if s.identifier == "scratch"));
    assert!(matches!(&v(&p, copy_ins[1]).op, Op::Source(s) if s.identifier == "local://context"));
    assert!(
        result.meta.name.contains("LINK COPY --link a /a"),
        "{}",
        result.meta.name
    );
}

#[test]
fn run_mounts_become_inputs_and_kinds() {
    let p = plan(
        "FROM busybox AS build\nRUN true\nFROM busybox\nWORKDIR /src\n\
         RUN --mount=type=bind,from=build,source=/out,target=out --mount=type=cache,target=/root/.cache \
         --mount=type=secret,id=tok --mount=type=tmpfs,target=/t,size=1k --mount=type=ssh --mount=target=/ctx go build\n",
    );
    let (id, e) = execs(&p)
        .into_iter()
        .find(|(_, e)| e.meta.args.last().unwrap() == "go build")
        .unwrap();
    let ins = p.graph.inputs(id);
    assert_eq!(e.mounts[0].dest, "/");
    assert_eq!(e.mounts[0].input, Some(0));
    let bind = &e.mounts[1];
    assert_eq!(
        (bind.dest.as_str(), bind.selector.as_str(), bind.readonly),
        ("/src/out", "/out", true)
    );
    assert!(
        matches!(&v(&p, ins[bind.input.unwrap()]).op, Op::Exec(x) if x.meta.args.last().unwrap() == "true")
    );
    assert!(matches!(&e.mounts[2].kind, MountKind::Cache { id, .. } if id == "/root/.cache"));
    assert_eq!(e.mounts[2].input, None);
    assert!(matches!(&e.mounts[3].kind, MountKind::Secret { id, mode: 0o400, .. } if id == "tok"));
    assert_eq!(e.mounts[3].dest, "/run/secrets/tok");
    assert!(matches!(
        e.mounts[4].kind,
        MountKind::Tmpfs { size: Some(1024) }
    ));
    assert!(matches!(&e.mounts[5].kind, MountKind::Ssh { id, .. } if id == "default"));
    assert!(e
        .meta
        .env
        .iter()
        .any(|x| x == "SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"));
    assert!(
        matches!(&v(&p, ins[e.mounts[6].input.unwrap()]).op, Op::Source(s) if s.identifier == "local://context")
    );
}

#[test]
fn vertex_names_locations_and_no_cache_filter() {
    let text = "FROM busybox AS base\nENV A=1\nRUN echo \"base\" > base\nFROM scratch\nCOPY --from=base --chmod=0644 /out /out\n";
    let o = BuildOptions {
        no_cache_filter: vec!["base".into()],
        ..opts()
    };
    let p = plan_with(text, &o);
    let names: Vec<String> = p
        .graph
        .dag()
        .node_weights()
        .map(|v| v.meta.name.clone())
        .collect();
    assert!(
        names.contains(&format!(
            "[base 1/2] FROM docker.io/library/busybox:latest@sha256:{}",
            "b".repeat(64)
        )),
        "{names:?}"
    );
    assert!(
        names.contains(&"[base 2/2] RUN echo \"base\" > base".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[stage-1 1/1] COPY --from=base --chmod=0644 /out /out".to_string()),
        "{names:?}"
    );
    let run = p
        .graph
        .dag()
        .node_weights()
        .find(|v| v.meta.name.contains("RUN"))
        .unwrap();
    assert!(run.meta.ignore_cache);
    assert_eq!(run.meta.stage.as_deref(), Some("base"));
    assert_eq!(
        (
            run.meta.locations[0].start_line,
            run.meta.locations[0].end_line
        ),
        (3, 3)
    );
    assert!(!v(&p, p.result).meta.ignore_cache);
}

#[test]
fn run_network_and_security() {
    let o = BuildOptions {
        network: kiln_solver::NetworkMode::Host,
        ..opts()
    };
    let p = plan_with(
        "FROM busybox\nRUN a\nRUN --network=none --security=insecure b\n",
        &o,
    );
    assert_eq!(
        exec_running(&p, "a").network,
        kiln_solver::NetworkMode::Host
    );
    assert_eq!(
        exec_running(&p, "b").network,
        kiln_solver::NetworkMode::None
    );
    assert_eq!(
        exec_running(&p, "b").security,
        kiln_solver::SecurityMode::Insecure
    );
}

#[test]
fn resolver_errors_point_at_from() {
    let e = err("FROM scratch\nFROM nosuchimage\n");
    assert!(
        e.starts_with("Dockerfile:2:1: failed to resolve source metadata for nosuchimage"),
        "{e}"
    );
}

#[test]
fn vertex_names_expand_variables_and_summarise_heredocs() {
    let p = plan("FROM busybox\nENV FOO=bar\nCOPY $FOO \"baz\"\nRUN echo \"$FOO\" $UNSET\nRUN <<EOF\necho hi\necho there\nEOF\n");
    let names: Vec<String> = p
        .graph
        .dag()
        .node_weights()
        .map(|v| v.meta.name.clone())
        .collect();
    assert!(
        names.contains(&"[2/4] COPY bar baz".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[3/4] RUN echo \"bar\" $UNSET".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"[4/4] RUN <<EOF (echo hi...)".to_string()),
        "{names:?}"
    );
}

#[test]
fn errors_while_lowering_show_the_line() {
    let e = err("FROM busybox\nENV A=1\nCOPY --chown=a:b:c --chmod=$M x /y\n");
    // `--chmod=$M` expands to the empty string, which is no valid mode.
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines[0].starts_with("Dockerfile:3:1: invalid chmod parameter: ''"),
        "{e}"
    );
    assert_eq!(lines[1], " 3 | COPY --chown=a:b:c --chmod=$M x /y");
    assert_eq!(lines[2], "   | ^");
}

/// A name taken by two stages: `--target`, `COPY --from` and `RUN --mount=from=` mean the
/// last stage of that name, `FROM <name>` the last one before it (BuildKit overwrites the
/// name as it registers the stages; lint and lowering share this model).
const DUPLICATE: &str = "\
FROM busybox AS dup
RUN echo first > /which
FROM dup AS early
RUN cat /which
FROM busybox AS dup
RUN echo second > /which
FROM dup AS viafrom
RUN cat /which
FROM busybox AS viacopy
COPY --from=dup /which /which
FROM busybox AS viamount
RUN --mount=type=bind,from=dup,target=/m cat /m/which
";

/// The `echo … > /which` a plan's result depends on.
fn which_writers(p: &kiln_frontend::lower::BuildPlan) -> Vec<String> {
    execs(p)
        .into_iter()
        .map(|(_, e)| e.meta.args.last().unwrap().clone())
        .filter(|a| a.ends_with("> /which"))
        .collect()
}

#[test]
fn a_duplicate_stage_name_means_the_last_stage() {
    let target = |t: &str| BuildOptions {
        target: Some(t.into()),
        ..opts()
    };
    for t in ["dup", "viafrom", "viacopy", "viamount"] {
        let p = plan_with(DUPLICATE, &target(t));
        assert_eq!(which_writers(&p), vec!["echo second > /which"], "{t}");
        let dups: Vec<_> = p.warnings.iter().map(|w| (&w.rule, w.line)).collect();
        assert_eq!(
            dups,
            vec![(&"DuplicateStageName".to_string(), 5)],
            "the warning stays ({t})"
        );
    }
    // FROM dup before the second dup is the first one.
    let p = plan_with(DUPLICATE, &target("early"));
    assert_eq!(which_writers(&p), vec!["echo first > /which"]);
    // A --from naming a later stage (the last dup) from before it is refused.
    let df = "FROM busybox AS dup\nRUN echo first > /which\nFROM busybox AS mid\nCOPY --from=dup /which /which\nFROM busybox AS dup\nRUN echo second > /which\n";
    let e = err_with(df, &target("mid"));
    assert!(
        e.contains("Dockerfile:4:1: cannot copy from stage \"dup\", it needs to be defined before current stage \"mid\""),
        "{e}"
    );
}
