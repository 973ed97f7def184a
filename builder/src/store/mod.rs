//! The local image store, rooted at ROOT:
//!
//! - `ROOT/content/`: the content store (manifest, config and layer blobs by digest);
//! - `ROOT/repositories.json`: the tag index (canonical reference → manifest digest, and the
//!   set of images kept, tagged or dangling), replaced atomically under `ROOT/store.lock`.
//!
//! An image is identified by its manifest digest; its docker "image ID" is the config digest.

pub mod digest;
pub mod dirtar;
pub mod docker_archive;
pub mod error;
mod index;
pub mod layer;
pub use index::{IndexRecord, Target};
mod put;
pub use put::manifest_bytes;
mod remove;
pub use remove::ImageUser;
mod resolve;
pub mod scan;
pub mod tags;

use std::path::{Path, PathBuf};

use kiln_frontend::image::ImageConfig;
use kiln_snapshot::ContentStore;
use serde::de::DeserializeOwned;

pub use error::{Result, StoreError};
pub use oci::{Descriptor, Index, Manifest};
pub use oci::{Reference, ReferenceError};

/// Largest manifest, index or config we read into memory.
pub const MAX_JSON_BLOB: u64 = 8 << 20;

/// One layer of an image being assembled by [`ImageStore::put_image`]. The blob must already
/// be in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// Layer media type, e.g. [`oci::media::OCI_LAYER_GZIP`].
    pub media_type: String,
    /// Digest of the (compressed) blob.
    pub digest: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
}

impl From<kiln_snapshot::LayerInfo> for LayerDesc {
    fn from(l: kiln_snapshot::LayerInfo) -> Self {
        LayerDesc {
            media_type: l.media_type,
            digest: l.digest.to_string(),
            size: l.size,
            diff_id: l.diff_id.to_string(),
        }
    }
}

/// A resolved image: manifest, config and the references that point at it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// Digest of the manifest blob.
    pub manifest_digest: String,
    /// The image ID (config digest).
    pub id: String,
    /// The manifest.
    pub manifest: Manifest,
    /// The image config.
    pub config: ImageConfig,
    /// References tagging this image, sorted.
    pub tags: Vec<Reference>,
    /// `repository@digest` of the registries it came from or went to (docker's
    /// `RepoDigests`), sorted.
    pub repo_digests: Vec<Reference>,
    /// Uncompressed size of each layer (see [`ImageStore::layer_sizes`]).
    pub layer_sizes: Vec<u64>,
}

/// One line of `kiln images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The image ID (config digest).
    pub id: String,
    /// References tagging this image, sorted.
    pub tags: Vec<Reference>,
    /// Digest of the manifest blob.
    pub manifest_digest: String,
    /// The config's `created` timestamp.
    pub created: Option<String>,
    /// Uncompressed bytes of its layers, as docker counts an image's size (see
    /// [`ImageStore::layer_sizes`]).
    pub size: u64,
    /// Why the image cannot be used (a blob it needs is missing or unreadable), if so.
    pub broken: Option<String>,
    /// Its platform's image, or for an index (`id` and `manifest_digest` are then the
    /// index's digest) each of its images.
    pub platforms: Vec<PlatformSummary>,
}

/// One platform's image of an index, as `kiln images` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSummary {
    /// Its platform.
    pub platform: oci::Platform,
    /// Its manifest digest.
    pub manifest_digest: String,
    /// Its image ID (config digest).
    pub id: String,
    /// Bytes of config plus layers.
    pub size: u64,
}

/// The local image store.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
}

