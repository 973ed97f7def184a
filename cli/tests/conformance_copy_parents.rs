//! COPY --chmod/--chown and the directories a copy creates (issue 9, item 4): --chmod never
//! reaches them, --chown does, existing parents are left alone — compared with what
//! Docker 20.10's BuildKit does on this machine.

mod common;

use common::{context, printed, Kiln};

fn stat_lines(progress: &str) -> Vec<String> {
    progress
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (Some(n), Some(t), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
                return None;
            };
            (n.starts_with('#') && t.parse::<f64>().is_ok() && rest.starts_with('/'))
                .then(|| rest.to_string())
        })
        .collect()
}

#[test]
fn chmod_and_chown_on_created_parents_match_docker() {
    let k = Kiln::new();
    let ctx = context(&[
        ("f", "hi\n"),
        ("d/sub/g", "x\n"),
        (
            "Dockerfile",
            "FROM busybox\n\
             COPY --chmod=700 f /a/b/c/f\n\
             COPY --chown=1000:1000 f /x/y/f\n\
             COPY --chown=1000:1000 --chmod=600 f /p/q/\n\
             COPY --chown=1000:1000 d /dd/e/\n\
             RUN mkdir -p /ex/isting && chmod 750 /ex && chown 5:5 /ex/isting\n\
             COPY --chown=1000:1000 --chmod=600 f /ex/isting/new/f\n\
             RUN stat -c '%n %a %u:%g' /a /a/b /a/b/c /a/b/c/f /x /x/y /x/y/f /p /p/q /p/q/f \
             /dd /dd/e /dd/e/sub /dd/e/sub/g /ex /ex/isting /ex/isting/new /ex/isting/new/f\n",
        ),
    ]);
    for dir in ["d", "d/sub"] {
        std::fs::set_permissions(
            ctx.path().join(dir),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let progress = k.build_ok(ctx.path(), "parents", &["--no-cache"]);
    // `DOCKER_BUILDKIT=1 docker build` of the same Dockerfile and context, Docker 20.10.24.
    let docker = [
        "/a 755 0:0",
        "/a/b 755 0:0",
        "/a/b/c 755 0:0",
        "/a/b/c/f 700 0:0",
        "/x 755 1000:1000",
        "/x/y 755 1000:1000",
        "/x/y/f 644 1000:1000",
        "/p 755 1000:1000",
        "/p/q 755 1000:1000",
        "/p/q/f 600 1000:1000",
        "/dd 755 1000:1000",
        "/dd/e 755 1000:1000",
        "/dd/e/sub 755 1000:1000",
        "/dd/e/sub/g 644 1000:1000",
        "/ex 750 0:0",
        "/ex/isting 755 5:5",
        "/ex/isting/new 755 1000:1000",
        "/ex/isting/new/f 600 1000:1000",
    ];
    assert_eq!(stat_lines(&progress), docker, "{progress}");
}

#[test]
fn copy_link_creates_its_parents_as_buildkit_documents() {
    // Docker 20.10 has no --link. Current BuildKit (docs of COPY --link, moby/buildkit#6778):
    // the copy is made on an empty layer, whose parents are created 0755 and owned by the
    // --chown user, and that layer is merged on top: its parents replace existing ones.
    let k = Kiln::new();
    let ctx = context(&[
        ("f", "hi\n"),
        (
            "Dockerfile",
            "FROM busybox\n\
             COPY --link --chown=1000:1000 f /l/m/f\n\
             COPY --link --chmod=700 f /lc/m/f\n\
             RUN stat -c '%n %a %u:%g' /l /l/m /l/m/f /lc /lc/m /lc/m/f\n",
        ),
    ]);
    let progress = k.build_ok(ctx.path(), "link-parents", &["--no-cache"]);
    assert_eq!(
        stat_lines(&progress),
        [
            "/l 755 1000:1000",
            "/l/m 755 1000:1000",
            "/l/m/f 644 1000:1000",
            "/lc 755 0:0",
            "/lc/m 755 0:0",
            "/lc/m/f 700 0:0",
        ],
        "{progress}"
    );
    assert!(!printed(&progress, "/lc 700 0:0"));
}
