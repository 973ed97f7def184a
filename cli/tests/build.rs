//! End-to-end `kiln build`: what a user sees in the image, the progress output and the cache.

mod common;

use common::{context, printed, scratch_copy, testdata, Kiln};

#[test]
fn files_owners_modes_links_and_deletions_in_the_image() {
    let k = Kiln::new();
    k.build_ok(&testdata("app"), "app:1", &[]);
    // Files copied from the context belong to root, keep their mode; RUN's changes persist.
    let out = k.sh(
        "app:1",
        "stat -c '%n %u:%g %a' /app/etc/app.conf /app/bin/run.sh /data/built.txt; \
         readlink /app/link; stat -c '%h %i' /data/built.txt /data/hard.txt; \
         cat /app/lib/one.txt; test -e /app/etc/remove-me.conf && echo still-there || echo removed; \
         test -e /app/unused.txt && echo unused-copied || echo unused-absent",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/app/etc/app.conf 0:0 644", "{out}");
    assert_eq!(lines[1], "/app/bin/run.sh 0:0 755", "{out}");
    assert_eq!(lines[2], "/data/built.txt 1000:50 640", "{out}");
    assert_eq!(lines[3], "/data/built.txt", "{out}");
    // hard link: same inode, link count 2
    let a: Vec<&str> = lines[4].split(' ').collect();
    let b: Vec<&str> = lines[5].split(' ').collect();
    assert_eq!(a[0], "2", "{out}");
    assert_eq!(a[1], b[1], "hard links share an inode: {out}");
    assert_eq!(lines[6], "lib one");
    assert_eq!(
        lines[7], "removed",
        "a file deleted by a later RUN is gone: {out}"
    );
    assert_eq!(lines[8], "unused-absent");
    // CMD runs as USER app.
    let out = k.ok(&["run", "--rm", "app:1"]);
    assert_eq!(out.trim(), "running as app");
    assert!(
        k.leftover_mounts().is_empty(),
        "mounts left: {:?}",
        k.leftover_mounts()
    );
}

#[test]
fn image_config_matches_the_dockerfile() {
    let k = Kiln::new();
    k.build_ok(&testdata("config"), "cfg:latest", &[]);
    let v = k.inspect("cfg:latest");
    let c = &v["Config"];
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"APP_HOME=/srv/app"), "{env:?}");
    assert!(env.contains(&"APP_MODE=test"), "{env:?}");
    assert!(
        env.iter().any(|e| e.starts_with("PATH=")),
        "PATH is kept from the base or defaulted: {env:?}"
    );
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["echo from-cmd"]));
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(c["Labels"]["org.example.name"], "config test");
    assert_eq!(c["Labels"]["version"], "2");
    assert_eq!(v["Os"], "linux");
    // ENTRYPOINT + CMD as docker combines them.
    assert_eq!(k.ok(&["run", "--rm", "cfg:latest"]).trim(), "from-cmd");
    assert_eq!(
        k.ok(&["run", "--rm", "cfg:latest", "echo $APP_MODE; pwd; id -u"])
            .trim(),
        "test\n/srv/app\n1000"
    );
}

#[test]
fn history_lists_every_instruction() {
    let k = Kiln::new();
    k.build_ok(&testdata("config"), "cfg:h", &[]);
    let out = k.ok(&["history", "--no-trunc", "cfg:h"]);
    for needle in [
        "ENV APP_HOME=/srv/app APP_MODE=test",
        "WORKDIR /srv/app",
        "USER 1000:1000",
        "EXPOSE",
        "LABEL",
        "ENTRYPOINT [\"/bin/sh\" \"-c\"]",
        "CMD [\"echo from-cmd\"]",
        "kiln import",
    ] {
        assert!(out.contains(needle), "history lacks {needle:?}:\n{out}");
    }
    // newest first: CMD is the top row, the imported base the last.
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(rows[0].contains("CMD"), "{out}");
    assert!(rows.last().unwrap().contains("kiln import"), "{out}");
}

#[test]
fn second_build_is_fully_cached_and_gives_the_same_image() {
    let k = Kiln::new();
    let ctx = scratch_copy("app");
    let first = k.build_ok(ctx.path(), "app:c", &[]);
    assert!(!first.contains("CACHED"), "{first}");
    let id1 = k.inspect("app:c")["Id"].as_str().unwrap().to_string();
    let second = k.build_ok(ctx.path(), "app:c", &[]);
    // No RUN executes the second time: nothing it prints appears, and the final step is cached.
    assert!(second.contains("CACHED"), "{second}");
    assert!(
        !second.contains("DONE") || second.matches("DONE").count() == 1,
        "only the export step runs: {second}"
    );
    let id2 = k.inspect("app:c")["Id"].as_str().unwrap().to_string();
    assert_eq!(id1.len(), 71);
    // Same layers, same history times: the very same image, as BuildKit gives.
    assert_eq!(id1, id2, "a fully cached rebuild makes the same image");
}

