//! End-to-end Dockerfile errors: what the user reads.

mod common;

use common::{context, Kiln};

#[test]
fn errors_name_the_file_line_and_cause() {
    let k = Kiln::new();
    // A missing COPY source.
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nRUN true\nCOPY missing.txt /\n"),
        ("present.txt", "p\n"),
    ]);
    let (ok, err) = k.build(ctx.path(), "err:1", &[]);
    assert!(!ok);
    assert!(err.contains("\"/missing.txt\": not found"), "{err}");
    assert!(err.contains("Dockerfile:3"), "names the line:\n{err}");
    assert!(err.contains("COPY missing.txt /"), "shows the line:\n{err}");

    // An unknown flag: file:line:col and a caret under it.
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY --bogus a.txt /\n")]);
    let (ok, err) = k.build(ctx.path(), "err:2", &[]);
    assert!(!ok);
    assert!(err.contains("unknown flag: --bogus"), "{err}");
    assert!(err.contains("Dockerfile:2:"), "{err}");
    assert!(err.contains(" 2 | COPY --bogus a.txt /"), "{err}");
    assert!(
        err.lines().any(|l| l.trim_end().ends_with('^')),
        "caret:\n{err}"
    );

    // ${X:?message}
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nARG X\nWORKDIR /w/${X:?must be set}\n",
    )]);
    let (ok, err) = k.build(ctx.path(), "err:3", &[]);
    assert!(!ok);
    assert!(err.contains("X: must be set"), "{err}");
    // ... and the same Dockerfile works once X is given.
    k.build_ok(ctx.path(), "err:3", &["--build-arg", "X=given"]);
}
