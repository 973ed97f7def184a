//! End-to-end config instructions: HEALTHCHECK, STOPSIGNAL, VOLUME, SHELL, ENTRYPOINT/CMD,
//! MAINTAINER, ARG and the history texts, as `kiln inspect` and `kiln history` show them.

mod common;

use common::{context, Kiln};
use serde_json::json;

#[test]
fn config_keys_shell_and_history() {
    let k = Kiln::new();
    let df = "FROM busybox\n\
MAINTAINER Jane Doe <jane@example.com>\n\
ARG BUILD_ONLY=abc\n\
RUN echo \"arg=$BUILD_ONLY\" > /arg\n\
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --start-interval=2s --retries=4 CMD wget -q localhost || exit 1\n\
STOPSIGNAL SIGUSR1\n\
VOLUME [\"/data\", \"/logs\"]\n\
VOLUME /v1 /v2\n\
SHELL [\"/bin/sh\", \"-ec\"]\n\
RUN case $- in *e*) echo errexit-on;; *) echo errexit-off;; esac > /flags\n\
CMD echo shell-form\n";
    let ctx = context(&[("Dockerfile", df)]);
    k.build_ok(ctx.path(), "cfg:keys", &[]);
    let v = k.inspect("cfg:keys");
    let c = &v["Config"];
    assert_eq!(v["Author"], "Jane Doe <jane@example.com>", "{v}");
    assert_eq!(
        c["Healthcheck"],
        json!({
            "Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
            "Interval": 30_000_000_000u64,
            "Timeout": 5_000_000_000u64,
            "StartPeriod": 90_000_000_000u64,
            "StartInterval": 2_000_000_000u64,
            "Retries": 4
        }),
        "{c}"
    );
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert_eq!(
        c["Volumes"],
        json!({"/data": {}, "/logs": {}, "/v1": {}, "/v2": {}})
    );
    assert_eq!(c["Shell"], json!(["/bin/sh", "-ec"]));
    assert_eq!(c["Cmd"], json!(["/bin/sh", "-ec", "echo shell-form"]));
    let env = c["Env"].to_string();
    assert!(!env.contains("BUILD_ONLY"), "ARG is not persisted: {env}");
    // SHELL changed the later RUN's shell; the ARG was visible to RUN.
    assert_eq!(
        k.ok(&["run", "--rm", "cfg:keys", "cat", "/flags", "/arg"]),
        "errexit-on\narg=abc\n"
    );
    let hist = k.ok(&["history", "--no-trunc", "cfg:keys"]);
    for needle in [
        "RUN |1 BUILD_ONLY=abc /bin/sh -c echo \"arg=$BUILD_ONLY\" > /arg",
        "RUN |1 BUILD_ONLY=abc /bin/sh -ec case $- in",
        "STOPSIGNAL SIGUSR1",
        "SHELL [/bin/sh -ec]",
        "MAINTAINER Jane Doe <jane@example.com>",
    ] {
        assert!(hist.contains(needle), "history lacks {needle:?}:\n{hist}");
    }
}

#[test]
fn entrypoint_resets_inherited_cmd_and_healthcheck_none() {
    let k = Kiln::new();
    let base = context(&[(
        "Dockerfile",
        "FROM busybox\nCMD [\"echo\", \"parent\"]\nHEALTHCHECK CMD true\n",
    )]);
    k.build_ok(base.path(), "ep:base", &[]);
    assert_eq!(
        k.inspect("ep:base")["Config"]["Cmd"],
        json!(["echo", "parent"])
    );

    let child = context(&[(
        "Dockerfile",
        "FROM ep:base AS reset\nENTRYPOINT [\"/bin/echo\", \"ep\"]\nHEALTHCHECK NONE\n\
             FROM ep:base AS keep\nCMD [\"kept\"]\nENTRYPOINT [\"/bin/echo\"]\n",
    )]);
    k.build_ok(child.path(), "ep:reset", &["--target", "reset"]);
    let c = &k.inspect("ep:reset")["Config"];
    assert!(
        c["Cmd"].is_null(),
        "ENTRYPOINT resets the inherited CMD: {c}"
    );
    assert_eq!(c["Entrypoint"], json!(["/bin/echo", "ep"]));
    assert_eq!(c["Healthcheck"]["Test"], json!(["NONE"]), "{c}");
    assert_eq!(k.ok(&["run", "--rm", "ep:reset"]), "ep\n");

    k.build_ok(child.path(), "ep:keep", &["--target", "keep"]);
    let c = &k.inspect("ep:keep")["Config"];
    assert_eq!(
        c["Cmd"],
        json!(["kept"]),
        "a CMD of the same stage stays: {c}"
    );
    assert_eq!(k.ok(&["run", "--rm", "ep:keep"]), "kept\n");
}
