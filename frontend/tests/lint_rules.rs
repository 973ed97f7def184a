//! docker's build checks, one Dockerfile per rule (after BuildKit's dockerfile_check_test.go),
//! plus the `check` options and the `syntax` directive.

#[path = "lower_common.rs"]
mod common;

use common::*;
use kiln_frontend::lint::{check, check_with, LintOptions, LintReport};
use kiln_frontend::lower::{lower, BuildOptions};

/// (rule, message, line), ordered like BuildKit's tests (line, then message).
type Found = Vec<(String, String, usize)>;

fn found(r: &LintReport) -> Found {
    let mut v: Found = r
        .warnings
        .iter()
        .map(|w| (w.rule.clone(), w.message.clone(), w.start_line))
        .collect();
    v.sort_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)));
    v
}

fn lint_with(df: &str, o: &BuildOptions) -> Found {
    match check(df, o) {
        Ok(r) => found(&r),
        Err(e) => panic!("check failed:\n{e}"),
    }
}

fn lint(df: &str) -> Found {
    lint_with(df, &opts())
}

/// Checks with the fake resolver (busybox/alpine known, with Env PATH and BASEVAR).
fn lint_resolved(df: &str) -> Found {
    let r = FakeResolver::new();
    let l = LintOptions {
        resolver: Some(&r),
        all_stages: true,
    };
    found(&check_with(df, &opts(), l).unwrap())
}

fn w(rule: &str, msg: &str, line: usize) -> (String, String, usize) {
    (rule.to_string(), msg.to_string(), line)
}

fn none() -> Found {
    Vec::new()
}

fn with_arg(k: &str, v: &str) -> BuildOptions {
    let mut o = opts();
    o.build_args.insert(k.into(), v.into());
    o
}

#[test]
fn warnings_carry_description_url_and_lines() {
    let r = check("FROM scratch\nCMD echo \\\n  hi\n", &opts()).unwrap();
    assert_eq!(r.warnings.len(), 1);
    let x = &r.warnings[0];
    assert_eq!(x.rule, "JSONArgsRecommended");
    assert_eq!(
        x.description,
        "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals"
    );
    assert_eq!(
        x.url,
        "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"
    );
    assert_eq!(x.file, "Dockerfile");
    assert_eq!((x.start_line, x.end_line), (2, 3));
    assert!(!r.error);
}

#[test]
fn stage_name_casing_and_from_as_casing() {
    let df = "\n# warning: stage name should be lowercase\n#\nFROM scratch AS BadStageName\n\n# warning: 'as' should match 'FROM' cmd casing.\n#\nFROM scratch as base2\n\nFROM scratch AS base3\n";
    assert_eq!(
        lint(df),
        vec![
            w(
                "StageNameCasing",
                "Stage name 'BadStageName' should be lowercase",
                4
            ),
            w(
                "FromAsCasing",
                "'as' and 'FROM' keywords' casing do not match",
                8
            ),
        ]
    );
    let df = "\nfrom scratch AS base\n\nfrom scratch as base2\n";
    assert_eq!(
        lint(df),
        vec![w(
            "FromAsCasing",
            "'AS' and 'from' keywords' casing do not match",
            2
        )]
    );
}

#[test]
fn no_empty_continuation() {
    let df = "\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n";
    assert_eq!(
        lint(df),
        vec![w("NoEmptyContinuation", "Empty continuation line", 6)]
    );
}

#[test]
fn consistent_instruction_casing() {
    let cases = [
        (
            "\n#\n#\nFrom scratch as base\nFROM scratch AS base2\n",
            "Command 'From' should match the case of the command majority (uppercase)",
        ),
        (
            "\nFROM scratch\n# x\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n",
            "Command 'copy' should match the case of the command majority (uppercase)",
        ),
        (
            "\n#\n#\nfrOM scratch as base\nfrom scratch as base2\n",
            "Command 'frOM' should match the case of the command majority (lowercase)",
        ),
        (
            "\nfrom scratch\n# x\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n",
            "Command 'COPY' should match the case of the command majority (lowercase)",
        ),
        (
            "\n#\n#\nfrom scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\nCOPY Dockerfile /baz\n",
            "Command 'from' should match the case of the command majority (uppercase)",
        ),
        (
            "\n#\n#\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n",
            "Command 'FROM' should match the case of the command majority (lowercase)",
        ),
    ];
    for (df, msg) in cases {
        assert_eq!(
            lint(df),
            vec![w("ConsistentInstructionCasing", msg, 4)],
            "{df}"
        );
    }
    assert_eq!(
        lint("\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n"),
        none()
    );
    assert_eq!(
        lint("\nFROM scratch\nCOPY Dockerfile /foo\nCOPY Dockerfile /bar\n"),
        none()
    );
    // Heredoc bodies are not instructions.
    assert_eq!(lint("\nFROM busybox\nRUN <<'EOT'\nenv\nEOT\n"), none());
}

