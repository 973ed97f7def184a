//! Dockerfile semantics a docker user trips over (issue 9: items 1, 2, 3, 5, 6, 7, 10),
//! end to end against what docker does.
//!
//! Unless a test says otherwise, every expected value was taken from Docker 20.10.24 +
//! BuildKit on this machine (`DOCKER_BUILDKIT=1 /usr/bin/docker build --network=host
//! --progress=plain`, `docker history --no-trunc`, `docker inspect`, `docker save`), on a
//! busybox base made with scripts/busybox-rootfs.sh and `docker import`.

mod common;

use common::{context, Kiln};
use serde_json::json;

/// The output lines (`#N 0.123 text` → `text`) of the step whose name contains `step`.
fn step_output(progress: &str, step: &str) -> Vec<String> {
    let id = progress
        .lines()
        .find(|l| l.starts_with('#') && l.contains(" [") && l.contains(step))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no step {step:?} in:\n{progress}"))
        .to_string();
    progress
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (n, t, rest) = (parts.next()?, parts.next()?, parts.next()?);
            (n == id && t.parse::<f64>().is_ok()).then(|| rest.to_string())
        })
        .collect()
}

/// `kiln history --no-trunc IMAGE`'s CREATED BY column, newest first.
fn created_by(k: &Kiln, image: &str) -> Vec<String> {
    let out = k.ok(&["history", "--no-trunc", image]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    let (start, end) = (
        header.find("CREATED BY").unwrap(),
        header.find("SIZE").unwrap(),
    );
    lines
        .map(|l| l.get(start..end).unwrap_or("").trim_end().to_string())
        .collect()
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The architecture as docker names it, and another one this machine cannot run.
fn host_and_other_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "arm64"),
        "aarch64" => ("arm64", "amd64"),
        other => panic!("unexpected test architecture {other}"),
    }
}

// Item 1: ARG through `FROM <stage>`.
const ARGS_THROUGH_STAGES: &str = "\
FROM busybox AS base
ARG A=adefault
ARG B
ARG C=c1
ENV E=fromenv
FROM base AS child
ARG C=c2
RUN echo \"A=$A B=$B C=$C E=$E\" && env | sort | grep -E '^(A|B|C|E)='
WORKDIR /w-$A-$B
RUN pwd
FROM child AS grandchild
RUN echo \"gc A=$A B=$B C=$C\"
";

#[test]
fn args_reach_stages_built_from_their_stage() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", ARGS_THROUGH_STAGES)]);
    let out = k.build_ok(ctx.path(), "args-stage:1", &[]);
    assert_eq!(
        step_output(&out, "[child 1/3]"),
        lines(&[
            "A=adefault B= C=c2 E=fromenv",
            "A=adefault",
            "C=c2",
            "E=fromenv"
        ])
    );
    assert_eq!(step_output(&out, "[child 3/3]"), lines(&["/w-adefault-"]));
    assert_eq!(
        step_output(&out, "[grandchild 1/1]"),
        lines(&["gc A=adefault B= C=c2"])
    );

    let out = k.build_ok(
        ctx.path(),
        "args-stage:2",
        &["--build-arg", "A=over", "--build-arg", "B=bset"],
    );
    assert_eq!(
        step_output(&out, "[child 1/3]"),
        lines(&[
            "A=over B=bset C=c2 E=fromenv",
            "A=over",
            "B=bset",
            "C=c2",
            "E=fromenv"
        ])
    );
    assert_eq!(step_output(&out, "[child 3/3]"), lines(&["/w-over-bset"]));
    assert_eq!(
        step_output(&out, "[grandchild 1/1]"),
        lines(&["gc A=over B=bset C=c2"])
    );
    // docker history: a child's RUN lists the ARGs of its own stage only. (BuildKit's
    // dockerfile frontend 1.10 and later also lists the parent's, c7c2f0e97.) The base
    // stage's `ARG A`/`ARG B` lines are left out: docker 20.10 writes the default there
    // (`ARG A=adefault`, `ARG B`), kiln the value in force (`ARG A=over`), as current
    // BuildKit does.
    let hist = created_by(&k, "args-stage:2");
    assert_eq!(
        hist[..7],
        lines(&[
            "RUN /bin/sh -c echo \"gc A=$A B=$B C=$C\" # buildkit",
            "RUN |1 C=c2 /bin/sh -c pwd # buildkit",
            "WORKDIR /w-over-bset",
            "RUN |1 C=c2 /bin/sh -c echo \"A=$A B=$B C=$C E=$E\" && env | sort | grep -E '^(A|B|C|E)=' # buildkit",
            "ARG C=c2",
            "ENV E=fromenv",
            "ARG C=c1",
        ])[..]
    );
    let env = k.inspect("args-stage:2")["Config"]["Env"].clone();
    assert_eq!(
        env,
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "E=fromenv"
        ])
    );
}

