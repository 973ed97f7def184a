//! Supplementary groups (issue 9, item 9): the primary group is always among a process's
//! groups, as current BuildKit sets them since the fix for CVE-2023-25173 (`ensureAdditionalGids`
//! in BuildKit's `executor/oci/user.go` puts it first). The BuildKit of this machine's Docker
//! 20.10 predates the fix and prints no `groups=` at all for root in RUN; Docker 20.10's
//! `docker run` has the fix: `kiln run` prints exactly what it prints.

mod common;

use common::{context, printed, Kiln};

const DOCKERFILE: &str = "FROM busybox
RUN echo 'wheel:x:10:root,app' >> /etc/group
RUN id
USER app
RUN id
USER app:staff
RUN id
USER 1000:1000
RUN id
USER 4242
RUN id
";

#[test]
fn run_steps_get_the_primary_group_first_as_current_buildkit() {
    let k = Kiln::new();
    let ctx = context(&[("Dockerfile", DOCKERFILE)]);
    let progress = k.build_ok(ctx.path(), "groups", &[]);
    // Current BuildKit (primary group added unless already listed; the kernel sorts the list
    // `setgroups` gets, so `id` prints it in numeric order). Docker 20.10's own
    // BuildKit printed, in order: `uid=0(root) gid=0(root)`,
    // `uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)`, `uid=1000(app) gid=50(staff)`,
    // `uid=1000(app) gid=1000(app)`, `uid=4242 gid=0(root)`.
    for line in [
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)",
        "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)",
        "uid=1000(app) gid=50(staff) groups=50(staff)",
        "uid=1000(app) gid=1000(app) groups=1000(app)",
        "uid=4242 gid=0(root) groups=0(root)",
    ] {
        assert!(printed(&progress, line), "no {line:?} in:\n{progress}");
    }
}

#[test]
fn kiln_run_gets_the_groups_docker_run_gives() {
    let k = Kiln::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo 'wheel:x:10:root,app' >> /etc/group\n",
    )]);
    k.build_ok(ctx.path(), "groups", &[]);
    // `docker run --rm --network none -u USER IMG id`, Docker 20.10 on this machine.
    for (user, docker) in [
        ("root", "uid=0(root) gid=0(root) groups=0(root),10(wheel)"),
        (
            "app",
            "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)",
        ),
        ("app:staff", "uid=1000(app) gid=50(staff) groups=50(staff)"),
        ("1000:1000", "uid=1000(app) gid=1000(app) groups=1000(app)"),
        ("4242", "uid=4242 gid=0(root) groups=0(root)"),
    ] {
        let out = k.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            user,
            "groups",
            "id",
        ]);
        assert_eq!(out.trim_end(), docker, "-u {user}");
    }
}