#[test]
fn duplicate_and_reserved_stage_names() {
    assert_eq!(
        lint("\nFROM scratch AS b\nFROM scratch AS b\n"),
        vec![w(
            "DuplicateStageName",
            "Duplicate stage name \"b\", stage names should be unique",
            3
        )]
    );
    assert_eq!(lint("\nFROM scratch AS b1\nFROM scratch AS b2\n"), none());
    assert_eq!(
        lint("\nFROM scratch AS scratch\nFROM scratch AS context\n"),
        vec![
            w(
                "ReservedStageName",
                "Stage name should not use the same name as reserved stage \"scratch\"",
                2
            ),
            w(
                "ReservedStageName",
                "Stage name should not use the same name as reserved stage \"context\"",
                3
            ),
        ]
    );
    assert_eq!(lint("\nFROM scratch\nFROM scratch AS a\n"), none());
}

#[test]
fn json_args_recommended() {
    let msg = |i: &str| {
        format!("JSON arguments recommended for {i} to prevent unintended behavior related to OS signals")
    };
    assert_eq!(
        lint("\nFROM scratch\nCMD mycommand\n"),
        vec![w("JSONArgsRecommended", &msg("CMD"), 3)]
    );
    assert_eq!(
        lint("\nFROM scratch\nENTRYPOINT mycommand\n"),
        vec![w("JSONArgsRecommended", &msg("ENTRYPOINT"), 3)]
    );
    for df in [
        "\nFROM scratch\nSHELL [\"/usr/bin/customshell\"]\nCMD mycommand\n",
        "\nFROM scratch\nSHELL [\"/usr/bin/customshell\"]\nENTRYPOINT mycommand\n",
        "\nFROM scratch AS base\nSHELL [\"/usr/bin/customshell\"]\n\nFROM base\nCMD mycommand\n",
        "\nFROM scratch AS base\nSHELL [\"/usr/bin/customshell\"]\n\nFROM base\nENTRYPOINT mycommand\n",
        "\nFROM scratch\nCMD [\"mycommand\"]\n",
    ] {
        assert_eq!(lint(df), none(), "{df}");
    }
}

#[test]
fn maintainer_deprecated_and_per_instruction_skip() {
    assert_eq!(
        lint("\nFROM scratch\nMAINTAINER me@example.org\n"),
        vec![w(
            "MaintainerDeprecated",
            "Maintainer instruction is deprecated in favor of using label",
            3
        )]
    );
    for df in [
        "\nFROM scratch\nLABEL org.opencontainers.image.authors=\"me@example.org\"\n",
        "\nFROM scratch\n# check=skip=JSONArgsRecommended\nCMD mycommand\n",
        "\nFROM scratch\n# check=skip=JSONArgsRecommended\nENTRYPOINT mycommand\n",
        "\nFROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER me@example.org\n",
    ] {
        assert_eq!(lint(df), none(), "{df}");
    }
}

#[test]
fn undefined_arg_in_from() {
    for df in [
        "\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n",
        "\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n",
        "\nFROM --platform=$BUILDPLATFORM scratch\nCOPY Dockerfile .\n",
        "\nARG DEBUG\nFROM scratch${DEBUG}\nCOPY Dockerfile .\n",
        "\nARG DEBUG\nFROM scra${DEBUG:-tch}\nCOPY Dockerfile .\n",
        "\nARG DEBUG=\"\"\nFROM scratch${DEBUG-@bogus}\nCOPY Dockerfile .\n",
    ] {
        assert_eq!(lint(df), none(), "{df}");
    }
    assert_eq!(
        lint("\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n"),
        vec![w(
            "UndefinedArgInFrom",
            "FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)",
            2
        )]
    );
    assert_eq!(
        lint("\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n"),
        vec![w(
            "UndefinedArgInFrom",
            "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)",
            4
        )]
    );
    assert_eq!(
        lint("\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n"),
        vec![w(
            "UndefinedArgInFrom",
            "FROM argument 'version' is not declared",
            3
        )]
    );
}

