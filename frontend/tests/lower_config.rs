//! Image config, history texts, WORKDIR/COPY paths, ONBUILD triggers, heredocs.

#[path = "lower_common.rs"]
mod common;

use common::*;
use kiln_frontend::lower::BuildOptions;
use kiln_solver::{Chmod, Chown, FileAction, Op, UserSpec};

#[test]
fn exported_history_texts() {
    let p = plan(
        "FROM busybox AS base\nRUN echo foo > foo2\nFROM busybox\nLABEL lbl=val\nCOPY --from=base foo2 foo3\nWORKDIR /\n\
         RUN echo bar > foo4\nRUN [\"ls\"]\nEXPOSE 2375 5000 1234/udp\n",
    );
    assert_eq!(
        created_by(&p),
        vec![
            "LABEL lbl=val",
            "COPY foo2 foo3 # buildkit",
            "WORKDIR /",
            "RUN /bin/sh -c echo bar > foo4 # buildkit",
            "RUN ls # buildkit",
            // Go's %v of the port map, as Docker 20.10 + BuildKit writes it (BuildKit's
            // dockerfile frontend 1.19 and later writes a list instead, 98eab3257).
            "EXPOSE map[1234/udp:{} 2375/tcp:{} 5000/tcp:{}]",
        ]
    );
    let empty: Vec<bool> = p
        .steps
        .iter()
        .map(|s| s.history.empty_layer == Some(true))
        .collect();
    assert_eq!(empty, vec![true, false, true, false, false, true]);
    assert!(p
        .steps
        .iter()
        .all(|s| s.history.comment.as_deref() == Some("buildkit.dockerfile.v0")));
    assert!(p.steps.iter().all(|s| s.history.created.is_none()));
    assert!(p
        .steps
        .iter()
        .all(|s| s.layer_vertex.is_some() == (s.history.empty_layer != Some(true))));
    assert_eq!(p.steps.last().map(|s| s.layer_vertex), Some(None));
    assert_eq!(p.steps[4].layer_vertex, Some(p.result));
    // Base image history stays in the config; steps come after it.
    assert_eq!(p.config.history.len(), 1);
}

#[test]
fn history_flattens_build_args() {
    let p = plan("FROM busybox\nARG foo=bar\nARG bar=123\nARG foo=bar2\nRUN ls /etc/\n");
    let cb = created_by(&p);
    assert_eq!(&cb[..3], &["ARG foo=bar", "ARG bar=123", "ARG foo=bar2"]);
    assert_eq!(
        cb[3],
        "RUN |2 foo=bar2 bar=123 /bin/sh -c ls /etc/ # buildkit"
    );
}