#[test]
fn editing_one_copied_file_reruns_only_the_steps_after_it() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY a.txt /a.txt\nRUN echo step-after-a && cat /a.txt > /copy-a\nCOPY b.txt /b.txt\nRUN echo step-after-b && cat /b.txt > /copy-b\n",
        ),
        ("a.txt", "a1\n"),
        ("b.txt", "b1\n"),
        ("unrelated.txt", "x\n"),
    ]);
    k.build_ok(ctx.path(), "edit:1", &[]);
    // A file no COPY selects changes nothing.
    std::fs::write(ctx.path().join("unrelated.txt"), "y\n").unwrap();
    let out = k.build_ok(ctx.path(), "edit:1", &[]);
    assert!(
        !printed(&out, "step-after-a") && !printed(&out, "step-after-b"),
        "unrelated edit re-ran a step:\n{out}"
    );
    // Editing b re-runs only what follows COPY b.txt.
    std::fs::write(ctx.path().join("b.txt"), "b2\n").unwrap();
    let out = k.build_ok(ctx.path(), "edit:1", &[]);
    assert!(
        !printed(&out, "step-after-a"),
        "the step before the edit re-ran:\n{out}"
    );
    assert!(
        printed(&out, "step-after-b"),
        "the step after the edit did not re-run:\n{out}"
    );
    assert_eq!(k.sh("edit:1", "cat /copy-a /copy-b"), "a1\nb2\n");
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let k = Kiln::new();
    let out = k.build_ok(
        &testdata("multistage"),
        "ms:final",
        &["--target", "final", "--build-arg", "VERSION=2.5"],
    );
    assert!(!out.contains("this stage must never run"), "{out}");
    assert!(!out.contains("echo extra"), "a later stage ran: {out}");
    assert_eq!(k.ok(&["run", "--rm", "ms:final"]).trim(), "version 2.5");
    assert_eq!(
        k.sh(
            "ms:final",
            "cat /out/base.txt; test -e /base.txt || echo no-base"
        ),
        "base\nno-base\n"
    );
    // Without --target: the last stage, inheriting from `final`.
    k.build_ok(&testdata("multistage"), "ms:extra", &[]);
    assert_eq!(
        k.sh("ms:extra", "cat /out/version.txt /out/extra.txt"),
        "version 1.0\nextra\n"
    );
}

#[test]
fn run_failure_names_the_step_line_and_exit_code() {
    let k = Kiln::new();
    let (ok, err) = k.build(&testdata("failing"), "fail:1", &[]);
    assert!(!ok);
    assert!(
        printed(&err, "going to fail"),
        "the step's output is shown:\n{err}"
    );
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(
        err.contains("RUN echo \"going to fail\""),
        "the step is named:\n{err}"
    );
    assert!(
        err.contains("Dockerfile:3"),
        "the Dockerfile line is named:\n{err}"
    );
    assert!(
        printed(&err, "before") && !printed(&err, "never"),
        "later steps don't run:\n{err}"
    );
    assert!(
        k.run(&["inspect", "fail:1"]).status.code() == Some(1),
        "no image is tagged"
    );
    assert!(k.leftover_mounts().is_empty());
    // The step that succeeded is cached.
    let (_, err2) = k.build(&testdata("failing"), "fail:1", &[]);
    assert!(err2.contains("CACHED"), "{err2}");
}

#[test]
fn bad_input_gets_a_one_line_error_and_exit_code_1() {
    let k = Kiln::new();
    let before = k.ok(&["images", "-q"]);
    // (context files, extra build flags, what the error must mention)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("x", "")], vec![], "Dockerfile"),
        (
            vec![("Dockerfile", "FROM busybox\nFNTRYPOINT [\"sh\"]\n")],
            vec![],
            "Dockerfile:2",
        ),
        (
            vec![("Dockerfile", "FROM nosuchimage:1\n")],
            vec![],
            "nosuchimage",
        ),
        (
            vec![("Dockerfile", "FROM busybox AS a\nRUN true\n")],
            vec!["--target", "nope"],
            "nope",
        ),
        (
            vec![("Dockerfile", "FROM busybox\nCOPY --from=missing /a /b\n")],
            vec![],
            "missing",
        ),
        (
            vec![("Dockerfile", "FROM busybox\n")],
            vec!["--build-arg", "=x"],
            "build-arg",
        ),
    ];
    for (files, extra, needle) in cases {
        let ctx = context(&files);
        let (ok, err) = k.build(ctx.path(), "bad:1", &extra);
        assert!(!ok, "{files:?} should fail");
        assert!(
            err.contains(needle),
            "error for {files:?} should mention {needle:?}:\n{err}"
        );
        assert!(err.contains("ERROR"), "{err}");
    }
    let (ok, err) = k.build(std::path::Path::new("/nonexistent/ctx"), "bad:1", &[]);
    assert!(!ok && err.contains("/nonexistent/ctx"), "{err}");
    assert_eq!(
        k.ok(&["images", "-q"]),
        before,
        "nothing was written to the store"
    );
}
