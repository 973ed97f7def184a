//! TLS: the registry's CA from `certs.d/<host>/ca.crt` (as docker reads it) or from kiln's
//! `ca`, client certificates from `certs.d` or kiln's `keypair`, `insecure`, and a typed TLS
//! error (no fallback to plain HTTP) when the CA is unknown.

use std::sync::Arc;

use registry::{blocking, ClientOptions, Error, HostConfig, KeyPair, RegistryConfig};
use registry_harness::image::image;
use registry_harness::Registry;

use crate::common::{fetch, options, push_image, reference};

fn anonymous(reg: &Registry) -> ClientOptions {
    options(reg, Arc::new(registry::credentials::Anonymous))
}

fn round_trip(c: &blocking::Client, reg: &Registry, repo: &str) {
    let img = image(60, "linux/amd64", &[20_000]);
    let r = reference(reg, repo);
    push_image(c, &r, &img);
    assert_eq!(c.get_manifest(&r, None).unwrap().bytes, img.manifest.bytes);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        fetch(c, &r, &img.layers[0], dir.path()),
        img.layers[0].bytes
    );
}

#[test]
fn the_ca_in_certs_d_is_trusted() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::tls(false);
    let c = blocking::Client::new(anonymous(&reg)).unwrap();
    round_trip(&c, &reg, "kiln/tls:1");
}

#[test]
fn an_unknown_ca_is_a_tls_error_not_a_fall_back_to_http() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::tls(false);
    let empty = tempfile::tempdir().unwrap();
    let c = blocking::Client::new(ClientOptions {
        certs_d: empty.path().into(),
        ..anonymous(&reg)
    })
    .unwrap();
    let e = c.resolve(&reference(&reg, "kiln/tls:1")).unwrap_err();
    match &e {
        Error::Tls {
            registry, source, ..
        } => {
            assert_eq!(registry, &reg.host());
            assert!(
                source.to_string().to_lowercase().contains("unknown"),
                "{source}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn kilns_own_ca_and_insecure_settings() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::tls(false);
    let empty = tempfile::tempdir().unwrap();
    let with_ca = RegistryConfig::default().with_host(
        &reg.host(),
        HostConfig {
            ca: vec![reg.ca_pem()],
            ..HostConfig::default()
        },
    );
    let c = blocking::Client::new(ClientOptions {
        certs_d: empty.path().into(),
        config: with_ca,
        ..anonymous(&reg)
    })
    .unwrap();
    round_trip(&c, &reg, "kiln/ca:1");

    let insecure = RegistryConfig::default().with_host(
        &reg.host(),
        HostConfig {
            insecure: true,
            ..HostConfig::default()
        },
    );
    let c = blocking::Client::new(ClientOptions {
        certs_d: empty.path().into(),
        config: insecure,
        ..anonymous(&reg)
    })
    .unwrap();
    round_trip(&c, &reg, "kiln/insecure:1");
}

#[test]
fn client_certificates_from_certs_d_or_kiln_config() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::tls(true);
    let r = reference(&reg, "kiln/mtls:1");
    // Without a client certificate the registry ends the handshake.
    let c = blocking::Client::new(anonymous(&reg)).unwrap();
    let e = c.resolve(&r).unwrap_err();
    assert!(
        matches!(e, Error::Tls { .. } | Error::Transport { .. }),
        "{e:?}"
    );

    let (cert, key) = reg.client_pair();
    let cfg = RegistryConfig::default().with_host(
        &reg.host(),
        HostConfig {
            keypair: vec![KeyPair { key, cert }],
            ..HostConfig::default()
        },
    );
    let c = blocking::Client::new(ClientOptions {
        config: cfg,
        ..anonymous(&reg)
    })
    .unwrap();
    round_trip(&c, &reg, "kiln/mtls:1");

    reg.install_client_cert();
    let c = blocking::Client::new(anonymous(&reg)).unwrap();
    round_trip(&c, &reg, "kiln/mtls:2");
}
