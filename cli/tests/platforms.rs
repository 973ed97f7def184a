//! Unknown platforms are errors, in BuildKit's (containerd's) words, at the line that names one.

mod common;

use common::{context, Kiln};

#[test]
fn from_with_an_unknown_platform_fails_at_its_line() {
    let k = Kiln::new();
    for bad in ["xx/yy", "linux/notanarch"] {
        let ctx = context(&[(
            "Dockerfile",
            &format!("FROM busybox\nRUN true\nFROM --platform={bad} busybox\nRUN true\n"),
        )]);
        let (ok, err) = k.build(ctx.path(), "plat:1", &[]);
        assert!(!ok, "a build for {bad} succeeded:\n{err}");
        assert!(
            err.contains(&format!(
                "failed to parse platform {bad}: \"{bad}\": unknown operating system or architecture: invalid argument"
            )),
            "{err}"
        );
        assert!(err.contains("Dockerfile:3"), "names the line:\n{err}");
    }
    // Through a build argument too, and a known platform still builds.
    let ctx = context(&[(
        "Dockerfile",
        "ARG P=linux/amd64\nFROM --platform=$P busybox\nRUN true\n",
    )]);
    let (ok, err) = k.build(ctx.path(), "plat:2", &["--build-arg", "P=linux/notanarch"]);
    assert!(
        !ok && err.contains("failed to parse platform linux/notanarch"),
        "{err}"
    );
    k.build_ok(ctx.path(), "plat:2", &[]);
}

#[test]
fn build_with_an_unknown_platform_flag_fails() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    for bad in ["xx/yy", "linux/notanarch", "xx"] {
        let out = k.run(&["build", "--platform", bad, ctx.path().to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "\"{bad}\": unknown operating system or architecture: invalid argument"
            )),
            "{err}"
        );
    }
}
