//! ARG/ENV scoping and expansion (after BuildKit's dockerfile_args_test.go and §1.2).

#[path = "lower_common.rs"]
mod common;

use common::*;
use kiln_frontend::lower::{lower, BuildOptions};
use kiln_solver::{Chown, FileAction, Op, UserSpec};

fn with_args(pairs: &[(&str, &str)]) -> BuildOptions {
    let mut o = opts();
    for (k, v) in pairs {
        o.build_args.insert(k.to_string(), v.to_string());
    }
    o
}

fn env_of(p: &kiln_frontend::lower::BuildPlan, cmd: &str) -> Vec<String> {
    exec_running(p, cmd).meta.env
}

#[test]
fn global_arg_in_from_overridden_by_build_arg() {
    let r = FakeResolver::new();
    lower(
        "ARG tag=nosuchtag\nFROM busybox:${tag}\n",
        &with_args(&[("tag", "latest")]),
        &r,
    )
    .unwrap();
    assert_eq!(*r.calls.borrow(), vec!["busybox:latest".to_string()]);
}

#[test]
fn global_arg_required_error() {
    let e = err("ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n");
    assert!(e.contains("FOO: custom error"), "{e}");
    assert!(e.starts_with("Dockerfile:1:1: "), "{e}");
    plan_with(
        "ARG FOO=${FOO:?\"custom error\"}\nFROM busybox\n",
        &with_args(&[("FOO", "bar")]),
    );
}

#[test]
fn stage_arg_default_expansion() {
    let df = "FROM busybox\nARG FOO\nARG BAR=${FOO:?\"foo missing\"}\nRUN true\n";
    assert!(err(df).contains("FOO: foo missing"));
    let p = plan_with(df, &with_args(&[("FOO", "123")]));
    let env = env_of(&p, "true");
    assert!(
        env.contains(&"FOO=123".to_string()) && env.contains(&"BAR=123".to_string()),
        "{env:?}"
    );
    // The default is not evaluated when a build arg gives the value.
    let p = plan_with(df, &with_args(&[("BAR", "123")]));
    assert!(env_of(&p, "true").contains(&"BAR=123".to_string()));
}

#[test]
fn multi_args_and_quoted_meta_args() {
    let r = FakeResolver::new();
    let df = "ARG a1=\"foo bar\" a2=box\nARG a3=\"$a2-foo\"\nFROM busy$a2 AS build\nARG a3 a4=\"123 456\" a1\nRUN echo -n \"$a1:$a3:$a4\" > /out\n";
    let p = lower(df, &opts(), &r).unwrap();
    assert_eq!(*r.calls.borrow(), vec!["busybox".to_string()]);
    let env = env_of(&p, "echo -n \"$a1:$a3:$a4\" > /out");
    for want in ["a3=box-foo", "a4=123 456", "a1=foo bar"] {
        assert!(env.contains(&want.to_string()), "{want} not in {env:?}");
    }
    let df = "ARG a1=\"box\"\nARG a2=\"$a1-foo\"\nFROM busy$a1\nARG a2\nARG a3=\"bar-$a2\"\nRUN echo -n $a3 > /out\n";
    assert!(env_of(&plan(df), "echo -n $a3 > /out").contains(&"a3=bar-box-foo".to_string()));
}

#[test]
fn global_args_need_redeclaration() {
    let p = plan("ARG G=1\nFROM busybox\nRUN before\nARG G\nRUN after\n");
    assert!(!env_of(&p, "before").iter().any(|e| e.starts_with("G=")));
    assert!(env_of(&p, "after").contains(&"G=1".to_string()));
}

#[test]
fn empty_arg_is_set_bare_arg_is_not() {
    let p = plan("FROM busybox\nARG FOO\nARG BAR=\nRUN env\n");
    let env = env_of(&p, "env");
    assert!(env.contains(&"BAR=".to_string()));
    assert!(!env.iter().any(|e| e.starts_with("FOO")));
}

#[test]
fn the_later_of_env_and_arg_wins_in_run_and_only_env_is_persisted() {
    // As BuildKit's LLB state env: an ENV after an ARG replaces it, an ARG after an ENV
    // replaces it inside RUN (Docker 20.10 + BuildKit prints `fromarg` for ENV X=fromenv then
    // ARG X=fromarg); the image config keeps the ENV.
    let p = plan("FROM busybox\nARG V=arg\nENV V=env\nRUN one\nARG V=again\nRUN two\n");
    for (cmd, want) in [("one", "V=env"), ("two", "V=again")] {
        let env = env_of(&p, cmd);
        assert_eq!(
            env.iter()
                .filter(|e| e.starts_with("V="))
                .cloned()
                .collect::<Vec<_>>(),
            vec![want],
            "{cmd}"
        );
    }
    assert!(p
        .config
        .config
        .env
        .as_ref()
        .unwrap()
        .contains(&"V=env".to_string()));
    assert_eq!(
        created_by(&p)[4],
        "RUN |1 V=again /bin/sh -c two # buildkit",
        "history shows the value RUN saw"
    );
    let p = plan("FROM busybox\nARG ONLYARG=1\nRUN x\n");
    assert!(env_of(&p, "x").contains(&"ONLYARG=1".to_string()));
    assert!(!p
        .config
        .config
        .env
        .unwrap()
        .iter()
        .any(|e| e.starts_with("ONLYARG")));
}

