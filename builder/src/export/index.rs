//! The form a multi-platform image (an index of the store) takes when it leaves the machine:
//! each platform's image as [`super::distribution`] makes it (layers compressed, manifest
//! rewritten over them), and the index rewritten over those manifests. An index whose images
//! all leave as stored (a pulled one) leaves with its stored bytes, so a re-push is
//! byte-identical and the registry serves the digest the store knows.

use oci::{media, Descriptor, Digest, Index, Platform};

use super::convert::{distribution, Distribution, LayerOptions};
use super::error::ExportError;
use crate::store::{ImageRecord, ImageStore, IndexRecord, StoreError};

/// One platform's image of an index, as it leaves.
#[derive(Debug, Clone)]
pub struct IndexImage {
    /// The image in the store.
    pub record: ImageRecord,
    /// The platform the index lists it for.
    pub platform: Platform,
    /// The image as it leaves.
    pub dist: Distribution,
}

/// An index as it leaves: its images, and its bytes (which need not be in the store).
#[derive(Debug, Clone)]
pub struct IndexDistribution {
    pub images: Vec<IndexImage>,
    pub index: Index,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl IndexDistribution {
    /// The descriptor of the index.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            self.index.media_type(),
            self.digest.clone(),
            self.bytes.len() as u64,
        )
    }
}

/// The index `rec` of `store` in the form `opts` asks for (its images made in parallel).
pub fn index_distribution(
    store: &ImageStore,
    rec: &IndexRecord,
    opts: &LayerOptions,
) -> Result<IndexDistribution, ExportError> {
    let entries: Vec<(&Descriptor, Platform)> =
        rec.index.manifests.iter().zip(rec.platforms()).collect();
    let made: Vec<Result<IndexImage, ExportError>> = std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .iter()
            .map(|(d, p)| s.spawn(move || index_image(store, d, p, opts)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ExportError::Inconsistent {
                        image: rec.digest.clone(),
                        reason: "exporting an image of the index panicked".into(),
                    })
                })
            })
            .collect()
    });
    let images = made.into_iter().collect::<Result<Vec<_>, _>>()?;
    let unchanged = images
        .iter()
        .zip(&rec.index.manifests)
        .all(|(i, d)| i.dist.digest == d.digest && i.dist.media_type() == d.media_type);
    if unchanged {
        let bytes = store.read_small_blob(&rec.digest, "image index")?;
        return Ok(IndexDistribution {
            images,
            index: rec.index.clone(),
            digest: crate::store::digest::to_digest(&rec.digest)?,
            bytes,
        });
    }
    let mut index = rec.index.clone();
    for (d, i) in index.manifests.iter_mut().zip(&images) {
        d.media_type = i.dist.media_type().to_string();
        d.digest = i.dist.digest.clone();
        d.size = i.dist.bytes.len() as u64;
    }
    // docker's manifests go in docker's list (what a registry or docker 20.10 expects).
    let docker = images
        .iter()
        .all(|i| i.dist.media_type() == media::DOCKER_MANIFEST);
    index.media_type = Some(
        if docker {
            media::DOCKER_MANIFEST_LIST
        } else {
            media::OCI_INDEX
        }
        .to_string(),
    );
    let bytes = serde_json::to_vec(&index).map_err(StoreError::json("exported image index"))?;
    Ok(IndexDistribution {
        digest: Digest::sha256(&bytes),
        images,
        index,
        bytes,
    })
}

/// One image of the index as it leaves.
fn index_image(
    store: &ImageStore,
    d: &Descriptor,
    platform: &Platform,
    opts: &LayerOptions,
) -> Result<IndexImage, ExportError> {
    let m = d.digest.to_string();
    Ok(IndexImage {
        record: store.get(&m)?,
        platform: platform.clone(),
        dist: distribution(store, &m, opts)?,
    })
}