// Item 2: ARG redeclared after an ENV of the same name.
const ARG_AFTER_ENV: &str = "\
FROM busybox
ENV X=fromenv Y=envy
ARG X=fromarg
ARG Y
RUN echo \"X=$X Y=$Y\" && env | grep -E '^(X|Y)=' | sort
WORKDIR /w-$X
ARG Z=zarg
ENV Z=zenv
RUN echo \"Z=$Z\" && env | grep '^Z='
";

#[test]
fn an_arg_after_an_env_wins_in_run_and_the_config_keeps_the_env() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", ARG_AFTER_ENV)]);
    let out = k.build_ok(ctx.path(), "arg-env:1", &[]);
    assert_eq!(
        step_output(&out, "[2/4]"),
        lines(&["X=fromarg Y=envy", "X=fromarg", "Y=envy"])
    );
    assert_eq!(step_output(&out, "[4/4]"), lines(&["Z=zenv", "Z=zenv"]));
    assert_eq!(
        created_by(&k, "arg-env:1")[..8],
        lines(&[
            "RUN |3 X=fromarg Y=envy Z=zenv /bin/sh -c echo \"Z=$Z\" && env | grep '^Z=' # buildkit",
            "ENV Z=zenv",
            "ARG Z=zarg",
            "WORKDIR /w-fromarg",
            "RUN |2 X=fromarg Y=envy /bin/sh -c echo \"X=$X Y=$Y\" && env | grep -E '^(X|Y)=' | sort # buildkit",
            "ARG Y",
            "ARG X=fromarg",
            "ENV X=fromenv Y=envy",
        ])[..]
    );
    let c = k.inspect("arg-env:1")["Config"].clone();
    assert_eq!(
        c["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "X=fromenv",
            "Y=envy",
            "Z=zenv"
        ])
    );
    assert_eq!(c["WorkingDir"], "/w-fromarg");

    let out = k.build_ok(
        ctx.path(),
        "arg-env:2",
        &["--build-arg", "X=bx", "--build-arg", "Y=by"],
    );
    assert_eq!(
        step_output(&out, "[2/4]"),
        lines(&["X=bx Y=by", "X=bx", "Y=by"])
    );
    assert_eq!(
        created_by(&k, "arg-env:2")[4],
        "RUN |2 X=bx Y=by /bin/sh -c echo \"X=$X Y=$Y\" && env | grep -E '^(X|Y)=' | sort # buildkit"
    );
    assert_eq!(k.inspect("arg-env:2")["Config"]["WorkingDir"], "/w-bx");
}

// Item 3: duplicate stage names.
const DUPLICATE_NAMES: &str = "\
FROM busybox AS dup
RUN echo first > /which
FROM busybox AS dup
RUN echo second > /which
FROM dup AS viafrom
RUN cat /which
FROM busybox AS viacopy
COPY --from=dup /which /which
RUN cat /which
FROM busybox AS viamount
RUN --mount=type=bind,from=dup,target=/m cat /m/which
";