#[test]
fn workdir_relative_path() {
    assert_eq!(
        lint("\nFROM scratch\nWORKDIR app/\n"),
        vec![w(
            "WorkdirRelativePath",
            "Relative workdir \"app/\" can have unexpected results if the base image changes",
            3
        )]
    );
    assert_eq!(
        lint("\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n"),
        none()
    );
    assert_eq!(
        lint("\nFROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR app/\n"),
        none()
    );
    // Only the first WORKDIR of a stage counts.
    assert_eq!(lint("FROM scratch\nWORKDIR /a\nWORKDIR b\n"), none());
}

#[test]
fn undefined_var() {
    for df in [
        "\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n",
        "\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n",
        "\nFROM alpine\nRUN echo $PATH\n",
        "\nFROM alpine\nENV X=$BASEVAR\n",
        "\nFROM scratch\nENV A=1\nENV B=$A C=${D:-x}\n",
    ] {
        assert_eq!(lint_resolved(df), none(), "{df}");
    }
    assert_eq!(
        lint_resolved("\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n"),
        vec![w("UndefinedVar", "Usage of undefined variable '$foo'", 3)]
    );
    assert_eq!(
        lint_resolved("\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n"),
        vec![w(
            "UndefinedVar",
            "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)",
            6
        )]
    );
    assert_eq!(
        lint_resolved("\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n"),
        vec![w(
            "UndefinedVar",
            "Usage of undefined variable '$PAHT' (did you mean $PATH?)",
            3
        )]
    );
    // On scratch the environment is known without resolving anything.
    assert_eq!(
        lint("FROM scratch\nWORKDIR /$nope\n"),
        vec![w("UndefinedVar", "Usage of undefined variable '$nope'", 2)]
    );
    // Without a resolver an image's Env is unknown: no guess.
    assert_eq!(lint("FROM alpine\nWORKDIR /$GOPATH\n"), none());
}

#[test]
fn multiple_instructions_disallowed() {
    let m = |i: &str, line| {
        w(
            "MultipleInstructionsDisallowed",
            &format!("Multiple {i} instructions should not be used in the same stage because only the last one will be used"),
            line,
        )
    };
    let df = "\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert_eq!(
        lint(df),
        vec![m("ENTRYPOINT", 3), m("CMD", 5), m("HEALTHCHECK", 7)]
    );
    let df = "\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nCOPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert_eq!(
        lint(df),
        vec![m("ENTRYPOINT", 3), m("CMD", 4), m("HEALTHCHECK", 5)]
    );
    let df = "\nFROM scratch AS a\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\n\nFROM a AS b\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n";
    assert_eq!(lint(df), none());
}

#[test]
fn legacy_key_value_format() {
    assert_eq!(
        lint("\nFROM scratch\nENV testkey value\nLABEL key value\n"),
        vec![
            w(
                "LegacyKeyValueFormat",
                "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format",
                3
            ),
            w(
                "LegacyKeyValueFormat",
                "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format",
                4
            ),
        ]
    );
    assert_eq!(
        lint("\nFROM scratch\nENV testkey=value\nLABEL key=value\n"),
        none()
    );
    assert_eq!(
        lint("\nFROM scratch\n# check=skip=LegacyKeyValueFormat\nENV testkey value\n# check=skip=LegacyKeyValueFormat\nLABEL key value\n"),
        none()
    );
}

