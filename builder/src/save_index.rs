//! `kiln save` of a multi-platform image (a name the store keeps as an index).
//!
//! The OCI layout's `index.json` names the index itself (nested, as containerd and docker 25+
//! write it), with every image it lists. docker's `manifest.json` has no notion of an index:
//! as docker's containerd store does, it gets one entry per platform, each with the tags.
//! Docker 20.10's `docker load` reads `manifest.json` only and loads every entry; a tag given
//! to several entries ends on the last one loaded, so the host's platform is written last.
//! The index and its images leave as [`crate::export::index`] makes them (layers compressed).

use crate::export::index::{index_distribution, IndexDistribution};
use crate::export::{Distribution, ExportError, LayerOptions};
use crate::store::{ImageStore, Reference, Target};
use oci::Platform;

/// The index `name` designates in the store as it leaves (with the tag to save it under), if
/// it designates one.
pub(crate) fn index_item(
    store: &ImageStore,
    name: &str,
    parsed: Option<&Reference>,
    layers: &LayerOptions,
) -> Result<Option<(IndexDistribution, Option<Reference>)>, ExportError> {
    let Some(Target::Index(rec)) = store.lookup(name)? else {
        return Ok(None);
    };
    if rec.index.manifests.is_empty() {
        return Ok(None);
    }
    let dist = index_distribution(store, &rec, layers)?;
    let tag = parsed
        .filter(|r| r.tag.is_some() && rec.tags.contains(r))
        .cloned();
    Ok(Some((dist, tag)))
}

/// Every blob of a saved index: itself and its images' manifests (with their bytes, which
/// need not be in the store), their configs and layers (in the store).
pub(crate) fn blobs(index: &IndexDistribution) -> Vec<(String, Option<&[u8]>)> {
    std::iter::once((index.digest.to_string(), Some(index.bytes.as_slice())))
        .chain(index.images.iter().flat_map(|i| {
            std::iter::once((i.dist.digest.to_string(), Some(i.dist.bytes.as_slice()))).chain(
                i.dist
                    .manifest
                    .blobs()
                    .map(|d| (d.digest.to_string(), None)),
            )
        }))
        .collect()
}

/// The images `manifest.json` lists for an index: one per platform, the host's last (docker
/// 20.10 leaves a shared tag on the last entry it loads).
pub(crate) fn per_platform(index: &IndexDistribution) -> Vec<&Distribution> {
    let host = Platform::host();
    let mut images: Vec<_> = index.images.iter().collect();
    // Stable: the index's order, the host's image moved last.
    images.sort_by_key(|i| i.platform.satisfies(&host));
    images.into_iter().map(|i| &i.dist).collect()
}
