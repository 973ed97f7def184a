//! Base images as snapshots: each layer of an image is unpacked once, keyed by its chain ID
//! (the OCI definition: `chain(L1) = diffid1`, `chain(Ln) = sha256(chain(Ln-1) + " " + diffidn)`),
//! and reused by every image that shares the same lower layers.

use crate::error::{Error, Result, ResultExt};
use crate::root::Kiln;
use kiln_snapshot::{LayerInfo, SnapshotId};
use sha2::{Digest as _, Sha256};
use std::path::PathBuf;

/// The chain IDs of a list of diff IDs.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{prev} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

fn chain_file(kiln: &Kiln, chain_id: &str) -> PathBuf {
    kiln.root
        .join("chains")
        .join(chain_id.trim_start_matches("sha256:"))
}

/// The snapshot already unpacked for `chain_id`, if it is still there.
fn lookup(kiln: &Kiln, chain_id: &str) -> Option<SnapshotId> {
    let id = std::fs::read_to_string(chain_file(kiln, chain_id)).ok()?;
    let id = SnapshotId(id.trim().to_string());
    kiln.snapshots.exists(&id).then_some(id)
}

fn record(kiln: &Kiln, chain_id: &str, id: &SnapshotId) -> Result<()> {
    let path = chain_file(kiln, chain_id);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &id.0).ctx(format_args!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).ctx(format_args!("cannot write {}", path.display()))?;
    Ok(())
}

/// Record the snapshots a build made as the unpacked form of the layers they were exported as
/// (`chain[i]` holds the filesystem of `diff_ids[..=i]`), so that running or building on the
/// image uses them instead of unpacking the same layers again. Chains already recorded keep
/// their snapshot. Only for layers written without a timestamp clamp: a clamped layer's files
/// have other times than the snapshot's.
pub fn remember_built(kiln: &Kiln, diff_ids: &[String], chain: &[SnapshotId]) -> Result<()> {
    for (cid, id) in chain_ids(diff_ids).iter().zip(chain) {
        if lookup(kiln, cid).is_none() {
            record(kiln, cid, id)?;
        }
    }
    Ok(())
}

/// The chain IDs of every image of the store's `index`: the unpacked layers it still needs.
pub fn stored_chains(
    kiln: &Kiln,
    index: &crate::store::tags::TagIndex,
) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for m in index.images.keys() {
        // An unreadable image keeps nothing (it cannot be run or built on either).
        if let Ok((_, config)) = kiln.images.image(m) {
            out.extend(chain_ids(&config.rootfs.diff_ids));
        }
    }
    out
}

/// The snapshot holding the whole filesystem of the image `manifest_digest` (`None` for an
/// image without layers), unpacking the layers that are not unpacked yet.
pub fn image_snapshot(kiln: &Kiln, manifest_digest: &str) -> Result<Option<SnapshotId>> {
    let (manifest, config) = kiln.images.image(manifest_digest)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::new(format!(
            "image {manifest_digest} is inconsistent: {} layers but {} diff_ids in its config",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    let chains = chain_ids(diff_ids);
    let mut parent: Option<SnapshotId> = None;
    for (i, layer) in manifest.layers.iter().enumerate() {
        if let Some(id) = lookup(kiln, &chains[i]) {
            parent = Some(id);
            continue;
        }
        let mut blob = kiln
            .images
            .content()
            .open_blob(&layer.digest)
            .ctx(format_args!(
                "layer {} of image {manifest_digest} is missing from the store",
                layer.digest
            ))?;
        let (id, diff_id, size) = kiln
            .snapshots
            .apply_layer_sized(parent.as_ref(), &mut blob)
            .ctx(format_args!("cannot unpack layer {}", layer.digest))?;
        if diff_id != diff_ids[i] {
            let _ = kiln.snapshots.remove(&id);
            return Err(Error::new(format!(
                "layer {} of image {manifest_digest} has diff ID {diff_id}, but the config says {}",
                layer.digest, diff_ids[i]
            )));
        }
        let info = LayerInfo {
            digest: layer.digest.clone(),
            size: layer.size,
            diff_id,
            media_type: layer.media_type.clone(),
        };
        kiln.snapshots.set_layer_info(&id, &info)?;
        // The original blob answers a push or export in its compression; its size is the
        // image's uncompressed size in `images`.
        kiln.images.content().remember_layer(&info, Some(size))?;
        // Another process may have unpacked the same chain meanwhile: either result is fine.
        record(kiln, &chains[i], &id)?;
        parent = Some(id);
    }
    Ok(parent)
}
