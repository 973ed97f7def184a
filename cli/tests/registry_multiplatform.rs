//! Multi-platform images and a real registry: `kiln push` of an index (each platform by
//! digest, then the index), read back by skopeo (`inspect --raw`, `copy --all`) and by kiln
//! per platform; and the fan-out of multi-arch CI: each runner pushes its platform with
//! `--output type=registry,push-by-digest=true`, `kiln manifest create` (or `kiln imagetools
//! create`) merges them, `kiln manifest inspect` shows the index.

mod common;
mod multiplatform_support;
mod registry_support;

use common::{context, Kiln};
use multiplatform_support::two_platform_busybox;
use registry_harness::Registry;
use registry_support::{at, Env};
use std::process::Command;

const APP: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS build
COPY msg /msg
ARG TARGETPLATFORM
RUN echo \"$(cat /msg) for $TARGETPLATFORM\" > /out
FROM busybox
COPY --from=build /out /out
RUN uname -m > /arch
CMD [\"cat\", \"/out\", \"/arch\"]
";

fn skopeo(args: &[&str]) -> Option<String> {
    if !std::path::Path::new("/usr/bin/skopeo").exists() {
        assert!(
            std::env::var("KILN_REQUIRE_PEERS").as_deref() != Ok("1"),
            "skopeo is missing"
        );
        return None;
    }
    let out = Command::new("/usr/bin/skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The platforms of an index document, sorted.
fn platforms(index: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn an_index_is_pushed_read_by_skopeo_and_pulled_back_per_platform() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let Some(k) = two_platform_busybox() else {
        return;
    };
    let env = Env::new();
    let app = at(&reg, "multi/app:1");
    let ctx = context(&[("Dockerfile", APP), ("msg", "hello")]);
    let (ok, log) = env.build(
        &k,
        ctx.path(),
        &app,
        &["--platform", "linux/amd64,linux/arm64", "--push"],
    );
    assert!(ok, "{log}");
    // The index leaves with its layers compressed, so the registry's digest is not the local
    // one (as docker's containerd store pushes): it is recorded as the index's RepoDigests.
    let index_digest = log
        .lines()
        .find_map(|l| l.strip_prefix("1: digest: "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("the tag names the index:\n{log}"))
        .to_string();
    let local = k.ok(&["images", "--no-trunc", "--format", "{{.ID}}", &app]);
    assert_ne!(
        local.trim(),
        index_digest,
        "the layers were compressed to leave"
    );
    let repo_digests = k.ok(&["inspect", "--format", "{{json .RepoDigests}}", &app]);
    assert!(
        repo_digests.contains(&format!("{}@{index_digest}", at(&reg, "multi/app"))),
        "{repo_digests}"
    );

    // skopeo reads the index as kiln wrote it, with both platforms, and copies all of it.
    if let Some(raw) = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{app}"),
    ]) {
        let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
        assert_eq!(
            format!("sha256:{}", sha256_hex(raw.as_bytes())),
            index_digest,
            "served byte for byte"
        );
        let copied = at(&reg, "multi/copied:all");
        skopeo(&[
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{app}"),
            &format!("docker://{copied}"),
        ]);
        let fresh = Kiln::empty();
        env.ok(&fresh, &["pull", "--platform", "linux/arm64", &copied]);
        assert_eq!(
            env.ok(&fresh, &["run", "--rm", &copied]),
            "hello for linux/arm64\naarch64\n"
        );
    }

    // kiln pulls either platform back, and RepoDigests name the index.
    for (platform, arch) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let fresh = Kiln::empty();
        let out = env.ok(&fresh, &["pull", "--platform", platform, &app]);
        assert!(out.contains(&format!("Digest: {index_digest}\n")), "{out}");
        assert_eq!(
            env.ok(&fresh, &["run", "--rm", &app]),
            format!("hello for {platform}\n{arch}\n")
        );
        // Both platforms of one name in one store: the second pull joins the first.
        env.ok(&fresh, &["pull", "--platform", "linux/arm64", &app]);
        env.ok(&fresh, &["pull", "--platform", "linux/amd64", &app]);
        let tree = fresh.ok(&["images", "--tree"]);
        assert!(
            tree.contains("├─ linux/") && tree.contains("└─ linux/"),
            "{tree}"
        );
    }

    // kiln manifest inspect shows what the registry serves.
    let shown = env.ok(&k, &["manifest", "inspect", &app]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(platforms(&v), ["linux/amd64", "linux/arm64"]);
    assert!(
        shown.starts_with("{\n   \"schemaVersion\": 2,\n"),
        "{shown}"
    );
    // The docker daemon pulls kiln's index and runs the host's image of it.
    let docker = |args: &[&str]| {
        Command::new("/usr/bin/docker")
            .env("DOCKER_CONFIG", env.docker_config())
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    if docker(&["info"]).is_some() {
        assert!(docker(&["pull", "-q", &app]).is_some(), "docker pull {app}");
        let out = docker(&["run", "--rm", "--network", "none", &app]).expect("docker run");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello for linux/amd64\nx86_64\n"
        );
        docker(&["rmi", &app]);
    } else {
        assert!(
            std::env::var("KILN_REQUIRE_PEERS").as_deref() != Ok("1"),
            "docker is not running"
        );
    }
    // `kiln manifest inspect` prints what docker 28's `docker manifest inspect` prints
    // (Docker 20.10's CLI knows no OCI media types: "no such manifest"); compared when the
    // docker CLI on PATH reads them.
    let amd = v["manifests"][0]["digest"].as_str().unwrap().to_string();
    let image = format!("{}@{amd}", at(&reg, "multi/app"));
    for name in [app.as_str(), image.as_str()] {
        let cli = Command::new("docker")
            .env("DOCKER_CONFIG", env.docker_config())
            .env("DOCKER_CLI_EXPERIMENTAL", "enabled")
            .args(["manifest", "inspect", "--insecure", name])
            .output();
        let Some(cli) = cli.ok().filter(|o| o.status.success()) else {
            eprintln!("the docker CLI here cannot read {name}: not compared");
            continue;
        };
        assert_eq!(
            env.ok(&k, &["manifest", "inspect", name]),
            String::from_utf8_lossy(&cli.stdout),
            "{name}"
        );
    }
}

#[test]
fn runners_push_by_digest_and_manifest_create_merges_them() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let Some(amd_runner) = two_platform_busybox() else {
        return;
    };
    let Some(arm_runner) = two_platform_busybox() else {
        return;
    };
    let env = Env::new();
    let repo = at(&reg, "fan/app");
    let ctx = context(&[("Dockerfile", APP), ("msg", "fanned")]);
    let output = format!("type=registry,name={repo},push-by-digest=true");
    let mut digests = Vec::new();
    for (k, platform) in [(&amd_runner, "linux/amd64"), (&arm_runner, "linux/arm64")] {
        let out = env
            .cmd(k)
            .args([
                "build",
                "--progress=plain",
                "--platform",
                platform,
                "--output",
            ])
            .arg(&output)
            .arg(ctx.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The digest, in the repository, and no tag there.
        let line = stdout.lines().last().unwrap_or_default().to_string();
        let digest = line
            .strip_prefix(&format!("{repo}@"))
            .unwrap_or_else(|| panic!("{stdout}"))
            .to_string();
        assert!(digest.starts_with("sha256:"), "{stdout}");
        digests.push(digest);
    }
    // In the registry by digest, under no tag (the registry knows no tag of the repository).
    if let Some(raw) = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}@{}", digests[1]),
    ]) {
        assert!(
            raw.contains("application/vnd.oci.image.manifest.v1+json"),
            "{raw}"
        );
        let tags = Command::new("/usr/bin/skopeo")
            .args([
                "list-tags",
                "--tls-verify=false",
                &format!("docker://{repo}"),
            ])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&tags.stdout).into_owned()
            + &String::from_utf8_lossy(&tags.stderr);
        assert!(
            !tags.status.success() || said.contains("\"Tags\": []"),
            "no tags: {said}"
        );
    }

    // Merged into one index under a tag.
    let target = format!("{repo}:1");
    let mut args = vec!["manifest", "create", target.as_str()];
    args.extend(digests.iter().map(String::as_str));
    let made = env.ok(&amd_runner, &args).trim().to_string();
    assert!(made.starts_with("sha256:"), "{made}");
    let shown = env.ok(&amd_runner, &["manifest", "inspect", &target]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(platforms(&v), ["linux/amd64", "linux/arm64"]);
    let listed: Vec<&str> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        digests.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // imagetools create: the same index (the same bytes, so the same digest).
    let target2 = format!("{repo}:2");
    let mut args = vec!["imagetools", "create", "-t", target2.as_str()];
    args.extend(digests.iter().map(String::as_str));
    assert_eq!(env.ok(&arm_runner, &args).trim(), made);

    // Pulled per platform, it runs what each runner built.
    for (platform, arch) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let fresh = Kiln::empty();
        env.ok(&fresh, &["pull", "--platform", platform, &target]);
        assert_eq!(
            env.ok(&fresh, &["run", "--rm", &target]),
            format!("fanned for {platform}\n{arch}\n")
        );
    }

    // Errors name the cause: another repository, two images for one platform.
    let elsewhere = format!("{}@{}", at(&reg, "other/app"), digests[0]);
    let err = env.fails(&amd_runner, &["manifest", "create", &target, &elsewhere]);
    assert!(
        err.contains("is not in ") && err.contains("fan/app"),
        "{err}"
    );
    let ctx2 = context(&[("Dockerfile", APP), ("msg", "another")]);
    let out = env
        .cmd(&amd_runner)
        .args(["build", "-q", "--platform", "linux/amd64", "--output"])
        .arg(&output)
        .arg(ctx2.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let other = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{repo}@")))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    let err = env.fails(
        &amd_runner,
        &["manifest", "create", &target, &digests[0], &other],
    );
    assert!(err.contains("are both for linux/amd64"), "{err}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    oci::Digest::sha256(bytes).hex().to_string()
}

