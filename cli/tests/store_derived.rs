//! The compressed blobs the store keeps for exports and pushes (`content/derived/` memos):
//! `kiln prune` takes the memos of the blobs it collects with them, what leaves afterwards is
//! still a whole, loadable image, and a damaged compressed blob is made again rather than
//! exported as it is.

mod common;

use common::{out_dir, random_context, tar_files, Kiln};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Checks an OCI layout tar the way a registry or `docker load` would: every blob is what its
/// name says, and every layer unpacks to the diff ID the config names. Returns the layer
/// digests.
fn assert_whole_layout(path: &Path) -> Vec<String> {
    let files = tar_files(&std::fs::read(path).unwrap());
    for (name, bytes) in &files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256(bytes), format!("sha256:{hex}"), "blob {name}");
        }
    }
    let blob = |d: &str| &files[&format!("blobs/sha256/{}", &d[7..])];
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(blob(m["config"]["digest"].as_str().unwrap())).unwrap();
    let mut digests = Vec::new();
    for (l, diff_id) in m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(config["rootfs"]["diff_ids"].as_array().unwrap())
    {
        let d = l["digest"].as_str().unwrap();
        assert!(l["mediaType"].as_str().unwrap().ends_with("+gzip"), "{l}");
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(blob(d).as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(sha256(&plain), diff_id.as_str().unwrap(), "layer {d}");
        digests.push(d.to_string());
    }
    digests
}

fn memo(k: &Kiln, diff_id: &str) -> PathBuf {
    k.root
        .path()
        .join("content/derived")
        .join(format!("{}.json", &diff_id[7..]))
}

fn blob(k: &Kiln, digest: &str) -> PathBuf {
    k.root
        .path()
        .join("content/blobs/sha256")
        .join(&digest[7..])
}

fn diff_ids(k: &Kiln, image: &str) -> Vec<String> {
    k.inspect(image)["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

fn loads_and_runs(archive: &Path) {
    let fresh = Kiln::empty();
    fresh.ok(&["load", "-i", archive.to_str().unwrap()]);
    let id = fresh.ok(&["images", "-q", "--no-trunc"]);
    let id = id.lines().next().unwrap().trim().to_string();
    assert_eq!(fresh.ok(&["run", "--rm", &id, "cat", "/made"]), "made\n");
}

#[test]
fn prune_takes_the_memos_of_collected_blobs_and_exports_stay_whole() {
    let k = Kiln::new();
    let ctx = random_context(1 << 20, 0x2545f4914f6cdd1d);
    let out = out_dir();
    let spec = |p: &Path| format!("type=oci,dest={}", p.display());
    let first = out.path().join("first.tar");
    k.build_ok(ctx.path(), "app:1", &["-o", &spec(&first)]);
    let layers = assert_whole_layout(&first);
    let ids = diff_ids(&k, "app:1");
    let (base_diff, own_diffs) = (ids[0].clone(), ids[1..].to_vec());
    for d in &ids {
        assert!(memo(&k, d).is_file(), "memo of {d}");
    }

    // The image goes, prune collects its blobs: the memos naming only them go too; the base
    // image's stays.
    k.ok(&["rmi", "app:1"]);
    k.ok(&["prune", "--all"]);
    for (d, l) in own_diffs.iter().zip(&layers[1..]) {
        assert!(!blob(&k, l).exists(), "blob {l} was collected");
        assert!(!memo(&k, d).exists(), "memo of {d} went with its blobs");
    }
    assert!(memo(&k, &base_diff).is_file());
    let memos_left = std::fs::read_dir(k.root.path().join("content/derived"))
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            n.to_string_lossy().ends_with(".json")
        })
        .count();
    assert_eq!(memos_left, 1, "only the base image's memo is left");

    // Built and sent again: a whole image, by `-o type=oci` and by `kiln save` (the COPY
    // layer is the same blob as before; the RUN layer's file times are new).
    let second = out.path().join("second.tar");
    k.build_ok(ctx.path(), "app:1", &["-o", &spec(&second)]);
    let again = assert_whole_layout(&second);
    assert_eq!(again[..2], layers[..2]);
    let saved = out.path().join("saved.tar");
    k.ok(&["save", "-o", saved.to_str().unwrap(), "app:1"]);
    assert_eq!(assert_whole_layout(&saved), again);
    loads_and_runs(&second);
    loads_and_runs(&saved);
}

#[test]
fn a_damaged_compressed_blob_is_made_again_not_exported() {
    let k = Kiln::new();
    let ctx = random_context(1 << 20, 0x2545f4914f6cdd1d);
    let d = ctx.path().to_str().unwrap();
    let out = out_dir();
    let first = out.path().join("first.tar");
    k.build_ok(ctx.path(), "app:1", &[]);
    k.ok(&["save", "-o", first.to_str().unwrap(), "app:1"]);
    let layers = assert_whole_layout(&first);
    let rand_layer = blob(&k, &layers[1]);
    let good = std::fs::read(&rand_layer).unwrap();

    // A flipped byte (the size still right), then a truncated blob: the next export makes
    // the blob again instead of sending the damaged bytes.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let truncated = good[..good.len() / 2].to_vec();
    for (i, damaged) in [flipped, truncated].into_iter().enumerate() {
        std::fs::write(&rand_layer, &damaged).unwrap();
        let again = out.path().join(format!("again{i}.tar"));
        if i == 0 {
            k.ok(&["save", "-o", again.to_str().unwrap(), "app:1"]);
        } else {
            let spec = format!("type=oci,dest={}", again.display());
            k.ok(&["build", "-q", "-t", "app:1", "-o", &spec, d]);
        }
        assert_eq!(assert_whole_layout(&again), layers);
        assert_eq!(
            std::fs::read(&rand_layer).unwrap(),
            good,
            "the store's blob is whole again"
        );
        loads_and_runs(&again);
    }
}
