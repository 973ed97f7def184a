//! `kiln load` of a multi-platform image: an OCI layout whose `index.json` names an index
//! and holds every image it lists (as `kiln save` and docker 25+ write it) is loaded whole,
//! the index kept under its name, so the platforms stay together. An index whose images are
//! not all in the archive (docker's partial saves) loads the host's platform alone.

use crate::load::LoadedImage;
use crate::store::{ImageStore, Reference, Result};
use oci::{Descriptor, Index};

/// The image manifests of the index `desc` when the archive holds each of them whole (every
/// blob stored with its size), else `None`; `None` for what is not an index.
pub(crate) fn whole_index(store: &ImageStore, desc: &Descriptor) -> Result<Option<Vec<String>>> {
    if !oci::media::is_index(&desc.media_type) || !store.content().has(&desc.digest) {
        return Ok(None);
    }
    let index: Index = store.read_json_blob(&desc.digest, "image index")?;
    let mut out = Vec::new();
    for d in &index.manifests {
        // Only plain images with a platform (attestations and nested indexes load apart).
        if !oci::media::is_manifest(&d.media_type)
            || d.platform.as_ref().is_none_or(|p| p.os == "unknown")
        {
            return Ok(None);
        }
        let whole = stored(store, d)
            && store
                .manifest(&d.digest)
                .is_ok_and(|m| m.blobs().all(|b| stored(store, b)));
        if !whole {
            return Ok(None);
        }
        out.push(d.digest.to_string());
    }
    Ok((!out.is_empty()).then_some(out))
}

fn stored(store: &ImageStore, d: &Descriptor) -> bool {
    store.content().size(&d.digest).is_ok_and(|s| s == d.size)
}

/// Register the loaded indexes (their images are registered already) and their names.
pub(crate) fn register(store: &ImageStore, indexes: &[LoadedImage]) -> Result<()> {
    for i in indexes {
        store.add_index(&i.manifest_digest, None)?;
        for t in &i.tags {
            let t: &Reference = t;
            store.tag(t, &i.manifest_digest)?;
        }
    }
    Ok(())
}