/// The C toolchain root filesystem `scripts/toolchain-rootfs.sh` makes (test.sh makes it
/// once, in `target/toolchain-rootfs`), or `None` (skipping) without one.
fn toolchain_rootfs() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("KILN_TOOLCHAIN_ROOTFS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target/toolchain-rootfs"));
    if p.join("usr/bin/aarch64-linux-gnu-gcc").exists() {
        return Some(p);
    }
    assert!(
        std::env::var("KILN_REQUIRE_PEERS").as_deref() != Ok("1"),
        "no C toolchain root filesystem at {} (scripts/toolchain-rootfs.sh)",
        p.display()
    );
    eprintln!(
        "skipping: no C toolchain root filesystem at {}",
        p.display()
    );
    None
}

const HELLO_C: &str = r#"#include <stdio.h>
int main(void) {
#if defined(__aarch64__)
    puts("hello, compiled for aarch64");
#elif defined(__x86_64__)
    puts("hello, compiled for x86_64");
#endif
    return 0;
}
"#;

const HELLO: &str = r#"FROM --platform=$BUILDPLATFORM toolchain:1 AS build
COPY hello.c /src/
ARG TARGETARCH
RUN case "$TARGETARCH" in amd64) CC=gcc ;; arm64) CC=aarch64-linux-gnu-gcc ;; esac && $CC -static -O2 -o /hello /src/hello.c
FROM busybox
COPY --from=build /hello /usr/local/bin/hello
RUN uname -m && hello
CMD ["hello"]
"#;

