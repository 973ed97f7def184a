//! Finding an image by reference, image ID (config digest, full or a prefix of ≥ 4 hex digits)
//! or manifest digest, the way docker resolves the argument of `docker rmi`/`docker run`.

use super::digest::{is_hex64, is_lower_hex};
use super::error::{Result, StoreError};
use super::tags::{self, TagIndex};
use super::{parse_refs, ImageRecord, ImageStore};
use oci::Reference;

/// Shortest image-ID prefix accepted.
pub const MIN_SHORT_ID: usize = 4;

impl ImageStore {
    /// Resolve a reference, an image ID (full or short) or a manifest digest. `Ok(None)` when
    /// nothing matches; an error when a short ID is ambiguous.
    /// A name that points at an index is its entry for the host's platform (see
    /// [`ImageStore::resolve_platform`]).
    pub fn resolve(&self, name: &str) -> Result<Option<ImageRecord>> {
        let idx = tags::read_index(self.root())?;
        if super::index::index_named(&idx, name).is_some() {
            return self.resolve_platform(name, None);
        }
        match self.find_manifests(&idx, name)? {
            Found::Ref(_, m) => self.record(&idx, &m).map(Some),
            Found::Ids(ms) => match ms.first() {
                Some(m) => self.record(&idx, m).map(Some),
                None => Ok(None),
            },
        }
    }

    /// Like [`ImageStore::resolve`] but "No such image" when nothing matches.
    pub fn get(&self, name: &str) -> Result<ImageRecord> {
        self.resolve(name)?
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    pub(super) fn record(&self, idx: &TagIndex, manifest_digest: &str) -> Result<ImageRecord> {
        let (manifest, config) = self.image(manifest_digest)?;
        let layer_sizes = self.layer_sizes(&manifest, &config);
        Ok(ImageRecord {
            layer_sizes,
            manifest_digest: manifest_digest.to_string(),
            id: manifest.config.digest.to_string(),
            manifest,
            config,
            tags: parse_refs(&idx.refs_of(manifest_digest)),
            repo_digests: parse_refs(&idx.repo_digests_of(manifest_digest)),
        })
    }

    /// What `name` designates in `idx`.
    pub(super) fn find_manifests(&self, idx: &TagIndex, name: &str) -> Result<Found> {
        // A full digest: a manifest digest or an image ID.
        let full = name
            .strip_prefix("sha256:")
            .filter(|h| is_hex64(h))
            .or(Some(name).filter(|h| is_hex64(h)));
        if let Some(hex) = full {
            let d = format!("sha256:{hex}");
            if idx.images.contains_key(&d) || idx.indexes.contains_key(&d) {
                return Ok(Found::Ids(vec![d]));
            }
            return self.by_id_prefix(idx, hex, name);
        }
        if let Ok(r) = Reference::parse(name) {
            if let Some(m) = idx.refs.get(&r.to_string()) {
                return Ok(Found::Ref(r, m.clone()));
            }
            if let Some(d) = &r.digest {
                if idx.images.contains_key(d.as_str()) {
                    return Ok(Found::Ids(vec![d.to_string()]));
                }
                // `repo@digest` as a registry serves it (an index's digest, say).
                let canonical = format!("{}@{d}", r.name());
                if let Some((m, _)) = idx
                    .images
                    .iter()
                    .find(|(_, e)| e.repo_digests.contains(&canonical))
                {
                    return Ok(Found::Ids(vec![m.clone()]));
                }
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= MIN_SHORT_ID && is_lower_hex(hex) {
            return self.by_id_prefix(idx, hex, name);
        }
        Ok(Found::Ids(Vec::new()))
    }

    /// Manifests whose config digest starts with `sha256:<prefix>`; all share one image ID.
    fn by_id_prefix(&self, idx: &TagIndex, prefix: &str, name: &str) -> Result<Found> {
        let want = format!("sha256:{prefix}");
        let mut matches: Vec<(String, String)> = Vec::new();
        for m in idx.images.keys() {
            // The image ID is in the manifest: a missing config does not hide the image, and an
            // unreadable manifest (no known ID) never breaks resolving the others.
            let Ok(manifest) = self.manifest(m) else {
                continue;
            };
            if manifest.config.digest.starts_with(&want) {
                matches.push((manifest.config.digest.to_string(), m.clone()));
            }
        }
        let mut ids: Vec<String> = matches.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        if ids.len() > 1 {
            return Err(StoreError::Ambiguous {
                prefix: name.to_string(),
                matches: ids,
            });
        }
        Ok(Found::Ids(matches.into_iter().map(|(_, m)| m).collect()))
    }
}

/// The result of looking a name up.
pub(super) enum Found {
    /// A tag: the reference and its manifest.
    Ref(Reference, String),
    /// Manifests found by ID or digest (empty: nothing).
    Ids(Vec<String>),
}
