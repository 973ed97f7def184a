//! Image indexes in the local store: one name for the images of several platforms.
//!
//! An index is a blob of the content store (an OCI image index whose entries carry their
//! platforms), recorded in the tag index's `indexes` beside the images it lists; those images
//! are ordinary images of the store (`images`), kept for as long as an index lists them. A tag
//! may point at an image or at an index; resolving a name that points at an index picks the
//! entry for the platform asked for (the host's by default), as docker's containerd store does.

use std::collections::BTreeSet;

use super::digest::{to_digest, validate_digest};
use super::error::{Result, StoreError};
use super::tags::{self, IndexEntry, TagIndex};
use super::{parse_refs, ImageRecord, ImageStore, ImageSummary};
use oci::{Descriptor, Index, Platform, Reference};

/// An index of the store, read.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRecord {
    /// Digest of the index blob.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// The index.
    pub index: Index,
    /// References tagging it, sorted.
    pub tags: Vec<Reference>,
    /// `repository@digest` names of it in registries, sorted.
    pub repo_digests: Vec<Reference>,
}

impl IndexRecord {
    /// The platforms of its entries, in order (an entry without one is `unknown/unknown`).
    pub fn platforms(&self) -> Vec<Platform> {
        self.index
            .manifests
            .iter()
            .map(|d| {
                d.platform
                    .clone()
                    .unwrap_or_else(|| Platform::new("unknown", "unknown", None))
            })
            .collect()
    }

