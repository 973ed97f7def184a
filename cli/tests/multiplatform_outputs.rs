//! A multi-platform build leaving through the exporters a CI pipeline uses: `-o type=oci` (the
//! index in `index.json`, every platform's layers compressed as they leave), `-o type=docker`
//! (one `manifest.json` entry per platform, which docker loads), `-o type=local` (one directory
//! per platform, as buildx writes), and `--metadata-file` naming the index.
//!
//! Needs what `cli/tests/multiplatform.rs` needs (QEMU's aarch64 emulator, an arm64 busybox).

mod common;
mod multiplatform_support;

use common::{context, tar_files, test_tmp, Kiln};
use multiplatform_support::two_platform_busybox;
use std::collections::BTreeMap;

const APP: &str = "\
FROM busybox
COPY msg /msg
RUN uname -m > /arch
";

fn blob(files: &BTreeMap<String, Vec<u8>>, digest: &str) -> serde_json::Value {
    let b = &files[&format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))];
    serde_json::from_slice(b).unwrap()
}

#[test]
fn a_two_platform_build_leaves_as_an_oci_index_a_docker_archive_and_directories() {
    let Some(k) = two_platform_busybox() else {
        return;
    };
    let ctx = context(&[("Dockerfile", APP), ("msg", "hi\n")]);
    let out = tempfile::tempdir_in(test_tmp()).unwrap();
    let platforms = ["--platform", "linux/amd64,linux/arm64"];

    // OCI layout: index.json names the index, which lists both platforms; each image's
    // layers are gzip-compressed (the store keeps them uncompressed).
    let oci = out.path().join("app.oci.tar");
    let meta = out.path().join("meta.json");
    let oci_arg = format!("type=oci,dest={}", oci.display());
    let meta_arg = meta.to_str().unwrap();
    let log = k.build_ok(
        ctx.path(),
        "mp:1",
        &[
            platforms[0],
            platforms[1],
            "-o",
            &oci_arg,
            "--metadata-file",
            meta_arg,
        ],
    );
    assert!(log.contains("exporting manifest list sha256:"), "{log}");
    let files = tar_files(&std::fs::read(&oci).unwrap());
    let top: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let entry = &top["manifests"][0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/library/mp:1"
    );
    let index_digest = entry["digest"].as_str().unwrap().to_string();
    let index = blob(&files, &index_digest);
    let mut archs = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        archs.push(m["platform"]["architecture"].as_str().unwrap().to_string());
        let manifest = blob(&files, m["digest"].as_str().unwrap());
        for l in manifest["layers"].as_array().unwrap() {
            assert_eq!(
                l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
                "{manifest}"
            );
            assert!(files.contains_key(&format!(
                "blobs/sha256/{}",
                &l["digest"].as_str().unwrap()[7..]
            )));
        }
    }
    archs.sort();
    assert_eq!(archs, ["amd64", "arm64"]);
    // --metadata-file names what left: the index (buildx's keys; no single config).
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(m["containerimage.digest"], index_digest.as_str(), "{m}");
    assert_eq!(
        m["containerimage.descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(m.get("containerimage.config.digest").is_none(), "{m}");

    // The OCI archive loads into another store as the index, and each platform runs.
    let fresh = Kiln::new();
    fresh.ok(&["load", "-i", oci.to_str().unwrap()]);
    for (p, arch) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        assert_eq!(
            fresh.ok(&[
                "run",
                "--rm",
                "--platform",
                p,
                "mp:1",
                "cat",
                "/arch",
                "/msg"
            ]),
            format!("{arch}\nhi\n")
        );
    }

    // docker archive: one manifest.json entry per platform, the host's last, all tagged.
    let dock = out.path().join("app.docker.tar");
    let dock_arg = format!("type=docker,dest={}", dock.display());
    k.build_ok(
        ctx.path(),
        "mp:1",
        &[platforms[0], platforms[1], "-o", &dock_arg],
    );
    let files = tar_files(&std::fs::read(&dock).unwrap());
    let entries: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    for e in entries {
        assert_eq!(e["RepoTags"][0], "mp:1");
        let config = &files[e["Config"].as_str().unwrap()];
        let config: serde_json::Value = serde_json::from_slice(config).unwrap();
        assert!(config["rootfs"]["diff_ids"].is_array());
    }
    let last: serde_json::Value =
        serde_json::from_slice(&files[entries[1]["Config"].as_str().unwrap()]).unwrap();
    assert_eq!(last["architecture"], "amd64", "the host's entry comes last");
    if common::docker_available() {
        let loaded = common::docker(&["load", "-i", dock.to_str().unwrap()]);
        assert!(loaded.status.success(), "{loaded:?}");
        let ran = common::docker(&["run", "--rm", "--network", "none", "mp:1", "cat", "/arch"]);
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "x86_64\n", "{ran:?}");
        common::docker(&["rmi", "mp:1"]);
    }

    // type=local: one directory per platform.
    let dir = out.path().join("rootfs");
    let local_arg = format!("type=local,dest={}", dir.display());
    k.build_ok(
        ctx.path(),
        "mp:1",
        &[platforms[0], platforms[1], "-o", &local_arg],
    );
    for (sub, arch) in [("linux_amd64", "x86_64"), ("linux_arm64", "aarch64")] {
        let got = std::fs::read_to_string(dir.join(sub).join("arch")).unwrap();
        assert_eq!(got, format!("{arch}\n"), "{sub}");
        assert_eq!(
            std::fs::read_to_string(dir.join(sub).join("msg")).unwrap(),
            "hi\n"
        );
    }
}
