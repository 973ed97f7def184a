//! End-to-end: a RUN that mounts the build context is rebuilt when, and only when, something its
//! mounts expose changed (issue 7, item 15: a stale cache is the worst bug a builder can have).

mod common;

use common::{context, Kiln};

/// Was the step whose name starts with `step` (e.g. `[2/2] RUN`) reported CACHED in this plain
/// progress (`#N [2/2] RUN ...` then `#N CACHED`)?
fn cached(progress: &str, step: &str) -> bool {
    let number = progress.lines().find_map(|l| {
        let (n, rest) = l.split_once(' ')?;
        (n.starts_with('#') && rest.starts_with(step)).then(|| n.to_string())
    });
    let number = number.unwrap_or_else(|| panic!("no step {step:?} in:\n{progress}"));
    progress.lines().any(|l| l == format!("{number} CACHED"))
}

/// The exact case: one mount of the whole context, one of a single file.
#[test]
fn edit_under_a_whole_context_mount_next_to_a_single_file_mount_reruns() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=bind,source=.,target=/a --mount=type=bind,source=b.txt,target=/b \
             cat /a/a.txt /b > /out\n",
        ),
        ("a.txt", "old a\n"),
        ("b.txt", "b\n"),
    ]);
    k.build_ok(ctx.path(), "stale:1", &[]);
    assert_eq!(k.sh("stale:1", "cat /out"), "old a\nb\n");

    std::fs::write(ctx.path().join("a.txt"), "new a\n").unwrap();
    let second = k.build_ok(ctx.path(), "stale:1", &[]);
    assert!(
        !cached(&second, "[2/2] RUN"),
        "the RUN stayed cached after a.txt changed:\n{second}"
    );
    assert_eq!(k.sh("stale:1", "cat /out"), "new a\nb\n");

    // Nothing changed: the RUN is cached.
    let third = k.build_ok(ctx.path(), "stale:1", &[]);
    assert!(cached(&third, "[2/2] RUN"), "{third}");
}

/// One bind mount of a subdirectory: an edit inside it reruns the step, an edit beside it (or of
/// an ignored file inside it) does not.
#[test]
fn a_single_context_bind_mount_follows_what_it_exposes() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=bind,source=sub,target=/s cat /s/* > /out\n",
        ),
        (".dockerignore", "sub/*.log\n"),
        ("sub/x.txt", "x1\n"),
        ("sub/y.log", "ignored\n"),
        ("other.txt", "o\n"),
    ]);
    k.build_ok(ctx.path(), "single:1", &[]);
    assert_eq!(k.sh("single:1", "cat /out"), "x1\n");

    std::fs::write(ctx.path().join("other.txt"), "o2\n").unwrap();
    std::fs::write(ctx.path().join("sub/y.log"), "still ignored\n").unwrap();
    let unrelated = k.build_ok(ctx.path(), "single:1", &[]);
    assert!(cached(&unrelated, "[2/2] RUN"), "{unrelated}");

    std::fs::write(ctx.path().join("sub/x.txt"), "x2\n").unwrap();
    let edited = k.build_ok(ctx.path(), "single:1", &[]);
    assert!(!cached(&edited, "[2/2] RUN"), "{edited}");
    assert_eq!(k.sh("single:1", "cat /out"), "x2\n");
}

/// A mount that hides ignored files, then a COPY of a file it showed: the build works (kiln
/// does not touch the context's files, so what was hashed for the COPY is still what it copies),
/// and the files' metadata is as the user left it.
#[test]
fn mounting_the_context_leaves_its_files_untouched() {
    use std::os::unix::fs::MetadataExt;
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=bind,target=/ctx cat /ctx/keep.txt > /seen\n\
             COPY keep.txt /copied\n",
        ),
        (".dockerignore", "secret.txt\n"),
        ("keep.txt", "k\n"),
        ("secret.txt", "s\n"),
    ]);
    let stat = |name: &str| {
        let m = std::fs::metadata(ctx.path().join(name)).unwrap();
        (m.ino(), m.nlink(), m.ctime(), m.ctime_nsec())
    };
    let before = stat("keep.txt");
    k.build_ok(ctx.path(), "untouched:1", &[]);
    assert_eq!(k.sh("untouched:1", "cat /seen /copied"), "k\nk\n");
    assert_eq!(stat("keep.txt"), before, "the context file was modified");
}

/// Issue 9, item 8: a bind mount of a stage's subdirectory is keyed by what it exposes, so an
/// edit the stage copies elsewhere reruns the stage but not the step (BuildKit keeps it cached).
#[test]
fn a_stage_subdirectory_mount_is_keyed_by_its_content() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox AS stage\nCOPY . /ctx\n\
             FROM busybox\n\
             RUN --mount=type=bind,from=stage,source=/ctx/sub,target=/m cat /m/f > /out\n\
             COPY --from=stage /ctx/sub/f /copied\n\
             RUN cat /out /copied > /both\n",
        ),
        ("sub/f", "one\n"),
        ("other.txt", "o\n"),
    ]);
    k.build_ok(ctx.path(), "stagesub:1", &[]);
    assert_eq!(k.sh("stagesub:1", "cat /out"), "one\n");

    std::fs::write(ctx.path().join("other.txt"), "o2\n").unwrap();
    let unrelated = k.build_ok(ctx.path(), "stagesub:1", &[]);
    assert!(
        !cached(&unrelated, "[stage 2/2] COPY"),
        "the stage's COPY must rerun:\n{unrelated}"
    );
    // The mount and the COPY read an unchanged part of the stage; what follows them is cached too.
    for step in [
        "[stage-1 2/4] RUN",
        "[stage-1 3/4] COPY",
        "[stage-1 4/4] RUN",
    ] {
        assert!(cached(&unrelated, step), "{step}:\n{unrelated}");
    }
    // And the next identical build finds the last step before running anything.
    let again = k.build_ok(ctx.path(), "stagesub:1", &[]);
    assert!(cached(&again, "[stage-1 4/4] RUN"), "{again}");

    std::fs::write(ctx.path().join("sub/f"), "two\n").unwrap();
    let edited = k.build_ok(ctx.path(), "stagesub:1", &[]);
    for step in [
        "[stage-1 2/4] RUN",
        "[stage-1 3/4] COPY",
        "[stage-1 4/4] RUN",
    ] {
        assert!(!cached(&edited, step), "{step}:\n{edited}");
    }
    assert_eq!(k.sh("stagesub:1", "cat /both"), "two\ntwo\n");
}
