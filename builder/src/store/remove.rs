//! `rmi` semantics and garbage collection of blobs no image references.

use std::collections::BTreeSet;

use super::error::{Result, StoreError};
use super::resolve::Found;
use super::tags::{self, TagIndex};
use super::ImageStore;
use oci::Reference;

/// A container's use of an image, which `rmi` must respect (docker's "conflict" errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// The manifest digest of the image the container was made from.
    pub manifest: String,
    /// The container's ID.
    pub container: String,
    /// Is the container running? (Then even `-f` keeps the image.)
    pub running: bool,
}

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
        self.remove_with(name, force, None, &[])
    }

    /// [`ImageStore::remove`] that respects the containers made from an image, as docker:
    /// without `force` an image a container uses is not deleted (nor its last tag removed);
    /// with `force` a stopped container's image is deleted, a running one's only untagged
    /// (and refused by ID).
    pub fn remove_unused(
        &self,
        name: &str,
        force: bool,
        users: &[ImageUser],
    ) -> Result<Vec<String>> {
        self.remove_with(name, force, None, users)
    }

    /// [`ImageStore::remove`] for a caller that holds the collector's lock and has read what
    /// live processes hold (`system check --repair`).
    pub fn remove_collecting(
        &self,
        name: &str,
        force: bool,
        held: &kiln_snapshot::Held,
    ) -> Result<Vec<String>> {
        self.remove_with(name, force, Some(held), &[])
    }

    fn remove_with(
        &self,
        name: &str,
        force: bool,
        held: Option<&kiln_snapshot::Held>,
        users: &[ImageUser],
    ) -> Result<Vec<String>> {
        self.collecting(held, |held| self.remove_in_index(name, force, held, users))
    }

    fn remove_in_index(
        &self,
        name: &str,
        force: bool,
        held: Option<&kiln_snapshot::Held>,
        users: &[ImageUser],
    ) -> Result<Vec<String>> {
        tags::update_index(self.root(), |idx| {
            let mut lines = Vec::new();
            let user_of = |m: &str| users.iter().find(|u| u.manifest == m);
            let doomed: Vec<String> = match self.find_manifests(idx, name)? {
                Found::Ref(r, m) => {
                    let last = idx.refs_of(&m).len() <= 1;
                    let user = user_of(&m).filter(|_| last);
                    if let Some(u) = user.filter(|_| !force) {
                        return Err(StoreError::Conflict(format!(
                            "unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                            short_id(&u.container),
                            short_id(&self.image_id(&m))
                        )));
                    }
                    idx.refs.remove(&r.to_string());
                    lines.push(format!("Untagged: {}", r.familiar_string()));
                    if idx.refs_of(&m).is_empty() && !user.is_some_and(|u| u.running) {
                        vec![m]
                    } else {
                        Vec::new()
                    }
                }
                Found::Ids(ms) if ms.is_empty() => {
                    return Err(StoreError::NotFound(name.to_string()))
                }
                Found::Ids(ms) => {
                    // One platform of an index goes with the index, not alone.
                    let children = idx.index_children();
                    if let Some(m) = ms.iter().find(|m| children.contains(m.as_str())) {
                        let of = idx
                            .indexes
                            .iter()
                            .find(|(_, e)| e.manifests.contains(m))
                            .map(|(d, _)| short_id(d))
                            .unwrap_or_default();
                        return Err(StoreError::Conflict(format!(
                            "unable to delete {} (cannot be forced) - image is one platform of the multi-platform image {of}: remove that instead",
                            short_id(&self.image_id(m))
                        )));
                    }
                    for m in &ms {
                        let Some(u) = user_of(m) else { continue };
                        let (why, state) = if u.running {
                            ("cannot be forced", "running")
                        } else if !force {
                            ("must be forced", "stopped")
                        } else {
                            continue;
                        };
                        return Err(StoreError::Conflict(format!(
                            "unable to delete {} ({why}) - image is being used by {state} container {}",
                            short_id(&self.image_id(m)),
                            short_id(&u.container)
                        )));
                    }
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
            // An index goes with the images only it kept (a container's image stays).
            let direct: BTreeSet<String> = doomed.iter().cloned().collect();
            let doomed: Vec<String> =
                super::index::expand_doomed_indexes(idx, doomed, &mut candidates, &mut ids)
                    .into_iter()
                    .filter(|m| direct.contains(m) || user_of(m).is_none())
                    .collect();
            for m in &doomed {
                // A broken image (its config or manifest gone) is removed all the same.
                let id = self
                    .manifest(m)
                    .map(|mf| mf.config.digest.to_string())
                    .unwrap_or_else(|_| m.clone());
                ids.insert(id);
                candidates.extend(self.image_blobs(m));
                idx.images.remove(m);
            }
            let keep = self.referenced_blobs(idx)?;
            self.delete_unheld(candidates.difference(&keep), held)?;
            lines.extend(ids.into_iter().map(|id| format!("Deleted: {id}")));
            Ok(lines)
        })
    }

    /// Run `f` under the collector's lock with what live processes hold (read once the lock is
    /// taken), unless the caller already holds it (`held` given) or this handle has no lease
    /// (then nothing is known to be held). The collector's lock is always taken before the
    /// index lock, by every process, so the two never deadlock.
    fn collecting<T>(
        &self,
        held: Option<&kiln_snapshot::Held>,
        f: impl FnOnce(Option<&kiln_snapshot::Held>) -> Result<T>,
    ) -> Result<T> {
        let leases = self.content().lease().map(|l| l.leases().clone());
        match (held, leases) {
            (None, Some(l)) => {
                let lock = l
                    .lock_gc()
                    .map_err(StoreError::content("locking the store for collection"))?;
                let held = l
                    .held(&lock)
                    .map_err(StoreError::content("reading leases"))?;
                f(Some(&held))
            }
            (held, _) => f(held),
        }
    }

    /// Delete `blobs`, except those a live process holds (a build exporting over them, a load
    /// registering them): `kiln prune` collects those once they are released.
    fn delete_unheld<'a>(
        &self,
        blobs: impl Iterator<Item = &'a String>,
        held: Option<&kiln_snapshot::Held>,
    ) -> Result<()> {
        for d in blobs {
            if held.is_some_and(|h| h.blobs.contains(d)) {
                continue;
            }
            if self.content().has(d) {
                self.content()
                    .delete(d)
                    .map_err(StoreError::content(format!("deleting blob {d}")))?;
            }
        }
        Ok(())
    }

    /// Delete every blob of the content store that no image references and no live process
    /// holds; returns the deleted digests. Blobs written through a handle without a lease are
    /// not protected: `kiln prune` is the collector to use while kiln runs.
    pub fn gc(&self) -> Result<Vec<String>> {
        self.collecting(None, |held| self.gc_in_index(held))
    }

    fn gc_in_index(&self, held: Option<&kiln_snapshot::Held>) -> Result<Vec<String>> {
        tags::with_lock(self.root(), || {
            let idx = tags::read_index(self.root())?;
            let keep = self.referenced_blobs(&idx)?;
            let all = self
                .content()
                .list()
                .map_err(StoreError::content("listing blobs"))?;
            let doomed: Vec<String> = all
                .into_iter()
                .map(|(d, _)| d.to_string())
                .filter(|d| !keep.contains(d))
                .collect();
            self.delete_unheld(doomed.iter(), held)?;
            Ok(doomed
                .into_iter()
                .filter(|d| !self.content().has(d))
                .collect())
        })
    }

    /// Every blob (manifest, config, layers) of the images in `idx`, as far as their manifests
    /// can be read: an image whose manifest is gone keeps only its manifest digest (nothing
    /// else can be attributed to it), one whose config is gone keeps its layers.
    pub fn referenced_blobs(&self, idx: &TagIndex) -> Result<BTreeSet<String>> {
        Ok(idx
            .images
            .keys()
            .flat_map(|m| self.image_blobs(m))
            .chain(idx.indexes.keys().cloned())
            .collect())
    }
}

impl ImageStore {
    /// The image ID (config digest) of manifest `m`, or `m` when its manifest is unreadable.
    fn image_id(&self, m: &str) -> String {
        self.manifest(m)
            .map(|mf| mf.config.digest.to_string())
            .unwrap_or_else(|_| m.to_string())
    }
}

/// Docker's 12-hex short form of an ID, or the name as given.
fn short_id(name: &str) -> String {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    hex.chars().take(12).collect()
}
