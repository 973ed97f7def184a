//! Through a real registry with the peers: what kiln pushes, docker pulls and runs and skopeo
//! reads with the same digest; what docker and skopeo push, kiln pulls and runs. Needs a docker
//! daemon and skopeo: `scripts/test.sh` provides both and sets KILN_REQUIRE_PEERS=1, so that
//! in CI their absence fails instead of skipping.

mod common;
mod registry_support;

use common::{context, Kiln};
use registry_harness::Registry;
use registry_support::{at, pushed_digest, Env};
use std::process::Command;

fn peers_available() -> bool {
    let docker = std::path::Path::new("/usr/bin/docker").exists()
        && Command::new("/usr/bin/docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success());
    let skopeo = std::path::Path::new("/usr/bin/skopeo").exists();
    if !(docker && skopeo) {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "KILN_REQUIRE_PEERS is set but docker (daemon up: {docker}) or skopeo ({skopeo}) is missing"
        );
        eprintln!("SKIPPED: docker or skopeo is missing (scripts/test.sh provides them)");
    }
    docker && skopeo
}

fn peer(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kiln_pushes_docker_and_skopeo_pull() {
    if !peers_available() {
        return;
    }
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let app = at(&reg, "interop/kiln-made:1");
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo kiln-made > /made\nCMD [\"cat\", \"/made\"]\n",
    )]);
    let (ok, log) = env.build(&k, ctx.path(), &app, &[]);
    assert!(ok, "{log}");
    let digest = pushed_digest(&env.ok(&k, &["push", &app]));

    let inspected: serde_json::Value = serde_json::from_str(&peer(
        "skopeo",
        &["inspect", "--tls-verify=false", &format!("docker://{app}")],
    ))
    .unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());

    peer("/usr/bin/docker", &["pull", "-q", &app]);
    let ran = peer(
        "/usr/bin/docker",
        &["run", "--rm", "--network", "none", &app],
    );
    peer("/usr/bin/docker", &["rmi", "-f", &app]);
    assert_eq!(ran, "kiln-made\n");
}

#[test]
fn docker_and_skopeo_push_kiln_pulls() {
    if !peers_available() {
        return;
    }
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    // docker gets kiln's busybox through an archive, builds on it with BuildKit, and pushes.
    let tar = k.root.path().join("busybox.tar");
    let base = format!("kiln-interop-base:{}", std::process::id());
    k.ok(&["tag", "busybox", &base]);
    k.ok(&["save", "-o", tar.to_str().unwrap(), &base]);
    peer("/usr/bin/docker", &["load", "-i", tar.to_str().unwrap()]);
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo docker-made > /made\nCMD [\"cat\", \"/made\"]\n"),
    )]);
    let docker_made = at(&reg, "interop/docker-made:1");
    peer(
        "/usr/bin/docker",
        &[
            "build",
            "--network",
            "host",
            "-q",
            "-t",
            &docker_made,
            ctx.path().to_str().unwrap(),
        ],
    );
    peer("/usr/bin/docker", &["push", &docker_made]);
    peer("/usr/bin/docker", &["rmi", "-f", &docker_made, &base]);

    // skopeo copies kiln's archive to the registry, as an OCI image.
    let skopeo_made = at(&reg, "interop/skopeo-made:1");
    peer(
        "skopeo",
        &[
            "copy",
            "--format",
            "oci",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", tar.display()),
            &format!("docker://{skopeo_made}"),
        ],
    );

    let fresh = Kiln::empty();
    env.ok(&fresh, &["pull", &docker_made]);
    assert_eq!(
        env.ok(&fresh, &["run", "--rm", &docker_made]),
        "docker-made\n"
    );
    env.ok(&fresh, &["pull", &skopeo_made]);
    assert_eq!(
        env.ok(
            &fresh,
            &["run", "--rm", &skopeo_made, "echo", "skopeo-made"]
        ),
        "skopeo-made\n"
    );
    assert_eq!(
        fresh.inspect(&skopeo_made)["Descriptor"]["mediaType"],
        oci::media::OCI_MANIFEST,
        "{}",
        fresh.inspect(&skopeo_made)
    );
}
