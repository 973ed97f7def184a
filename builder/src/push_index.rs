//! `kiln push` of a multi-platform image: each platform's image is pushed by digest (its
//! blobs, then its manifest), then the index under the tag, in the form
//! [`crate::export::index`] gives them (an index whose images leave as stored goes byte for
//! byte, so the registry serves the index's stored digest); the digest is recorded as the
//! index's `RepoDigests`.

use crate::export::index::IndexDistribution;
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

/// Push the index `index` of the store, as `dist`, and every image it lists to `target` (a
/// tag; `latest` when it names none).
pub fn push_index(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    index: &IndexRecord,
    dist: &IndexDistribution,
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
    push_index_to(kiln, client, index, dist, target, progress)
}

/// Push `index` and its images to the repository of `repository` without a tag (the index
/// by its digest): `--output type=registry,push-by-digest=true` of a multi-platform build.
pub fn push_index_by_digest(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    index: &IndexRecord,
    dist: &IndexDistribution,
    repository: &Reference,
    progress: BlobProgress,
) -> Result<PushedIndex, PushError> {
    let target = Reference {
        tag: None,
        digest: None,
        ..repository.clone()
    };
    push_index_to(kiln, client, index, dist, target, progress)
}

fn push_index_to(
    kiln: &Kiln,
    client: &registry::blocking::Client,
    index: &IndexRecord,
    dist: &IndexDistribution,
    target: Reference,
    progress: BlobProgress,
) -> Result<PushedIndex, PushError> {
    let mut images = Vec::new();
    for i in &dist.images {
        images.push(push_by_digest(
            kiln,
            client,
            &i.record,
            &i.dist,
            &target,
            progress.clone(),
        )?);
    }
    let digest = client.put_manifest(&target, dist.index.media_type(), &dist.bytes)?;
    let repo_digest = Reference {
        tag: None,
        digest: Some(digest.clone()),
        ..target.clone()
    };
    kiln.images.add_index(&index.digest, Some(&repo_digest))?;
    Ok(PushedIndex {
        reference: target,
        digest,
        size: dist.bytes.len() as u64,
        images,
    })
}
