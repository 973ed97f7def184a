//! End-to-end RUN flags: cache, bind and tmpfs mounts, --network=none, USER.

mod common;

use common::{context, printed, Kiln};

#[test]
fn cache_mount_persists_across_builds() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=cache,target=/cache \
         echo \"seen=$(cat /cache/count 2>/dev/null || echo none)\"; \
         echo x >> /cache/count; wc -l < /cache/count > /runs\n",
    )]);
    let first = k.build_ok(ctx.path(), "cache:1", &[]);
    assert!(printed(&first, "seen=none"), "{first}");
    let second = k.build_ok(ctx.path(), "cache:1", &["--no-cache"]);
    assert!(
        printed(&second, "seen=x"),
        "the cache mount kept the file:\n{second}"
    );
    assert_eq!(
        k.sh(
            "cache:1",
            "cat /runs; test -e /cache && echo stub-left || echo no-stub"
        ),
        "2\nno-stub\n"
    );
    // `from`/`source` fill a new cache from a stage (owner and mode included).
    let seeded = context(&[(
        "Dockerfile",
        "FROM busybox AS seed\nRUN mkdir /seed && echo s > /seed/f && chown 1000:50 /seed\n\
         FROM busybox\n\
         RUN --mount=type=cache,target=/c,from=seed,source=/seed \
         cat /c/f > /seen && stat -c '%u:%g' /c >> /seen && echo more > /c/g\n\
         RUN --mount=type=cache,target=/c,from=seed,source=/seed ls /c > /ls\n",
    )]);
    k.build_ok(seeded.path(), "cache:seeded", &[]);
    assert_eq!(k.sh("cache:seeded", "cat /seen /ls"), "s\n1000:50\nf\ng\n");
}

#[test]
fn bind_tmpfs_network_and_user() {
    let k = Kiln::new();
    let df = "FROM busybox AS stage\n\
RUN mkdir /data && echo from-stage > /data/f\n\
FROM busybox\n\
RUN --mount=type=bind,from=stage,source=/data,target=/src cat /src/f > /bound\n\
RUN --mount=type=bind,from=stage,source=/data/f,target=/onefile cat /onefile > /single\n\
RUN --mount=type=bind,from=stage,target=/src,rw echo changed > /src/data/f && cat /src/data/f > /rw-seen\n\
RUN --mount=type=bind,target=/ctx cat /ctx/in.txt > /from-ctx\n\
RUN --mount=type=tmpfs,target=/t grep -q ' /t tmpfs' /proc/mounts && echo tmp > /t/x && echo tmpfs-ok > /tmpfs\n\
RUN --network=none ls /sys/class/net > /ifaces 2>/dev/null || ip -o link | cut -d: -f2 | tr -d ' ' > /ifaces\n\
USER app\n\
RUN id -un > /tmp/who && id -u >> /tmp/who\n";
    let ctx = context(&[("Dockerfile", df), ("in.txt", "ctx file\n")]);
    k.build_ok(ctx.path(), "runf:1", &[]);
    assert_eq!(
        k.sh(
            "runf:1",
            "cat /bound /single /rw-seen /from-ctx /tmpfs; test -e /t/x && echo leaked || echo t-gone; \
             test -e /src && echo src-left || echo no-src; cat /ifaces; cat /tmp/who"
        ),
        "from-stage\nfrom-stage\nchanged\nctx file\ntmpfs-ok\nt-gone\nno-src\nlo\napp\n1000\n"
    );
    // The rw bind mount's writes did not reach the stage.
    let again = context(&[(
        "Dockerfile",
        "FROM busybox AS stage\nRUN mkdir /data && echo from-stage > /data/f\n\
         FROM busybox\nCOPY --from=stage /data/f /f\n",
    )]);
    k.build_ok(again.path(), "runf:2", &[]);
    assert_eq!(k.sh("runf:2", "cat /f"), "from-stage\n");
}

#[test]
fn context_bind_mounts_hide_ignored_files_and_discard_writes() {
    let k = Kiln::new();
    let df = "FROM busybox\n\
RUN --mount=type=bind,target=/ctx ls -A /ctx > /ls-root\n\
RUN --mount=type=bind,source=sub,target=/sub ls -A /sub > /ls-sub\n\
RUN --mount=type=bind,source=sub/kept.txt,target=/kept.txt cat /kept.txt > /kept\n\
RUN --mount=type=bind,target=/ctx,rw rm /ctx/keep.txt && echo written > /ctx/new.txt && ls -A /ctx > /ls-rw\n\
RUN --mount=type=bind,source=escape,target=/esc ls /esc > /ls-esc\n\
RUN --mount=type=cache,target=/c1,uid=1000,gid=50,mode=0700 stat -c '%u:%g %a' /c1 > /cache-owner\n";
    let ctx = context(&[
        ("Dockerfile", df),
        (".dockerignore", "secret.txt\nsub/*.log\n"),
        ("keep.txt", "k\n"),
        ("secret.txt", "s\n"),
        ("sub/kept.txt", "sub kept\n"),
        ("sub/x.log", "log\n"),
        ("escape/inner", "inner\n"),
    ]);
    // An absolute symlink resolves inside the context (to its /sub), never to the host's.
    std::fs::remove_dir_all(ctx.path().join("escape")).unwrap();
    std::os::unix::fs::symlink("/sub", ctx.path().join("escape")).unwrap();
    k.build_ok(ctx.path(), "ctxb:1", &[]);
    assert_eq!(
        k.sh(
            "ctxb:1",
            "cat /ls-root; echo --; cat /ls-sub /kept; echo --; cat /ls-rw"
        ),
        ".dockerignore\nDockerfile\nescape\nkeep.txt\nsub\n--\nkept.txt\nsub kept\n--\n\
         .dockerignore\nDockerfile\nescape\nnew.txt\nsub\n"
    );
    assert_eq!(k.sh("ctxb:1", "cat /ls-esc"), "kept.txt\n");
    // The rw mount's writes went to a throwaway copy, not the user's directory.
    assert!(ctx.path().join("keep.txt").exists());
    assert!(!ctx.path().join("new.txt").exists());
    // A cache mount is created with the uid, gid and mode asked for.
    assert_eq!(k.sh("ctxb:1", "cat /cache-owner"), "1000:50 700\n");
}
