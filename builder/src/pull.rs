//! Pulling images from registries into the store: `kiln pull`, and the base images a build
//! names (`FROM`, `COPY --from`, `RUN --mount=from=`) when they are not in the store.
//!
//! A pull has two halves. The *metadata* (the image manifest for the platform, chosen from an
//! index if the reference names one, and the image config) is fetched, verified and stored
//! first: that is all a build needs to plan and key its steps. The *layers* follow, several at
//! once, each streamed into a resumable ingest of the content store and committed only once it
//! hashed to its digest; blobs already stored are not fetched again. Only when every blob is
//! there is the image registered and tagged, so nothing half-pulled is ever visible.

use crate::registry::StoreSink;
use crate::root::Kiln;
use crate::store::{StoreError, MAX_JSON_BLOB};
use kiln_frontend::image::ImageConfig;
use oci::{Descriptor, Digest, Manifest, Platform, Reference};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Layers fetched at once.
pub const PARALLEL_LAYERS: usize = 3;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The registry refused or could not be reached (401, 404, a dead host, a tampered blob...).
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// The store could not take what was fetched.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] kiln_snapshot::Error),
    /// The config blob is not an image config.
    #[error("{reference}: its config {digest} is not an image config: {source}")]
    BadConfig {
        /// The image.
        reference: String,
        /// The config's digest.
        digest: Digest,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// What the registry says an image is, for one platform: stored in the content store, not
/// yet registered (its layers may still be missing).
#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// The reference pulled, canonical (with its tag when it named one).
    pub reference: Reference,
    /// The digest the registry serves for the reference: the index's when it named an index,
    /// else the manifest's (docker's `RepoDigests`).
    pub repo_digest: Digest,
    /// The image manifest's digest (kiln's image key).
    pub manifest_digest: Digest,
    /// The image manifest.
    pub manifest: Manifest,
    /// The image config.
    pub config: ImageConfig,
}

impl RemoteImage {
    /// `repository@digest`, for the store's `RepoDigests`.
    pub fn repo_digest_ref(&self) -> Reference {
        Reference {
            registry: self.reference.registry.clone(),
            repository: self.reference.repository.clone(),
            tag: None,
            digest: Some(self.repo_digest.clone()),
        }
    }
}

/// Fetch, verify and store the manifest (for `platform`) and the config of `reference`.
pub fn fetch_metadata(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    reference: &Reference,
    platform: &Platform,
) -> Result<RemoteImage, PullError> {
    let image = client.get_image(reference, platform)?;
    let repo_digest = match &image.index {
        Some(index) => index.descriptor.digest.clone(),
        None => image.manifest.descriptor.digest.clone(),
    };
    let content = kiln.images.content();
    let manifest_digest = image.manifest.descriptor.digest.clone();
    if !content.hold(&manifest_digest)? {
        content.write(&mut &image.manifest.bytes[..], Some(&manifest_digest))?;
    }
    let config_desc = &image.parsed.config;
    let config_bytes = if content.hold(&config_desc.digest)? {
        content.read(&config_desc.digest)?
    } else {
        let bytes = client.fetch_blob_bytes(reference, config_desc, MAX_JSON_BLOB)?;
        content.write(&mut &bytes[..], Some(&config_desc.digest))?;
        bytes
    };
    let config = serde_json::from_slice(&config_bytes).map_err(|source| PullError::BadConfig {
        reference: reference.to_string(),
        digest: config_desc.digest.clone(),
        source,
    })?;
    Ok(RemoteImage {
        reference: reference.clone(),
        repo_digest,
        manifest_digest,
        manifest: image.parsed,
        config,
    })
}

/// Told how a layer transfer goes: `(digest, done, total)`.
pub type LayerProgress<'a> = &'a (dyn Fn(&Digest, u64, u64) + Sync);

/// Fetch the layers of `manifest` that the store lacks from `reference`'s repository,
/// [`PARALLEL_LAYERS`] at once. Returns the bytes transferred.
pub fn fetch_layers(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    reference: &Reference,
    manifest: &Manifest,
    progress: LayerProgress<'_>,
) -> Result<u64, PullError> {
    let content = kiln.images.content();
    let mut missing: Vec<&Descriptor> = Vec::new();
    for l in &manifest.layers {
        if content.hold(&l.digest)? {
            progress(&l.digest, l.size, l.size);
        } else {
            missing.push(l);
        }
    }
    let next = AtomicUsize::new(0);
    let transferred = AtomicUsize::new(0);
    let failure: Mutex<Option<PullError>> = Mutex::new(None);
    let report = |d: &Digest, done: u64, total: u64| progress(d, done, total);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_LAYERS.min(missing.len()) {
            s.spawn(|| loop {
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                let Some(desc) = missing.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let got = StoreSink::new(content, &desc.digest)
                    .map_err(PullError::from)
                    .and_then(|mut sink| {
                        client
                            .fetch_blob(reference, desc, &mut sink, &report)
                            .map_err(PullError::from)
                    });
                match got {
                    Ok(f) => {
                        transferred.fetch_add(f.transferred as usize, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(transferred.into_inner() as u64)
}

/// What [`pull`] did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image.
    pub image: RemoteImage,
    /// Layer bytes transferred (0 when the store had them all).
    pub transferred: u64,
    /// Was the image already in the store under this reference, unchanged?
    pub up_to_date: bool,
}

/// `kiln pull`: the whole image for `platform`, registered and tagged `reference` (when it
/// names a tag) with its repo digest recorded.
pub fn pull(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    reference: &Reference,
    platform: &Platform,
    progress: LayerProgress<'_>,
) -> Result<Pulled, PullError> {
    let before = kiln
        .images
        .resolve(&reference.to_string())
        .ok()
        .flatten()
        .map(|r| r.manifest_digest);
    let image = fetch_metadata(kiln, client, reference, platform)?;
    let transferred = fetch_layers(kiln, client, reference, &image.manifest, progress)?;
    register(kiln, &image)?;
    let up_to_date = before.as_deref() == Some(image.manifest_digest.as_str()) && transferred == 0;
    Ok(Pulled {
        image,
        transferred,
        up_to_date,
    })
}

/// Register a fetched image whose blobs are all stored: tagged with the reference when it
/// names a tag, with its repo digest.
pub fn register(kiln: &Kiln, image: &RemoteImage) -> Result<(), PullError> {
    let tags: Vec<Reference> = if image.reference.tag.is_some() {
        vec![Reference {
            digest: None,
            ..image.reference.clone()
        }]
    } else {
        Vec::new()
    };
    kiln.images.add_pulled_platform(
        &image.manifest_digest,
        &tags,
        Some(&image.repo_digest_ref()),
    )?;
    Ok(())
}
