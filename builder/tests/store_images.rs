//! The image store: import, resolve, tag/untag/rmi, GC and concurrent tagging.

mod store_support;

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};

use flate2::read::GzDecoder;
use kiln_builder::import::{import_rootfs_with, ImportOptions};
use kiln_builder::store::{ImageStore, LayerDesc, Reference, StoreError};
use kiln_frontend::image::{ImageConfig, Platform};
use store_support::{blobs, import_marker, listing, make_rootfs, CREATED};

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn layer_of(store: &ImageStore, manifest: &str) -> LayerDesc {
    let (m, c) = store.image(manifest).unwrap();
    LayerDesc {
        media_type: m.layers[0].media_type.clone(),
        digest: m.layers[0].digest.to_string(),
        size: m.layers[0].size,
        diff_id: c.rootfs.diff_ids[0].clone(),
    }
}

#[test]
fn import_directory_then_resolve_by_name_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let m = import_marker(&store, "one", Some("myimg:1"));

    let rec = store.resolve("myimg:1").unwrap().expect("by name");
    assert_eq!(rec.manifest_digest, m);
    assert_eq!(rec.tags, vec![r("myimg:1")]);
    let id = rec.id.clone();
    let hex = id.trim_start_matches("sha256:");

    for name in [
        &hex[..12],
        &hex[..4],
        &format!("sha256:{}", &hex[..12]),
        hex,
        &id,
        &m,
    ] {
        let got = store
            .resolve(name)
            .unwrap()
            .unwrap_or_else(|| panic!("resolve {name}"));
        assert_eq!(got.manifest_digest, m, "resolve {name}");
    }
    assert!(
        store.resolve(&hex[..3]).unwrap().is_none(),
        "3 hex digits are too short for an ID"
    );
    assert!(store.resolve("myimg:2").unwrap().is_none());
    assert!(store.resolve("other").unwrap().is_none());

    // The config: host platform, import history, one diff_id; the manifest: one gzip layer.
    let host = Platform::host();
    assert_eq!(rec.config.os, host.os);
    assert_eq!(rec.config.architecture, host.architecture);
    assert_eq!(
        rec.config.history[0].created_by.as_deref(),
        Some("kiln import")
    );
    assert_eq!(rec.config.rootfs.diff_ids.len(), 1);
    assert_eq!(rec.manifest.layers.len(), 1);
    assert_eq!(
        rec.manifest.layers[0].media_type,
        oci::media::OCI_LAYER_GZIP
    );
}

#[test]
fn directory_layer_is_deterministic_and_keeps_links() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    make_rootfs(rootfs.path(), "x");
    let opts = ImportOptions {
        created: Some(CREATED.into()),
        ..Default::default()
    };
    let a = import_rootfs_with(&store, rootfs.path(), None, &opts).unwrap();
    let b = import_rootfs_with(&store, rootfs.path(), None, &opts).unwrap();
    assert_eq!(a, b, "same directory, same options: same manifest");
    let now =
        kiln_builder::import::import_rootfs(&store, rootfs.path(), Some(&r("now:1"))).unwrap();
    let (now_manifest, now_config) = store.image(&now).unwrap();
    assert!(
        now_config.created.is_some_and(|c| c.as_str() > CREATED),
        "default creation time is now"
    );
    assert_eq!(
        now_manifest.layers,
        store.image(&a).unwrap().0.layers,
        "same layer blob"
    );

    let layer = layer_of(&store, &a);
    let mut plain = Vec::new();
    GzDecoder::new(store.content().open_blob(&layer.digest).unwrap())
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(
        kiln_builder::store::digest::sha256_digest(&plain),
        layer.diff_id,
        "diff_id is sha256 of the tar"
    );
    let mut ar = tar::Archive::new(&plain[..]);
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            "bin/alias" => {
                assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
                assert_eq!(e.link_name().unwrap().unwrap().to_string_lossy(), "tool");
            }
            "bin/tool-link" => {
                assert_eq!(e.header().entry_type(), tar::EntryType::Link);
                assert_eq!(
                    e.link_name().unwrap().unwrap().to_string_lossy(),
                    "bin/tool"
                );
            }
            _ => {}
        }
        names.push(name);
    }
    assert_eq!(
        names,
        vec![
            "bin/",
            "bin/alias",
            "bin/tool",
            "bin/tool-link",
            "etc/",
            "etc/hostname"
        ]
    );
}