#[test]
fn redundant_target_platform() {
    let msg = |v: &str| {
        format!("Setting platform to predefined {v} in FROM is redundant as this is the default behavior")
    };
    assert_eq!(
        lint("\nFROM --platform=$TARGETPLATFORM scratch\n"),
        vec![w("RedundantTargetPlatform", &msg("$TARGETPLATFORM"), 2)]
    );
    assert_eq!(
        lint("\nFROM --platform=${TARGETPLATFORM} scratch\n"),
        vec![w("RedundantTargetPlatform", &msg("${TARGETPLATFORM}"), 2)]
    );
    assert_eq!(
        lint("\n# check=skip=RedundantTargetPlatform\nFROM --platform=$TARGETPLATFORM scratch\n"),
        none()
    );
    assert_eq!(lint("FROM --platform=$BUILDPLATFORM scratch\n"), none());
}

#[test]
fn secrets_used_in_arg_or_env() {
    let df = "# check=skip=InvalidDefinitionDescription\n\nFROM scratch\nARG SECRET_PASSPHRASE\nENV SUPER_Secret=foo\nENV password=bar secret=baz\nARG super_duper_secret_token=foo auth=bar\nENV apikey=bar sunflower=foo\nENV git_key=\nENV PUBLIC_KEY=\nARG public_token\nARG SECRET_PASSPHRASE_FILE\nENV password_file=bar secret_File=baz\nARG AUTH_MODULE_VERSION\n# check=skip=SecretsUsedInArgOrEnv // allow secret in environment\nENV password=bar\n# check=skip=SecretsUsedInArgOrEnv // allow secret in arg\nARG password\n# check=skip=all // is local to only this instruction\nENV alternate_password=bar\n# check=skip=all // is local to only this instruction\nARG alternate_password\n";
    let s = |i: &str, k: &str, line| {
        w(
            "SecretsUsedInArgOrEnv",
            &format!("Do not use ARG or ENV instructions for sensitive data ({i} \"{k}\")"),
            line,
        )
    };
    assert_eq!(
        lint(df),
        vec![
            s("ARG", "SECRET_PASSPHRASE", 4),
            s("ENV", "SUPER_Secret", 5),
            s("ENV", "password", 6),
            s("ENV", "secret", 6),
            s("ARG", "auth", 7),
            s("ARG", "super_duper_secret_token", 7),
            s("ENV", "apikey", 8),
            s("ENV", "git_key", 9),
        ]
    );
}

#[test]
fn invalid_default_arg_in_from() {
    let msg =
        |b: &str| format!("Default value for ARG {b} results in empty or invalid base image name");
    assert_eq!(
        lint_with(
            "\nARG VERSION\nFROM busybox:$VERSION\n",
            &with_arg("VERSION", "latest")
        ),
        vec![w("InvalidDefaultArgInFrom", &msg("busybox:$VERSION"), 3)]
    );
    assert_eq!(
        lint_with(
            "\nARG IMAGE\nFROM $IMAGE\n",
            &with_arg("IMAGE", "busybox:latest")
        ),
        vec![w("InvalidDefaultArgInFrom", &msg("$IMAGE"), 3)]
    );
    assert_eq!(
        lint_with(
            "\nARG SFX=\"box:\"\nFROM busy${SFX}\n",
            &with_arg("SFX", "box:latest")
        ),
        vec![w("InvalidDefaultArgInFrom", &msg("busy${SFX}"), 3)]
    );
    assert_eq!(
        lint_with(
            "\nARG VERSION=\"latest\"\nFROM busybox:${VERSION}\n",
            &with_arg("VERSION", "latest")
        ),
        none()
    );
    assert_eq!(
        lint_with(
            "\nARG BUSYBOX_VARIANT=\"\"\nFROM busybox:stable${BUSYBOX_VARIANT}\n",
            &with_arg("BUSYBOX_VARIANT", "-musl")
        ),
        none()
    );
    assert_eq!(
        lint_with(
            "\n\tARG BUSYBOX_VARIANT\n\tFROM busybox:stable${BUSYBOX_VARIANT}\n\t",
            &with_arg("BUSYBOX_VARIANT", "-musl")
        ),
        none()
    );
}

#[test]
fn from_platform_flag_const_disallowed() {
    assert_eq!(
        lint("\nFROM --platform=linux/amd64 scratch\n"),
        vec![w(
            "FromPlatformFlagConstDisallowed",
            "FROM --platform flag should not use constant value \"linux/amd64\"",
            2
        )]
    );
    assert_eq!(
        lint("\nFROM --platform=linux/amd64 scratch AS my_amd64_stage\n"),
        none()
    );
    assert_eq!(
        lint("\nFROM --platform=linux/amd64 scratch AS linux\n"),
        none()
    );
}

