//! Indexes made in a registry from images already there: `kiln manifest create NAME:TAG
//! DIGEST…` (alias `kiln imagetools create`), the last step of a multi-platform build split
//! across machines (each pushed its platform with `push-by-digest=true`), and `kiln manifest
//! inspect`.
//!
//! Each source is a manifest in NAME's repository (`sha256:…`, `@sha256:…`, or a full
//! `repo@digest` / `repo:tag` there): an image manifest enters the index with the platform
//! its config says, an index brings its entries. The index is put under NAME's tag; no blob
//! moves.

use crate::store::MAX_JSON_BLOB;
use oci::{Descriptor, Digest, ImageConfig, Index, ManifestKind, Platform, Reference};

/// Why an index could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ManifestListError {
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// A source is not a reference or digest.
    #[error("invalid source {given:?}: {why}")]
    BadSource {
        /// As given.
        given: String,
        /// Why.
        why: String,
    },
    /// A source is in another repository.
    #[error("{given} is not in {repository}: every image of the index must be in its repository (push it there with --output type=registry,name={repository},push-by-digest=true)")]
    OtherRepository {
        /// The source.
        given: String,
        /// The index's repository.
        repository: String,
    },
    /// An image's config is not one.
    #[error("{reference}: its config is not an image config: {source}")]
    BadConfig {
        /// The image.
        reference: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Two sources are for one platform.
    #[error("{first} and {second} are both for {platform}: an index holds one image per platform")]
    DuplicatePlatform {
        /// The platform.
        platform: String,
        /// The first image.
        first: String,
        /// The second.
        second: String,
    },
    /// The index could not be encoded.
    #[error("encoding the index: {0}")]
    Json(#[from] serde_json::Error),
}

/// The reference a source designates in `target`'s repository.
pub fn source_ref(target: &Reference, source: &str) -> Result<Reference, ManifestListError> {
    let bad = |why: String| ManifestListError::BadSource {
        given: source.to_string(),
        why,
    };
    let bare = source.strip_prefix('@').unwrap_or(source);
    if let Ok(d) = Digest::parse(bare) {
        return Ok(Reference {
            tag: None,
            digest: Some(d),
            ..target.clone()
        });
    }
    let r = Reference::parse(source).map_err(|e| bad(e.to_string()))?;
    if r.registry != target.registry || r.repository != target.repository {
        return Err(ManifestListError::OtherRepository {
            given: source.to_string(),
            repository: target.name(),
        });
    }
    Ok(r)
}

/// Make the index of `sources` and put it at `target` (a tag; `latest` when none). Returns
/// its digest and the index.
pub fn create(
    client: &registry::blocking::Client,
    target: &Reference,
    sources: &[String],
) -> Result<(Digest, Index), ManifestListError> {
    let mut target = target.clone();
    target.digest = None;
    if target.tag.is_none() {
        target.tag = Some("latest".into());
    }
    let mut manifests: Vec<(Descriptor, String)> = Vec::new();
    for s in sources {
        let r = source_ref(&target, s)?;
        let fetched = client.get_manifest(&r, None)?;
        let entries = match fetched.kind {
            ManifestKind::Index(i) => i.manifests,
            ManifestKind::Image(m) => {
                let bytes = client.fetch_blob_bytes(&r, &m.config, MAX_JSON_BLOB)?;
                let config: ImageConfig = serde_json::from_slice(&bytes).map_err(|source| {
                    ManifestListError::BadConfig {
                        reference: r.to_string(),
                        source,
                    }
                })?;
                let mut d = fetched.descriptor.clone();
                d.platform = Some(
                    Platform::new(&config.os, &config.architecture, config.variant.as_deref())
                        .normalized(),
                );
                vec![d]
            }
        };
        for d in entries {
            let p = d.platform.as_ref().map(|p| p.normalized().to_string());
            if let Some((first, shown)) = manifests
                .iter()
                .find(|(e, _)| e.platform.as_ref().map(|q| q.normalized().to_string()) == p)
                .filter(|_| p.is_some())
            {
                if first.digest != d.digest {
                    return Err(ManifestListError::DuplicatePlatform {
                        platform: p.unwrap_or_default(),
                        first: shown.clone(),
                        second: s.clone(),
                    });
                }
                continue;
            }
            manifests.push((d, s.clone()));
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(oci::media::OCI_INDEX.to_string()),
        manifests: manifests.into_iter().map(|(d, _)| d).collect(),
        annotations: Default::default(),
    };
    let bytes = serde_json::to_vec(&index)?;
    let digest = client.put_manifest(&target, oci::media::OCI_INDEX, &bytes)?;
    Ok((digest, index))
}

/// What the registry serves for `reference`: its descriptor, bytes and parsed document.
pub fn inspect(
    client: &registry::blocking::Client,
    reference: &Reference,
) -> Result<registry::FetchedManifest, ManifestListError> {
    Ok(client.get_manifest(reference, None)?)
}
