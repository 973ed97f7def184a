//! Mirrors from kiln.toml: an air-gapped site points docker.io at its own registry; a dead
//! mirror is passed over; a mirror without the image falls back to the registry itself.

use std::sync::Arc;

use oci::{Platform, Reference};
use registry::{blocking, ClientOptions, Paths};
use registry_harness::image::image;
use registry_harness::Registry;

use crate::common::{client, fetch, push_image, reference};

fn dead_host() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

#[test]
fn docker_io_pulls_from_the_mirror_named_in_kiln_toml() {
    if !registry_harness::available() {
        return;
    }
    let mirror = Registry::anonymous();
    let img = image(80, "linux/amd64", &[3000]);
    push_image(
        &client(&mirror),
        &reference(&mirror, "library/busybox:latest"),
        &img,
    );

    let d = tempfile::tempdir().unwrap();
    let toml = d.path().join("kiln.toml");
    std::fs::write(
        &toml,
        format!(
            "[registry.\"docker.io\"]\nmirrors = [\"{}\", \"{}\"]\n",
            dead_host(),
            mirror.host()
        ),
    )
    .unwrap();
    let paths = Paths {
        kiln_config: toml,
        kiln_config_explicit: true,
        certs_d: mirror.certs_d(),
        docker_config: d.path().join("docker"),
    };
    let c = blocking::Client::new(ClientOptions::from_paths(&paths).unwrap()).unwrap();
    let r = Reference::parse("busybox").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(c.resolve(&r).unwrap(), img.manifest.descriptor);
    let got = c
        .get_image(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest.bytes, img.manifest.bytes);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        fetch(&c, &r, &img.layers[0], dir.path()),
        img.layers[0].bytes
    );
}

#[test]
fn a_mirror_without_the_image_falls_back_to_the_registry() {
    if !registry_harness::available() {
        return;
    }
    let (mirror, upstream) = (Registry::anonymous(), Registry::anonymous());
    let img = image(81, "linux/amd64", &[100]);
    let r = reference(&upstream, "kiln/up:1");
    push_image(&client(&upstream), &r, &img);
    let cfg = registry::RegistryConfig::default().with_host(
        &upstream.host(),
        registry::HostConfig {
            mirrors: vec![mirror.host()],
            ..Default::default()
        },
    );
    let c = blocking::Client::new(ClientOptions {
        config: cfg,
        credentials: Arc::new(registry::credentials::Anonymous),
        ..ClientOptions::default()
    })
    .unwrap();
    assert_eq!(c.get_manifest(&r, None).unwrap().bytes, img.manifest.bytes);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        fetch(&c, &r, &img.layers[0], dir.path()),
        img.layers[0].bytes
    );
    // The mirror was asked first.
    assert!(mirror
        .access_log()
        .iter()
        .any(|a| a.path.starts_with("/v2/kiln/up/manifests/1") && a.status == 404));
    // Pushes never go to a mirror.
    let other = image(82, "linux/amd64", &[5]);
    push_image(&c, &r, &other);
    assert!(!mirror
        .access_log()
        .iter()
        .any(|a| a.method == "PUT" || a.method == "POST"));
}