#[test]
fn the_last_stage_of_a_duplicate_name_wins() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", DUPLICATE_NAMES)]);
    // Docker ran `[dup 2/2] RUN echo second > /which` for every target, and the readers
    // printed `second`.
    for t in ["dup", "viafrom", "viacopy", "viamount"] {
        let out = k.build_ok(ctx.path(), &format!("dup:{t}"), &["--target", t]);
        assert!(
            out.contains("[dup 2/2] RUN echo second > /which"),
            "{t}:\n{out}"
        );
        assert!(!out.contains("echo first"), "{t}:\n{out}");
        if t != "dup" {
            assert!(common::printed(&out, "second"), "{t}:\n{out}");
        }
        // The warning is BuildKit's linter's (docker 20.10 has no checks):
        // frontend/dockerfile/linter/ruleset.go, RuleDuplicateStageName.
        assert!(
            out.contains(" - DuplicateStageName: Duplicate stage name \"dup\", stage names should be unique (line 3)"),
            "{t}:\n{out}"
        );
    }
    assert_eq!(k.sh("dup:dup", "cat /which"), "second\n");

    // `FROM dup` before the second `dup` is the first (docker printed `first`); a `--from`
    // naming the second from before it is refused in current BuildKit's words (docker 20.10
    // copied from the unfinished second stage and failed: `lstat …/which: no such file`).
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS dup\nRUN echo first > /which\nFROM busybox AS mid\nCOPY --from=dup /which /which\n\
         FROM dup AS mid2\nRUN cat /which\nFROM busybox AS dup\nRUN echo second > /which\n",
    )]);
    let out = k.build_ok(ctx.path(), "dup:mid2", &["--target", "mid2"]);
    assert!(common::printed(&out, "first"), "{out}");
    let (ok, err) = k.build(ctx.path(), "dup:mid", &["--target", "mid"]);
    assert!(!ok);
    assert!(
        err.contains("Dockerfile:4:1: cannot copy from stage \"dup\", it needs to be defined before current stage \"mid\""),
        "{err}"
    );
}

