//! `rmi` semantics and garbage collection of blobs no image references.

use std::collections::BTreeSet;

use super::error::{Result, StoreError};
use super::reference::Reference;
use super::resolve::Found;
use super::tags::{self, TagIndex};
use super::ImageStore;

impl ImageStore {
    /// Remove an image or a tag like `docker rmi`, returning the lines docker prints
    /// (`Untagged: busybox:latest`, `Deleted: sha256:…`).
    ///
    /// - A tag is untagged; the image is deleted when that was its last tag.
    /// - An ID (or manifest digest) untags every tag and deletes the image, but refuses when
    ///   the tags span several repositories unless `force`.
    ///
    /// Blobs of deleted images that no remaining image references are deleted.
    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<String>> {
        tags::update_index(self.root(), |idx| {
            let mut lines = Vec::new();
            let doomed: Vec<String> = match self.find_manifests(idx, name)? {
                Found::Ref(r, m) => {
                    idx.refs.remove(&r.to_string());
                    lines.push(format!("Untagged: {}", r.familiar_string()));
                    if idx.refs_of(&m).is_empty() {
                        vec![m]
                    } else {
                        Vec::new()
                    }
                }
                Found::Ids(ms) if ms.is_empty() => {
                    return Err(StoreError::NotFound(name.to_string()))
                }
                Found::Ids(ms) => {
                    let refs: Vec<String> = ms.iter().flat_map(|m| idx.refs_of(m)).collect();
                    let parsed: Vec<Reference> = refs
                        .iter()
                        .filter_map(|r| Reference::parse(r).ok())
                        .collect();
                    let repos: BTreeSet<String> = parsed.iter().map(|r| r.name()).collect();
                    if repos.len() > 1 && !force {
                        return Err(StoreError::Conflict(format!(
                            "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            short_id(name)
                        )));
                    }
                    for (r, p) in refs.iter().zip(parsed.iter()) {
                        idx.refs.remove(r);
                        lines.push(format!("Untagged: {}", p.familiar_string()));
                    }
                    ms
                }
            };
            if doomed.is_empty() {
                return Ok(lines);
            }
            let mut ids = BTreeSet::new();
            let mut candidates = BTreeSet::new();
            for m in &doomed {
                let (manifest, _) = self.image(m)?;
                ids.insert(manifest.config.digest.clone());
                candidates.insert(m.clone());
                candidates.extend(manifest.blobs().map(|d| d.digest.clone()));
                idx.images.remove(m);
            }
            let keep = self.referenced_blobs(idx)?;
            for d in candidates.difference(&keep) {
                if self.content().has(d) {
                    self.content()
                        .delete(d)
                        .map_err(StoreError::content(format!("deleting blob {d}")))?;
                }
            }
            lines.extend(ids.into_iter().map(|id| format!("Deleted: {id}")));
            Ok(lines)
        })
    }

    /// Delete every blob of the content store that no image references; returns the deleted
    /// digests. Blobs written for an image not yet registered (an export in progress, the
    /// layer cache) are deleted too, so run it only when nothing else uses the store.
    pub fn gc(&self) -> Result<Vec<String>> {
        tags::with_lock(self.root(), || {
            let idx = tags::read_index(self.root())?;
            let keep = self.referenced_blobs(&idx)?;
            let mut deleted = Vec::new();
            let all = self
                .content()
                .list()
                .map_err(StoreError::content("listing blobs"))?;
            for (d, _) in all {
                if !keep.contains(&d) {
                    self.content()
                        .delete(&d)
                        .map_err(StoreError::content(format!("deleting blob {d}")))?;
                    deleted.push(d);
                }
            }
            Ok(deleted)
        })
    }

    /// Every blob (manifest, config, layers) of the images in `idx`. Fails rather than
    /// guessing when a manifest cannot be read, so GC never deletes what it cannot account for.
    fn referenced_blobs(&self, idx: &TagIndex) -> Result<BTreeSet<String>> {
        let mut keep = BTreeSet::new();
        for m in idx.images.keys() {
            let (manifest, _) = self.image(m)?;
            keep.insert(m.clone());
            keep.extend(manifest.blobs().map(|d| d.digest.clone()));
        }
        Ok(keep)
    }
}

/// Docker's 12-hex short form of an ID, or the name as given.
fn short_id(name: &str) -> String {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    hex.chars().take(12).collect()
}
