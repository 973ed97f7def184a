//! Resuming a blob fetch: a sink that already holds part of the blob gets only the rest (a
//! `Range` request the registry answers 206), and the whole is still verified.

use std::sync::Mutex;

use oci::Digest;
use oci::Reference;
use registry::NoProgress;
use registry_harness::image::image;
use registry_harness::{CuttingProxy, Registry};

use crate::common::{client, push_image, reference, FileSink};

#[test]
fn a_sink_holding_half_gets_only_the_other_half() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(20, "linux/amd64", &[1 << 20]);
    let r = reference(&reg, "kiln/resume:1");
    push_image(&c, &r, &img);
    let layer = &img.layers[0];
    let half = layer.bytes.len() / 2;

    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::holding(dir.path(), &layer.descriptor.digest, &layer.bytes[..half]);
    let seen = Mutex::new(Vec::new());
    let progress = |_: &Digest, done: u64, total: u64| seen.lock().unwrap().push((done, total));
    let f = c
        .fetch_blob(&r, &layer.descriptor, &mut sink, &progress)
        .unwrap();
    assert_eq!(f.resumed_from, half as u64);
    assert_eq!(f.transferred, (layer.bytes.len() - half) as u64);
    assert_eq!(sink.committed().unwrap(), layer.bytes);
    assert_eq!(sink.resets, 0);
    // Progress starts at what was held and ends at the whole.
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.first(), Some(&(half as u64, 1 << 20)));
    assert_eq!(seen.last(), Some(&(1 << 20, 1 << 20)));

    // The registry sent the second half only.
    let gets: Vec<_> = reg
        .access_log()
        .into_iter()
        .filter(|a| a.method == "GET" && a.path.ends_with(layer.descriptor.digest.as_str()))
        .collect();
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(
        (gets[0].status, gets[0].bytes),
        (206, (layer.bytes.len() - half) as u64)
    );
}

#[test]
fn a_corrupt_partial_is_fetched_again_whole() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(21, "linux/amd64", &[300 << 10]);
    let r = reference(&reg, "kiln/resume:2");
    push_image(&c, &r, &img);
    let layer = &img.layers[0];
    let dir = tempfile::tempdir().unwrap();
    let mut garbage = layer.bytes[..1000].to_vec();
    garbage[10] ^= 1;
    let mut sink = FileSink::holding(dir.path(), &layer.descriptor.digest, &garbage);
    let f = c
        .fetch_blob(&r, &layer.descriptor, &mut sink, &NoProgress)
        .unwrap();
    assert_eq!(f.resumed_from, 0);
    assert_eq!(f.transferred, layer.bytes.len() as u64);
    assert_eq!(sink.committed().unwrap(), layer.bytes);
    assert_eq!(sink.discards, 1);
    let statuses: Vec<u16> = reg
        .access_log()
        .into_iter()
        .filter(|a| a.method == "GET" && a.path.ends_with(layer.descriptor.digest.as_str()))
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, [206, 200]);
}

#[test]
fn a_sink_holding_all_of_it_is_verified_without_a_fetch() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let c = client(&reg);
    let img = image(22, "linux/amd64", &[5000]);
    let r = reference(&reg, "kiln/resume:3");
    push_image(&c, &r, &img);
    let layer = &img.layers[0];
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::holding(dir.path(), &layer.descriptor.digest, &layer.bytes);
    let f = c
        .fetch_blob(&r, &layer.descriptor, &mut sink, &NoProgress)
        .unwrap();
    assert_eq!((f.resumed_from, f.transferred), (5000, 0));
    assert_eq!(sink.committed().unwrap(), layer.bytes);
    assert!(!reg
        .access_log()
        .iter()
        .any(|a| a.method == "GET" && a.path.ends_with(layer.descriptor.digest.as_str())));
}

#[test]
fn a_connection_broken_mid_blob_resumes_where_it_broke() {
    if !registry_harness::available() {
        return;
    }
    let reg = Registry::anonymous();
    let img = image(23, "linux/amd64", &[1 << 20]);
    push_image(&client(&reg), &reference(&reg, "kiln/flaky:1"), &img);
    // The first answer to pass 300 KiB is cut there.
    let proxy = CuttingProxy::start(reg.port(), 300 << 10, 1);
    let c = client(&reg);
    let r = Reference::parse(&format!("{}/kiln/flaky:1", proxy.host())).unwrap();
    let layer = &img.layers[0];
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::new(dir.path(), &layer.descriptor.digest);
    let f = c
        .fetch_blob(&r, &layer.descriptor, &mut sink, &NoProgress)
        .unwrap();
    assert_eq!(proxy.cuts_left(), 0);
    assert!(f.resumed_from > 0 && f.resumed_from < 1 << 20, "{f:?}");
    assert_eq!(f.transferred, (1 << 20) - f.resumed_from);
    assert_eq!(sink.committed().unwrap(), layer.bytes);
    let statuses: Vec<u16> = reg
        .access_log()
        .into_iter()
        .filter(|a| a.method == "GET" && a.path.ends_with(layer.descriptor.digest.as_str()))
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, [200, 206]);
}
