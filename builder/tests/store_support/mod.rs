//! Helpers shared by the store tests.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use kiln_builder::import::{import_rootfs_with, ImportOptions};
use kiln_builder::store::{ImageStore, Reference};

/// A fixed creation time, so imports are reproducible.
pub const CREATED: &str = "2024-01-02T03:04:05Z";

/// A small root filesystem with a file, a directory, a symlink and a hard link.
pub fn make_rootfs(dir: &Path, marker: &str) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("etc/hostname"), format!("{marker}\n")).unwrap();
    fs::write(dir.join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    std::os::unix::fs::symlink("tool", dir.join("bin/alias")).unwrap();
    fs::hard_link(dir.join("bin/tool"), dir.join("bin/tool-link")).unwrap();
}

/// Import a fresh rootfs (distinguished by `marker`) as `name` (if given); returns the
/// manifest digest.
pub fn import_marker(store: &ImageStore, marker: &str, name: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    make_rootfs(tmp.path(), marker);
    let r = name.map(|n| Reference::parse(n).unwrap());
    let opts = ImportOptions {
        created: Some(CREATED.into()),
        ..Default::default()
    };
    import_rootfs_with(store, tmp.path(), r.as_ref(), &opts).unwrap()
}

/// The digests of every blob in the store's content store.
pub fn blobs(store: &ImageStore) -> Vec<String> {
    store
        .content()
        .list()
        .unwrap()
        .into_iter()
        .map(|(d, _)| d.to_string())
        .collect()
}

/// `(id, tags as familiar strings)` of every image, sorted.
pub fn listing(store: &ImageStore) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.tags.iter().map(|t| t.familiar_string()).collect()))
        .collect();
    v.sort();
    v
}
