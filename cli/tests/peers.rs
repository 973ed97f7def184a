//! Interoperability with the peers: an image kiln builds loads and runs in docker, and an image
//! docker makes loads and runs in kiln. Needs a docker daemon: `scripts/test.sh` starts one and
//! sets KILN_REQUIRE_PEERS=1, so that in CI a missing daemon fails instead of skipping.

mod common;

use common::{context, docker, docker_available, Kiln};
use std::process::Command;

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kiln_images_run_in_docker_and_docker_images_run_in_kiln() {
    if !docker_available() {
        return;
    }
    let k = Kiln::new();
    let tag = format!("kiln-peer-test:{}", std::process::id());
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nRUN echo built-by-kiln > /msg && rm /bin/vi\nUSER app\nCMD [\"sh\", \"-c\", \"cat /msg; id -un; test -e /bin/vi || echo no-vi\"]\n"),
    ]);
    k.build_ok(ctx.path(), &tag, &[]);
    let kiln_out = k.ok(&["run", "--rm", &tag]);
    for format in ["docker", "oci"] {
        let tar = k.root.path().join(format!("peer-{format}.tar"));
        k.ok(&[
            "save",
            "--format",
            format,
            "-o",
            tar.to_str().unwrap(),
            &tag,
        ]);
        if format == "oci" {
            // docker 20.10 loads only docker archives; check the OCI layout with skopeo instead.
            if std::path::Path::new("/usr/bin/skopeo").exists() {
                ok(Command::new("skopeo")
                    .args(["inspect", &format!("oci-archive:{}", tar.display())])
                    .output()
                    .unwrap());
            }
            continue;
        }
        let loaded = ok(docker(&["load", "-i", tar.to_str().unwrap()]));
        assert!(loaded.contains(&tag), "{loaded}");
        let docker_out = ok(docker(&["run", "--rm", "--network", "none", &tag]));
        assert_eq!(docker_out, kiln_out, "same output in docker and kiln");
        assert_eq!(docker_out, "built-by-kiln\napp\nno-vi\n");
        ok(docker(&["rmi", "-f", &tag]));
    }

    // The other way: an image docker built (docker import + a BuildKit build on it).
    let rootfs = tempfile::tempdir().unwrap();
    let st = Command::new(common::repo().join("scripts/busybox-rootfs.sh"))
        .arg(rootfs.path())
        .status()
        .unwrap();
    assert!(st.success());
    let base = format!("kiln-peer-base:{}", std::process::id());
    let tar = k.root.path().join("rootfs.tar");
    ok(Command::new("tar")
        .args([
            "-C",
            rootfs.path().to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ])
        .output()
        .unwrap());
    ok(docker(&["import", tar.to_str().unwrap(), &base]));
    let dctx = context(&[(
        "Dockerfile",
        &format!("FROM {base}\nRUN echo built-by-buildkit > /msg\nCMD [\"cat\", \"/msg\"]\n"),
    )]);
    let built = format!("kiln-peer-built:{}", std::process::id());
    ok(docker(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        &built,
        dctx.path().to_str().unwrap(),
    ]));
    let saved = k.root.path().join("from-docker.tar");
    ok(docker(&["save", "-o", saved.to_str().unwrap(), &built]));
    let _ = docker(&["rmi", "-f", &built, &base]);
    let out = k.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("kiln-peer-built"), "{out}");
    assert_eq!(k.ok(&["run", "--rm", &built]), "built-by-buildkit\n");
    // and kiln builds on top of it
    let ctx2 = context(&[(
        "Dockerfile",
        &format!("FROM {built}\nRUN cat /msg > /copy\n"),
    )]);
    k.build_ok(ctx2.path(), "on-docker:1", &[]);
    assert_eq!(k.sh("on-docker:1", "cat /copy"), "built-by-buildkit\n");
}
