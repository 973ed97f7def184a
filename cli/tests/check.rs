//! End-to-end `kiln build --check` and lint warnings of normal builds, through the binary.

mod common;

use common::{context, Kiln};

/// `kiln build --check EXTRA... DIR`: (exit code, stdout, stderr).
fn check(k: &Kiln, dir: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["build", "--check"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let out = k.run(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_findings_like_docker_and_builds_nothing() {
    let k = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM busybox as base\nENV A=$UNDEFINED_THING\nCMD echo hi\n",
    )]);
    let (code, out, err) = check(&k, dir.path(), &["-t", "checked:1"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let want_first = "WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n\
The 'as' keyword should match the case of the 'from' keyword\n\
'as' and 'FROM' keywords' casing do not match\n\
Dockerfile:1\n\
--------------------\n   1 | >>> FROM busybox as base\n   2 |     ENV A=$UNDEFINED_THING\n   3 |     CMD echo hi\n--------------------\n\n";
    assert!(out.starts_with(want_first), "{out}");
    // The base image's Env is read from the store: only the truly undefined variable warns.
    assert!(
        out.contains("WARNING: UndefinedVar - https://docs.docker.com/go/dockerfile/rule/undefined-var/\nVariables should be defined before their use\nUsage of undefined variable '$UNDEFINED_THING'\nDockerfile:2\n"),
        "{out}"
    );
    assert!(out.contains("   3 | >>> CMD echo hi\n"), "{out}");
    assert!(
        out.ends_with("Check complete, 3 warnings have been found!\n"),
        "{out}"
    );
    // Nothing was built or tagged.
    assert!(!k.run(&["inspect", "checked:1"]).status.success());

    let clean = context(&[("Dockerfile", "FROM busybox\nCMD [\"true\"]\n")]);
    let (code, out, _) = check(&k, clean.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(out, "Check complete, no warnings found.\n");
}

#[test]
fn check_error_true_exits_1_and_build_arg_overrides() {
    let k = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "# check=error=true\nFROM busybox as base\nRUN true\n",
    )]);
    let (code, out, err) = check(&k, dir.path(), &[]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("WARNING: FromAsCasing"), "{out}");
    assert!(
        err.contains("ERROR: lint violation found for rules: FromAsCasing"),
        "{err}"
    );
    let (code, out, _) = check(
        &k,
        dir.path(),
        &[
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=FromAsCasing;error=true",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "Check complete, no warnings found.\n");

    // The build itself fails before running anything.
    let (ok, err) = k.build(dir.path(), "failing:1", &[]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("lint violation found for rules: FromAsCasing"),
        "{err}"
    );
    assert!(!err.contains("RUN true"), "no step ran: {err}");
    assert!(!k.run(&["inspect", "failing:1"]).status.success());
}

#[test]
fn check_reports_invalid_dockerfiles_and_syntax() {
    let k = Kiln::new();
    let dir = context(&[("Dockerfile", "FROM busybox\nMAINTAINER me\nBADCMD x\n")]);
    let (code, out, err) = check(&k, dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown instruction: BADCMD"), "{err}");
    // What was found before the error is still shown.
    assert!(out.starts_with("WARNING: MaintainerDeprecated"), "{out}");
    let dir = context(&[("Dockerfile", "# syntax=foo/bar\nFROM busybox\n")]);
    let (code, _, err) = check(&k, dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unsupported syntax frontend \"foo/bar\""),
        "{err}"
    );
    let (ok, err) = k.build(dir.path(), "x:1", &[]);
    assert!(!ok);
    assert!(
        err.contains("Dockerfile:1:1: unsupported syntax frontend"),
        "{err}"
    );
    let dir = context(&[(
        "Dockerfile",
        "# syntax=docker/dockerfile:1\nFROM busybox\nRUN true\n",
    )]);
    k.build_ok(dir.path(), "x:1", &[]);
}

#[test]
fn normal_build_prints_warnings_after_the_build() {
    let k = Kiln::new();
    let dir = context(&[(
        "Dockerfile",
        "FROM busybox AS Build\nRUN echo built > /f\nMAINTAINER me\n",
    )]);
    let err = k.build_ok(dir.path(), "warned:1", &[]);
    let summary = "2 warnings found:\n - StageNameCasing: Stage name 'Build' should be lowercase (line 1)\n - MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)\n";
    assert!(err.contains(summary), "{err}");
    // After the build's progress.
    let at = err.find(summary).unwrap();
    assert!(err[..at].contains("exporting to image"), "{err}");
    assert_eq!(k.sh("warned:1", "cat /f").trim(), "built");
}
