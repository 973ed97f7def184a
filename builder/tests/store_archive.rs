//! `save` / `load`: round trips, docker legacy archives, platform selection, hostile archives,
//! and acceptance of our output by skopeo and umoci when they are installed.

mod store_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;

use kiln_builder::import::{import_rootfs_with, ImportOptions};
use kiln_builder::load::{load, load_with, LoadOptions, LoadedImage};
use kiln_builder::save::{save, save_oci_dir, SaveFormat};
use kiln_builder::store::digest::sha256_digest;
use kiln_builder::store::{ImageStore, Reference, StoreError};
use kiln_frontend::image::Platform;
use oci::{Descriptor, Index};
use store_support::{blobs, import_marker, listing, make_rootfs, CREATED};

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn new_store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    (dir, store)
}

fn save_bytes(store: &ImageStore, refs: &[Reference], format: SaveFormat) -> Vec<u8> {
    let mut out = Vec::new();
    save(store, refs, &mut out, format).unwrap();
    out
}

/// All regular files of a tar, by name.
fn tar_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Regular {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            out.insert(name, v);
        }
    }
    out
}

/// A tar of `files`, names written verbatim (so hostile names are possible).
fn raw_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn symlink_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, name, target).unwrap();
}

fn assert_roundtrip(format: SaveFormat) {
    let (_a_dir, a) = new_store();
    let m = import_marker(&a, "rt", Some("app:1"));
    a.tag(&r("localhost:5000/x/y:2"), &m).unwrap();
    let id = a.resolve(&m).unwrap().unwrap().id;
    let bytes = save_bytes(&a, &[r("app:1"), r("localhost:5000/x/y:2")], format);

    let (_b_dir, b) = new_store();
    let loaded = load(&b, &bytes[..]).unwrap();
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0].manifest_digest, m);
    assert_eq!(loaded[0].id, id);
    let mut tags: Vec<String> = loaded[0].tags.iter().map(|t| t.to_string()).collect();
    tags.sort();
    assert_eq!(
        tags,
        vec!["docker.io/library/app:1", "localhost:5000/x/y:2"]
    );
    assert_eq!(listing(&a), listing(&b));
    assert_eq!(a.image(&m).unwrap(), b.image(&m).unwrap());
    assert_eq!(blobs(&a), blobs(&b));
    assert_eq!(
        loaded[0].messages(),
        vec![
            "Loaded image: app:1".to_string(),
            "Loaded image: localhost:5000/x/y:2".into()
        ]
    );
}

#[test]
fn save_load_roundtrip_oci_layout() {
    assert_roundtrip(SaveFormat::OciLayout);
}

#[test]
fn save_load_roundtrip_docker_archive() {
    assert_roundtrip(SaveFormat::DockerArchive);
}

#[test]
fn docker_archive_has_docker_manifest_and_is_deterministic() {
    let (_d, store) = new_store();
    let m = import_marker(&store, "d", Some("app:1"));
    let (manifest, _) = store.image(&m).unwrap();
    let bytes = save_bytes(&store, &[r("app:1")], SaveFormat::DockerArchive);
    assert_eq!(
        bytes,
        save_bytes(&store, &[r("app:1")], SaveFormat::DockerArchive),
        "same bytes twice"
    );
    let files = tar_files(&bytes);
    let dm: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let cfg_hex = manifest.config.digest.trim_start_matches("sha256:");
    let layer_hex = manifest.layers[0].digest.trim_start_matches("sha256:");
    assert_eq!(
        dm,
        serde_json::json!([{
            "Config": format!("blobs/sha256/{cfg_hex}"),
            "RepoTags": ["app:1"],
            "Layers": [format!("blobs/sha256/{layer_hex}")],
        }])
    );
    let index: Index = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index.manifests[0].digest, m);
    assert_eq!(
        index.manifests[0].annotations[oci::ANNOTATION_REF_NAME],
        "1"
    );
    assert_eq!(
        index.manifests[0].annotations[oci::ANNOTATION_CONTAINERD_NAME],
        "docker.io/library/app:1"
    );
    assert_eq!(files["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
    for (name, data) in &files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256_digest(data), format!("sha256:{hex}"));
        }
    }
}