#[test]
fn import_tar_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
    let tar_bytes = b.into_inner().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.tar"), &tar_bytes).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
    std::fs::write(tmp.path().join("a.tar.gz"), gz.finish().unwrap()).unwrap();

    let opts = ImportOptions {
        created: Some(CREATED.into()),
        platform: Some(Platform::parse("linux/arm64/v8").unwrap()),
        message: Some("from a tar".into()),
        epoch: None,
    };
    let m1 = import_rootfs_with(
        &store,
        &tmp.path().join("a.tar"),
        Some(&r("t:plain")),
        &opts,
    )
    .unwrap();
    let m2 = import_rootfs_with(
        &store,
        &tmp.path().join("a.tar.gz"),
        Some(&r("t:gz")),
        &opts,
    )
    .unwrap();
    assert_eq!(m1, m2, "a tar and its gzip give the same image");
    let (_, config) = store.image(&m1).unwrap();
    assert_eq!(
        config.rootfs.diff_ids,
        vec![kiln_builder::store::digest::sha256_digest(&tar_bytes)]
    );
    assert_eq!(config.architecture, "arm64");
    assert_eq!(config.variant.as_deref(), Some("v8"));
    assert_eq!(config.history[0].comment.as_deref(), Some("from a tar"));

    std::fs::write(
        tmp.path().join("junk"),
        b"this is not a tar archive at all, not even close, really",
    )
    .unwrap();
    let before = blobs(&store);
    let err = import_rootfs_with(&store, &tmp.path().join("junk"), None, &opts).unwrap_err();
    assert!(err.to_string().contains("junk"), "{err}");
    assert_eq!(blobs(&store), before, "a failed import stores nothing");
}

#[test]
fn tag_untag_and_rmi_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let m = import_marker(&store, "a", Some("app:1"));
    let id = store.resolve(&m).unwrap().unwrap().id;
    store.tag(&r("app:2"), &m).unwrap();
    assert_eq!(
        listing(&store),
        vec![(id.clone(), vec!["app:1".into(), "app:2".into()])]
    );

    // untag keeps the image.
    assert!(store.untag(&r("app:2")).unwrap());
    assert!(!store.untag(&r("app:2")).unwrap());
    assert_eq!(listing(&store), vec![(id.clone(), vec!["app:1".into()])]);
    store.tag(&r("app:2"), &m).unwrap();

    // rmi of one of two tags only untags.
    assert_eq!(
        store.remove("app:1", false).unwrap(),
        vec!["Untagged: app:1".to_string()]
    );
    assert_eq!(listing(&store), vec![(id.clone(), vec!["app:2".into()])]);

    // Tags in two repositories: rmi by ID needs force.
    store.tag(&r("other/app:x"), &m).unwrap();
    let err = store.remove(&id[7..19], false).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("must be forced"), "{err}");
    assert_eq!(listing(&store).len(), 1, "a refused rmi changes nothing");

    let lines = store.remove(&id[7..19], true).unwrap();
    assert_eq!(
        lines,
        vec![
            "Untagged: app:2".to_string(),
            "Untagged: other/app:x".into(),
            format!("Deleted: {id}")
        ]
    );
    assert!(store.list().unwrap().is_empty());
    assert!(
        blobs(&store).is_empty(),
        "all blobs of the deleted image are collected"
    );

    let err = store.remove("nope", false).unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope");
}

#[test]
fn rmi_by_id_with_tags_of_one_repository_needs_no_force() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let m = import_marker(&store, "a", Some("app:1"));
    store.tag(&r("app:2"), &m).unwrap();
    let id = store.resolve("app:1").unwrap().unwrap().id;
    let lines = store.remove(&id, false).unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn removing_last_tag_deletes_image_but_keeps_shared_layers() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let base = import_marker(&store, "base", Some("base:1"));
    let layer = layer_of(&store, &base);
    let extra = layer_of(&store, &import_marker(&store, "extra", Some("extra:1")));

    // A second image sharing the base layer, plus its own.
    let mut config = store.image(&base).unwrap().1;
    config.rootfs.diff_ids.clear();
    config.config.cmd = Some(vec!["/bin/tool".into()]);
    let child = store
        .put_image(&config, vec![layer.clone(), extra.clone()])
        .unwrap();
    store.tag(&r("child:1"), &child).unwrap();

    let removed = store.remove("base:1", false).unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(store.content().has(&layer.digest), "the shared layer stays");
    assert!(!store.content().has(&base), "the base manifest is gone");
    assert!(store.resolve("child:1").unwrap().is_some());

    store.remove("extra:1", false).unwrap();
    assert!(store.content().has(&extra.digest), "still used by child");
    store.remove("child:1", false).unwrap();
    assert!(
        blobs(&store).is_empty(),
        "nothing left: {:?}",
        blobs(&store)
    );
}

