//! htpasswd basic auth: credentials from docker's config.json work; none or wrong ones are a
//! typed 401 naming the registry and `kiln login`.

use std::sync::Arc;

use registry::{blocking, CredentialStore, Credentials, DockerConfig, Error};
use registry_harness::image::image;
use registry_harness::Registry;

use crate::common::{fetch, options, push_image, reference};

fn config_with(reg: &Registry, user: &str, password: &str) -> (tempfile::TempDir, DockerConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DockerConfig::new(dir.path());
    cfg.store(
        &reg.host(),
        &Credentials::Basic {
            username: user.into(),
            password: password.into(),
        },
    )
    .unwrap();
    (dir, cfg)
}

#[test]
fn basic_auth_with_credentials_from_config_json() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::basic(&[("alice", "s3cret"), ("bob", "other")]);
    let (_d, cfg) = config_with(&reg, "alice", "s3cret");
    let c = blocking::Client::new(options(&reg, Arc::new(cfg))).unwrap();
    let img = image(40, "linux/amd64", &[4000]);
    let r = reference(&reg, "kiln/basic:1");
    push_image(&c, &r, &img);
    let got = c.get_manifest(&r, None).unwrap();
    assert_eq!(got.bytes, img.manifest.bytes);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        fetch(&c, &r, &img.layers[0], dir.path()),
        img.layers[0].bytes
    );
    let creds = Credentials::Basic {
        username: "alice".into(),
        password: "s3cret".into(),
    };
    c.check_login(&reg.host(), &creds).unwrap();
}

#[test]
fn no_or_wrong_credentials_are_unauthorized() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::basic(&[("alice", "s3cret")]);
    let r = reference(&reg, "kiln/basic:1");
    let anonymous =
        blocking::Client::new(options(&reg, Arc::new(registry::credentials::Anonymous))).unwrap();
    let e = anonymous.resolve(&r).unwrap_err();
    match &e {
        Error::Unauthorized { registry, .. } => assert_eq!(registry, &reg.host()),
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .contains(&format!("run `kiln login {}`", reg.host())),
        "{e}"
    );

    let (_d, cfg) = config_with(&reg, "alice", "wrong");
    let c = blocking::Client::new(options(&reg, Arc::new(cfg))).unwrap();
    let e = c.resolve(&r).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    let bad = Credentials::Basic {
        username: "alice".into(),
        password: "wrong".into(),
    };
    let e = c.check_login(&reg.host(), &bad).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
}
