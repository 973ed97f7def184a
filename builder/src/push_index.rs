//! `kiln push` of a multi-platform image: each platform's image is pushed by digest (its
//! blobs, then its manifest), then the index under the tag, byte for byte as stored, so the
//! registry serves the index's digest; it is recorded as the index's `RepoDigests`.

use crate::push::{push_by_digest, BlobProgress, PushError, Pushed};
use crate::root::Kiln;
use crate::store::IndexRecord;
use oci::{Digest, Reference};

/// What [`push_index`] did.
#[derive(Debug, Clone)]
pub struct PushedIndex {
    /// Where it went (with its tag).
    pub reference: Reference,
    /// The index digest the registry serves.
    pub digest: Digest,
    /// The index's size.
    pub size: u64,
    /// Each platform's push.
    pub images: Vec<Pushed>,
}

/// Push the index `index` of the store and every image it lists to `target` (a tag;
/// `latest` when it names none).
pub fn push_index(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    index: &IndexRecord,
    target: &Reference,
    progress: BlobProgress,
) -> Result<PushedIndex, PushError> {
    if target.digest.is_some() {
        return Err(PushError::DigestReference(target.to_string()));
    }
    let mut target = target.clone();
    if target.tag.is_none() {
        target.tag = Some("latest".into());
    }
    push_index_to(kiln, client, index, target, progress)
}

/// Push `index` and its images to the repository of `repository` without a tag (the index
/// by its digest): `--output type=registry,push-by-digest=true` of a multi-platform build.
pub fn push_index_by_digest(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    index: &IndexRecord,
    repository: &Reference,
    progress: BlobProgress,
) -> Result<PushedIndex, PushError> {
    let target = Reference {
        tag: None,
        digest: None,
        ..repository.clone()
    };
    push_index_to(kiln, client, index, target, progress)
}

fn push_index_to(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    index: &IndexRecord,
    target: Reference,
    progress: BlobProgress,
) -> Result<PushedIndex, PushError> {
    let mut images = Vec::new();
    for d in &index.index.manifests {
        let record = kiln.images.resolve(d.digest.as_str())?.ok_or_else(|| {
            crate::store::StoreError::MissingBlob {
                digest: d.digest.to_string(),
                what: format!("image of index {}", index.digest),
            }
        })?;
        images.push(push_by_digest(
            kiln,
            client,
            &record,
            &target,
            progress.clone(),
        )?);
    }
    let bytes = kiln.images.read_small_blob(&index.digest, "image index")?;
    let digest = client.put_manifest(&target, index.index.media_type(), &bytes)?;
    let repo_digest = Reference {
        tag: None,
        digest: Some(digest.clone()),
        ..target.clone()
    };
    kiln.images.add_index(&index.digest, Some(&repo_digest))?;
    Ok(PushedIndex {
        reference: target,
        digest,
        size: bytes.len() as u64,
        images,
    })
}
