//! Push then pull against an anonymous registry: the bytes come back identical, uploads are
//! monolithic or chunked as asked, a second push sends nothing.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use oci::{ManifestKind, Platform};
use registry::{blocking, BlobPush, ClientOptions};
use registry_harness::image::image;
use registry_harness::Registry;

use crate::common::{client, fetch, options, push_blob, push_image, reference};

#[test]
fn push_then_pull_round_trip_is_byte_identical() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(1, "linux/amd64", &[1024, 300 << 10, 2 << 20]);
    let r = reference(&reg, "kiln/app:v1");

    let pushed: Vec<BlobPush> = std::iter::once(&img.config)
        .chain(&img.layers)
        .map(|b| push_blob(&c, &r, b))
        .collect();
    assert!(
        pushed.iter().all(|p| *p == BlobPush::Uploaded),
        "{pushed:?}"
    );
    let digest = c
        .put_manifest(&r, &img.manifest.descriptor.media_type, &img.manifest.bytes)
        .unwrap();
    assert_eq!(digest, img.manifest.descriptor.digest);

    // Resolve says what the manifest is, as pushed.
    assert_eq!(c.resolve(&r).unwrap(), img.manifest.descriptor);
    let got = c.get_image(&r, &Platform::host()).unwrap();
    assert!(got.index.is_none());
    assert_eq!(got.manifest.bytes, img.manifest.bytes);
    assert_eq!(got.manifest.descriptor, img.manifest.descriptor);
    assert_eq!(got.parsed.layers.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    assert_eq!(fetch(&c, &r, &img.config, dir.path()), img.config.bytes);
    for l in &img.layers {
        assert_eq!(fetch(&c, &r, l, dir.path()), l.bytes);
    }
    assert_eq!(
        c.fetch_blob_bytes(&r, &got.parsed.config, 1 << 20).unwrap(),
        img.config.bytes
    );

    // Monolithic uploads: one PUT with the bytes per blob, never a PATCH.
    let log = reg.access_log();
    assert!(!log.iter().any(|a| a.method == "PATCH"), "{log:#?}");
    let puts = log
        .iter()
        .filter(|a| a.method == "PUT" && a.path.contains("/blobs/uploads/") && a.status == 201)
        .count();
    assert_eq!(puts, 4);

    // A second push sends nothing: every blob is already there.
    for b in std::iter::once(&img.config).chain(&img.layers) {
        assert_eq!(push_blob(&c, &r, b), BlobPush::Exists);
    }
    assert_eq!(c.list_tags(&r).unwrap(), ["v1"]);
}

#[test]
fn chunked_uploads_patch_with_content_range() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = blocking::Client::new(ClientOptions {
        chunk_size: Some(64 << 10),
        ..options(&reg, Arc::new(registry::credentials::Anonymous))
    })
    .unwrap();
    let img = image(2, "linux/amd64", &[(200 << 10) + 1, 1000]);
    let r = reference(&reg, "kiln/chunked:1");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let progress = Arc::new(move |_: &oci::Digest, done: u64, total: u64| {
        s2.lock().unwrap().push((done, total))
    });
    let big = &img.layers[0];
    let how = c
        .push_blob(
            &r,
            &big.descriptor,
            Arc::new(Bytes::from(big.bytes.clone())),
            &[],
            progress,
        )
        .unwrap();
    assert_eq!(how, BlobPush::Uploaded);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&(big.descriptor.size, big.descriptor.size))
    );
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");

    // 200 KiB + 1 in 64 KiB chunks: four PATCHes, then the PUT that closes the upload.
    let log = reg.access_log();
    let patches: Vec<_> = log.iter().filter(|a| a.method == "PATCH").collect();
    assert_eq!(patches.len(), 4, "{log:#?}");
    assert!(patches.iter().all(|a| a.status == 202));
    push_image(&c, &r, &img);
    // The small layer fits one chunk: a monolithic PUT, no PATCH.
    assert_eq!(
        reg.access_log()
            .iter()
            .filter(|a| a.method == "PATCH")
            .count(),
        4
    );

    let dir = tempfile::tempdir().unwrap();
    for l in &img.layers {
        assert_eq!(fetch(&c, &r, l, dir.path()), l.bytes);
    }
}

#[test]
fn manifests_by_digest_and_empty_blobs() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(3, "linux/arm64", &[0, 10]);
    let by_digest = reference(&reg, &format!("kiln/d@{}", img.manifest.descriptor.digest));
    let d = push_image(&c, &by_digest, &img);
    assert_eq!(d, img.manifest.descriptor.digest);
    let m = c.get_manifest(&by_digest, None).unwrap();
    assert_eq!(m.bytes, img.manifest.bytes);
    assert!(matches!(m.kind, ManifestKind::Image(_)));
    // No tag was made.
    assert!(c
        .resolve(&reference(&reg, "kiln/d:latest"))
        .unwrap_err()
        .is_not_found());
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        fetch(&c, &by_digest, &img.layers[0], dir.path()),
        Vec::<u8>::new()
    );

    // A reference whose digest is not the bytes' is refused before anything is sent.
    let wrong = reference(&reg, &format!("kiln/d@{}", img.config.descriptor.digest));
    let e = c
        .put_manifest(
            &wrong,
            &img.manifest.descriptor.media_type,
            &img.manifest.bytes,
        )
        .unwrap_err();
    assert!(matches!(e, registry::Error::DigestMismatch { .. }), "{e}");
    // So is a manifest whose media type is not the one given.
    let e = c
        .put_manifest(&by_digest, oci::media::OCI_INDEX, &img.manifest.bytes)
        .unwrap_err();
    assert!(
        matches!(e, registry::Error::MediaTypeMismatch { .. }),
        "{e}"
    );
}