    /// The entry for `want` (best match), or an error listing what there is.
    pub fn entry_for(&self, want: &Platform) -> Result<&Descriptor> {
        let platforms = self.platforms();
        Platform::best_match(&platforms, want)
            .map(|i| &self.index.manifests[i])
            .ok_or_else(|| StoreError::NoPlatform {
                platform: want.to_string(),
                what: format!("image index {}", self.digest),
                available: platforms
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// What a name designates: one image, or an index of several.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An image.
    Image(Box<ImageRecord>),
    /// An index.
    Index(IndexRecord),
}

impl ImageStore {
    /// Write an OCI index over `entries` (image manifests of the store with their platforms),
    /// register it with its images in one atomic index update, and return its digest. Nothing
    /// changes if an image is incomplete.
    pub fn put_index(&self, entries: &[(String, Platform)]) -> Result<String> {
        let digest = self.write_index_blob(entries)?;
        self.add_index(&digest, None)?;
        Ok(digest)
    }

    /// Write (without registering) the OCI index over `entries`, canonically; its digest.
    fn write_index_blob(&self, entries: &[(String, Platform)]) -> Result<String> {
        let mut manifests = Vec::with_capacity(entries.len());
        for (m, platform) in entries {
            validate_digest(m)?;
            let size = self
                .content()
                .size(m)
                .map_err(StoreError::content(format!("size of manifest {m}")))?;
            let mut d = Descriptor::new(oci::media::OCI_MANIFEST, to_digest(m)?, size);
            d.platform = Some(platform.clone());
            manifests.push(d);
        }
        let index = Index {
            schema_version: 2,
            media_type: Some(oci::media::OCI_INDEX.to_string()),
            manifests,
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&index).map_err(StoreError::json("image index"))?;
        let (digest, _) = self
            .content()
            .write_bytes(&bytes)
            .map_err(StoreError::content("writing image index"))?;
        Ok(digest.to_string())
    }

    /// Register the index `digest` (its blob and every image it lists in the content store),
    /// recording `repo_digest` (what a registry serves it as) when given.
    pub fn add_index(&self, digest: &str, repo_digest: Option<&Reference>) -> Result<()> {
        validate_digest(digest)?;
        tags::update_index(self.root(), |idx| {
            let index = self.read_index_blob(digest)?;
            let mut children = Vec::new();
            for d in &index.manifests {
                let m = d.digest.to_string();
                // Checked under the lock so a concurrent `rmi` cannot have collected a blob.
                self.check_complete(&m)?;
                idx.add_image(&m);
                children.push(m);
            }
            let entry = idx
                .indexes
                .entry(digest.to_string())
                .or_insert_with(|| IndexEntry {
                    added: chrono::Utc::now().to_rfc3339(),
                    manifests: Vec::new(),
                    repo_digests: Vec::new(),
                });
            entry.manifests = children;
            if let Some(rd) = repo_digest {
                tags::set_repo_digest(&mut entry.repo_digests, rd);
            }
            Ok(())
        })
    }

    /// The index blob `digest`, which must be an image index.
    pub fn read_index_blob(&self, digest: &str) -> Result<Index> {
        let index: Index = self.read_json_blob(digest, "image index")?;
        if !oci::media::is_index(index.media_type()) {
            return Err(StoreError::UnsupportedMediaType {
                media_type: index.media_type().to_string(),
                what: format!("image index {digest}"),
            });
        }
        Ok(index)
    }

    /// What `name` designates: an image (a name pointing at an index, resolved for no
    /// particular platform, is the index). `Ok(None)` when nothing matches.
    pub fn lookup(&self, name: &str) -> Result<Option<Target>> {
        let idx = tags::read_index(self.root())?;
        if let Some(d) = index_named(&idx, name) {
            return self.index_record(&idx, &d).map(|r| Some(Target::Index(r)));
        }
        Ok(self.resolve(name)?.map(|r| Target::Image(Box::new(r))))
    }

    /// Resolve `name` for `platform`: a name pointing at an index is its entry for the
    /// platform (an error naming the platforms it has when it has none); a plain image must
    /// be for that platform when one is asked for. `None` asks for the host's platform, and
    /// takes an index's first entry when it has none for the host.
    pub fn resolve_platform(
        &self,
        name: &str,
        platform: Option<&Platform>,
    ) -> Result<Option<ImageRecord>> {
        let idx = tags::read_index(self.root())?;
        if let Some(d) = index_named(&idx, name) {
            let rec = self.index_record(&idx, &d)?;
            let entry = match platform {
                Some(p) => rec.entry_for(p)?,
                None => rec
                    .entry_for(&Platform::host())
                    .ok()
                    .or(rec.index.manifests.first())
                    .ok_or_else(|| StoreError::InvalidImage(format!("image index {d} is empty")))?,
            };
            let m = entry.digest.to_string();
            let mut record = self.record(&idx, &m)?;
            // The entry answers to the index's names.
            record.tags = rec.tags.clone();
            record.repo_digests = rec.repo_digests.clone();
            return Ok(Some(record));
        }
        let Some(record) = self.resolve(name)? else {
            return Ok(None);
        };
        if let Some(want) = platform {
            let c = &record.config;
            let have = Platform::new(&c.os, &c.architecture, c.variant.as_deref());
            if !c.os.is_empty() && !have.satisfies(want) {
                return Err(StoreError::NoPlatform {
                    platform: want.to_string(),
                    what: format!("image {name:?}"),
                    available: have.to_string(),
                });
            }
        }
        Ok(Some(record))
    }

    fn index_record(&self, idx: &TagIndex, digest: &str) -> Result<IndexRecord> {
        let index = self.read_index_blob(digest)?;
        let size = self
            .content()
            .size(digest)
            .map_err(StoreError::content(format!("size of {digest}")))?;
        Ok(IndexRecord {
            digest: digest.to_string(),
            size,
            index,
            tags: parse_refs(&idx.refs_of(digest)),
            repo_digests: parse_refs(
                &idx.indexes
                    .get(digest)
                    .map(|e| e.repo_digests.clone())
                    .unwrap_or_default(),
            ),
        })
    }

    /// The lines of `kiln images` for the indexes of `idx`, each with its platforms.
    pub(super) fn index_summaries(&self, idx: &TagIndex) -> Vec<ImageSummary> {
        let mut out = Vec::new();
        for d in idx.indexes.keys() {
            let tags = parse_refs(&idx.refs_of(d));
            let mut s = ImageSummary {
                id: d.clone(),
                tags,
                manifest_digest: d.clone(),
                created: None,
                size: 0,
                broken: None,
                platforms: Vec::new(),
            };
            match self.index_record(idx, d) {
                Ok(rec) => {
                    for (entry, platform) in rec.index.manifests.iter().zip(rec.platforms()) {
                        let m = entry.digest.to_string();
                        match self.image(&m) {
                            Ok((manifest, config)) => {
                                let size = manifest.blobs().map(|b| b.size).sum();
                                s.size += size;
                                s.created = s.created.max(config.created.clone());
                                s.platforms.push(super::PlatformSummary {
                                    platform,
                                    manifest_digest: m,
                                    id: manifest.config.digest.to_string(),
                                    size,
                                });
                            }
                            Err(e) => s.broken = Some(e.to_string()),
                        }
                    }
                }
                Err(e) => s.broken = Some(e.to_string()),
            }
            out.push(s);
        }
        out
    }
}

/// The index `name` designates in `idx`: a tag pointing at one, or its digest.
pub(super) fn index_named(idx: &TagIndex, name: &str) -> Option<String> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if super::digest::is_hex64(hex) {
        let d = format!("sha256:{hex}");
        return idx.indexes.contains_key(&d).then_some(d);
    }
    let r = Reference::parse(name).ok()?;
    if let Some(d) = idx.refs.get(&r.to_string()) {
        return idx.indexes.contains_key(d).then(|| d.clone());
    }
    let d = r.digest.as_ref()?.to_string();
    if idx.indexes.contains_key(&d) {
        return Some(d);
    }
    let canonical = format!("{}@{d}", r.name());
    idx.indexes
        .iter()
        .find(|(_, e)| e.repo_digests.contains(&canonical))
        .map(|(d, _)| d.clone())
}

impl TagIndex {
    /// Images some index lists.
    pub fn index_children(&self) -> BTreeSet<&str> {
        self.indexes
            .values()
            .flat_map(|e| e.manifests.iter().map(String::as_str))
            .collect()
    }
}

/// Remove the indexes among `doomed` from `idx` and put in their place the images they list
/// that nothing else keeps (no tag, no other index); the index blobs join `blobs`.
/// Their digests join `deleted`.
pub(super) fn expand_doomed_indexes(
    idx: &mut TagIndex,
    doomed: Vec<String>,
    blobs: &mut BTreeSet<String>,
    deleted: &mut BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for d in doomed {
        let Some(entry) = idx.indexes.remove(&d) else {
            out.push(d);
            continue;
        };
        blobs.insert(d.clone());
        deleted.insert(d);
        for m in entry.manifests {
            let kept = !idx.refs_of(&m).is_empty() || idx.index_children().contains(m.as_str());
            if !kept && !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

impl ImageStore {
    /// Register a pulled image (like [`ImageStore::add_pulled`]) keeping the other platforms a
    /// tag already names: when `tag` points at an image of another platform, or at an index,
    /// it is pointed at an index of those images and this one (this one replacing an entry of
    /// its platform). One atomic index update.
    pub fn add_pulled_platform(
        &self,
        manifest_digest: &str,
        tags: &[Reference],
        repo_digest: Option<&Reference>,
    ) -> Result<()> {
        validate_digest(manifest_digest)?;
        let (_, config) = self.image(manifest_digest)?;
        let platform =
            Platform::new(&config.os, &config.architecture, config.variant.as_deref()).normalized();
        tags::update_index(self.root(), |idx| {
            self.check_complete(manifest_digest)?;
            idx.add_image(manifest_digest);
            for r in tags {
                let target = match idx.refs.get(&r.to_string()).cloned() {
                    Some(old) if old != manifest_digest => {
                        self.merged(idx, &old, manifest_digest, &platform)?
                    }
                    _ => manifest_digest.to_string(),
                };
                let before = idx.refs.insert(r.to_string(), target);
                // An index this replaced that nothing names any more goes (its images stay
                // in the new one, or dangle as a replaced pull's do).
                if let Some(b) = before.filter(|b| idx.indexes.contains_key(b)) {
                    if idx.refs_of(&b).is_empty() {
                        idx.indexes.remove(&b);
                    }
                }
            }
            if let Some(rd) = repo_digest {
                let entry = idx
                    .images
                    .get_mut(manifest_digest)
                    .expect("added just above");
                tags::set_repo_digest(&mut entry.repo_digests, rd);
            }
            Ok(())
        })
    }

    /// What a tag pointing at `old` points at once the image `new` (for `platform`) joins it:
    /// `new` alone when `old` is of the same platform (or unreadable), else a new index of
    /// `old`'s other platforms and `new`, written and registered in `idx`.
    fn merged(
        &self,
        idx: &mut TagIndex,
        old: &str,
        new: &str,
        platform: &Platform,
    ) -> Result<String> {
        let mut entries: Vec<(String, Platform)> = Vec::new();
        if idx.indexes.contains_key(old) {
            let index = self.read_index_blob(old)?;
            for d in index.manifests {
                if let Some(p) = d.platform {
                    entries.push((d.digest.to_string(), p.normalized()));
                }
            }
        } else if let Ok((_, c)) = self.image(old) {
            if c.os.is_empty() {
                return Ok(new.to_string());
            }
            let p = Platform::new(&c.os, &c.architecture, c.variant.as_deref()).normalized();
            entries.push((old.to_string(), p));
        }
        entries.retain(|(m, p)| p != platform && m != new);
        if entries.is_empty() {
            return Ok(new.to_string());
        }
        entries.push((new.to_string(), platform.clone()));
        let digest = self.write_index_blob(&entries)?;
        idx.indexes
            .entry(digest.clone())
            .or_insert_with(|| IndexEntry {
                added: chrono::Utc::now().to_rfc3339(),
                manifests: entries.iter().map(|(m, _)| m.clone()).collect(),
                repo_digests: Vec::new(),
            });
        Ok(digest)
    }
}