/// The issue's test: a small C program compiled natively for amd64 and cross-compiled for
/// arm64 in a `$BUILDPLATFORM` stage, an arm64 stage whose RUN runs under QEMU, the index
/// pushed, read back by skopeo and pulled per platform by kiln.
#[test]
fn a_c_program_compiled_natively_and_cross_compiled_into_one_index() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let Some(tc) = toolchain_rootfs() else {
        return;
    };
    let Some(k) = two_platform_busybox() else {
        return;
    };
    k.ok(&["import", tc.to_str().unwrap(), "toolchain:1"]);
    let env = Env::new();
    let app = at(&reg, "c/hello:1");
    let ctx = context(&[("Dockerfile", HELLO), ("hello.c", HELLO_C)]);
    let (ok, log) = env.build(
        &k,
        ctx.path(),
        &app,
        &["--platform", "linux/amd64,linux/arm64", "--push"],
    );
    assert!(ok, "{log}");
    // Both compiles ran on the build platform (two steps: TARGETARCH differs), the arm64
    // stage's RUN under the emulator.
    let compiles: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("[linux/amd64 build 3/3] RUN case"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(compiles.len(), 2, "{log}");
    assert!(common::printed(&log, "aarch64"), "{log}");
    assert!(
        common::printed(&log, "hello, compiled for aarch64"),
        "{log}"
    );
    assert!(common::printed(&log, "hello, compiled for x86_64"), "{log}");

    if let Some(raw) = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{app}"),
    ]) {
        let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
        let dir = tempfile::tempdir_in(common::test_tmp()).unwrap();
        skopeo(&[
            "copy",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{app}"),
            &format!("oci:{}:hello", dir.path().display()),
        ]);
        // Every image of the index came along: each manifest, its config and its layers.
        let blob = |d: &str| {
            let p = dir
                .path()
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"));
            std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        for m in index["manifests"].as_array().unwrap() {
            let manifest: serde_json::Value =
                serde_json::from_slice(&blob(m["digest"].as_str().unwrap())).unwrap();
            blob(manifest["config"]["digest"].as_str().unwrap());
            for l in manifest["layers"].as_array().unwrap() {
                blob(l["digest"].as_str().unwrap());
            }
        }
    }
    for (platform, arch, machine) in [
        ("linux/amd64", "x86_64", 62u8),
        ("linux/arm64", "aarch64", 183u8),
    ] {
        let fresh = Kiln::empty();
        env.ok(&fresh, &["pull", "--platform", platform, &app]);
        assert_eq!(
            env.ok(&fresh, &["run", "--rm", &app]),
            format!("hello, compiled for {arch}\n")
        );
        // The program is an ELF for that machine (e_machine), made by the compiler for it.
        let out = env.run(
            &fresh,
            &["run", "--rm", &app, "cat", "/usr/local/bin/hello"],
        );
        assert!(out.status.success());
        assert_eq!(&out.stdout[..4], b"\x7fELF");
        assert_eq!(out.stdout[18], machine, "{platform}");
    }
}