#[test]
fn expose_proto_casing_and_invalid_format() {
    assert_eq!(
        lint("\nFROM scratch\nEXPOSE 80/TcP 8080/TCP 8080/udp\n"),
        vec![
            w(
                "ExposeProtoCasing",
                "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase",
                3
            ),
            w(
                "ExposeProtoCasing",
                "Defined protocol '8080/TCP' in EXPOSE instruction should be lowercase",
                3
            ),
        ]
    );
    let f = |p: &str| {
        w(
            "ExposeInvalidFormat",
            &format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{p}'"),
            3,
        )
    };
    assert_eq!(
        lint("\nFROM scratch\nEXPOSE 127.0.0.1:80:80 [::1]:8080:8080 5000:5000 8000\n"),
        vec![f("127.0.0.1:80:80"), f("5000:5000"), f("[::1]:8080:8080")]
    );
}

#[test]
fn check_directive_skip_and_error() {
    let df = |d: &str| format!("{d}\nFROM scratch as base\ncopy Dockerfile .\n");
    for d in [
        "#check=skip=all",
        "#check=skip=all;error=true",
        "#check=skip=ConsistentInstructionCasing,FromAsCasing",
        "#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true",
    ] {
        let r = check(&df(d), &opts()).unwrap();
        assert!(r.warnings.is_empty() && !r.error, "{d}: {r:?}");
    }
    let from_as = vec![w(
        "FromAsCasing",
        "'as' and 'FROM' keywords' casing do not match",
        2,
    )];
    let r = check(&df("#check=skip=ConsistentInstructionCasing"), &opts()).unwrap();
    assert_eq!(found(&r), from_as);
    assert!(!r.error);
    let r = check(
        &df("#check=skip=ConsistentInstructionCasing;error=true"),
        &opts(),
    )
    .unwrap();
    assert_eq!(found(&r), from_as);
    assert!(r.error);
    assert_eq!(
        r.error_message().unwrap(),
        "lint violation found for rules: FromAsCasing"
    );
    // The build arg replaces the directive.
    let o = with_arg(
        "BUILDKIT_DOCKERFILE_CHECK",
        "skip=ConsistentInstructionCasing;error=true",
    );
    let r = check(&df("#check=skip=all"), &o).unwrap();
    assert_eq!(found(&r), from_as);
    assert!(r.error);
    let o = with_arg("BUILDKIT_DOCKERFILE_CHECK", "skip=all");
    let r = check(&df("#check=error=true"), &o).unwrap();
    assert!(r.warnings.is_empty() && !r.error);
    // Bad options are an error.
    let e = check(&df("#check=skip=all;error=maybe"), &opts()).unwrap_err();
    assert!(
        e.to_string().contains("failed to parse check options"),
        "{e}"
    );
    // experimental= is accepted.
    let r = check(&df("#check=experimental=all;skip=FromAsCasing"), &opts()).unwrap();
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    assert_eq!(r.warnings[0].rule, "ConsistentInstructionCasing");
}

#[test]
fn build_reports_only_built_stages_and_fails_on_error() {
    // LegacyKeyValueFormat in a stage the target does not need: only `check` sees it.
    let df =
        "\nFROM scratch AS a\n\nFROM a AS b\nENV testkey value\nLABEL key value\n\nFROM a AS c\n";
    assert_eq!(lint(df).len(), 2);
    let r = FakeResolver::new();
    let p = lower(df, &opts(), &r).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let mut o = opts();
    o.target = Some("b".into());
    let p = lower(df, &o, &r).unwrap();
    let rules: Vec<(&str, usize)> = p
        .warnings
        .iter()
        .map(|w| (w.rule.as_str(), w.line))
        .collect();
    assert_eq!(
        rules,
        vec![("LegacyKeyValueFormat", 5), ("LegacyKeyValueFormat", 6)]
    );

    // Base image Env comes from lowering's own lookup: one resolver call only.
    let r = FakeResolver::new();
    let p = lower("FROM busybox\nENV A=$BASEVAR B=$NOPE\n", &opts(), &r).unwrap();
    assert_eq!(*r.calls.borrow(), vec!["busybox".to_string()]);
    let msgs: Vec<&str> = p.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(msgs, vec!["Usage of undefined variable '$NOPE'"]);

    let e = err("# check=error=true\nFROM scratch as base\n");
    assert!(
        e.contains("Dockerfile:2:1: lint violation found for rules: FromAsCasing"),
        "{e}"
    );
    let e = err("# check=error=true;skip=FromAsCasing\nFROM scratch as base\nCMD x\n");
    assert!(
        e.contains("lint violation found for rules: JSONArgsRecommended"),
        "{e}"
    );
    plan("# check=error=true\nFROM scratch AS base\n");
}

