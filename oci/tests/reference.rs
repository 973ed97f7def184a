//! Reference parsing: docker's normalisation and its validation errors.

use oci::{Reference, ReferenceError};

/// (input, canonical, familiar name, registry, repository, tag, has a digest)
type Case<'a> = (
    &'a str,
    String,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    bool,
);
/// (input, expected error kind)
type ErrCase<'a> = (&'a str, fn(&ReferenceError) -> bool);

const D64: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn normalisation_table() {
    // (input, canonical, familiar name, registry, repository, tag, digest?)
    let digest_ref = format!("example.com/foo/bar@{D64}");
    let tag_digest = format!("busybox:1.36@{D64}");
    let cases: Vec<Case> = vec![
        (
            "busybox",
            "docker.io/library/busybox:latest".into(),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
        ),
        (
            "busybox:1.36",
            "docker.io/library/busybox:1.36".into(),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("1.36"),
            false,
        ),
        (
            "library/busybox",
            "docker.io/library/busybox:latest".into(),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
        ),
        (
            "docker.io/busybox",
            "docker.io/library/busybox:latest".into(),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
        ),
        (
            "index.docker.io/library/busybox",
            "docker.io/library/busybox:latest".into(),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
        ),
        (
            "user/app:v1",
            "docker.io/user/app:v1".into(),
            "user/app",
            "docker.io",
            "user/app",
            Some("v1"),
            false,
        ),
        (
            "localhost:5000/a/b:1",
            "localhost:5000/a/b:1".into(),
            "localhost:5000/a/b",
            "localhost:5000",
            "a/b",
            Some("1"),
            false,
        ),
        (
            "localhost/foo",
            "localhost/foo:latest".into(),
            "localhost/foo",
            "localhost",
            "foo",
            Some("latest"),
            false,
        ),
        (
            "ghcr.io/org/img",
            "ghcr.io/org/img:latest".into(),
            "ghcr.io/org/img",
            "ghcr.io",
            "org/img",
            Some("latest"),
            false,
        ),
        (
            "[::1]:5000/foo:bar",
            "[::1]:5000/foo:bar".into(),
            "[::1]:5000/foo",
            "[::1]:5000",
            "foo",
            Some("bar"),
            false,
        ),
        (
            "FOO.com/bar",
            "FOO.com/bar:latest".into(),
            "FOO.com/bar",
            "FOO.com",
            "bar",
            Some("latest"),
            false,
        ),
        (
            "a__b/c.d-e",
            "docker.io/a__b/c.d-e:latest".into(),
            "a__b/c.d-e",
            "docker.io",
            "a__b/c.d-e",
            Some("latest"),
            false,
        ),
        (
            "busybox:Latest_1.x-y",
            "docker.io/library/busybox:Latest_1.x-y".into(),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("Latest_1.x-y"),
            false,
        ),
        (
            digest_ref.as_str(),
            format!("example.com/foo/bar@{D64}"),
            "example.com/foo/bar",
            "example.com",
            "foo/bar",
            None,
            true,
        ),
        (
            tag_digest.as_str(),
            format!("docker.io/library/busybox:1.36@{D64}"),
            "busybox",
            "docker.io",
            "library/busybox",
            Some("1.36"),
            true,
        ),
    ];
    for (input, canonical, familiar, registry, repo, tag, has_digest) in cases {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.to_string(), canonical, "canonical form of {input}");
        assert_eq!(r.familiar(), familiar, "familiar name of {input}");
        assert_eq!(r.registry, registry, "registry of {input}");
        assert_eq!(r.repository, repo, "repository of {input}");
        assert_eq!(r.tag.as_deref(), tag, "tag of {input}");
        assert_eq!(
            r.digest.as_deref(),
            has_digest.then_some(D64),
            "digest of {input}"
        );
        // The canonical form parses back to the same reference.
        assert_eq!(
            Reference::parse(&canonical).unwrap(),
            r,
            "round trip of {input}"
        );
    }
}

#[test]
fn familiar_string_is_what_docker_prints() {
    assert_eq!(
        Reference::parse("busybox").unwrap().familiar_string(),
        "busybox:latest"
    );
    assert_eq!(
        Reference::parse("docker.io/user/app:v1")
            .unwrap()
            .familiar_string(),
        "user/app:v1"
    );
    assert_eq!(
        Reference::parse("localhost:5000/a/b:1")
            .unwrap()
            .familiar_string(),
        "localhost:5000/a/b:1"
    );
    assert_eq!(
        Reference::parse("docker.io/library/a/b")
            .unwrap()
            .familiar(),
        "library/a/b"
    );
}

#[test]
fn invalid_references_are_rejected_with_named_errors() {
    let long_tag = format!("foo:{}", "a".repeat(129));
    let long_name = format!("example.com/{}", "a".repeat(250));
    let hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let short_digest = format!("foo@sha256:{}", "a".repeat(40));
    let cases: Vec<ErrCase> = vec![
        ("", |e| matches!(e, ReferenceError::Empty)),
        ("Busybox", |e| matches!(e, ReferenceError::Uppercase(_))),
        ("docker.io/Library/busybox", |e| {
            matches!(e, ReferenceError::Uppercase(_))
        }),
        ("busybox:", |e| {
            matches!(e, ReferenceError::InvalidFormat(_))
        }),
        ("busybox::tag", |e| {
            matches!(e, ReferenceError::InvalidFormat(_))
        }),
        (":tag", |e| matches!(e, ReferenceError::InvalidFormat(_))),
        ("a/b/", |e| matches!(e, ReferenceError::InvalidFormat(_))),
        ("-foo", |e| matches!(e, ReferenceError::InvalidFormat(_))),
        ("foo@sha256:abc", |e| {
            matches!(e, ReferenceError::InvalidFormat(_))
        }),
        ("foo bar", |e| matches!(e, ReferenceError::InvalidFormat(_))),
        ("localhost:port/foo", |e| {
            matches!(e, ReferenceError::InvalidFormat(_))
        }),
        (long_tag.as_str(), |e| {
            matches!(e, ReferenceError::InvalidFormat(_))
        }),
        (long_name.as_str(), |e| {
            matches!(e, ReferenceError::NameTooLong(_))
        }),
        (hex64, |e| matches!(e, ReferenceError::HexName(_))),
        (short_digest.as_str(), |e| {
            matches!(e, ReferenceError::Digest { .. })
        }),
    ];
    for (input, check) in cases {
        match Reference::parse(input) {
            Ok(r) => panic!("{input:?} parsed as {r}"),
            Err(e) => assert!(check(&e), "{input:?}: unexpected error {e:?}"),
        }
    }
}

#[test]
fn error_messages_name_the_reference() {
    let e = Reference::parse("Busybox").unwrap_err().to_string();
    assert!(e.contains("invalid reference format"), "{e}");
    assert!(e.contains("must be lowercase"), "{e}");
    assert!(e.contains("library/Busybox"), "{e}");
    let e = Reference::parse("busybox::x").unwrap_err().to_string();
    assert!(
        e.contains("invalid reference format") && e.contains("busybox::x"),
        "{e}"
    );
}

#[test]
fn with_tag_replaces_tag_and_digest() {
    let r = Reference::parse(&format!("busybox:1@{D64}"))
        .unwrap()
        .with_tag("2");
    assert_eq!(r.to_string(), "docker.io/library/busybox:2");
}