#[test]
fn env_same_instruction_uses_old_values() {
    let p = plan("FROM busybox\nENV a=old\nENV a=new b=$a\nENV c=${BASEVAR}-x\n");
    let env = p.config.config.env.unwrap();
    assert!(env.contains(&"a=new".to_string()));
    assert!(env.contains(&"b=old".to_string()));
    assert!(
        env.contains(&"c=base-x".to_string()),
        "base image env is in scope: {env:?}"
    );
}

#[test]
fn default_env_with_args() {
    let df = "ARG image=idlebox\nFROM busy${image#idle}\nARG my_arg\nENV my_arg \"my_arg=${my_arg:-def_val}\"\nENV my_trimmed_arg \"${my_arg%%e*}\"\nRUN x\n";
    let r = FakeResolver::new();
    let p = lower(df, &with_args(&[("my_arg", "")]), &r).unwrap();
    assert_eq!(*r.calls.borrow(), vec!["busybox".to_string()]);
    let env = env_of(&p, "x");
    assert!(
        env.contains(&"my_arg=my_arg=def_val".to_string()),
        "{env:?}"
    );
    assert!(
        env.contains(&"my_trimmed_arg=my_arg=d".to_string()),
        "{env:?}"
    );
    let p = plan_with(df, &with_args(&[("my_arg", "override")]));
    let env = env_of(&p, "x");
    assert!(
        env.contains(&"my_arg=my_arg=override".to_string()),
        "{env:?}"
    );
    assert!(
        env.contains(&"my_trimmed_arg=my_arg=ov".to_string()),
        "{env:?}"
    );
}

