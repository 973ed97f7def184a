//! The client and skopeo agree: skopeo copies out exactly what kiln pushed, and kiln pulls
//! exactly what skopeo pushed.

use std::path::Path;
use std::process::Command;

use oci::ANNOTATION_REF_NAME;
use registry_harness::image::{image_gz, TestImage};
use registry_harness::Registry;

use crate::common::{client, fetch, have, push_image, reference};

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn blob(dir: &Path, d: &oci::Digest) -> Vec<u8> {
    std::fs::read(dir.join("blobs").join(d.algorithm().name()).join(d.hex())).unwrap()
}

fn write_layout(dir: &Path, img: &TestImage, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for b in std::iter::once(&img.config)
        .chain(&img.layers)
        .chain(std::iter::once(&img.manifest))
    {
        std::fs::write(blobs.join(b.descriptor.digest.hex()), &b.bytes).unwrap();
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut d = img.manifest.descriptor.clone();
    d.annotations.insert(ANNOTATION_REF_NAME.into(), tag.into());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [d]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn skopeo_copies_out_what_kiln_pushed() {
    if !registry_harness::available() || !have("skopeo") {
        return;
    }
    let reg = Registry::anonymous();
    let img = image_gz(90, "linux/amd64", &[7000, 70_000]);
    let r = reference(&reg, "kiln/to-skopeo:1");
    push_image(&client(&reg), &r, &img);
    let src = format!("docker://{}/kiln/to-skopeo:1", reg.host());
    let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &src]);
    assert_eq!(raw, img.manifest.bytes);
    let out = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:copied", out.path().display());
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &src,
        &dest,
    ]);
    assert_eq!(
        blob(out.path(), &img.manifest.descriptor.digest),
        img.manifest.bytes
    );
    for b in std::iter::once(&img.config).chain(&img.layers) {
        assert_eq!(blob(out.path(), &b.descriptor.digest), b.bytes);
    }
}

#[test]
fn kiln_pulls_what_skopeo_pushed() {
    if !registry_harness::available() || !have("skopeo") {
        return;
    }
    let reg = Registry::anonymous();
    let img = image_gz(91, "linux/arm64", &[9000, 1]);
    let layout = tempfile::tempdir().unwrap();
    write_layout(layout.path(), &img, "v1");
    let src = format!("oci:{}:v1", layout.path().display());
    let dest = format!("docker://{}/kiln/from-skopeo:v1", reg.host());
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src,
        &dest,
    ]);

    let c = client(&reg);
    let r = reference(&reg, "kiln/from-skopeo:v1");
    let got = c
        .get_image(&r, &oci::Platform::parse("linux/arm64").unwrap())
        .unwrap();
    assert_eq!(got.manifest.bytes, img.manifest.bytes);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(fetch(&c, &r, &img.config, dir.path()), img.config.bytes);
    for l in &img.layers {
        assert_eq!(fetch(&c, &r, l, dir.path()), l.bytes);
    }
}