#[test]
fn metadata_history_texts() {
    let p = plan(
        "FROM busybox\nENV A=b C=d\nUSER app\nCMD [\"sh\"]\nENTRYPOINT /entry\nSHELL [\"/bin/bash\", \"-c\"]\nVOLUME /data /x\n\
         STOPSIGNAL SIGKILL\nMAINTAINER me@x\nARG X=1\nARG Y\n\
         HEALTHCHECK --interval=1s --timeout=10s --start-period=3s --start-interval=100ms --retries=5 CMD [\"bin\", \"-c\", \"exit 0\"]\n\
         COPY --chown=1:2 --chmod=755 a b /d/\nWORKDIR app\n",
    );
    assert_eq!(
        created_by(&p),
        vec![
            "ENV A=b C=d",
            "USER app",
            "CMD [\"sh\"]",
            "ENTRYPOINT [\"/bin/sh\" \"-c\" \"/entry\"]",
            "SHELL [/bin/bash -c]",
            "VOLUME [/data /x]",
            "STOPSIGNAL SIGKILL",
            "MAINTAINER me@x",
            "ARG X=1",
            "ARG Y",
            // Go's %q of the health config (BuildKit until d67dafeb8, April 2026).
            "HEALTHCHECK &{[\"CMD\" \"bin\" \"-c\" \"exit 0\"] \"1s\" \"10s\" \"3s\" \"100ms\" '\\x05'}",
            "COPY --chown=1:2 --chmod=755 a b /d/ # buildkit",
            "WORKDIR /home/app",
        ]
    );
    let c = &p.config.config;
    assert_eq!(c.user.as_deref(), Some("app"));
    assert_eq!(
        c.cmd.as_ref(),
        Some(&vec!["sh".to_string()]),
        "CMD set in this stage survives ENTRYPOINT"
    );
    assert_eq!(
        c.entrypoint.as_ref(),
        Some(&vec!["/bin/sh".to_string(), "-c".into(), "/entry".into()])
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
    assert_eq!(p.config.author.as_deref(), Some("me@x"));
    assert_eq!(c.working_dir.as_deref(), Some("/home/app"));
    assert_eq!(
        c.args_escaped,
        Some(true),
        "CMD is marked escaped, as BuildKit does"
    );
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!((hc.interval, hc.retries), (1_000_000_000, 5));
    assert!(c.volumes.as_ref().unwrap().contains_key("/x"));
    let env = c.env.as_ref().unwrap();
    assert!(env.contains(&"A=b".to_string()) && !env.iter().any(|e| e.starts_with("X=")));
}

#[test]
fn entrypoint_resets_inherited_cmd_and_uses_shell() {
    let p = plan("FROM busybox\nSHELL [\"ls\"]\nENTRYPOINT my entrypoint\n");
    assert_eq!(p.config.config.cmd, None);
    assert_eq!(
        p.config.config.entrypoint,
        Some(vec!["ls".to_string(), "my entrypoint".to_string()])
    );
    let p = plan("FROM busybox\nCMD [\"a\"]\nENTRYPOINT [\"e\"]\n");
    assert_eq!(p.config.config.cmd, Some(vec!["a".to_string()]));
}

#[test]
fn scratch_config_and_default_path() {
    let o = BuildOptions {
        labels: [("bar".to_string(), "baz".to_string())].into(),
        ..opts()
    };
    let p = plan_with("FROM scratch\nENV foo=bar\nLABEL foo=bar\n", &o);
    assert_eq!(
        (p.config.os.as_str(), p.config.architecture.as_str()),
        ("linux", "amd64")
    );
    assert_eq!(p.config.config.working_dir.as_deref(), Some("/"));
    assert!(p.config.rootfs.diff_ids.is_empty());
    assert_eq!(
        p.config.config.env,
        Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "foo=bar".to_string()
        ])
    );
    let labels = p.config.config.labels.clone().unwrap();
    assert_eq!(labels.get("foo").map(String::as_str), Some("bar"));
    assert_eq!(labels.get("bar").map(String::as_str), Some("baz"));
    assert!(matches!(&v(&p, p.result).op, Op::Source(s) if s.identifier == "scratch"));
    // A base image without PATH gets the default one; with PATH it is kept.
    let p = plan("FROM nopath\n");
    assert!(p
        .config
        .config
        .env
        .unwrap()
        .iter()
        .any(|e| e.starts_with("PATH=/usr/local/sbin")));
    let p = plan("FROM busybox\n");
    assert!(p
        .config
        .config
        .env
        .unwrap()
        .contains(&"PATH=/usr/local/bin:/usr/bin:/bin".to_string()));
}

#[test]
fn run_uses_stage_env_cwd_user_and_shell() {
    let p = plan("FROM busybox\nENV K=v\nWORKDIR sub\nUSER 1000:1000\nRUN a\nSHELL [\"/bin/bash\", \"-eu\", \"-c\"]\nRUN b\n");
    let a = exec_running(&p, "a");
    assert_eq!(a.meta.args, vec!["/bin/sh", "-c", "a"]);
    assert_eq!(a.meta.cwd, "/home/sub");
    assert_eq!(a.meta.user, "1000:1000");
    assert_eq!(
        a.meta.env,
        vec!["PATH=/usr/local/bin:/usr/bin:/bin", "BASEVAR=base", "K=v"]
    );
    assert_eq!(
        exec_running(&p, "b").meta.args,
        vec!["/bin/bash", "-eu", "-c", "b"]
    );
}

