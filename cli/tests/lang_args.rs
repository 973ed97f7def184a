//! End-to-end ARG/ENV scoping as RUN steps see it.

mod common;

use common::{context, Kiln};

fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => panic!("unexpected test architecture {other}"),
    }
}

#[test]
fn arg_and_env_scoping_in_run() {
    let k = Kiln::new();
    let df = "ARG GLOBAL=g1\n\
ARG BASE=busybox\n\
FROM $BASE\n\
RUN echo \"before=[$GLOBAL]\" > /a1\n\
ARG GLOBAL\n\
RUN echo \"after=[$GLOBAL]\" >> /a1\n\
ARG OVER=default\n\
RUN echo \"over=$OVER\" > /a2\n\
ARG SAME=fromarg\n\
ENV SAME=fromenv\n\
RUN echo \"same=$SAME\" > /a3\n\
ENV A=x\n\
ENV A=y B=$A\n\
RUN echo \"A=$A B=$B\" > /a4\n\
ARG TARGETARCH\n\
ARG TARGETPLATFORM\n\
RUN echo \"$TARGETARCH $TARGETPLATFORM os=[$TARGETOS]\" > /a5\n";
    let ctx = context(&[("Dockerfile", df)]);
    let out = k.build_ok(
        ctx.path(),
        "args:1",
        &[
            "--build-arg",
            "OVER=cli",
            "--build-arg",
            "SAME=cli",
            "--build-arg",
            "UNUSED_ONE=1",
        ],
    );
    let arch = docker_arch();
    assert_eq!(
        k.sh("args:1", "cat /a1 /a2 /a3 /a4 /a5"),
        format!(
            "before=[]\nafter=[g1]\nover=cli\nsame=fromenv\nA=y B=x\n{arch} linux/{arch} os=[]\n"
        )
    );
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED_ONE] were not consumed"),
        "warning for the undeclared build arg:\n{out}"
    );
    let env = k.inspect("args:1")["Config"]["Env"].to_string();
    for gone in ["GLOBAL", "OVER", "TARGETARCH"] {
        assert!(!env.contains(gone), "ARG {gone} persisted: {env}");
    }
    assert!(env.contains("SAME=fromenv") && env.contains("B=x"), "{env}");
}
