//! What bad answers get: typed 404s, a dead registry after bounded retries, tampered blobs and
//! manifests refused with nothing kept, manifests that differ from their descriptor refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oci::{media, Platform, Reference};
use registry::{blocking, ClientOptions, Error, Missing, NoProgress};
use registry_harness::image::{entry, image, index};
use registry_harness::Registry;

use crate::common::{client, options, push_image, reference, FileSink};

#[test]
fn missing_things_are_typed_not_found() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(10, "linux/amd64", &[100]);
    let r = reference(&reg, "kiln/present:1");
    push_image(&c, &r, &img);

    let e = c
        .resolve(&reference(&reg, "kiln/present:nope"))
        .unwrap_err();
    match &e {
        Error::NotFound {
            registry,
            what: Missing::Manifest(m),
        } => {
            assert_eq!(registry, &reg.host());
            assert!(m.ends_with("kiln/present:nope"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("not found on 127.0.0.1:"), "{e}");
    let e = c.list_tags(&reference(&reg, "kiln/absent")).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { what: Missing::Repository(r), .. } if r == "kiln/absent"),
        "{e:?}"
    );
    let other = image(11, "linux/amd64", &[5]);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::new(dir.path(), &other.layers[0].descriptor.digest);
    let e = c
        .fetch_blob(&r, &other.layers[0].descriptor, &mut sink, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Error::NotFound {
                what: Missing::Blob { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_transient());
    assert_eq!(
        c.head_blob(&r, &other.layers[0].descriptor.digest).unwrap(),
        None
    );
    assert_eq!(
        c.head_blob(&r, &img.layers[0].descriptor.digest).unwrap(),
        Some(100)
    );
}

#[test]
fn a_dead_registry_is_a_transport_error_after_bounded_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = blocking::Client::new(ClientOptions::default()).unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{port}/kiln/app:1")).unwrap();
    let t = Instant::now();
    let e = c.resolve(&r).unwrap_err();
    let took = t.elapsed();
    match &e {
        Error::Transport {
            registry,
            attempts,
            hint,
            ..
        } => {
            assert_eq!(registry, &format!("127.0.0.1:{port}"));
            assert_eq!(*attempts, 4);
            assert!(hint.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_transient());
    // Bounded: four attempts with 0.2 s, 0.4 s, 0.8 s between them, not minutes.
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "cannot reach registry 127.0.0.1:{port} (after 4 attempts)"
        )),
        "{e}"
    );
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_of_it_kept() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(12, "linux/amd64", &[256 << 10, 4096]);
    let r = reference(&reg, "kiln/tampered:1");
    push_image(&c, &r, &img);

    // Same length, other bytes.
    let layer = &img.layers[0];
    let on_disk = reg.blob_path(&layer.descriptor.digest);
    let mut bytes = std::fs::read(&on_disk).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&on_disk, &bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::new(dir.path(), &layer.descriptor.digest);
    let e = c
        .fetch_blob(&r, &layer.descriptor, &mut sink, &NoProgress)
        .unwrap_err();
    match &e {
        Error::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &layer.descriptor.digest);
            assert_eq!(actual, &oci::Digest::sha256(&bytes));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((sink.commits, sink.discards), (0, 1));
    assert!(!sink.partial.exists() && !sink.done.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Longer than its descriptor: refused too, from the length the registry announces.
    let small = &img.layers[1];
    let on_disk = reg.blob_path(&small.descriptor.digest);
    let mut longer = small.bytes.clone();
    longer.extend_from_slice(b"extra");
    std::fs::write(&on_disk, &longer).unwrap();
    let mut sink = FileSink::new(dir.path(), &small.descriptor.digest);
    let e = c
        .fetch_blob(&r, &small.descriptor, &mut sink, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::SizeMismatch {
                expected: 4096,
                actual: 4101,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_tampered_manifest_is_refused() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(13, "linux/amd64", &[10]);
    let r = reference(&reg, "kiln/tm:1");
    push_image(&c, &r, &img);
    // The registry keeps manifests as blobs: change one byte of it (one space more: still JSON).
    let on_disk = reg.blob_path(&img.manifest.descriptor.digest);
    let text = std::fs::read_to_string(&on_disk).unwrap().replacen(
        "\"schemaVersion\":2",
        "\"schemaVersion\":2 ",
        1,
    );
    std::fs::write(&on_disk, &text).unwrap();
    let tampered = std::fs::read(&on_disk).unwrap();
    assert_ne!(tampered, img.manifest.bytes);
    // By tag, the registry still announces the digest it stored: the bytes do not match it.
    let e = c.get_manifest(&r, None).unwrap_err();
    assert!(
        matches!(&e, Error::DigestMismatch { expected, .. } if *expected == img.manifest.descriptor.digest),
        "{e:?}"
    );
    // By digest: refused.
    let mut by_digest = r.clone();
    by_digest.digest = Some(img.manifest.descriptor.digest.clone());
    let e = c.get_manifest(&by_digest, None).unwrap_err();
    assert!(matches!(&e, Error::DigestMismatch { .. }), "{e:?}");
}

#[test]
fn a_manifest_that_differs_from_its_descriptor_is_refused() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(14, "linux/amd64", &[10]);
    let r = reference(&reg, "kiln/desc:1");
    push_image(&c, &r, &img);

    let mut wrong_size = img.manifest.descriptor.clone();
    wrong_size.size -= 1;
    let e = c.get_manifest(&r, Some(&wrong_size)).unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e:?}");
    wrong_size.size += 2;
    let e = c.get_manifest(&r, Some(&wrong_size)).unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e:?}");
    let mut wrong_type = img.manifest.descriptor.clone();
    wrong_type.media_type = media::DOCKER_MANIFEST.into();
    let e = c.get_manifest(&r, Some(&wrong_type)).unwrap_err();
    assert!(
        matches!(&e, Error::MediaTypeMismatch { expected, .. } if expected == media::DOCKER_MANIFEST),
        "{e:?}"
    );

    // The same lie told by an index entry: selecting the platform refuses the manifest.
    let mut lying = entry(&img);
    lying.size += 7;
    let idx = index(&[lying]);
    let ir = reference(&reg, "kiln/desc:lying-index");
    c.put_manifest(&ir, media::OCI_INDEX, &idx.bytes).unwrap();
    let e = c
        .get_image(&ir, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e:?}");
    let mut lying = entry(&img);
    lying.media_type = media::DOCKER_MANIFEST.into();
    let ir = reference(&reg, "kiln/desc:lying-type");
    c.put_manifest(&ir, media::OCI_INDEX, &index(&[lying]).bytes)
        .unwrap();
    let e = c
        .get_image(&ir, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::MediaTypeMismatch { .. }), "{e:?}");
}

#[test]
fn a_manifest_over_the_limit_is_refused() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let img = image(15, "linux/amd64", &[10, 10, 10]);
    let r = reference(&reg, "kiln/big:1");
    push_image(&client(&reg), &r, &img);
    let c = blocking::Client::new(ClientOptions {
        max_manifest_size: 100,
        ..options(&reg, Arc::new(registry::credentials::Anonymous))
    })
    .unwrap();
    let e = c.get_manifest(&r, None).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidResponse { detail, .. } if detail.contains("larger than 100 bytes")),
        "{e:?}"
    );
}