#[test]
fn gzip_compressed_archive_loads_and_ids_save_untagged() {
    let (_a_dir, a) = new_store();
    let m = import_marker(&a, "gz", Some("app:1"));
    let id = a.resolve(&m).unwrap().unwrap().id;
    let mut plain = Vec::new();
    save(&a, &[&id[7..19]], &mut plain, SaveFormat::DockerArchive).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();

    let (_b_dir, b) = new_store();
    let loaded = load(&b, &gz[..]).unwrap();
    assert_eq!(
        loaded,
        vec![LoadedImage {
            manifest_digest: m,
            id: id.clone(),
            tags: vec![]
        }]
    );
    assert_eq!(loaded[0].messages(), vec![format!("Loaded image ID: {id}")]);
}

/// A docker-archive as docker < 25 wrote it: `<hex>.json` configs, `<id>/layer.tar`
/// uncompressed layers, a shared layer as a symlink.
fn legacy_archive(layer_override: Option<&[u8]>) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut lb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_mtime(1);
    lb.append_data(&mut h, "hello", &b"hi\n"[..]).unwrap();
    let layer = lb.into_inner().unwrap();
    let diff_id = sha256_digest(&layer);
    let config = |cmd: &str| {
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["{cmd}"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"docker_version":"20.10.0","x-unknown":{{"kept":true}}}}"#
        )
        .into_bytes()
    };
    let (c1, c2) = (config("one"), config("two"));
    let h1 = sha256_digest(&c1)[7..].to_string();
    let h2 = sha256_digest(&c2)[7..].to_string();
    let manifest = format!(
        r#"[{{"Config":"{h1}.json","RepoTags":["legacy:1","legacy:latest"],"Layers":["aaa/layer.tar"]}},{{"Config":"{h2}.json","RepoTags":null,"Layers":["bbb/layer.tar"]}}]"#
    );
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&mut b, "aaa/VERSION", b"1.0");
    add(&mut b, "aaa/layer.tar", layer_override.unwrap_or(&layer));
    symlink_entry(&mut b, "bbb/layer.tar", "../aaa/layer.tar");
    add(&mut b, &format!("{h1}.json"), &c1);
    add(&mut b, &format!("{h2}.json"), &c2);
    add(&mut b, "manifest.json", manifest.as_bytes());
    (b.into_inner().unwrap(), layer, c1, c2)
}

