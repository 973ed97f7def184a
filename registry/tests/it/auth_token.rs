//! Token auth (the registry verifies the JWTs the harness's token service signs): the bearer
//! flow, one token per scope set, cross-repository mounts with one token for both
//! repositories, 401/403, anonymous pulls, identity tokens.

use std::sync::Arc;

use bytes::Bytes;
use registry::{blocking, BlobPush, CredentialStore, Credentials, DockerConfig, Error, NoProgress};
use registry_harness::image::image;
use registry_harness::{Registry, TokenPolicy};

use crate::common::{fetch, options, push_image, reference};

fn client_as(reg: &Registry, creds: Option<Credentials>) -> (tempfile::TempDir, blocking::Client) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DockerConfig::new(dir.path());
    if let Some(c) = creds {
        cfg.store(&reg.host(), &c).unwrap();
    }
    let c = blocking::Client::new(options(reg, Arc::new(cfg))).unwrap();
    (dir, c)
}

fn basic(u: &str, p: &str) -> Option<Credentials> {
    Some(Credentials::Basic {
        username: u.into(),
        password: p.into(),
    })
}

#[test]
fn push_and_pull_with_bearer_tokens_one_per_scope_set() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::token(TokenPolicy::user("bob", "pw"));
    let (_d, c) = client_as(&reg, basic("bob", "pw"));
    let img = image(50, "linux/amd64", &[3000, 5000]);
    let r = reference(&reg, "kiln/tok:1");
    push_image(&c, &r, &img);
    let got = c.get_manifest(&r, None).unwrap();
    assert_eq!(got.bytes, img.manifest.bytes);
    let dir = tempfile::tempdir().unwrap();
    for l in &img.layers {
        assert_eq!(fetch(&c, &r, l, dir.path()), l.bytes);
    }
    let reqs = reg.token_server().unwrap().requests();
    assert!(
        reqs.iter()
            .all(|q| q.status == 200 && q.user.as_deref() == Some("bob")),
        "{reqs:#?}"
    );
    // Eight requests, two scope sets, two tokens: the cache answered the rest.
    let sets: Vec<&Vec<String>> = reqs.iter().map(|q| &q.scopes).collect();
    assert_eq!(
        sets,
        [
            &vec!["repository:kiln/tok:pull,push".to_string()],
            &vec!["repository:kiln/tok:pull".to_string()]
        ],
        "{reqs:#?}"
    );
}

#[test]
fn a_cross_repository_mount_asks_one_token_for_both_and_uploads_nothing() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::token(TokenPolicy::user("bob", "pw"));
    let (_d, c) = client_as(&reg, basic("bob", "pw"));
    let img = image(51, "linux/amd64", &[64 << 10]);
    let src = reference(&reg, "team/base:1");
    push_image(&c, &src, &img);
    let dst = reference(&reg, "team/app:1");
    let layer = &img.layers[0];
    let before = reg.access_log().len();
    let how = c
        .push_blob(
            &dst,
            &layer.descriptor,
            Arc::new(Bytes::from(layer.bytes.clone())),
            std::slice::from_ref(&src),
            Arc::new(NoProgress),
        )
        .unwrap();
    assert_eq!(
        how,
        BlobPush::Mounted {
            from: "team/base".into()
        }
    );

    let log: Vec<_> = reg.access_log().into_iter().skip(before).collect();
    let mounted = log.iter().any(|a| {
        a.method == "POST"
            && a.path.contains("mount=")
            && a.path.contains("from=team%2Fbase")
            && a.status == 201
    });
    assert!(mounted, "{log:#?}");
    assert!(
        !log.iter()
            .any(|a| (a.method == "PATCH" || a.method == "PUT")
                && a.path.starts_with("/v2/team/app/blobs/uploads")),
        "an upload was made: {log:#?}"
    );
    let reqs = reg.token_server().unwrap().requests();
    let both = reqs
        .iter()
        .filter(|q| {
            q.scopes.contains(&"repository:team/app:pull,push".into())
                && q.scopes.contains(&"repository:team/base:pull".into())
        })
        .count();
    assert_eq!(both, 1, "{reqs:#?}");
    assert_eq!(
        c.head_blob(&dst, &layer.descriptor.digest).unwrap(),
        Some(64 << 10)
    );
}

