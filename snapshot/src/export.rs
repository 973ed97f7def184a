//! Exporting a snapshot's diff as a compressed layer blob, memoised per snapshot.

use serde::{Deserialize, Serialize};

use crate::compress::{Compression, Encoder};
use crate::content::ContentStore;
use crate::digest::HashingWriter;
use crate::error::Result;
use crate::pipeline::pipelined;
use crate::snapshotter::{SnapshotId, Snapshotter};

/// A layer blob as referenced from an OCI manifest and image config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Digest of the (compressed) blob.
    pub digest: oci::Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: oci::Digest,
    /// OCI media type of the blob.
    pub media_type: String,
}

fn memo_key(c: Compression, clamp: Option<i64>) -> String {
    match clamp {
        Some(t) => format!("{}:clamp={t}", c.name()),
        None => c.name().to_string(),
    }
}

impl Snapshotter {
    /// Compress the diff of `id` into `store` and return its descriptor. Memoised per
    /// snapshot + compression + clamp (recomputed if the blob was deleted from `store`).
    /// If [`Self::set_layer_info`] recorded an original blob of the same compression that
    /// is still in `store`, that blob is returned as is.
    /// Pipeline: diff tar → sha256 (diff_id) → compressor → content store (streaming).
    pub fn export_layer(
        &self,
        id: &SnapshotId,
        store: &ContentStore,
        c: Compression,
        mtime_clamp: Option<i64>,
    ) -> Result<LayerInfo> {
        let meta = self.committed_meta(id)?;
        if let Some(orig) = &meta.original {
            // `hold` leases the blob before checking it, so a concurrent collection cannot
            // take it between this check and the image that will reference it.
            if Compression::from_media_type(&orig.media_type) == Some(c)
                && store.hold(&orig.digest)?
            {
                return Ok(orig.clone());
            }
        }
        let key = memo_key(c, mtime_clamp);
        if let Some(info) = meta.layers.get(&key) {
            if store.hold(&info.digest)? {
                return Ok(info.clone());
            }
        }
        let (digest, size, diff_id) = if c == Compression::None {
            // The blob is the tar: its digest is the diff ID (hashed once, by the writer).
            let mut blob = store.begin_write()?;
            // Reading and framing on this thread, hashing and writing on another.
            pipelined(&mut blob, "layer", |w| self.write_diff(id, w, mtime_clamp))?;
            let (digest, size) = blob.commit(None)?;
            (digest.clone(), size, digest)
        } else {
            let blob = store.begin_write()?;
            let mut tee = HashingWriter::new(Encoder::new(c, blob)?);
            pipelined(&mut tee, "layer", |w| self.write_diff(id, w, mtime_clamp))?;
            let (enc, diff_id, _) = tee.finish();
            let blob = enc.finish()?;
            let (digest, size) = blob.commit(None)?;
            (digest, size, diff_id)
        };
        let info = LayerInfo {
            digest,
            size,
            diff_id,
            media_type: c.media_type().to_string(),
        };
        let stored = info.clone();
        self.update_meta(id, move |m| {
            m.layers.insert(key, stored);
        })?;
        Ok(info)
    }

    /// The blob an image in the local store references for the diff of `id`, made lazily:
    /// the original blob a base layer was unpacked from, as it came; else the uncompressed tar
    /// (memoised like [`Self::export_layer`]). Compression waits until the layer leaves the
    /// machine ([`ContentStore::derive_layer`]); the tar is remembered for its diff ID there.
    pub fn local_layer(
        &self,
        id: &SnapshotId,
        store: &ContentStore,
        mtime_clamp: Option<i64>,
    ) -> Result<LayerInfo> {
        let meta = self.committed_meta(id)?;
        if let Some(orig) = &meta.original {
            if store.hold(&orig.digest)? {
                return Ok(orig.clone());
            }
        }
        let info = self.export_layer(id, store, Compression::None, mtime_clamp)?;
        store.remember_layer(&info, Some(info.size))?;
        Ok(info)
    }

    /// Record that `id` is the unpacked form of a layer blob (for base images), so
    /// [`Self::export_layer`] returns the original blob.
    pub fn set_layer_info(&self, id: &SnapshotId, info: &LayerInfo) -> Result<()> {
        self.committed_meta(id)?;
        let info = info.clone();
        self.update_meta(id, move |m| m.original = Some(info))
    }
}