// Item 5: CMD []/ENTRYPOINT [] and the history texts.
const CONFIG_TEXTS: &str = "\
FROM busybox
CMD [\"echo\", \"parent\"]
ENTRYPOINT [\"/bin/sh\", \"-c\"]
EXPOSE 8080 53/udp 9000-9001
EXPOSE 7000/TCP
VOLUME /data [\"/logs\"]
VOLUME [\"/a\", \"/b\"]
ENTRYPOINT []
CMD []
SHELL [\"/bin/sh\", \"-ec\"]
LABEL a=b \"c d\"=\"e f\"
USER 1000:1000
STOPSIGNAL 9
WORKDIR /x
ENV A=1 B=\"two words\"
HEALTHCHECK --interval=5s CMD [\"true\"]
ONBUILD RUN echo hi
MAINTAINER me
";

#[test]
fn empty_commands_and_history_texts_are_dockers() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", CONFIG_TEXTS)]);
    k.build_ok(ctx.path(), "texts:1", &[]);
    // `docker history --no-trunc --format '{{.CreatedBy}}'`, newest first.
    assert_eq!(
        created_by(&k, "texts:1")[..16],
        lines(&[
            "MAINTAINER me",
            "HEALTHCHECK &{[\"CMD\" \"true\"] \"5s\" \"0s\" \"0s\" '\\x00'}",
            "ENV A=1 B=two words",
            "WORKDIR /x",
            "STOPSIGNAL 9",
            "USER 1000:1000",
            "LABEL a=b c d=e f",
            "SHELL [/bin/sh -ec]",
            "CMD []",
            "ENTRYPOINT []",
            "VOLUME [/a /b]",
            "VOLUME [/data [/logs]]",
            "EXPOSE map[7000/tcp:{}]",
            "EXPOSE map[53/udp:{} 8080/tcp:{} 9000/tcp:{} 9001/tcp:{}]",
            "ENTRYPOINT [\"/bin/sh\" \"-c\"]",
            "CMD [\"echo\" \"parent\"]",
        ])[..]
    );
    // The config `docker save` wrote: no Cmd and no Entrypoint (`docker inspect` shows
    // `"Cmd": null`), ArgsEscaped from the CMDs.
    let v = k.inspect("texts:1");
    assert_eq!(
        v["Config"],
        json!({
            "User": "1000:1000",
            "ExposedPorts": {"53/udp": {}, "7000/tcp": {}, "8080/tcp": {}, "9000/tcp": {}, "9001/tcp": {}},
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"],
            "Volumes": {"/a": {}, "/b": {}, "/data": {}, "[/logs]": {}},
            "WorkingDir": "/x",
            "Labels": {"a": "b", "c d": "e f"},
            "StopSignal": "9",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5000000000u64},
            "ArgsEscaped": true,
            "OnBuild": ["RUN echo hi"],
            "Shell": ["/bin/sh", "-ec"]
        })
    );
    assert!(v["Config"]["Cmd"].is_null() && v["Config"]["Entrypoint"].is_null());
    // What the image runs: the base's (none) after `ENTRYPOINT []` and `CMD []`.
    let out = k.run(&["run", "--rm", "texts:1"]);
    assert!(!out.status.success(), "an image with no command cannot run");
}

// Item 6: no silently wrong platform.
#[test]
fn a_platform_this_machine_cannot_run_is_refused() {
    let k = Kiln::new();
    let (host, other) = host_and_other_arch();
    let plat = format!("linux/{other}");

    // Docker did not use the local linux/{host} busybox for a linux/{other} build: it went to
    // the registry for a linux/{other} one (`failed to do request: Head
    // "https://registry-1.docker.io/v2/library/…/manifests/latest"` here, offline). kiln says
    // what the store has, then why fetching failed.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN uname -m\n")]);
    let (ok, err) = k.build(ctx.path(), "plat:run", &["--platform", &plat]);
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!("Dockerfile:1:1: failed to resolve source metadata for busybox: \"busybox\" in the local store has no {plat} image (it has linux/{host}), and fetching one failed: ")),
        "{err}"
    );
    assert!(!k.run(&["inspect", "plat:run"]).status.success());

    // A stage that only copies builds for any platform: docker wrote `linux/arm64`.
    let rootfs = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let st = std::process::Command::new(common::repo().join("scripts/busybox-rootfs.sh"))
        .arg(rootfs.path().join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        rootfs.path().join("Dockerfile"),
        "FROM scratch\nCOPY rootfs/ /\n",
    )
    .unwrap();
    k.build_ok(rootfs.path(), "otherbase:1", &["--platform", &plat]);
    let v = k.inspect("otherbase:1");
    assert_eq!(
        (v["Os"].as_str(), v["Architecture"].as_str()),
        (Some("linux"), Some(other))
    );

    // RUN for a platform with no emulator registered (a binfmt_misc without handlers) is
    // refused before anything runs, naming the step, the platform and how to register one.
    let binfmt = tempfile::tempdir_in(common::test_tmp()).unwrap();
    std::fs::write(binfmt.path().join("status"), "enabled\n").unwrap();
    let build_with = |dir: &std::path::Path, tag: &str, extra: &[&str]| {
        let out = k
            .cmd()
            .env("KILN_BINFMT_MISC_DIR", binfmt.path())
            .args(["build", "--progress=plain", "-t", tag])
            .args(extra)
            .arg(dir)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ctx = context(&[("Dockerfile", "FROM otherbase:1\nRUN uname -m\n")]);
    let (status, err) = build_with(ctx.path(), "plat:run2", &["--platform", &plat]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("ERROR: failed to solve: Dockerfile:2: [2/2] RUN uname -m: cannot run {plat} programs on this linux/{host} machine: no emulator for {plat} is registered in {}; register QEMU's with: apt-get install qemu-user-static binfmt-support", binfmt.path().display())),
        "{err}"
    );
    assert!(!err.contains("#2 [2/2] RUN"), "nothing ran:\n{err}");
    assert!(!k.run(&["inspect", "plat:run2"]).status.success());
    // The platform of a stage counts, not the build's; 32-bit x86 runs natively on x86-64.
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM --platform={plat} scratch\nRUN true\n"),
    )]);
    let (_, err) = build_with(ctx.path(), "plat:run3", &[]);
    assert!(
        err.contains(&format!("cannot run {plat} programs")),
        "{err}"
    );
    if host == "amd64" {
        let ctx = context(&[(
            "Dockerfile",
            "FROM --platform=linux/386 scratch\nRUN true\n",
        )]);
        let (_, err) = build_with(ctx.path(), "plat:run3", &[]);
        assert!(
            !err.contains("cannot run") && err.contains("/bin/sh"),
            "386 needs no emulator: {err}"
        );
    }

    // Cross-building: RUN on the build platform, the result for the target platform.
    let ctx = context(&[(
        "Dockerfile",
        "FROM --platform=$BUILDPLATFORM busybox AS build\nRUN uname -m > /built-on\nFROM scratch\nCOPY --from=build /built-on /\n",
    )]);
    let (status, err) = build_with(ctx.path(), "cross:1", &["--platform", &plat]);
    assert!(status.success(), "{err}");
    assert_eq!(k.inspect("cross:1")["Architecture"], other);
}