#[test]
fn a_mount_the_registry_declines_falls_back_to_an_upload() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::token(TokenPolicy::user("bob", "pw"));
    let (_d, c) = client_as(&reg, basic("bob", "pw"));
    let img = image(52, "linux/amd64", &[10 << 10]);
    let layer = &img.layers[0];
    // The source repository exists but lacks the blob: the registry answers 202 and opens an
    // upload, which the client uses.
    push_image(
        &c,
        &reference(&reg, "team/other:1"),
        &image(53, "linux/amd64", &[1]),
    );
    let dst = reference(&reg, "team/fresh:1");
    let how = c
        .push_blob(
            &dst,
            &layer.descriptor,
            Arc::new(Bytes::from(layer.bytes.clone())),
            &[reference(&reg, "team/other:1")],
            Arc::new(NoProgress),
        )
        .unwrap();
    assert_eq!(how, BlobPush::Uploaded);
    let log = reg.access_log();
    assert!(
        log.iter()
            .any(|a| a.method == "POST" && a.path.contains("mount=") && a.status == 202),
        "{log:#?}"
    );
    assert_eq!(
        log.iter()
            .filter(|a| a.method == "POST" && a.path.starts_with("/v2/team/fresh/"))
            .count(),
        1,
        "{log:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(fetch(&c, &dst, layer, dir.path()), layer.bytes);
}

#[test]
fn unauthorized_denied_and_read_only() {
    if !registry_harness::available() {
        return;
    }
    let policy = TokenPolicy {
        users: vec![
            ("bob".into(), "pw".into()),
            ("ro".into(), "pw".into()),
            ("eve".into(), "pw".into()),
        ],
        readonly: vec!["ro".into()],
        denied: vec!["eve".into()],
        ..TokenPolicy::default()
    };
    let reg = Registry::token(policy);
    let img = image(54, "linux/amd64", &[100]);
    let r = reference(&reg, "kiln/guarded:1");
    let (_d, bob) = client_as(&reg, basic("bob", "pw"));
    push_image(&bob, &r, &img);

    let (_d1, nobody) = client_as(&reg, None);
    let e = nobody.resolve(&r).unwrap_err();
    assert!(
        matches!(&e, Error::Unauthorized { registry, .. } if *registry == reg.host()),
        "{e:?}"
    );
    let (_d2, wrong) = client_as(&reg, basic("bob", "nope"));
    let e = wrong.resolve(&r).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("kiln login"), "{e}");
    let (_d3, eve) = client_as(&reg, basic("eve", "pw"));
    let e = eve.resolve(&r).unwrap_err();
    assert!(
        matches!(&e, Error::Denied { registry, .. } if *registry == reg.host()),
        "{e:?}"
    );

    let (_d4, ro) = client_as(&reg, basic("ro", "pw"));
    assert_eq!(ro.get_manifest(&r, None).unwrap().bytes, img.manifest.bytes);
    let other = image(55, "linux/amd64", &[100]);
    let e = ro
        .push_blob(
            &r,
            &other.layers[0].descriptor,
            Arc::new(Bytes::from(other.layers[0].bytes.clone())),
            &[],
            Arc::new(NoProgress),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(ro
        .check_login(&reg.host(), &basic("ro", "pw").unwrap())
        .is_ok());
    assert!(matches!(
        ro.check_login(&reg.host(), &basic("ro", "bad").unwrap()),
        Err(Error::Unauthorized { .. })
    ));
}

#[test]
fn anonymous_pulls_identity_tokens_and_access_token_answers() {
    if !registry_harness::available() {
        return;
    }
    let policy = TokenPolicy {
        users: vec![("bob".into(), "pw".into())],
        refresh_tokens: vec![("refresh-abc".into(), "bob".into())],
        anonymous_pull: true,
        access_token_field: true,
        ..TokenPolicy::default()
    };
    let reg = Registry::token(policy);
    let img = image(56, "linux/amd64", &[100]);
    let r = reference(&reg, "kiln/open:1");
    let (_d, with_token) = client_as(
        &reg,
        Some(Credentials::IdentityToken {
            username: "bob".into(),
            token: "refresh-abc".into(),
        }),
    );
    push_image(&with_token, &r, &img);
    let reqs = reg.token_server().unwrap().requests();
    assert!(
        reqs.iter()
            .all(|q| q.method == "POST" && q.user.as_deref() == Some("bob")),
        "{reqs:#?}"
    );

    let (_d1, anonymous) = client_as(&reg, None);
    assert_eq!(
        anonymous.get_manifest(&r, None).unwrap().bytes,
        img.manifest.bytes
    );
    // A blob that is there is there (HEAD needs only pull)...
    let how = anonymous
        .push_blob(
            &r,
            &img.layers[0].descriptor,
            Arc::new(Bytes::from(img.layers[0].bytes.clone())),
            &[],
            Arc::new(NoProgress),
        )
        .unwrap();
    assert_eq!(how, BlobPush::Exists);
    // ...but uploading one needs push.
    let new = image(57, "linux/amd64", &[100]);
    let e = anonymous
        .push_blob(
            &r,
            &new.layers[0].descriptor,
            Arc::new(Bytes::from(new.layers[0].bytes.clone())),
            &[],
            Arc::new(NoProgress),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
}
