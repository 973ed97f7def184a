//! Multi-platform builds: `kiln build --platform linux/amd64,linux/arm64` in one command, an
//! arm64 RUN through binfmt_misc and QEMU, an image index under the tag, and the commands that
//! pick one platform of it (`run`, `inspect`, `images --tree`, `rmi`).
//!
//! Needs an x86-64 machine with QEMU's aarch64 emulator registered (flag F) and Debian's
//! arm64 busybox unpacked, as `scripts/test.sh` sets up (`KILN_ARM64_BUSYBOX`).

mod common;
mod multiplatform_support;

use common::{context, printed, Kiln};
use multiplatform_support::{arm64_busybox, two_platform_busybox};

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS build
COPY src.txt /src/
ARG TARGETARCH
RUN echo \"built on $(uname -m) for $TARGETARCH\" > /out
FROM busybox
COPY --from=build /out /out
RUN uname -m > /arch && cat /arch
";

#[test]
fn two_platforms_in_one_build_make_an_index_with_arm64_run_under_qemu() {
    let Some(k) = two_platform_busybox() else {
        return;
    };
    // The name holds both platforms now.
    let tree = k.ok(&["images", "--tree"]);
    assert!(
        tree.contains("├─ linux/amd64") && tree.contains("└─ linux/arm64"),
        "{tree}"
    );
    let ctx = context(&[("Dockerfile", CROSS), ("src.txt", "hello\n")]);
    let log = k.build_ok(
        ctx.path(),
        "app:1",
        &["--platform", "linux/amd64,linux/arm64"],
    );
    // The arm64 RUN ran under the emulator, the amd64 one natively, each named for its
    // platform; the build stage ran on the build platform once per target (it reads
    // TARGETARCH).
    assert!(printed(&log, "aarch64"), "{log}");
    assert!(printed(&log, "x86_64"), "{log}");
    assert!(
        log.contains("[linux/arm64 stage-1 3/3] RUN uname -m > /arch && cat /arch"),
        "{log}"
    );
    assert!(log.contains("exporting manifest list sha256:"), "{log}");
    // Shared work ran once: one context load, one COPY of it into the build stage.
    // (A step's header repeats when its lines are interleaved with others': count numbers.)
    let loads = log
        .lines()
        .filter(|l| l.starts_with('#') && l.ends_with(" [internal] load build context"))
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(loads.len(), 1, "{loads:?}\n{log}");
    let copies = log
        .lines()
        .filter(|l| l.starts_with('#') && l.ends_with("] COPY src.txt /src/"))
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(copies.len(), 1, "{copies:?}\n{log}");
    assert!(
        log.contains("steps shared by the platforms ran once: ")
            && log.contains("[linux/amd64 build 2/3] COPY src.txt /src/"),
        "{log}"
    );

    // One name, two images: run and inspect pick the host's, or the one asked for.
    assert_eq!(k.ok(&["run", "--rm", "app:1", "cat", "/arch"]), "x86_64\n");
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            "app:1",
            "cat",
            "/arch",
            "/out"
        ]),
        "aarch64\nbuilt on x86_64 for arm64\n"
    );
    let arch = |extra: &[&str]| {
        let mut args = vec!["inspect", "--format", "{{.Os}}/{{.Architecture}}"];
        args.extend_from_slice(extra);
        args.push("app:1");
        k.ok(&args)
    };
    assert_eq!(arch(&[]), "linux/amd64\n");
    assert_eq!(arch(&["--platform", "linux/arm64"]), "linux/arm64\n");
    let out = k.run(&["run", "--rm", "--platform", "linux/s390x", "app:1", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("no image for platform linux/s390x in image index sha256:")
            && err.contains("(available: linux/amd64, linux/arm64)"),
        "{err}"
    );
    // `images` lists the index once, `--tree` with its platforms; -q prints its digest.
    let images = k.ok(&["images", "app"]);
    assert_eq!(images.lines().count(), 2, "{images}");
    let tree = k.ok(&["images", "--tree"]);
    let at = tree.find("app:1").unwrap();
    assert!(
        tree[at..].contains("├─ linux/amd64") && tree[at..].contains("└─ linux/arm64"),
        "{tree}"
    );
    let id = k
        .run(&[
            "build",
            "-q",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            "app:1",
            ctx.path().to_str().unwrap(),
        ])
        .stdout;
    let id = String::from_utf8(id).unwrap();
    assert!(
        images.contains(&id.trim().trim_start_matches("sha256:")[..12]),
        "{id} in {images}"
    );

    // A second build of the same: every step from the cache, the same index.
    let again = k.build_ok(
        ctx.path(),
        "app:2",
        &["--platform", "linux/amd64,linux/arm64"],
    );
    assert!(!printed(&again, "aarch64"), "nothing ran again:\n{again}");
    let digest = |tag: &str| {
        k.ok(&["images", "--no-trunc", "--format", "{{.ID}}", tag])
            .trim()
            .to_string()
    };
    assert_eq!(digest("app:1"), digest("app:2"));

    // One platform of an index is not removed alone.
    let arm_id = arch(&["--platform", "linux/arm64"]);
    assert_eq!(arm_id, "linux/arm64\n");
    let arm_id = k.ok(&[
        "inspect",
        "--platform",
        "linux/arm64",
        "--format",
        "{{.Id}}",
        "app:1",
    ]);
    let out = k.run(&["rmi", "-f", arm_id.trim()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("is one platform of the multi-platform image"),
        "{err}"
    );
    assert_eq!(arch(&["--platform", "linux/arm64"]), "linux/arm64\n");

    // A tag of the index names the index; rmi of every tag removes it and its images.
    k.ok(&["tag", "app:1", "app:3"]);
    assert_eq!(digest("app:3"), digest("app:1"));
    for t in ["app:1", "app:2", "app:3"] {
        k.ok(&["rmi", t]);
    }
    let left = k.ok(&["images", "--tree"]);
    assert!(!left.contains("app"), "{left}");
    assert!(left.contains("busybox:latest"), "{left}");
    // Nothing the index kept is left behind or broken.
    assert!(k.run(&["system", "check"]).status.success());
    assert_eq!(
        k.ok(&[
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            "busybox",
            "uname",
            "-m"
        ]),
        "aarch64\n"
    );
}

#[test]
fn one_foreign_platform_makes_that_platforms_image() {
    let Some(k) = two_platform_busybox() else {
        return;
    };
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN uname -m > /arch && cat /arch\n",
    )]);
    let log = k.build_ok(ctx.path(), "arm:1", &["--platform", "linux/arm64"]);
    assert!(printed(&log, "aarch64"), "{log}");
    assert!(
        !log.contains("manifest list"),
        "one platform, no index:\n{log}"
    );
    let v = k.inspect("arm:1");
    assert_eq!(v["Architecture"], "arm64");
    assert_eq!(k.ok(&["run", "--rm", "arm:1", "cat", "/arch"]), "aarch64\n");
    // Without an emulator, running it is refused, naming what to install.
    let binfmt = tempfile::tempdir_in(common::test_tmp()).unwrap();
    std::fs::write(binfmt.path().join("status"), "enabled\n").unwrap();
    let out = k
        .cmd()
        .env("KILN_BINFMT_MISC_DIR", binfmt.path())
        .args(["run", "--rm", "arm:1", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("cannot run linux/arm64 programs on this linux/amd64 machine: no emulator for linux/arm64 is registered in")
            && err.contains("apt-get install qemu-user-static binfmt-support"),
        "{err}"
    );
}

#[test]
fn kiln_info_lists_the_platforms_this_machine_runs() {
    let Some(_) = arm64_busybox() else {
        return;
    };
    let k = Kiln::empty();
    let info = k.ok(&["info"]);
    let line = info
        .lines()
        .find(|l| l.starts_with("Platforms: "))
        .unwrap_or_else(|| panic!("{info}"));
    assert!(line.starts_with("Platforms: linux/amd64, "), "{line}");
    assert!(line.contains("linux/arm64"), "{line}");
    let json = k.ok(&["info", "--format", "{{json .Platforms}}"]);
    assert!(json.contains("\"linux/arm64\""), "{json}");
    // With no emulators registered, only what the CPU runs.
    let binfmt = tempfile::tempdir_in(common::test_tmp()).unwrap();
    std::fs::write(binfmt.path().join("status"), "enabled\n").unwrap();
    let out = k
        .cmd()
        .env("KILN_BINFMT_MISC_DIR", binfmt.path())
        .args(["info", "--format", "{{json .Platforms}}"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[\"linux/amd64\",\"linux/386\"]"
    );
}