#[test]
fn legacy_docker_archive_loads_with_ids_and_gzip_layers() {
    let (archive, layer, c1, c2) = legacy_archive(None);
    let (_d, store) = new_store();
    let loaded = load(&store, &archive[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(
        loaded[0].id,
        sha256_digest(&c1),
        "config kept byte for byte: same image ID"
    );
    assert_eq!(loaded[1].id, sha256_digest(&c2));
    assert_eq!(
        loaded[0].messages(),
        vec![
            "Loaded image: legacy:1".to_string(),
            "Loaded image: legacy:latest".into()
        ]
    );
    assert_eq!(
        loaded[1].messages(),
        vec![format!("Loaded image ID: {}", sha256_digest(&c2))]
    );
    assert_eq!(store.content().read(&loaded[0].id).unwrap(), c1);

    let (m1, cfg) = store.image(&loaded[0].manifest_digest).unwrap();
    let (m2, _) = store.image(&loaded[1].manifest_digest).unwrap();
    assert_eq!(m1.layers, m2.layers, "the symlinked layer is the same blob");
    assert_eq!(m1.layers[0].media_type, oci::media::OCI_LAYER_GZIP);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(store.content().open_blob(&m1.layers[0].digest).unwrap())
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, layer);
    assert_eq!(cfg.config.cmd, Some(vec!["one".to_string()]));
    assert_eq!(
        store.resolve("legacy").unwrap().unwrap().manifest_digest,
        loaded[0].manifest_digest
    );

    // Saving it again and loading elsewhere keeps manifest and IDs.
    let again = save_bytes(&store, &[r("legacy:1")], SaveFormat::DockerArchive);
    let (_d2, other) = new_store();
    let l2 = load(&other, &again[..]).unwrap();
    assert_eq!(l2[0].manifest_digest, loaded[0].manifest_digest);
    assert_eq!(l2[0].id, loaded[0].id);
}

/// Load must fail with `check` and leave `store` exactly as it was.
fn assert_rejected(
    store: &ImageStore,
    archive: &[u8],
    check: impl Fn(&StoreError) -> bool,
) -> String {
    let list_before = listing(store);
    let blobs_before = blobs(store);
    let err = load(store, archive).unwrap_err();
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(listing(store), list_before, "image list unchanged");
    assert_eq!(blobs(store), blobs_before, "content store unchanged");
    err.to_string()
}

#[test]
fn tampered_oci_archive_is_rejected_and_store_untouched() {
    let (_a_dir, a) = new_store();
    let m = import_marker(&a, "t", Some("app:1"));
    let (manifest, _) = a.image(&m).unwrap();
    let bytes = save_bytes(&a, &[r("app:1")], SaveFormat::OciLayout);
    let layer_name = format!(
        "blobs/sha256/{}",
        manifest.layers[0].digest.trim_start_matches("sha256:")
    );
    let mut files: Vec<(String, Vec<u8>)> = tar_files(&bytes).into_iter().collect();
    for (name, data) in files.iter_mut() {
        if *name == layer_name {
            let last = data.len() - 1;
            data[last] ^= 0xff;
        }
    }
    let tampered = raw_tar(&files);

    let (_b_dir, b) = new_store();
    import_marker(&b, "existing", Some("existing:1"));
    let msg = assert_rejected(&b, &tampered, |e| {
        matches!(e, StoreError::DigestMismatch { .. })
    });
    assert!(msg.contains(manifest.layers[0].digest.as_str()), "{msg}");
}

#[test]
fn tampered_legacy_layer_is_rejected_and_store_untouched() {
    let (archive, ..) = legacy_archive(Some(&[0u8; 1024][..]));
    let (_d, store) = new_store();
    import_marker(&store, "existing", Some("existing:1"));
    let msg = assert_rejected(&store, &archive, |e| {
        matches!(e, StoreError::DigestMismatch { .. })
    });
    assert!(msg.contains("aaa/layer.tar"), "{msg}");
}

#[test]
fn hostile_names_and_structures_are_rejected() {
    let (_d, store) = new_store();
    import_marker(&store, "existing", Some("existing:1"));
    let manifest = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":[]}]"#.to_vec();

    let traversal = raw_tar(&[
        ("../evil".into(), b"x".to_vec()),
        ("manifest.json".into(), manifest.clone()),
    ]);
    let msg = assert_rejected(&store, &traversal, |e| matches!(e, StoreError::Archive(_)));
    assert!(msg.contains("../evil"), "{msg}");

    let absolute = raw_tar(&[("/etc/passwd".into(), b"x".to_vec())]);
    assert_rejected(&store, &absolute, |e| matches!(e, StoreError::Archive(_)));

    let mut b = tar::Builder::new(Vec::new());
    symlink_entry(&mut b, "layer.tar", "../../outside");
    let escaping_link = b.into_inner().unwrap();
    assert_rejected(&store, &escaping_link, |e| {
        matches!(e, StoreError::Archive(_))
    });

    let bad_blob = raw_tar(&[(
        format!("blobs/sha256/{}", "a".repeat(64)),
        b"not that".to_vec(),
    )]);
    assert_rejected(&store, &bad_blob, |e| {
        matches!(e, StoreError::DigestMismatch { .. })
    });

    let missing_config = raw_tar(&[("manifest.json".into(), manifest)]);
    let msg = assert_rejected(&store, &missing_config, |e| {
        matches!(e, StoreError::Archive(_))
    });
    assert!(msg.contains("c.json"), "{msg}");

    let huge = raw_tar(&[("manifest.json".into(), vec![b' '; (8 << 20) + 1])]);
    assert_rejected(&store, &huge, |e| matches!(e, StoreError::TooLarge { .. }));

    let neither = raw_tar(&[("README".into(), b"hello".to_vec())]);
    assert_rejected(&store, &neither, |e| matches!(e, StoreError::Archive(_)));

    assert_rejected(&store, b"garbage that is not a tar", |e| {
        matches!(e, StoreError::Archive(_))
    });
}

#[test]
fn oci_layout_with_missing_blob_is_rejected() {
    let (_a_dir, a) = new_store();
    let m = import_marker(&a, "mb", Some("app:1"));
    let (manifest, _) = a.image(&m).unwrap();
    let bytes = save_bytes(&a, &[r("app:1")], SaveFormat::OciLayout);
    let layer_name = format!(
        "blobs/sha256/{}",
        manifest.layers[0].digest.trim_start_matches("sha256:")
    );
    let files: Vec<(String, Vec<u8>)> = tar_files(&bytes)
        .into_iter()
        .filter(|(n, _)| *n != layer_name)
        .collect();
    let (_b_dir, b) = new_store();
    let msg = assert_rejected(&b, &raw_tar(&files), |e| {
        matches!(e, StoreError::MissingBlob { .. })
    });
    assert!(msg.contains(manifest.layers[0].digest.as_str()), "{msg}");
}

/// An OCI layout whose index.json points at a nested index of two platforms.
fn multi_platform_layout(ref_name: &str) -> (Vec<u8>, String, String) {
    let (_src_dir, src) = new_store();
    let rootfs = tempfile::tempdir().unwrap();
    make_rootfs(rootfs.path(), "multi");
    let mut manifests = Vec::new();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for p in ["linux/amd64", "linux/arm64/v8"] {
        let platform = Platform::parse(p).unwrap();
        let opts = ImportOptions {
            created: Some(CREATED.into()),
            platform: Some(platform.clone()),
            message: None,
            epoch: None,
        };
        let m = import_rootfs_with(&src, rootfs.path(), None, &opts).unwrap();
        let (manifest, _) = src.image(&m).unwrap();
        for d in std::iter::once(m.clone()).chain(manifest.blobs().map(|d| d.digest.to_string())) {
            files.insert(
                format!("blobs/sha256/{}", &d[7..]),
                src.content().read(&d).unwrap(),
            );
        }
        let mut desc = Descriptor::new(
            oci::media::OCI_MANIFEST,
            oci::Digest::parse(&m).unwrap(),
            src.content().size(&m).unwrap(),
        );
        desc.platform = Some(oci::Platform {
            architecture: platform.architecture,
            os: platform.os,
            os_version: None,
            os_features: None,
            variant: platform.variant,
        });
        manifests.push(desc);
    }
    // An attestation entry that must be ignored.
    let mut att = manifests[0].clone();
    att.platform = Some(oci::Platform {
        architecture: "unknown".into(),
        os: "unknown".into(),
        os_version: None,
        os_features: None,
        variant: None,
    });
    manifests.push(att);
    let (amd, arm) = (manifests[0].digest.clone(), manifests[1].digest.clone());
    let nested = Index {
        schema_version: 2,
        media_type: Some(oci::media::OCI_INDEX.into()),
        manifests,
        annotations: BTreeMap::new(),
    };
    let nested_bytes = serde_json::to_vec(&nested).unwrap();
    let nested_digest = sha256_digest(&nested_bytes);
    files.insert(
        format!("blobs/sha256/{}", &nested_digest[7..]),
        nested_bytes.clone(),
    );
    let mut top_desc = Descriptor::new(
        oci::media::OCI_INDEX,
        nested_digest.clone(),
        nested_bytes.len() as u64,
    );
    top_desc
        .annotations
        .insert(oci::ANNOTATION_REF_NAME.into(), ref_name.into());
    let top = Index {
        manifests: vec![top_desc],
        ..nested
    };
    files.insert("index.json".into(), serde_json::to_vec(&top).unwrap());
    files.insert(
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    (
        raw_tar(&files.into_iter().collect::<Vec<_>>()),
        amd.to_string(),
        arm.to_string(),
    )
}

#[test]
fn nested_index_picks_the_requested_platform() {
    let (archive, amd, arm) = multi_platform_layout("example.com/multi:1");
    let (_d, store) = new_store();
    let opts = LoadOptions {
        platform: Some(Platform::parse("linux/arm64/v8").unwrap()),
    };
    let loaded = load_with(&store, &archive[..], &opts).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].manifest_digest, arm);
    assert_eq!(loaded[0].tags, vec![r("example.com/multi:1")]);
    assert_eq!(store.image(&arm).unwrap().1.architecture, "arm64");
    assert!(
        !store.content().has(&amd),
        "the other platform's manifest is not kept"
    );
    assert_eq!(listing(&store).len(), 1);

    let (_d2, other) = new_store();
    let opts = LoadOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
    };
    let err = load_with(&other, &archive[..], &opts).unwrap_err();
    assert!(matches!(err, StoreError::NoPlatform { .. }), "{err}");
    assert!(
        err.to_string().contains("linux/amd64") && err.to_string().contains("linux/arm64/v8"),
        "{err}"
    );
    assert!(
        blobs(&other).is_empty(),
        "nothing stored after a failed load"
    );
}

