//! The tag index `ROOT/repositories.json`: canonical references → manifest digest, plus the
//! set of images (manifest digests) the store keeps, tagged or not. Readers read the file as
//! it is (it is only ever replaced by rename); writers hold an exclusive lock on
//! `ROOT/store.lock`, re-read, change, write a temp file, fsync and rename it into place.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::Reference;

/// File name of the tag index under the store root.
pub const INDEX_FILE: &str = "repositories.json";
/// File name of the lock file under the store root.
pub const LOCK_FILE: &str = "store.lock";

/// The on-disk tag index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagIndex {
    /// Format version (1).
    #[serde(default)]
    pub version: u32,
    /// Canonical reference → manifest digest.
    #[serde(default)]
    pub refs: BTreeMap<String, String>,
    /// Manifest digest → bookkeeping of every image in the store.
    #[serde(default)]
    pub images: BTreeMap<String, ImageEntry>,
    /// Index digest → the indexes of the store (a tag in `refs` may point at one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<String, IndexEntry>,
}

/// Bookkeeping of one index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// When the index entered the store (RFC 3339).
    #[serde(default)]
    pub added: String,
    /// The image manifests it lists (each also in `images`).
    #[serde(default)]
    pub manifests: Vec<String>,
    /// `repository@digest` of each registry it came from or went to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
}

/// Bookkeeping of one image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// When the image entered the store (RFC 3339).
    #[serde(default)]
    pub added: String,
    /// `repository@digest` of each registry it was pulled from or pushed to, canonical and
    /// sorted; the digest is what the registry serves for it (the index's, for an image
    /// chosen from an index), as docker's `RepoDigests`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
}

/// Record `rd` (`repository@digest`) in `repo_digests`, replacing the entry of the same
/// repository (a repository serves one digest per image), kept sorted.
pub(crate) fn set_repo_digest(repo_digests: &mut Vec<String>, rd: &Reference) {
    let name = rd.name();
    repo_digests.retain(|d| d.split_once('@').map(|(n, _)| n) != Some(name.as_str()));
    repo_digests.push(rd.to_string());
    repo_digests.sort();
}

impl TagIndex {
    /// References pointing at `manifest_digest`, sorted.
    pub fn refs_of(&self, manifest_digest: &str) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, d)| d.as_str() == manifest_digest)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// `repository@digest` names of `manifest_digest` (see [`ImageEntry::repo_digests`]).
    pub fn repo_digests_of(&self, manifest_digest: &str) -> Vec<String> {
        self.images
            .get(manifest_digest)
            .map(|e| e.repo_digests.clone())
            .unwrap_or_default()
    }

    /// Record `manifest_digest` as an image of the store.
    pub fn add_image(&mut self, manifest_digest: &str) {
        self.images
            .entry(manifest_digest.to_string())
            .or_insert_with(|| ImageEntry {
                added: chrono::Utc::now().to_rfc3339(),
                repo_digests: Vec::new(),
            });
    }
}

/// Read the index (an empty index when the file does not exist yet).
pub fn read_index(root: &Path) -> Result<TagIndex> {
    let path = root.join(INDEX_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(StoreError::json(path.display().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TagIndex {
            version: 1,
            ..Default::default()
        }),
        Err(e) => Err(StoreError::io("reading", path)(e)),
    }
}

/// Hold the exclusive store lock while `f` runs.
pub fn with_lock<T>(root: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let lock_path = root.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(StoreError::io("opening lock file", &lock_path))?;
    lock.lock().map_err(StoreError::io("locking", &lock_path))?;
    let out = f();
    // Unlocks on drop as well; an explicit unlock error is not worth failing the update for.
    let _ = lock.unlock();
    out
}

/// Change the index under the store lock: `f` sees the current index and may change it; the
/// new index is written atomically when it differs.
pub fn update_index<T>(root: &Path, f: impl FnOnce(&mut TagIndex) -> Result<T>) -> Result<T> {
    with_lock(root, || {
        let before = read_index(root)?;
        let mut index = before.clone();
        let out = f(&mut index)?;
        if index != before {
            index.version = 1;
            write_index(root, &index)?;
        }
        Ok(out)
    })
}

fn write_index(root: &Path, index: &TagIndex) -> Result<()> {
    let path = root.join(INDEX_FILE);
    let tmp = root.join(format!(".{INDEX_FILE}.tmp-{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(index).map_err(StoreError::json("tag index"))?;
    let mut file = File::create(&tmp).map_err(StoreError::io("creating", &tmp))?;
    file.write_all(&bytes)
        .map_err(StoreError::io("writing", &tmp))?;
    file.sync_all().map_err(StoreError::io("syncing", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(StoreError::io("renaming into place", &path))?;
    File::open(root)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("syncing directory", root))?;
    Ok(())
}