impl ImageStore {
    /// Open (creating if needed) the store rooted at `root`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        std::fs::create_dir_all(root).map_err(StoreError::io("creating store directory", root))?;
        let content_root = root.join("content");
        let content = ContentStore::open(&content_root).map_err(StoreError::content(format!(
            "opening {}",
            content_root.display()
        )))?;
        Ok(ImageStore {
            root: root.to_path_buf(),
            content,
        })
    }

    /// The same store, attaching the blobs it writes to `lease` (see
    /// [`kiln_snapshot::ContentStore::with_lease`]).
    pub fn with_lease(&self, lease: &kiln_snapshot::Lease) -> ImageStore {
        ImageStore {
            root: self.root.clone(),
            content: self.content.with_lease(lease),
        }
    }

    /// The same store without a lease (collectors and reports).
    pub fn unleased(&self) -> ImageStore {
        ImageStore {
            root: self.root.clone(),
            content: self.content.unleased(),
        }
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store holding the blobs.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// A directory for temporary files on the store's file system.
    pub fn tmp_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir).map_err(StoreError::io("creating", &dir))?;
        Ok(dir)
    }

    /// Read a JSON blob (manifest, index, config) of at most [`MAX_JSON_BLOB`] bytes.
    pub fn read_json_blob<T: DeserializeOwned>(&self, digest: &str, what: &str) -> Result<T> {
        let bytes = self.read_small_blob(digest, what)?;
        serde_json::from_slice(&bytes).map_err(StoreError::json(format!("{what} {digest}")))
    }

    /// Read a blob of at most [`MAX_JSON_BLOB`] bytes.
    pub fn read_small_blob(&self, digest: &str, what: &str) -> Result<Vec<u8>> {
        digest::validate_digest(digest)?;
        if !self.content.has(digest) {
            return Err(StoreError::MissingBlob {
                digest: digest.to_string(),
                what: what.to_string(),
            });
        }
        let size = self
            .content
            .size(digest)
            .map_err(StoreError::content(format!("size of {digest}")))?;
        if size > MAX_JSON_BLOB {
            return Err(StoreError::TooLarge {
                what: format!("{what} {digest}"),
                size,
                limit: MAX_JSON_BLOB,
            });
        }
        self.content
            .read(digest)
            .map_err(StoreError::content(format!("reading {what} {digest}")))
    }

    /// The manifest and config of the image whose manifest is `manifest_digest`.
    pub fn image(&self, manifest_digest: &str) -> Result<(Manifest, ImageConfig)> {
        let manifest: Manifest = self.read_json_blob(manifest_digest, "manifest")?;
        if !oci::media::is_manifest(manifest.media_type()) {
            return Err(StoreError::UnsupportedMediaType {
                media_type: manifest.media_type().to_string(),
                what: format!("image manifest {manifest_digest}"),
            });
        }
        let cmt = manifest.config.media_type.as_str();
        if cmt != oci::media::OCI_CONFIG && cmt != oci::media::DOCKER_CONFIG {
            return Err(StoreError::UnsupportedMediaType {
                media_type: cmt.to_string(),
                what: format!("config of manifest {manifest_digest}"),
            });
        }
        let config: ImageConfig = self.read_json_blob(&manifest.config.digest, "image config")?;
        Ok((manifest, config))
    }

    /// Point `reference` at the image `manifest_digest` (which must be in the content store).
    pub fn tag(&self, reference: &Reference, manifest_digest: &str) -> Result<()> {
        digest::validate_digest(manifest_digest)?;
        if let Some(d) = &reference.digest {
            if d != manifest_digest {
                return Err(StoreError::InvalidImage(format!(
                    "reference {reference} names digest {d}, not the manifest {manifest_digest}"
                )));
            }
        }
        tags::update_index(&self.root, |idx| {
            let known = idx.images.contains_key(manifest_digest)
                || idx.indexes.contains_key(manifest_digest);
            if !known {
                self.check_complete(manifest_digest)?;
                idx.add_image(manifest_digest);
            }
            idx.refs
                .insert(reference.to_string(), manifest_digest.to_string());
            Ok(())
        })
    }

    /// Remove the tag `reference`; `false` when it did not exist. The image stays (dangling
    /// if this was its last tag); see [`ImageStore::remove`] for `rmi`.
    pub fn untag(&self, reference: &Reference) -> Result<bool> {
        tags::update_index(&self.root, |idx| {
            Ok(idx.refs.remove(&reference.to_string()).is_some())
        })
    }

    /// Check that the manifest and every blob it references are present.
    pub(crate) fn check_complete(&self, manifest_digest: &str) -> Result<Manifest> {
        let (manifest, _) = self.image(manifest_digest)?;
        for d in manifest.layers.iter() {
            if !self.content.has(&d.digest) {
                return Err(StoreError::MissingBlob {
                    digest: d.digest.to_string(),
                    what: format!("layer of manifest {manifest_digest}"),
                });
            }
        }
        Ok(manifest)
    }

    /// Every image in the store with its tags, newest first. A broken image (a blob missing
    /// or unreadable) is listed with [`ImageSummary::broken`] set and whatever could be read;
    /// it never hides the others.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let idx = tags::read_index(&self.root)?;
        let mut out = self.index_summaries(&idx);
        let children = idx.index_children();
        for m in idx.images.keys() {
            let tags = parse_refs(&idx.refs_of(m));
            // An index's image is listed with it, unless it has a name of its own.
            if tags.is_empty() && children.contains(m.as_str()) {
                continue;
            }
            let found = self.image(m).and_then(|(manifest, config)| {
                match manifest
                    .layers
                    .iter()
                    .find(|l| !self.content.has(&l.digest))
                {
                    Some(l) => Err(StoreError::MissingBlob {
                        digest: l.digest.to_string(),
                        what: format!("layer of manifest {m}"),
                    }),
                    None => Ok((manifest, config)),
                }
            });
            let summary = match found {
                Ok((manifest, config)) => ImageSummary {
                    id: manifest.config.digest.to_string(),
                    tags,
                    manifest_digest: m.clone(),
                    created: config.created.clone(),
                    size: self.layer_sizes(&manifest, &config).iter().sum(),
                    broken: None,
                    platforms: vec![PlatformSummary {
                        platform: oci::Platform::new(
                            &config.os,
                            &config.architecture,
                            config.variant.as_deref(),
                        ),
                        manifest_digest: m.clone(),
                        id: manifest.config.digest.to_string(),
                        size: manifest.blobs().map(|d| d.size).sum(),
                    }],
                },
                Err(e) => {
                    let manifest = self.manifest(m).ok();
                    ImageSummary {
                        // Without a readable manifest the image ID is unknown: the manifest
                        // digest stands in (`rmi` accepts it).
                        id: manifest
                            .as_ref()
                            .map(|mf| mf.config.digest.to_string())
                            .unwrap_or_else(|| m.clone()),
                        tags,
                        manifest_digest: m.clone(),
                        created: None,
                        size: manifest
                            .map(|mf| mf.blobs().map(|d| d.size).sum())
                            .unwrap_or(0),
                        broken: Some(e.to_string()),
                        platforms: Vec::new(),
                    }
                }
            };
            out.push(summary);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The uncompressed size of each layer of an image, as docker shows sizes: the tar's size
    /// for a layer kept uncompressed, the size remembered when a compressed layer was made,
    /// unpacked or compressed here; the blob's size for a layer never unpacked.
    pub fn layer_sizes(&self, manifest: &Manifest, config: &ImageConfig) -> Vec<u64> {
        manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let plain = kiln_snapshot::Compression::from_media_type(&l.media_type)
                    == Some(kiln_snapshot::Compression::None);
                if plain {
                    return l.size;
                }
                config
                    .rootfs
                    .diff_ids
                    .get(i)
                    .and_then(|d| self.content.diff_size(d))
                    .unwrap_or(l.size)
            })
            .collect()
    }

    /// The manifest of the image `manifest_digest`, without its config.
    pub fn manifest(&self, manifest_digest: &str) -> Result<Manifest> {
        self.read_json_blob(manifest_digest, "manifest")
    }

    /// Every blob the image `manifest_digest` references, itself included, as far as it can
    /// be read: just the manifest digest when the manifest itself is missing or unreadable
    /// (then nothing else can be attributed to it).
    pub fn image_blobs(&self, manifest_digest: &str) -> Vec<String> {
        let mut out = vec![manifest_digest.to_string()];
        if let Ok(m) = self.manifest(manifest_digest) {
            out.extend(m.blobs().map(|d| d.digest.to_string()));
            // The blobs its layers were compressed into when they left (kept for the next
            // push or export).
            if let Ok(config) = self.read_json_blob::<ImageConfig>(&m.config.digest, "config") {
                for d in &config.rootfs.diff_ids {
                    out.extend(
                        self.content
                            .derived_blobs(d)
                            .into_iter()
                            .map(|l| l.digest.to_string()),
                    );
                }
            }
        }
        out
    }
}

/// Parse canonical reference strings from the index (skipping any that no longer parse).
fn parse_refs(refs: &[String]) -> Vec<Reference> {
    let mut v: Vec<Reference> = refs
        .iter()
        .filter_map(|r| Reference::parse(r).ok())
        .collect();
    v.sort();
    v
}
