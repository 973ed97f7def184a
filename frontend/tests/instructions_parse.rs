//! Typed instructions: what each instruction becomes, and the errors docker gives.

use kiln_frontend::instructions::{
    format_duration, from_dockerfile, parse_chmod, parse_duration, parse_mount, Command,
    CopySource, FrontendError, Healthcheck, Instruction, MountType, ShellOrExec,
};
use kiln_frontend::parser::parse;
use kiln_solver::{CacheSharing, Chmod, NetworkMode, SecurityMode};

fn convert(text: &str) -> Result<Vec<Command>, FrontendError> {
    let df = parse(text, "Dockerfile").expect("parses");
    from_dockerfile(&df, "Dockerfile").map_err(|e| e.with_source(text))
}

fn one(text: &str) -> Instruction {
    let mut cmds = convert(text).unwrap_or_else(|e| panic!("{e}"));
    cmds.pop().expect("one instruction").instruction
}

/// The error for `text`, its BuildKit-style `dockerfile parse error on line N: ` prefix checked
/// and removed from `message`.
fn error(text: &str) -> FrontendError {
    match convert(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(mut e) => {
            let prefix = format!("dockerfile parse error on line {}: ", e.line);
            let rest = e
                .message
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("no prefix: {}", e.message));
            e.message = rest.to_string();
            e
        }
    }
}

#[test]
fn from_with_platform_and_stage_name() {
    let i = one("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n");
    assert_eq!(
        i,
        Instruction::From {
            image: "golang:1.22".into(),
            platform: Some("$BUILDPLATFORM".into()),
            stage_name: Some("build".into())
        }
    );
    assert!(error("FROM a b\n")
        .message
        .contains("FROM requires either one or three arguments"));
    assert!(error("FROM a AS 1x\n")
        .message
        .contains("invalid name for build stage"));
}

