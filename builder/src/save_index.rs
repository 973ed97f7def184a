//! `kiln save` of a multi-platform image (a name the store keeps as an index).
//!
//! The OCI layout's `index.json` names the index itself (nested, as containerd and docker 25+
//! write it), with every image it lists. docker's `manifest.json` has no notion of an index:
//! as docker's containerd store does, it gets one entry per platform, each with the tags.
//! Docker 20.10's `docker load` reads `manifest.json` only and loads every entry; a tag given
//! to several entries ends on the last one loaded, so the host's platform is written last.

use crate::store::{ImageStore, Reference, Result, Target};
use oci::{Descriptor, Manifest, Platform};

/// An index to save: its descriptor (as `index.json` lists it) and its images.
pub(crate) struct SavedIndex {
    pub descriptor: Descriptor,
    /// (manifest digest, manifest, platform) of each image, in the index's order.
    pub images: Vec<(String, Manifest, Platform)>,
}

/// The index `name` designates in the store (with the tag to save it under), if it
/// designates one.
pub(crate) fn index_item(
    store: &ImageStore,
    name: &str,
    parsed: Option<&Reference>,
) -> Result<Option<(SavedIndex, Option<Reference>)>> {
    let Some(Target::Index(rec)) = store.lookup(name)? else {
        return Ok(None);
    };
    let mut images = Vec::new();
    for (d, p) in rec.index.manifests.iter().zip(rec.platforms()) {
        let m = d.digest.to_string();
        images.push((m.clone(), store.manifest(&m)?, p));
    }
    if images.is_empty() {
        return Ok(None);
    }
    let descriptor = Descriptor::new(
        rec.index.media_type(),
        crate::store::digest::to_digest(&rec.digest)?,
        rec.size,
    );
    let tag = parsed
        .filter(|r| r.tag.is_some() && rec.tags.contains(r))
        .cloned();
    Ok(Some((SavedIndex { descriptor, images }, tag)))
}

/// Every blob of a saved index: itself, its images' manifests, configs and layers.
pub(crate) fn blobs(index: &SavedIndex) -> Vec<String> {
    std::iter::once(index.descriptor.digest.to_string())
        .chain(index.images.iter().flat_map(|(m, manifest, _)| {
            std::iter::once(m.clone()).chain(manifest.blobs().map(|d| d.digest.to_string()))
        }))
        .collect()
}

/// The images `manifest.json` lists: each item as it is, an index as one entry per platform
/// with the host's last (docker 20.10 leaves a shared tag on the last entry it loads).
pub(crate) fn per_platform<'a>(
    items: impl Iterator<
        Item = (
            &'a str,
            &'a Manifest,
            Option<&'a Reference>,
            Option<&'a SavedIndex>,
        ),
    >,
) -> Vec<(&'a str, &'a Manifest, Option<&'a Reference>)> {
    let host = Platform::host();
    let mut out = Vec::new();
    for (digest, manifest, tag, index) in items {
        let Some(index) = index else {
            out.push((digest, manifest, tag));
            continue;
        };
        let mut images: Vec<&(String, Manifest, Platform)> = index.images.iter().collect();
        // Stable: the index's order, the host's image moved last.
        images.sort_by_key(|(_, _, p)| p.satisfies(&host));
        for (m, manifest, _) in images {
            out.push((m.as_str(), manifest, tag));
        }
    }
    out
}
