//! End-to-end ONBUILD: triggers stored in the parent, run by the child, not inherited further.

mod common;

use common::{context, Kiln};

#[test]
fn onbuild_triggers_run_in_the_child_and_are_cleared() {
    let k = Kiln::new();
    let parent = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD RUN echo triggered > /t\nONBUILD COPY f /f\nRUN echo parent > /p\n",
    )]);
    k.build_ok(parent.path(), "parent:1", &[]);
    let pc = &k.inspect("parent:1")["Config"];
    assert_eq!(
        pc["OnBuild"],
        serde_json::json!(["RUN echo triggered > /t", "COPY f /f"]),
        "{pc}"
    );
    // The parent itself does not run its triggers.
    assert_eq!(
        k.sh("parent:1", "cat /p; test -e /t || echo no-t"),
        "parent\nno-t\n"
    );

    let child = context(&[
        ("Dockerfile", "FROM parent:1\nRUN cat /t /f > /both\n"),
        ("f", "child file\n"),
    ]);
    k.build_ok(child.path(), "child:1", &[]);
    assert_eq!(
        k.sh("child:1", "cat /both; cat /p"),
        "triggered\nchild file\nparent\n"
    );
    let cc = &k.inspect("child:1")["Config"];
    assert!(
        cc["OnBuild"].is_null() || cc["OnBuild"] == serde_json::json!([]),
        "the child's config keeps no triggers: {cc}"
    );
}

#[test]
fn onbuild_of_a_stage_runs_in_the_stage_built_on_it() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS base\nONBUILD RUN echo x > /x\nONBUILD COPY --from=other /o /o\n\
         FROM busybox AS other\nRUN echo o > /o\n\
         FROM base\nRUN cat /x /o > /both\n",
    )]);
    k.build_ok(ctx.path(), "obs:1", &[]);
    assert_eq!(k.sh("obs:1", "cat /both"), "x\no\n");
}