#[test]
fn run_forms_and_flags() {
    match one(
        "RUN --mount=type=cache,target=/root/.cache --network=none --security=insecure make all\n",
    ) {
        Instruction::Run(r) => {
            assert_eq!(r.cmd, ShellOrExec::Shell("make all".into()));
            assert_eq!(r.mounts, vec!["type=cache,target=/root/.cache".to_string()]);
            assert_eq!(r.network, Some(NetworkMode::None));
            assert_eq!(r.security, Some(SecurityMode::Insecure));
        }
        other => panic!("{other:?}"),
    }
    match one("RUN [\"ls\", \"-l\"]\n") {
        Instruction::Run(r) => assert_eq!(r.cmd, ShellOrExec::Exec(vec!["ls".into(), "-l".into()])),
        other => panic!("{other:?}"),
    }
    match one("RUN <<EOF\necho hi\nEOF\n") {
        Instruction::Run(r) => {
            assert_eq!(r.heredocs.len(), 1);
            assert_eq!(r.heredocs[0].name, "EOF");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn env_label_arg_expose_volume() {
    assert_eq!(
        one("ENV a=1 b=\"two words\"\n"),
        Instruction::Env(vec![
            ("a".into(), "1".into()),
            ("b".into(), "\"two words\"".into())
        ])
    );
    assert_eq!(
        one("ENV legacy some value\n"),
        Instruction::Env(vec![("legacy".into(), "some value".into())])
    );
    assert_eq!(
        one("LABEL x=y\n"),
        Instruction::Label(vec![("x".into(), "y".into())])
    );
    assert_eq!(
        one("ARG a b=2 c=\n"),
        Instruction::Arg(vec![
            ("a".into(), None),
            ("b".into(), Some("2".into())),
            ("c".into(), Some(String::new()))
        ])
    );
    assert_eq!(
        one("EXPOSE 80 443/udp\n"),
        Instruction::Expose(vec!["80".into(), "443/udp".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a\", \"/b\"]\n"),
        Instruction::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(one("USER app:app\n"), Instruction::User("app:app".into()));
    assert_eq!(
        one("STOPSIGNAL SIGKILL\n"),
        Instruction::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]\n"),
        Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert!(error("SHELL /bin/bash -c\n")
        .message
        .contains("SHELL requires the arguments to be in JSON form"));
}

#[test]
fn copy_and_add_flags() {
    match one("COPY --from=build --chown=app:app --chmod=u+x,go-w --link --parents --exclude=*.md --exclude=x a b /dst/\n") {
        Instruction::Copy(c) => {
            assert_eq!(c.srcs, vec![CopySource::Path("a".into()), CopySource::Path("b".into())]);
            assert_eq!(c.dest, "/dst/");
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.chown.as_deref(), Some("app:app"));
            assert_eq!(c.chmod.as_deref(), Some("u+x,go-w"));
            assert!(c.link && c.parents);
            assert_eq!(c.exclude, vec!["*.md".to_string(), "x".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    match one("ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tgz /z\n") {
        Instruction::Add(a) => {
            assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
            assert!(a.keep_git_dir);
            assert_eq!(a.unpack, Some(false));
        }
        other => panic!("{other:?}"),
    }
    match one("COPY <<EOF /dest/file\nhello\nEOF\n") {
        Instruction::Copy(c) => match &c.srcs[..] {
            [CopySource::Heredoc(h)] => assert_eq!(h.name, "EOF"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn copy_argument_count_and_from_variable() {
    let e = error("FROM scratch\nCOPY onlyone\n");
    assert_eq!(
        e.message,
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined."
    );
    assert_eq!((e.line, e.column), (2, 1));
    let e = error("FROM scratch\nCOPY --from=$X a b\n");
    assert_eq!(
        e.message,
        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
    );
    assert!(error("FROM scratch\nCOPY http://example.com/a /\n")
        .message
        .contains("source can't be a URL for COPY"));
}

#[test]
fn unknown_instruction_with_suggestion_and_caret() {
    let text = "FROM scratch\n  FNTRYPOINT [\"a\"]\n";
    let e = error(text);
    assert_eq!(
        e.message,
        "unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)"
    );
    assert_eq!((e.file.as_str(), e.line, e.column), ("Dockerfile", 2, 3));
    assert_eq!(e.source_line.as_deref(), Some("  FNTRYPOINT [\"a\"]"));
    let shown = convert(text).unwrap_err().to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines[0],
        "Dockerfile:2:3: dockerfile parse error on line 2: unknown instruction: FNTRYPOINT (did you mean ENTRYPOINT?)"
    );
    assert_eq!(lines[1], " 2 |   FNTRYPOINT [\"a\"]");
    assert_eq!(lines[2], "   |   ^");
    // Case is kept in the message; a word far from every keyword gets no suggestion.
    assert!(error("FROM scratch\nfoo bar\n")
        .message
        .starts_with("unknown instruction: foo"));
    assert_eq!(
        error("FROM scratch\nXYZZYQ bar\n").message,
        "unknown instruction: XYZZYQ"
    );
}

#[test]
fn unknown_flag_with_suggestion() {
    let e = error("FROM scratch\nRUN --mont=type=cache,target=/x true\n");
    assert_eq!(e.message, "unknown flag: --mont (did you mean mount?)");
    assert_eq!(
        error("FROM scratch\nMAINTAINER --boo joe\n").message,
        "unknown flag: --boo"
    );
    assert!(error("FROM scratch\nCOPY --from a b\n")
        .message
        .contains("missing a value on flag: --from"));
}

#[test]
fn onbuild_rules_and_expression() {
    match one("ONBUILD RUN echo hi\n") {
        Instruction::Onbuild {
            trigger,
            expression,
        } => {
            assert_eq!(expression, "RUN echo hi");
            assert!(matches!(*trigger, Instruction::Run(_)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error("ONBUILD ONBUILD RUN x\n").message,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        error("ONBUILD FROM scratch\n").message,
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        error("ONBUILD MAINTAINER me\n").message,
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
}

#[test]
fn chmod_values() {
    assert_eq!(parse_chmod("0644"), Ok(Chmod::Octal(0o644)));
    assert_eq!(parse_chmod("7777"), Ok(Chmod::Octal(0o7777)));
    assert_eq!(parse_chmod("0"), Ok(Chmod::Octal(0)));
    for sym in [
        "go-w",
        "u=rw,g=r,o=r",
        "a+X",
        "+x",
        "g=u",
        "u+rw,g+r,o-x,o+w",
    ] {
        assert_eq!(parse_chmod(sym), Ok(Chmod::Symbolic(sym.into())), "{sym}");
    }
    for bad in ["64a", "10000", "", "u", "x+q"] {
        assert!(parse_chmod(bad).is_err(), "{bad}");
    }
    assert_eq!(
        error("FROM scratch\nCOPY --chmod=64a a b\n").message,
        "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777"
    );
    assert!(error("FROM scratch\nADD --chmod=10000 a b\n")
        .message
        .contains("'10000'"));
}

#[test]
fn mount_specs() {
    let mut id = |s: &str| Ok(s.to_string());
    let m = parse_mount(
        "type=cache,target=/c,id=x,sharing=locked,mode=0755,uid=1,gid=2,ro",
        &mut id,
    )
    .unwrap();
    assert_eq!(m.kind, MountType::Cache);
    assert_eq!(m.target.as_deref(), Some("/c"));
    assert_eq!(m.sharing, CacheSharing::Locked);
    assert_eq!(
        (m.mode, m.uid, m.gid, m.readonly),
        (Some(0o755), Some(1), Some(2), Some(true))
    );
    let m = parse_mount("type=secret,id=tok,env=TOKEN,required", &mut id).unwrap();
    assert_eq!(
        (m.kind, m.env.as_deref(), m.required),
        (MountType::Secret, Some("TOKEN"), true)
    );
    let m = parse_mount("type=tmpfs,dst=/t,size=64m", &mut id).unwrap();
    assert_eq!(m.size, Some(64 << 20));
    let m = parse_mount("target=/ctx,from=build,source=/out,rw", &mut id).unwrap();
    assert_eq!(
        (m.kind, m.from.as_deref(), m.readonly),
        (MountType::Bind, Some("build"), Some(false))
    );

    let e = error("FROM scratch\nRUN --mount=typ=cache,target=/x true\n");
    assert!(
        e.message.contains("unexpected key 'typ'") && e.message.contains("did you mean type?"),
        "{}",
        e.message
    );
    let e = error("FROM scratch\nRUN --mount=type=tmp,target=/x true\n");
    assert!(
        e.message.contains("unsupported mount type \"tmp\"")
            && e.message.contains("did you mean tmpfs?"),
        "{}",
        e.message
    );
    let e = error("FROM scratch\nRUN --mount=from=$X,target=/x true\n");
    assert!(e
        .message
        .contains("'from' doesn't support variable expansion, define alias stage instead"));
    // A variable type is accepted here and checked once expanded.
    assert!(convert("FROM scratch\nRUN --mount=type=$T,target=/x true\n").is_ok());
}

#[test]
fn healthcheck_forms_and_durations() {
    match one("HEALTHCHECK --interval=1m30s --timeout=10s --start-period=3s --start-interval=100ms --retries=5 CMD curl -f http://x/\n") {
        Instruction::Healthcheck(Healthcheck::Cmd { test, interval, timeout, start_period, start_interval, retries }) => {
            assert_eq!(test, vec!["CMD-SHELL".to_string(), "curl -f http://x/".to_string()]);
            assert_eq!(interval, Some(90_000_000_000));
            assert_eq!(timeout, Some(10_000_000_000));
            assert_eq!(start_period, Some(3_000_000_000));
            assert_eq!(start_interval, Some(100_000_000));
            assert_eq!(retries, Some(5));
        }
        other => panic!("{other:?}"),
    }
    match one("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n") {
        Instruction::Healthcheck(Healthcheck::Cmd { test, .. }) => {
            assert_eq!(test, vec!["CMD", "/bin/check", "-q"])
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        one("HEALTHCHECK NONE\n"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    assert!(error("HEALTHCHECK --interval=50ns CMD x\n")
        .message
        .contains("cannot be less than 1ms"));
    assert!(convert("HEALTHCHECK --interval=0ms CMD x\n").is_ok());
    assert!(convert("HEALTHCHECK --interval=1ms CMD x\n").is_ok());
    assert!(error("HEALTHCHECK FOO x\n")
        .message
        .contains("Unknown type"));
}

#[test]
fn durations_round_trip_go_format() {
    assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
    assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
    assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
    assert!(parse_duration("10").is_err());
    assert!(parse_duration("abc").is_err());
    assert_eq!(format_duration(0), "0s");
    assert_eq!(format_duration(100_000_000), "100ms");
    assert_eq!(format_duration(90_000_000_000), "1m30s");
    assert_eq!(format_duration(3_600_000_000_000), "1h0m0s");
    assert_eq!(format_duration(1_500_000_000), "1.5s");
}

#[test]
fn argument_counts() {
    assert_eq!(
        error("FROM scratch\nWORKDIR\n").message,
        "WORKDIR requires exactly one argument"
    );
    assert_eq!(
        error("FROM scratch\nEXPOSE\n").message,
        "EXPOSE requires at least one argument"
    );
    assert!(error("FROM scratch\nCOPY /foo <<EOF\nx\nEOF\n")
        .message
        .contains("COPY cannot accept a heredoc as a destination"));
}