// Item 7: proxy build args.
#[test]
fn proxy_build_args_reach_run_under_both_spellings() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN env | grep -i -E '_proxy=' | sort\n",
        ),
        (
            "Dockerfile.env",
            "FROM busybox\nENV http_proxy=envval\nRUN env | grep -i -E '_proxy=' | sort\n",
        ),
    ]);
    let proxies = [
        "--build-arg",
        "http_proxy=http://h:1",
        "--build-arg",
        "HTTPS_PROXY=http://s:2",
        "--build-arg",
        "ftp_proxy=f:3",
        "--build-arg",
        "no_proxy=localhost",
        "--build-arg",
        "ALL_PROXY=socks5://a:4",
    ];
    let out = k.build_ok(ctx.path(), "proxy:1", &proxies);
    // Docker 20.10 printed the eight lines without ALL_PROXY/all_proxy; current BuildKit sets
    // those too (a743d4ba0; `proxyEnvList` in solver/llbsolver/ops/exec.go), as the issue asks.
    assert_eq!(
        step_output(&out, "RUN env"),
        lines(&[
            "ALL_PROXY=socks5://a:4",
            "FTP_PROXY=f:3",
            "HTTPS_PROXY=http://s:2",
            "HTTP_PROXY=http://h:1",
            "NO_PROXY=localhost",
            "all_proxy=socks5://a:4",
            "ftp_proxy=f:3",
            "http_proxy=http://h:1",
            "https_proxy=http://s:2",
            "no_proxy=localhost",
        ])
    );
    assert_eq!(
        created_by(&k, "proxy:1")[0],
        "RUN /bin/sh -c env | grep -i -E '_proxy=' | sort # buildkit"
    );
    // Out of the cache key: docker printed CACHED for another proxy value.
    let out = k.build_ok(
        ctx.path(),
        "proxy:2",
        &["--build-arg", "http_proxy=http://other:9"],
    );
    assert!(out.contains("CACHED"), "{out}");
    assert!(step_output(&out, "RUN env").is_empty(), "{out}");
    // Both spellings, and they win over an ENV of the image, as in docker.
    let df_env = ctx.path().join("Dockerfile.env");
    let out = k.build_ok(
        ctx.path(),
        "proxy:3",
        &[
            "-f",
            df_env.to_str().unwrap(),
            "--build-arg",
            "http_proxy=http://h:1",
        ],
    );
    assert_eq!(
        step_output(&out, "RUN env"),
        lines(&["HTTP_PROXY=http://h:1", "http_proxy=http://h:1"])
    );
}

// Item 10: CopyIgnoredFile.
#[test]
fn copying_an_ignored_file_is_reported() {
    let k = Kiln::new();
    let ctx = context(&[
        (".dockerignore", "secret*\nlogs\n"),
        ("secret.txt", "s\n"),
        ("logs/a.log", "l\n"),
        ("keep.txt", "k\n"),
        (
            "Dockerfile",
            "FROM busybox\nCOPY keep.txt secret* /dst/\nCOPY . /all/\nRUN ls /all /dst\n",
        ),
    ]);
    let out = k.build_ok(ctx.path(), "ignored:1", &[]);
    // Docker built it the same (the ignored files are not in the context).
    assert_eq!(
        step_output(&out, "RUN ls"),
        lines(&["/all:", "Dockerfile", "keep.txt", "", "/dst:", "keep.txt"])
    );
    // Docker 20.10 has no checks: the warning is BuildKit's (RuleCopyIgnoredFile in
    // frontend/dockerfile/linter/ruleset.go, validateCopySourcePath in
    // frontend/dockerfile/dockerfile2llb/validations.go).
    assert!(
        out.contains(" - CopyIgnoredFile: Attempting to Copy file \"secret*\" that is excluded by .dockerignore (line 2)"),
        "{out}"
    );
    assert!(!out.contains("Copy file \".\""), "{out}");
    // `kiln build --check` lints with the same .dockerignore.
    let check = k.run(&["build", "--check", ctx.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("CopyIgnoredFile") && text.contains("\"secret*\""),
        "{text}"
    );
    // `!` exceptions turn the check off, as in BuildKit.
    std::fs::write(
        ctx.path().join(".dockerignore"),
        "secret*\nlogs\n!logs/a.log\n",
    )
    .unwrap();
    let out = k.build_ok(ctx.path(), "ignored:2", &[]);
    assert!(!out.contains("CopyIgnoredFile"), "{out}");
}
