//! Per-snapshot metadata (`ROOT/snapshots/<id>/meta.json`), written atomically.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::export::LayerInfo;
use crate::random::random_hex128;

/// File name of the metadata inside a snapshot directory.
pub(crate) const META_FILE: &str = "meta.json";

/// What the snapshotter remembers about one snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct SnapshotMeta {
    /// Parent snapshot id.
    pub parent: Option<String>,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Committed (read-only, usable as a parent) or still active.
    pub committed: bool,
    /// Copy mode: ctime (secs, nanos) of a marker written right after the parent's tree
    /// was copied; files with an older ctime are unchanged copies.
    #[serde(default)]
    pub copied_at: Option<(i64, i64)>,
    /// Exported layers, keyed by compression (+ mtime clamp).
    #[serde(default)]
    pub layers: BTreeMap<String, LayerInfo>,
    /// The original blob this snapshot was unpacked from (see `set_layer_info`).
    #[serde(default)]
    pub original: Option<LayerInfo>,
}

/// Read the metadata of the snapshot in `dir`.
pub(crate) fn read_meta(dir: &Path) -> Result<SnapshotMeta> {
    let p = dir.join(META_FILE);
    let bytes = fs::read(&p).ctx("read", &p)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Metadata { path: p, source })
}

/// Atomically replace the metadata of the snapshot in `dir` (temp file, fsync when `durable`,
/// rename). Only a commit needs it durable: a meta file a crash leaves torn does not decode,
/// and the snapshot is then taken for an uncommitted one (collected; a record naming it is a
/// cache miss).
///
/// The directory is not synced: the rename reaches the disk with the filesystem journal's
/// next commit, in order with everything written after it (journaled ext4, xfs), so a crash loses at
/// most the latest renames, never one before a later write that depends on it. The names a
/// user sees (tags, `store/tags.rs`) sync their directory, and with it every rename before.
pub(crate) fn write_meta(dir: &Path, meta: &SnapshotMeta, durable: bool) -> Result<()> {
    let p = dir.join(META_FILE);
    let tmp = dir.join(format!(".{META_FILE}.{}", random_hex128()));
    let bytes = serde_json::to_vec_pretty(meta).map_err(|source| Error::Metadata {
        path: p.clone(),
        source,
    })?;
    let res = (|| {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(&bytes).ctx("write", &tmp)?;
        if durable {
            f.sync_all().ctx("fsync", &tmp)?;
        }
        fs::rename(&tmp, &p).ctx("rename", &p)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}