#[test]
fn bare_tag_ref_name_loads_untagged() {
    let (archive, amd, _) = multi_platform_layout("latest");
    let (_d, store) = new_store();
    let opts = LoadOptions {
        platform: Some(Platform::parse("linux/amd64").unwrap()),
    };
    let loaded = load_with(&store, &archive[..], &opts).unwrap();
    assert_eq!(loaded[0].manifest_digest, amd);
    assert!(loaded[0].tags.is_empty());
    assert!(loaded[0].messages()[0].starts_with("Loaded image ID: sha256:"));
}

#[test]
fn save_unknown_reference_fails() {
    let (_d, store) = new_store();
    let err = save(&store, &[r("nope:1")], Vec::new(), SaveFormat::OciLayout).unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope:1");
}

fn tool(name: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: `{name}` is not installed (apt-get install -y {name})");
    }
    found
}

#[test]
fn skopeo_accepts_our_archives() {
    if !tool("skopeo") {
        return;
    }
    let (_d, store) = new_store();
    let m = import_marker(&store, "skopeo", Some("app:1"));
    let tmp = tempfile::tempdir().unwrap();
    for (format, transport, file) in [
        (SaveFormat::OciLayout, "oci-archive", "oci.tar"),
        (SaveFormat::DockerArchive, "docker-archive", "docker.tar"),
    ] {
        let path = tmp.path().join(file);
        std::fs::write(&path, save_bytes(&store, &[r("app:1")], format)).unwrap();
        let out = Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                &format!("{transport}:{}", path.display()),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo {transport}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let raw: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(raw["schemaVersion"], 2, "{transport}: {raw}");
        if format == SaveFormat::OciLayout {
            assert_eq!(
                sha256_digest(&out.stdout),
                m,
                "skopeo sees our manifest byte for byte"
            );
        }
        let out = Command::new("skopeo")
            .args(["inspect", &format!("{transport}:{}", path.display())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {transport}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn umoci_accepts_our_oci_directory() {
    if !tool("umoci") {
        return;
    }
    let (_d, store) = new_store();
    import_marker(&store, "umoci", Some("app:1"));
    import_marker(&store, "umoci2", Some("app:2"));
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    save_oci_dir(&store, &[r("app:1")], &layout).unwrap();
    save_oci_dir(&store, &[r("app:2")], &layout).unwrap();
    let out = Command::new("umoci")
        .args(["ls", "--layout"])
        .arg(&layout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    tags.sort();
    assert_eq!(tags, vec!["1", "2"]);
    let bundle = tmp.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:1", layout.display())])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/hostname")).unwrap(),
        "umoci\n"
    );
}