#[test]
fn workdir_creates_dir_owned_by_user() {
    let p = plan("FROM busybox\nUSER app\nWORKDIR /mydir\nWORKDIR ..\nWORKDIR /\n");
    let mkdirs: Vec<FileAction> = p
        .graph
        .dag()
        .node_weights()
        .filter_map(|v| match &v.op {
            Op::File(f) => Some(f.actions[0].clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        mkdirs,
        vec![FileAction::Mkdir {
            path: "/mydir".into(),
            mode: 0o755,
            make_parents: true,
            owner: Some(Chown {
                user: UserSpec::Name("app".into()),
                group: None
            })
        }]
    );
    assert_eq!(
        created_by(&p),
        vec!["USER app", "WORKDIR /mydir", "WORKDIR /", "WORKDIR /"]
    );
}

#[test]
fn copy_relative_destinations() {
    let p = plan(
        "FROM busybox\nWORKDIR /test1\nWORKDIR test2\nCOPY foo ./\nADD foo ./bar/baz\nCOPY foo ./bar/baz2\nWORKDIR ..\nCOPY foo ./\n\
         COPY foo /test3/\nWORKDIR /test4\nCOPY . .\nWORKDIR /test5/test6\nCOPY foo ../\nCOPY foo .\nENV empty=\"\"\nCOPY foo $empty\n",
    );
    let wd = exec_or_none(&p);
    assert!(wd);
    assert_eq!(
        copy_dests(&p),
        vec![
            "/test1/test2/",
            "/test1/test2/bar/baz",
            "/test1/test2/bar/baz2",
            "/test1/",
            "/test3/",
            "/test4/",
            "/test5/",
            "/test5/test6/",
            "/test5/test6/",
        ]
    );
}

fn exec_or_none(p: &kiln_frontend::lower::BuildPlan) -> bool {
    execs(p).is_empty()
}

#[test]
fn copy_actions_flags() {
    let p = plan("FROM busybox\nCOPY --chmod=go-w --exclude=*.md --parents a/./b/c nomatch* /dst/\nADD --unpack=false x.tgz /t/\nADD y.tar /u/\n");
    let mut actions = Vec::new();
    for v in p.graph.dag().node_weights() {
        if let Op::File(f) = &v.op {
            actions.extend(f.actions.iter().cloned());
        }
    }
    let copies: Vec<_> = actions
        .into_iter()
        .filter_map(|a| match a {
            FileAction::Copy(c) => Some(c),
            _ => None,
        })
        .collect();
    let first = &copies[0];
    assert_eq!(first.src, "/a/./b/c");
    assert!(
        first.parents
            && first.allow_wildcard
            && first.allow_empty_wildcard
            && first.dir_copy_contents
            && first.follow_symlinks
    );
    assert_eq!(first.mode, Some(Chmod::Symbolic("go-w".into())));
    assert_eq!(first.exclude_patterns, vec!["*.md".to_string()]);
    assert!(!first.attempt_unpack);
    assert_eq!(copies[1].src, "/nomatch*");
    assert!(!copies[2].attempt_unpack, "--unpack=false");
    assert!(
        copies[3].attempt_unpack && !copies[3].allow_empty_wildcard,
        "ADD unpacks local archives"
    );
}

#[test]
fn add_url_and_git_sources() {
    let p = plan("FROM busybox\nADD --checksum=sha256:abc https://example.com/dl/file.tgz /d/\nADD https://example.com/repo.git#v1 /src\n");
    let ids = source_ids(&p);
    assert!(ids.contains(&"https://example.com/dl/file.tgz".to_string()));
    assert!(ids.contains(&"https://example.com/repo.git#v1".to_string()));
    let url = p
        .graph
        .dag()
        .node_weights()
        .find_map(|v| match &v.op {
            Op::Source(s) if s.identifier.ends_with(".tgz") => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        url.attrs.get("checksum").map(String::as_str),
        Some("sha256:abc")
    );
    assert_eq!(
        url.attrs.get("filename").map(String::as_str),
        Some("file.tgz")
    );
    let dests = copy_dests(&p);
    assert_eq!(dests, vec!["/d/", "/src"]);
    assert!(
        err("FROM busybox\nADD --checksum=sha256:abc local.txt /d/\n")
            .contains("checksum can't be specified")
    );
}

#[test]
fn onbuild_triggers_run_then_clear() {
    let p = plan("FROM withtrigger\nRUN after\n");
    assert!(p.config.config.on_build.is_none());
    let trig = exec_running(&p, "echo triggered");
    let after = exec_running(&p, "after");
    assert!(after.meta.env.contains(&"FROM_TRIGGER=yes".to_string()));
    assert_eq!(trig.meta.cwd, "/home");
    assert_eq!(
        created_by(&p),
        vec![
            "RUN /bin/sh -c echo triggered # buildkit",
            "ENV FROM_TRIGGER=yes",
            "RUN /bin/sh -c after # buildkit"
        ]
    );
    // Triggers of an in-file stage fire in its child, once.
    let p = plan("FROM busybox AS base\nONBUILD RUN echo 11 >> /out\nFROM base AS mid\nRUN cp\nFROM mid\nRUN last\n");
    let runs: Vec<_> = execs(&p)
        .into_iter()
        .filter(|(_, e)| e.meta.args.last().unwrap() == "echo 11 >> /out")
        .collect();
    assert_eq!(runs.len(), 1);
    assert!(p.config.config.on_build.is_none());
    // ONBUILD stores the trigger in the config without history.
    let p = plan("FROM busybox\nONBUILD RUN <<EOF\necho hello\nEOF\n");
    assert_eq!(
        p.config.config.on_build,
        Some(vec!["RUN <<EOF\necho hello\nEOF".to_string()])
    );
    assert!(p.steps.is_empty());
}

#[test]
fn run_heredocs() {
    let p = plan("FROM busybox\nRUN <<EOF\necho \"i am\" >> /dest\nwhoami >> /dest\nEOF\n");
    let e = execs(&p).pop().unwrap().1;
    assert_eq!(
        e.meta.args,
        vec!["/bin/sh", "-c", "echo \"i am\" >> /dest\nwhoami >> /dest\n"]
    );
    let p = plan("FROM busybox\nRUN <<EOF\n#!/bin/awk -f\nBEGIN { print 1 }\nEOF\n");
    let e = execs(&p).pop().unwrap().1;
    assert_eq!(e.meta.args, vec!["/dev/pipes/EOF"]);
    assert_eq!(e.mounts[1].dest, "/dev/pipes/");
    assert!(e.mounts[1].readonly);
    let p = plan("FROM busybox\nRUN cat <<EOF > /out\nhello\nEOF\n");
    let e = execs(&p).pop().unwrap().1;
    assert_eq!(
        e.meta.args,
        vec!["/bin/sh", "-c", "cat <<EOF > /out\nhello\nEOF"]
    );
}

#[test]
fn copy_heredocs_make_files() {
    let p = plan("FROM busybox\nARG name=world\nWORKDIR /dest\nCOPY <<EOF <<'RAW' double/\nHello ${name} 'q'!\nEOF\nHello ${name}!\nRAW\n");
    let mut files = Vec::new();
    for v in p.graph.dag().node_weights() {
        if let Op::File(f) = &v.op {
            for a in &f.actions {
                if let FileAction::Mkfile {
                    path, data, mode, ..
                } = a
                {
                    files.push((
                        path.clone(),
                        String::from_utf8_lossy(data).to_string(),
                        *mode,
                    ));
                }
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        vec![
            ("/EOF".to_string(), "Hello world 'q'!\n".to_string(), 0o644),
            ("/RAW".to_string(), "Hello ${name}!\n".to_string(), 0o644)
        ]
    );
    assert_eq!(
        created_by(&p).last().unwrap(),
        "COPY <<EOF <<RAW double/ # buildkit"
    );
    assert_eq!(copy_dests(&p), vec!["/dest/double/", "/dest/double/"]);
}

/// `CMD []`/`ENTRYPOINT []` and the history texts, as Docker 20.10 + BuildKit wrote them on
/// this machine (`docker history --no-trunc`, `docker save`'s config).
#[test]
fn empty_commands_and_history_texts_as_docker_writes_them() {
    let p = plan(
        "FROM busybox\nENTRYPOINT []\nCMD []\nEXPOSE 80 80/tcp 100\nEXPOSE 7000/TCP\n\
         HEALTHCHECK --interval=1m30s --timeout=100ms --retries=65 CMD wget -q localhost || exit 1\n",
    );
    assert_eq!(
        created_by(&p),
        vec![
            "ENTRYPOINT []",
            "CMD []",
            "EXPOSE map[100/tcp:{} 80/tcp:{}]",
            "EXPOSE map[7000/tcp:{}]",
            "HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost || exit 1\"] \"1m30s\" \"100ms\" \"0s\" 'A'}",
        ]
    );
    let json = serde_json::to_value(&p.config.config).unwrap();
    assert!(json.get("Cmd").is_none(), "{json}");
    assert!(json.get("Entrypoint").is_none(), "{json}");
    assert_eq!(json["ArgsEscaped"], serde_json::json!(true));
    let p = plan("FROM busybox\nHEALTHCHECK NONE\n");
    assert_eq!(
        created_by(&p),
        vec!["HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}"]
    );
}

#[test]
fn go_quote_rune_as_fmt_q() {
    use kiln_frontend::lower::go_quote_rune;
    for (n, want) in [
        (0, "'\\x00'"),
        (3, "'\\x03'"),
        (10, "'\\n'"),
        (39, "'\\''"),
        (65, "'A'"),
        (127, "'\\x7f'"),
        (233, "'é'"),
        (-1, "'�'"),
    ] {
        assert_eq!(go_quote_rune(n), want, "{n}");
    }
}