#[test]
fn syntax_directive() {
    for s in [
        "docker/dockerfile:1",
        "docker/dockerfile:1.7-labs",
        "docker.io/docker/dockerfile:1",
        "docker/dockerfile-upstream:master",
        "docker/dockerfile@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021",
    ] {
        plan(&format!("# syntax={s}\nFROM busybox\n"));
        assert_eq!(lint(&format!("# syntax={s}\nFROM scratch\n")), none());
    }
    let e = err("# syntax=foo/bar\nFROM busybox\n");
    assert!(
        e.contains("Dockerfile:1:1: unsupported syntax frontend \"foo/bar\": kiln builds with its built-in Dockerfile frontend (docker/dockerfile)"),
        "{e}"
    );
    let e = check("#syntax=foobar\nFROM scratch\n", &opts()).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("\"foobar\""), "{e}");
}

#[test]
fn invalid_files_are_errors() {
    let e = check("FROM scratch\nBADCMD\n", &opts()).unwrap_err();
    assert!(e.to_string().contains("unknown instruction: BADCMD"), "{e}");
    let e = check("ARG A\n", &opts()).unwrap_err();
    assert!(e.to_string().contains("no stages"), "{e}");
}

#[test]
fn invalid_definition_description_is_experimental() {
    let df = "# check=skip=all;experimental=InvalidDefinitionDescription\n# foo this is the foo\nARG foo=bar\n\n# base this is the base image\nFROM scratch AS base\n\n# version this is the version number\nARG version=latest\n\n# baz this is the baz\nARG foo=baz bar=qux baz=quux\n#\nARG bit=bat\n\n# comment for something other than ARG or FROM\nCOPY Dockerfile .\n";
    assert_eq!(lint(df), none());
    let df = "# check=experimental=InvalidDefinitionDescription\n# bar this is the bar\nARG foo=bar\n# BasE this is the BasE image\nFROM scratch AS base\n# definitely a bad comment\nARG version=latest\n# definitely a bad comment\nARG foo=baz bar=qux baz=quux\n";
    let d = |what: &str, name: &str, line| {
        w(
            "InvalidDefinitionDescription",
            &format!("Comment for {what} should follow the format: `# {name} <description>`"),
            line,
        )
    };
    assert_eq!(
        lint(df),
        vec![
            d("ARG", "foo", 3),
            d("FROM", "base", 5),
            d("ARG", "version", 7),
            d("ARG", "<arg_key>", 9),
        ]
    );
    // Off unless enabled.
    let off = df.replacen(
        "# check=experimental=InvalidDefinitionDescription",
        "# check=error=false",
        1,
    );
    assert_eq!(lint(&off), none());
}

#[test]
fn warnings_before_an_invalid_instruction_are_kept() {
    use kiln_frontend::lint::check_until_error;
    let df = "\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n";
    let (r, e) = check_until_error(df, &opts(), LintOptions::default());
    assert_eq!(
        found(&r),
        vec![
            w(
                "StageNameCasing",
                "Stage name 'BadStageName' should be lowercase",
                2
            ),
            w(
                "MaintainerDeprecated",
                "Maintainer instruction is deprecated in favor of using label",
                3
            ),
        ]
    );
    let e = e.unwrap();
    assert_eq!(e.line, 4);
    assert!(
        e.message
            .contains("dockerfile parse error on line 4: unknown instruction: BADCMD"),
        "{e}"
    );
    let (r, e) = check_until_error("FROM scratch\nRUN <<EOF\n", &opts(), LintOptions::default());
    assert!(r.warnings.is_empty());
    assert!(e.unwrap().to_string().contains("unterminated heredoc"));
}
