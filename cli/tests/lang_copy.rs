//! End-to-end COPY/ADD and WORKDIR: .dockerignore, owners, modes, wildcards, directories,
//! --from, --link, --exclude, --parents, archives.

mod common;

use common::{context, Kiln};
use std::process::Command;

#[test]
fn copy_add_and_workdir_semantics() {
    let k = Kiln::new();
    let df = "FROM busybox AS src\n\
RUN mkdir -p /stuff/sub && echo s > /stuff/owned && chown 1234:5678 /stuff/owned && echo deep > /stuff/sub/deep\n\
FROM busybox\n\
COPY . /all/\n\
COPY *.log /logs/\n\
COPY --chown=app:staff a.txt /own/named\n\
COPY --chown=1000 a.txt /own/numeric\n\
COPY --chmod=0600 a.txt /own/mode\n\
COPY wild/*.txt /wild/\n\
COPY dir /dircontents/\n\
COPY dir/sub/y.txt dir/x.txt /twofiles/\n\
COPY --from=src /stuff /fromsrc\n\
COPY --link a.txt /linked/a.txt\n\
COPY --exclude=*.log logs-dir /excl/\n\
COPY --parents par/./x/y.txt /parents/\n\
COPY --parents par/x/*.txt /parents2/\n\
ADD data.tar.gz /extracted/\n\
ADD --unpack=false data.tar.gz /packed/\n\
ADD --chown=100:200 data.tar.gz /chowned/\n\
WORKDIR rel1\n\
WORKDIR rel2\n\
RUN pwd > /wd\n\
USER app\n\
WORKDIR /owned-by-app/deeper\n";
    let ctx = context(&[
        ("Dockerfile", df),
        (".dockerignore", "*.log\n!keep.log\nsecret/\n"),
        ("a.txt", "a\n"),
        ("b.log", "b\n"),
        ("keep.log", "keep\n"),
        ("secret/s.txt", "s\n"),
        ("dir/x.txt", "x\n"),
        ("dir/sub/y.txt", "y\n"),
        ("wild/one.txt", "1\n"),
        ("wild/two.txt", "2\n"),
        ("wild/three.md", "3\n"),
        ("logs-dir/app.log", "log\n"),
        ("logs-dir/app.txt", "txt\n"),
        ("par/x/y.txt", "py\n"),
        ("tarsrc/t/inner.txt", "inner\n"),
    ]);
    let st = Command::new("tar")
        .arg("-czf")
        .arg(ctx.path().join("data.tar.gz"))
        .arg("-C")
        .arg(ctx.path().join("tarsrc"))
        .arg("t")
        .status()
        .unwrap();
    assert!(st.success());
    k.build_ok(ctx.path(), "cp:1", &[]);

    let check = |script: &str, want: &str| {
        let got = k.sh("cp:1", script);
        assert_eq!(got, want, "script: {script}");
    };
    // .dockerignore: *.log and secret/ excluded, keep.log re-included.
    check(
        "cd /all && ls a.txt keep.log b.log secret 2>&1 | sort",
        "a.txt\nkeep.log\nls: b.log: No such file or directory\nls: secret: No such file or directory\n",
    );
    check("ls /logs", "keep.log\n");
    // --chown by name and by id, --chmod.
    check(
        "stat -c '%u:%g %a' /own/named /own/numeric /own/mode",
        "1000:50 644\n1000:1000 644\n0:0 600\n",
    );
    check("ls /wild", "one.txt\ntwo.txt\n");
    // A directory source copies its contents.
    check(
        "cd /dircontents && find . | sort",
        ".\n./sub\n./sub/y.txt\n./x.txt\n",
    );
    check("ls /twofiles", "x.txt\ny.txt\n");
    // --from keeps owners.
    check(
        "stat -c '%u:%g' /fromsrc/owned; cat /fromsrc/sub/deep",
        "1234:5678\ndeep\n",
    );
    check("cat /linked/a.txt", "a\n");
    check("ls /excl", "app.txt\n");
    check(
        "find /parents /parents2 -type f | sort",
        "/parents/x/y.txt\n/parents2/par/x/y.txt\n",
    );
    check(
        "cat /extracted/t/inner.txt; ls /packed",
        "inner\ndata.tar.gz\n",
    );
    check(
        "stat -c '%n %u:%g' /chowned /chowned/t/inner.txt",
        "/chowned 100:200\n/chowned/t/inner.txt 100:200\n",
    );
    check("cat /wd", "/rel1/rel2\n");
    check(
        "stat -c '%U %n' /owned-by-app/deeper",
        "app /owned-by-app/deeper\n",
    );
    assert_eq!(
        k.inspect("cp:1")["Config"]["WorkingDir"],
        "/owned-by-app/deeper"
    );
}

#[test]
fn ignored_files_stay_out_when_reached_through_a_symlink() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY esc /viaesc/\nCOPY sub /direct/\n",
        ),
        (".dockerignore", "sub/*.log\n"),
        ("sub/kept.txt", "k\n"),
        ("sub/x.log", "l\n"),
    ]);
    std::os::unix::fs::symlink("sub", ctx.path().join("esc")).unwrap();
    k.build_ok(ctx.path(), "cpl:1", &[]);
    assert_eq!(
        k.sh("cpl:1", "ls /viaesc; echo --; ls /direct"),
        "kept.txt\n--\nkept.txt\n"
    );
    // A symlink straight to an ignored file finds nothing.
    std::os::unix::fs::symlink("sub/x.log", ctx.path().join("tolog")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY tolog /f\n",
    )
    .unwrap();
    let (ok, err) = k.build(ctx.path(), "cpl:2", &[]);
    assert!(!ok && err.contains("\"/tolog\": not found"), "{err}");
}

#[test]
fn copy_parents_double_star_spans_directories_and_keys_the_cache() {
    let k = Kiln::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY --parents **/*.md /q1/\nCOPY --parents a/**/*.txt /q2/\n",
        ),
        ("a/one.txt", "1\n"),
        ("a/b/two.txt", "2\n"),
        ("a/b/c/three.md", "3\n"),
    ]);
    k.build_ok(ctx.path(), "dstar:1", &[]);
    let files = "find /q1 /q2 -type f | sort; cat /q1/a/b/c/three.md";
    assert_eq!(
        k.sh("dstar:1", files),
        "/q1/a/b/c/three.md\n/q2/a/b/two.txt\n/q2/a/one.txt\n3\n"
    );
    // A deep file matched through `**` is part of the cache key.
    std::fs::write(ctx.path().join("a/b/c/three.md"), "3b\n").unwrap();
    k.build_ok(ctx.path(), "dstar:1", &[]);
    assert!(k.sh("dstar:1", files).ends_with("\n3b\n"));
}
