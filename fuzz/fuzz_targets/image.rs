//! Arbitrary bytes as what an image archive or a registry sends: JSON documents (image
//! config, OCI manifest and index, docker `manifest.json`, `oci-layout`) that must parse or be
//! refused without panicking and, when they parse, survive a round trip through their own
//! serialisation; and whole archives given to `load` (a tar of such documents and blobs), which
//! must load or fail cleanly, leaving nothing half-written in the store.
#![no_main]

use kiln_builder::store::oci::{DockerArchiveEntry, Index, Manifest, OciLayout};
use kiln_builder::store::ImageStore;
use kiln_frontend::image::ImageConfig;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::OnceLock;

/// Parse `data` as `T`; if it parses, its serialisation must parse to the same value.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&v).unwrap();
        let back: T = serde_json::from_slice(&again).unwrap();
        assert_eq!(v, back);
    }
}

fn store() -> &'static (std::path::PathBuf, ImageStore) {
    static S: OnceLock<(std::path::PathBuf, ImageStore)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kiln-fuzz-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = ImageStore::open(&dir).unwrap();
        (dir, store)
    })
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ImageConfig>(data);
    round_trip::<Manifest>(data);
    round_trip::<Index>(data);
    round_trip::<Vec<DockerArchiveEntry>>(data);
    round_trip::<OciLayout>(data);
    let (_, store) = store();
    let before = store.list().map(|l| l.len()).unwrap_or(0);
    match kiln_builder::load::load(store, data) {
        Ok(images) => {
            for i in images {
                let _ = store.remove(&i.manifest_digest, true);
            }
        }
        Err(_) => {
            let after = store.list().map(|l| l.len()).unwrap_or(0);
            assert_eq!(before, after, "a failed load registered an image");
        }
    }
});
