//! Retries: a 4xx is an answer and is sent once; a 5xx is retried, a bounded number of times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use registry::{Error, NoProgress};
use registry_harness::image::image;
use registry_harness::{Options, Registry};

use crate::common::{client, push_image, reference, FileSink};

#[test]
fn a_4xx_is_never_retried() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::start(Options {
        readonly: true,
        ..Options::default()
    });
    let c = client(&reg);
    let img = image(100, "linux/amd64", &[10]);
    let r = reference(&reg, "kiln/ro:1");
    let layer = &img.layers[0];
    let e = c
        .push_blob(
            &r,
            &layer.descriptor,
            Arc::new(Bytes::from(layer.bytes.clone())),
            &[],
            Arc::new(NoProgress),
        )
        .unwrap_err();
    match &e {
        Error::Registry { status, .. } => assert_eq!(*status, 405),
        other => panic!("{other:?}"),
    }
    assert!(!e.is_transient());
    let posts = reg
        .access_log()
        .into_iter()
        .filter(|a| a.method == "POST")
        .count();
    assert_eq!(posts, 1);
}

#[test]
fn a_5xx_is_retried_a_bounded_number_of_times() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(101, "linux/amd64", &[1000]);
    let r = reference(&reg, "kiln/broken:1");
    push_image(&c, &r, &img);
    // Break the registry's storage under it: the blobs folder becomes a file.
    let blobs = reg.storage().join("blobs");
    std::fs::rename(&blobs, reg.storage().join("blobs.away")).unwrap();
    std::fs::write(&blobs, b"not a folder").unwrap();

    let layer = &img.layers[0];
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::new(dir.path(), &layer.descriptor.digest);
    let t = Instant::now();
    let e = c
        .fetch_blob(&r, &layer.descriptor, &mut sink, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Registry { status, .. } if *status >= 500),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let gets = reg
        .access_log()
        .into_iter()
        .filter(|a| a.method == "GET" && a.path.ends_with(layer.descriptor.digest.as_str()))
        .count();
    // Four attempts, then the error.
    assert_eq!(gets, 4);
    assert_eq!(sink.commits, 0);
}