#[test]
fn proxy_args_go_to_proxy_env_only() {
    let df = "FROM busybox\nARG FOO\nARG BAR\nRUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO\n";
    let a = with_args(&[
        ("FOO", "foocontents"),
        ("http_proxy", "hpvalue"),
        ("NO_PROXY", "npvalue"),
    ]);
    let p = plan_with(df, &a);
    let e = exec_running(&p, "echo -n $HTTP_PROXY::$NO_PROXY::$FOO");
    assert!(e.meta.env.contains(&"FOO=foocontents".to_string()));
    assert!(!e
        .meta
        .env
        .iter()
        .any(|x| x.to_ascii_lowercase().contains("proxy")));
    // Both spellings, as BuildKit's executor sets them.
    assert_eq!(
        e.meta.proxy_env,
        vec![
            "HTTP_PROXY=hpvalue".to_string(),
            "http_proxy=hpvalue".to_string(),
            "NO_PROXY=npvalue".to_string(),
            "no_proxy=npvalue".to_string()
        ]
    );
    // Changing only a proxy keeps the vertex digest.
    let b = with_args(&[("FOO", "foocontents"), ("http_proxy", "other")]);
    let q = plan_with(df, &b);
    assert_eq!(v(&p, p.result).digest, v(&q, q.result).digest);
    assert!(!created_by(&p).iter().any(|c| c.contains("hpvalue")));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn platform_args_predefined_in_global_scope() {
    // The stage runs on the build platform (RUN for linux/arm64 is refused on amd64).
    let df = "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETPLATFORM\nARG TARGETOS\nARG BUILDARCH\nRUN before $TARGETARCH\n";
    let o = BuildOptions {
        target_platform: kiln_frontend::image::Platform::parse("linux/arm64").unwrap(),
        ..with_args(&[("TARGETOS", "freebsd")])
    };
    let env = env_of(&plan_with(df, &o), "before $TARGETARCH");
    assert!(
        env.contains(&"TARGETPLATFORM=linux/arm64".to_string()),
        "{env:?}"
    );
    assert!(env.contains(&"TARGETOS=freebsd".to_string()));
    assert!(env.contains(&"BUILDARCH=amd64".to_string()));
    assert!(
        !env.iter().any(|e| e.starts_with("TARGETARCH=")),
        "not declared in the stage"
    );
    let r = FakeResolver::new();
    lower(
        "FROM scratch AS build-linux\nFROM build-${TARGETOS}\n",
        &opts(),
        &r,
    )
    .unwrap();
    assert!(
        r.calls.borrow().is_empty(),
        "FROM build-linux names the stage"
    );
}

#[test]
fn expose_copy_chown_expansion() {
    let p = plan(
        "FROM busybox\nARG PORTS=\"3000 4000/udp\"\nEXPOSE $PORTS\nEXPOSE 5000\nENV FOO bar\nARG group=nobody\nENV owner 1000\n\
         COPY --chown=${owner}:${group} $FOO baz\n",
    );
    let ports: Vec<String> = p
        .config
        .config
        .exposed_ports
        .clone()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(ports, vec!["3000/tcp", "4000/udp", "5000/tcp"]);
    let f = file_op(&p, p.result);
    match &f.actions[0] {
        FileAction::Copy(c) => {
            assert_eq!(c.src, "/bar");
            assert_eq!(c.dest, "/home/baz");
            assert_eq!(
                c.owner,
                Some(Chown {
                    user: UserSpec::Id(1000),
                    group: Some(UserSpec::Name("nobody".into()))
                })
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mount_options_expand_from_env_and_args() {
    let p = plan("FROM busybox\nENV SOME_PATH=/mycache\nARG MNT_TYPE=cache\nRUN --mount=type=$MNT_TYPE,target=$SOME_PATH true\n");
    let e = exec_running(&p, "true");
    assert!(
        matches!(&e.mounts[1].kind, kiln_solver::MountKind::Cache { id, .. } if id == "/mycache")
    );
    assert_eq!(e.mounts[1].dest, "/mycache");
    assert!(matches!(v(&p, p.result).op, Op::Exec(_)));
}

#[test]
fn unconsumed_build_args_warn() {
    let p = plan_with(
        "ARG USED\nFROM busybox\n",
        &with_args(&[
            ("USED", "1"),
            ("FOO", "x"),
            ("BAR", "y"),
            ("HTTP_PROXY", "p"),
        ]),
    );
    let msgs: Vec<&str> = p.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec!["[Warning] One or more build-args [BAR FOO] were not consumed"]
    );
}

#[test]
fn from_platform_expands_build_platform() {
    let o = BuildOptions {
        target_platform: kiln_frontend::image::Platform::parse("linux/arm64").unwrap(),
        ..opts()
    };
    let p = plan_with(
        "FROM --platform=$BUILDPLATFORM busybox AS build\nFROM busybox\nCOPY --from=build /a /a\n",
        &o,
    );
    let mut platforms: Vec<String> = p
        .graph
        .dag()
        .node_weights()
        .filter_map(|v| match &v.op {
            Op::Source(s) if s.identifier.starts_with("docker-image://") => {
                s.attrs.get("platform").cloned()
            }
            _ => None,
        })
        .collect();
    platforms.sort();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64"]);
}

/// A stage built FROM another stage sees the ARGs its parent declared, with the parent's
/// values, in RUN and in expansion (Docker 20.10 + BuildKit: the LLB state carries them); its
/// RUN history lists only its own ARGs.
#[test]
fn args_reach_a_stage_built_on_their_stage() {
    let df = "FROM busybox AS base\nARG A=adefault\nARG B\nARG C=c1\nENV E=fromenv\n\
              FROM base AS child\nARG C=c2\nRUN one\nWORKDIR /w-$A-$B\n\
              FROM child AS grandchild\nRUN two\n";
    let p = plan(df);
    let one = env_of(&p, "one");
    for want in ["A=adefault", "C=c2", "E=fromenv"] {
        assert!(one.contains(&want.to_string()), "{want} in {one:?}");
    }
    assert!(!one.iter().any(|e| e.starts_with("B=")), "unset: {one:?}");
    assert!(env_of(&p, "two").contains(&"A=adefault".to_string()));
    assert_eq!(p.config.config.working_dir.as_deref(), Some("/w-adefault-"));
    let cb = created_by(&p);
    assert!(
        cb.contains(&"RUN |1 C=c2 /bin/sh -c one # buildkit".to_string()),
        "{cb:?}"
    );
    assert!(
        cb.contains(&"RUN /bin/sh -c two # buildkit".to_string()),
        "{cb:?}"
    );
    // Build args override the parent's values.
    let p = plan_with(df, &with_args(&[("A", "over"), ("B", "bset")]));
    let two = env_of(&p, "two");
    assert!(two.contains(&"A=over".to_string()) && two.contains(&"B=bset".to_string()));
    assert_eq!(p.config.config.working_dir.as_deref(), Some("/w-over-bset"));
    // Never persisted into the image.
    let env = p.config.config.env.unwrap();
    assert!(!env
        .iter()
        .any(|e| e.starts_with("A=") || e.starts_with("C=")));
}
