//! Pushing images of the store to registries: `kiln push`, `kiln build --push`,
//! `--output type=registry`.
//!
//! The blobs go first (the layers several at once, then the config), each only when the
//! registry lacks it: a HEAD, else a cross-repository mount from a repository the image was
//! pulled from or pushed to on the same registry, else an upload streamed from the content
//! store. Layers kept uncompressed in the store are compressed first (once per diff ID, see
//! [`crate::export::convert`]) and the manifest rewritten over them; an image whose layers are
//! all compressed (a pulled one) is sent with its stored manifest, byte for byte. The digest the
//! registry serves is recorded as one of the image's `RepoDigests`.

use crate::export::Distribution;
use crate::root::Kiln;
use crate::store::{ImageRecord, StoreError};
use oci::{Descriptor, Digest, Reference};
use registry::BlobPush;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Blobs uploaded at once (docker's default is 5; three keep a slow link fair).
pub const PARALLEL_UPLOADS: usize = 3;

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// The store could not give the image.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reference names a digest: a push names a tag (or nothing: `latest`).
    #[error("cannot push to {0}: a push names a tag, not a digest")]
    DigestReference(String),
}

/// What happened to one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedBlob {
    pub digest: Digest,
    pub size: u64,
    pub how: BlobPush,
}

/// What [`push`] did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Where it went (with its tag).
    pub reference: Reference,
    /// The manifest digest the registry serves for it.
    pub digest: Digest,
    /// The manifest's size.
    pub size: u64,
    /// The manifest's media type.
    pub media_type: String,
    /// The layers and the config, in manifest order (layers, then config).
    pub blobs: Vec<PushedBlob>,
}

/// Told how a blob's upload goes: `(digest, done, total)`.
pub type BlobProgress = Arc<dyn Fn(&Digest, u64, u64) + Send + Sync>;

/// Push the image `image` of the store, in its form `dist` (see
/// [`crate::export::distribution`]), to `target` (a tag; `latest` when it names none).
pub fn push(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    image: &ImageRecord,
    dist: &Distribution,
    target: &Reference,
    progress: BlobProgress,
) -> Result<Pushed, PushError> {
    if target.digest.is_some() {
        return Err(PushError::DigestReference(target.to_string()));
    }
    let mut target = target.clone();
    if target.tag.is_none() {
        target.tag = Some("latest".into());
    }
    push_to(kiln, client, image, dist, target, progress)
}

/// Push `image` (as `dist`) to the repository of `repository` without a tag (the manifest by
/// its digest): one platform of an index, or `push-by-digest=true`.
pub fn push_by_digest(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    image: &ImageRecord,
    dist: &Distribution,
    repository: &Reference,
    progress: BlobProgress,
) -> Result<Pushed, PushError> {
    let target = Reference {
        tag: None,
        digest: None,
        ..repository.clone()
    };
    push_to(kiln, client, image, dist, target, progress)
}

/// The blobs, then the manifest under `target`'s tag (by digest when it has none).
fn push_to(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    image: &ImageRecord,
    dist: &Distribution,
    target: Reference,
    progress: BlobProgress,
) -> Result<Pushed, PushError> {
    let content = kiln.images.content();
    let mut descs: Vec<Descriptor> = dist.manifest.layers.clone();
    descs.push(dist.manifest.config.clone());
    let sources = blob_sources(kiln, &target.registry)?;
    let results: Vec<Mutex<Option<BlobPush>>> = descs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<PushError>> = Mutex::new(None);
    let sink: Arc<dyn registry::Progress> =
        Arc::new(move |d: &Digest, done: u64, total: u64| progress(d, done, total));
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_UPLOADS.min(descs.len()) {
            s.spawn(|| loop {
                if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(desc) = descs.get(i) else { break };
                // Opened afresh for each attempt of the upload.
                let source: Arc<dyn registry::BlobSource> = Arc::new(content.path(&desc.digest));
                let mount_from = sources.get(desc.digest.as_str()).map(Vec::as_slice);
                let mount_from = mount_from.unwrap_or_default();
                match client.push_blob(&target, desc, source, mount_from, sink.clone()) {
                    Ok(how) => {
                        if let Ok(mut r) = results[i].lock() {
                            *r = Some(how);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e.into());
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
    let bytes = &dist.bytes;
    let digest = client.put_manifest(&target, dist.media_type(), bytes)?;
    let repo_digest = Reference {
        tag: None,
        digest: Some(digest.clone()),
        ..target.clone()
    };
    kiln.images
        .add_pulled(&image.manifest_digest, &[], Some(&repo_digest))?;
    let blobs = descs
        .iter()
        .zip(results)
        .map(|(d, r)| PushedBlob {
            digest: d.digest.clone(),
            size: d.size,
            how: r
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or(BlobPush::Exists),
        })
        .collect();
    Ok(Pushed {
        reference: target,
        digest,
        size: bytes.len() as u64,
        media_type: dist.media_type().to_string(),
        blobs,
    })
}

/// For each blob of the store's images, the repositories of `registry` the image holding it
/// was pulled from or pushed to: where the registry may mount it from instead of receiving
/// it again (a layer of a base image pulled from `registry/library/base` need not be sent when
/// an image built on it is pushed to `registry/app`).
fn blob_sources(kiln: &Kiln, registry: &str) -> Result<HashMap<String, Vec<Reference>>, PushError> {
    let idx = crate::store::tags::read_index(kiln.images.root())?;
    let mut out: HashMap<String, Vec<Reference>> = HashMap::new();
    for (manifest_digest, entry) in &idx.images {
        let repos: Vec<Reference> = entry
            .repo_digests
            .iter()
            .filter_map(|r| Reference::parse(r).ok())
            .filter(|r| r.registry == registry)
            .collect();
        if repos.is_empty() {
            continue;
        }
        let Ok((manifest, config)) = kiln.images.image(manifest_digest) else {
            continue;
        };
        // The blobs it went out as: the stored ones and those compressed for the push.
        let derived = config
            .rootfs
            .diff_ids
            .iter()
            .flat_map(|d| kiln.images.content().derived_blobs(d))
            .map(|l| l.digest);
        let stored = manifest.blobs().map(|d| d.digest.clone());
        for blob in stored.chain(derived) {
            let list = out.entry(blob.to_string()).or_default();
            for r in &repos {
                if !list.iter().any(|l| l.repository == r.repository) {
                    list.push(r.clone());
                }
            }
        }
    }
    Ok(out)
}