#[test]
fn put_image_checks_layers_and_keeps_dangling_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let layer = layer_of(&store, &import_marker(&store, "a", None));
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..Default::default()
    };

    let mut bad = config.clone();
    bad.rootfs.diff_ids = vec![format!("sha256:{}", "0".repeat(64))];
    let err = store.put_image(&bad, vec![layer.clone()]).unwrap_err();
    assert!(matches!(err, StoreError::InvalidImage(_)), "{err}");

    let mut missing = layer.clone();
    missing.digest = format!("sha256:{}", "1".repeat(64));
    let err = store.put_image(&config, vec![missing]).unwrap_err();
    assert!(matches!(err, StoreError::MissingBlob { .. }), "{err}");

    let m = store.put_image(&config, vec![layer.clone()]).unwrap();
    let listed = store.list().unwrap();
    assert!(
        listed
            .iter()
            .any(|s| s.manifest_digest == m && s.tags.is_empty()),
        "dangling image listed"
    );
    let (manifest, cfg) = store.image(&m).unwrap();
    assert_eq!(cfg.rootfs.diff_ids, vec![layer.diff_id.clone()]);
    assert_eq!(
        listed.iter().find(|s| s.manifest_digest == m).unwrap().size,
        uncompressed_len(&store, &layer.digest),
        "an image's size is its layers' uncompressed size, as docker shows it"
    );
    let _ = manifest;
}

#[test]
fn gc_deletes_only_unreferenced_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    import_marker(&store, "a", Some("keep:1"));
    let kept = blobs(&store);
    let (stray, _) = store.content().write_bytes(b"stray blob").unwrap();
    assert_eq!(store.gc().unwrap(), vec![stray]);
    assert_eq!(blobs(&store), kept);
    assert!(store.resolve("keep:1").unwrap().is_some());
}

#[test]
fn tag_rejects_unknown_manifest_and_mismatched_digest_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let m = import_marker(&store, "a", None);
    let other = format!("sha256:{}", "2".repeat(64));
    assert!(store.tag(&r("x:1"), &other).is_err());
    let with_digest = r(&format!("x@{other}"));
    assert!(matches!(
        store.tag(&with_digest, &m),
        Err(StoreError::InvalidImage(_))
    ));
    let good = r(&format!("x@{m}"));
    store.tag(&good, &m).unwrap();
    assert_eq!(
        store
            .resolve(&good.to_string())
            .unwrap()
            .unwrap()
            .manifest_digest,
        m
    );
}

#[test]
fn concurrent_threads_do_not_lose_tags() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let m = import_marker(&store, "a", None);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let root = dir.path().to_path_buf();
            let m = m.clone();
            std::thread::spawn(move || {
                // Each thread opens its own store (its own lock file descriptor).
                let s = ImageStore::open(&root).unwrap();
                for i in 0..20 {
                    s.tag(&r(&format!("t{t}:{i}")), &m).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let tags: BTreeSet<String> = store.list().unwrap()[0]
        .tags
        .iter()
        .map(|t| t.familiar_string())
        .collect();
    assert_eq!(tags.len(), 80);
}

/// Child-process half of `concurrent_processes_do_not_lose_tags` (does nothing otherwise).
#[test]
fn tagging_helper_process() {
    let (Ok(root), Ok(prefix), Ok(m)) = (
        std::env::var("KILN_STORE_TEST_ROOT"),
        std::env::var("KILN_STORE_TEST_PREFIX"),
        std::env::var("KILN_STORE_TEST_M"),
    ) else {
        return;
    };
    let s = ImageStore::open(std::path::Path::new(&root)).unwrap();
    for i in 0..25 {
        s.tag(&r(&format!("{prefix}:{i}")), &m).unwrap();
    }
}

#[test]
fn concurrent_processes_do_not_lose_tags() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let m = import_marker(&store, "a", None);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|p| {
            Command::new(&exe)
                .args(["--exact", "tagging_helper_process", "--test-threads=1"])
                .env("KILN_STORE_TEST_ROOT", dir.path())
                .env("KILN_STORE_TEST_PREFIX", format!("proc{p}"))
                .env("KILN_STORE_TEST_M", &m)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(store.list().unwrap()[0].tags.len(), 75);
}

#[test]
fn docker_schema2_manifests_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let layer = layer_of(&store, &import_marker(&store, "s2", None));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        layer.diff_id
    );
    let (cfg_digest, cfg_size) = store.content().write_bytes(config.as_bytes()).unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":{cfg_size},"digest":"{cfg_digest}"}},"layers":[{{"mediaType":"{}","size":{},"digest":"{}"}}]}}"#,
        oci::media::DOCKER_MANIFEST,
        oci::media::DOCKER_CONFIG,
        oci::media::DOCKER_LAYER_GZIP,
        layer.size,
        layer.digest
    );
    let (m, _) = store.content().write_bytes(manifest.as_bytes()).unwrap();
    store.tag(&r("docker/s2:1"), &m).unwrap();
    let rec = store.resolve("docker/s2:1").unwrap().unwrap();
    assert_eq!(rec.id, cfg_digest);
    assert_eq!(rec.manifest.media_type(), oci::media::DOCKER_MANIFEST);
    assert_eq!(rec.config.rootfs.diff_ids, vec![layer.diff_id]);
}

fn uncompressed_len(store: &ImageStore, digest: &str) -> u64 {
    let f = store.content().open_blob(digest).unwrap();
    std::io::copy(&mut flate2::read::GzDecoder::new(f), &mut std::io::sink()).unwrap()
}
