//! `kiln load`: docker-archive and OCI layout tars into the store.
//!
//! The archive (plain or gzip) is read in one pass (see [`crate::store::scan`]): blobs are
//! verified against their names as they stream into the content store, and docker's
//! uncompressed layer tars are stored **gzip-compressed** (media type
//! `application/vnd.oci.image.layer.v1.tar+gzip`, diff_id = sha256 of the tar, checked against
//! the config). Then:
//!
//! - an OCI layout (`index.json`, as also written by docker 25+) keeps its manifests as they
//!   are: for each entry of `index.json` (through nested indexes) the manifest for the wanted
//!   platform is taken; `io.containerd.image.name` or a full `org.opencontainers.image.ref.name`
//!   names it, and `RepoTags` of a `manifest.json` alongside add tags;
//! - a docker-archive (`manifest.json` only) gets a new OCI manifest over its config (kept
//!   byte for byte, so the image ID is unchanged) and layers.
//!
//! Images are registered and tagged last, in one atomic index update; on any error the blobs
//! the load added are deleted and the store is as before.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use kiln_frontend::image::{ImageConfig, Platform};

use crate::store::digest::{is_hex64, sha256_digest, to_digest, HashingReader};
use crate::store::docker_archive::DockerArchiveEntry;
use crate::store::scan::{scan_archive, ArchiveFile, ScannedArchive};
use crate::store::{manifest_bytes, ImageStore, LayerDesc, Reference, Result, StoreError};
use oci::{Descriptor, Index, Manifest, OciLayout};

/// Deepest nesting of indexes followed.
const MAX_INDEX_DEPTH: usize = 8;

/// Options of [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Platform to take from multi-platform indexes (default: the host's).
    pub platform: Option<Platform>,
}

/// One image the load put into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// Digest of its manifest.
    pub manifest_digest: String,
    /// Its image ID (config digest).
    pub id: String,
    /// The tags it was given.
    pub tags: Vec<Reference>,
}

impl std::fmt::Display for LoadedImage {
    /// The [`LoadedImage::messages`], one per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.messages().join("\n"))
    }
}

impl LoadedImage {
    /// What `docker load` prints for it: `Loaded image: busybox:latest` per tag, or
    /// `Loaded image ID: sha256:…` when untagged.
    pub fn messages(&self) -> Vec<String> {
        if self.tags.is_empty() {
            vec![format!("Loaded image ID: {}", self.id)]
        } else {
            self.tags
                .iter()
                .map(|t| format!("Loaded image: {}", t.familiar_string()))
                .collect()
        }
    }
}

/// Load the archive at `path`.
pub fn load_file(store: &ImageStore, path: &Path, opts: &LoadOptions) -> Result<Vec<LoadedImage>> {
    let f = File::open(path).map_err(StoreError::io("opening", path))?;
    load_with(store, f, opts)
}

/// Load a docker-archive or OCI layout tar (plain or gzip) from `r`, taking the host's
/// platform from multi-platform indexes.
pub fn load(store: &ImageStore, r: impl Read) -> Result<Vec<LoadedImage>> {
    load_with(store, r, &LoadOptions::default())
}

/// [`load`] with options.
pub fn load_with(store: &ImageStore, r: impl Read, opts: &LoadOptions) -> Result<Vec<LoadedImage>> {
    let scanned = scan_archive(store, r)?;
    let mut new_blobs = BTreeSet::new();
    let mut indexes = Vec::new();
    let result = plan(store, &scanned, opts, &mut new_blobs, &mut indexes).and_then(|planned| {
        let regs: Vec<(String, Vec<Reference>)> = planned
            .iter()
            .map(|p| (p.image.manifest_digest.clone(), p.image.tags.clone()))
            .collect();
        store.add_images_tagged(&regs)?;
        crate::load_index::register(store, &indexes)?;
        Ok(planned)
    });
    match result {
        Ok(planned) => {
            let keep: BTreeSet<String> = planned
                .iter()
                .flat_map(|p| p.blobs.iter().cloned())
                .collect();
            let mut keep = keep;
            keep.extend(indexes.iter().map(|i| i.manifest_digest.clone()));
            scanned.discard_new(store, &keep);
            // An index's images are said as the index (`Loaded image: app:1`).
            Ok(planned
                .into_iter()
                .filter(|p| !p.in_index)
                .map(|p| p.image)
                .chain(indexes)
                .collect())
        }
        Err(e) => {
            scanned.discard_new(store, &BTreeSet::new());
            for d in &new_blobs {
                // Best effort: these blobs were created by this load and nothing references them.
                let _ = store.content().delete(d);
            }
            Err(e)
        }
    }
}

/// An image ready to be registered, with every blob it uses.
struct Planned {
    image: LoadedImage,
    blobs: Vec<String>,
    /// An image of a whole index the archive holds (registered and named with it).
    in_index: bool,
}

fn plan(
    store: &ImageStore,
    scanned: &ScannedArchive,
    opts: &LoadOptions,
    new_blobs: &mut BTreeSet<String>,
    indexes: &mut Vec<LoadedImage>,
) -> Result<Vec<Planned>> {
    let mut planned = if scanned.contains("index.json") {
        plan_oci(store, scanned, opts, indexes)?
    } else if scanned.contains("manifest.json") {
        plan_docker(store, scanned, new_blobs)?
    } else {
        return Err(StoreError::Archive(
            "neither index.json (OCI layout) nor manifest.json (docker save) is in the archive"
                .into(),
        ));
    };
    if scanned.contains("index.json") && scanned.contains("manifest.json") {
        add_repo_tags(scanned, &mut planned)?;
    }
    Ok(planned)
}

// ---------------------------------------------------------------- OCI layout

fn plan_oci(
    store: &ImageStore,
    scanned: &ScannedArchive,
    opts: &LoadOptions,
    indexes: &mut Vec<LoadedImage>,
) -> Result<Vec<Planned>> {
    if scanned.contains("oci-layout") {
        let layout: OciLayout = serde_json::from_slice(scanned.small("oci-layout")?)
            .map_err(StoreError::json("oci-layout"))?;
        if !layout.image_layout_version.starts_with("1.") {
            return Err(StoreError::Archive(format!(
                "unsupported OCI layout version {:?}",
                layout.image_layout_version
            )));
        }
    }
    let index: Index = serde_json::from_slice(scanned.small("index.json")?)
        .map_err(StoreError::json("index.json"))?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let mut out: Vec<Planned> = Vec::new();
    for desc in &index.manifests {
        let names = names_from_annotations(desc)?;
        // An index whose every image the archive holds is kept whole (no platform asked).
        if opts.platform.is_none() {
            if let Some(children) = crate::load_index::whole_index(store, desc)? {
                for m in children {
                    if !out.iter().any(|p| p.image.manifest_digest == m) {
                        let mut p = plan_manifest(store, &m)?;
                        p.in_index = true;
                        out.push(p);
                    }
                }
                let digest = desc.digest.to_string();
                match indexes.iter_mut().find(|i| i.manifest_digest == digest) {
                    Some(i) => push_unique(&mut i.tags, names),
                    None => indexes.push(LoadedImage {
                        id: digest.clone(),
                        manifest_digest: digest,
                        tags: names,
                    }),
                }
                continue;
            }
        }
        let Some(m) = pick_manifest(store, desc, &platform, 0)? else {
            continue;
        };
        match out.iter_mut().find(|p| p.image.manifest_digest == m) {
            Some(p) => push_unique(&mut p.image.tags, names),
            None => {
                let mut p = plan_manifest(store, &m)?;
                push_unique(&mut p.image.tags, names);
                out.push(p);
            }
        }
    }
    if out.is_empty() && indexes.is_empty() {
        return Err(StoreError::Archive(
            "index.json lists no image manifest".into(),
        ));
    }
    Ok(out)
}

fn push_unique(tags: &mut Vec<Reference>, more: Vec<Reference>) {
    for r in more {
        if !tags.contains(&r) {
            tags.push(r);
        }
    }
}

/// The names an index entry's annotations give it.
fn names_from_annotations(desc: &Descriptor) -> Result<Vec<Reference>> {
    if let Some(n) = desc.annotations.get(oci::ANNOTATION_CONTAINERD_NAME) {
        return Ok(vec![Reference::parse(n)?]);
    }
    if let Some(n) = desc.annotations.get(oci::ANNOTATION_REF_NAME) {
        // A bare tag ("latest") names no repository: such images load untagged.
        if n.contains(['/', ':', '@']) {
            return Ok(vec![Reference::parse(n)?]);
        }
    }
    Ok(Vec::new())
}

/// Check that the blob `desc` points at is stored with the size the descriptor says.
fn check_descriptor(store: &ImageStore, desc: &Descriptor, what: &str) -> Result<()> {
    crate::store::digest::validate_digest(&desc.digest)?;
    if !store.content().has(&desc.digest) {
        return Err(StoreError::MissingBlob {
            digest: desc.digest.to_string(),
            what: what.to_string(),
        });
    }
    let size = store
        .content()
        .size(&desc.digest)
        .map_err(StoreError::content(format!("size of {}", desc.digest)))?;
    if size != desc.size {
        return Err(StoreError::Archive(format!(
            "{what} {} is {size} bytes, the descriptor says {}",
            desc.digest, desc.size
        )));
    }
    Ok(())
}

/// The image manifest `desc` designates for `platform` (through indexes), or None for
/// descriptors of other kinds (artifacts, attestations).
fn pick_manifest(
    store: &ImageStore,
    desc: &Descriptor,
    platform: &Platform,
    depth: usize,
) -> Result<Option<String>> {
    if oci::media::is_manifest(&desc.media_type) {
        check_descriptor(store, desc, "manifest")?;
        return Ok(Some(desc.digest.to_string()));
    }
    if !oci::media::is_index(&desc.media_type) {
        return Ok(None);
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(StoreError::Archive(format!(
            "indexes nested deeper than {MAX_INDEX_DEPTH}"
        )));
    }
    check_descriptor(store, desc, "index")?;
    let index: Index = store.read_json_blob(&desc.digest, "image index")?;
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.annotations
                .get("vnd.docker.reference.type")
                .map(String::as_str)
                != Some("attestation-manifest")
                && d.platform
                    .as_ref()
                    .map(|p| p.os != "unknown")
                    .unwrap_or(true)
        })
        .collect();
    let exact = candidates
        .iter()
        .find(|d| platform_matches(d, platform, true));
    let chosen = exact.or_else(|| {
        candidates
            .iter()
            .find(|d| platform_matches(d, platform, false))
    });
    match chosen {
        Some(d) => pick_manifest(store, d, platform, depth + 1),
        None => {
            let available: Vec<String> = candidates
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| match &p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect();
            Err(StoreError::NoPlatform {
                platform: platform.to_string(),
                what: format!("index {}", desc.digest),
                available: available.join(", "),
            })
        }
    }
}

/// Does the entry match the platform? Entries without a platform match anything; `exact`
/// also requires the variant to match when one is wanted.
fn platform_matches(d: &Descriptor, want: &Platform, exact: bool) -> bool {
    let Some(p) = &d.platform else { return !exact };
    if p.os != want.os || p.architecture != want.architecture {
        return false;
    }
    match (&want.variant, exact) {
        (Some(v), true) => p.variant.as_deref() == Some(v.as_str()),
        _ => true,
    }
}

/// Validate a stored manifest and its blobs.
fn plan_manifest(store: &ImageStore, manifest_digest: &str) -> Result<Planned> {
    let manifest: Manifest = store.read_json_blob(manifest_digest, "manifest")?;
    if manifest
        .media_type
        .as_deref()
        .is_some_and(|mt| !oci::media::is_manifest(mt))
    {
        return Err(StoreError::UnsupportedMediaType {
            media_type: manifest.media_type().to_string(),
            what: format!("manifest {manifest_digest}"),
        });
    }
    check_descriptor(store, &manifest.config, "image config")?;
    let (_, config) = store.image(manifest_digest)?;
    for l in &manifest.layers {
        check_descriptor(store, l, "layer")?;
    }
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(StoreError::InvalidImage(format!(
            "manifest {manifest_digest} has {} layers but its config lists {} diff_ids",
            manifest.layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    let mut blobs = vec![manifest_digest.to_string()];
    blobs.extend(manifest.blobs().map(|d| d.digest.to_string()));
    Ok(Planned {
        image: LoadedImage {
            manifest_digest: manifest_digest.to_string(),
            id: manifest.config.digest.to_string(),
            tags: Vec::new(),
        },
        blobs,
        in_index: false,
    })
}

/// Add the `RepoTags` of a `manifest.json` next to an OCI layout to the images loaded from it.
fn add_repo_tags(scanned: &ScannedArchive, planned: &mut [Planned]) -> Result<()> {
    let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(scanned.small("manifest.json")?)
        .map_err(StoreError::json("manifest.json"))?;
    for e in entries {
        let Some(id) = implied_digest(&e.config) else {
            continue;
        };
        let Some(p) = planned.iter_mut().find(|p| p.image.id == id && !p.in_index) else {
            continue;
        };
        let tags = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        push_unique(&mut p.image.tags, tags);
    }
    Ok(())
}

// ---------------------------------------------------------------- docker-archive

/// The digest a file name implies: `blobs/sha256/<hex>` or `<hex>.json`.
fn implied_digest(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let hex = base.strip_suffix(".json").unwrap_or(base);
    is_hex64(hex).then(|| format!("sha256:{hex}"))
}

fn plan_docker(
    store: &ImageStore,
    scanned: &ScannedArchive,
    new_blobs: &mut BTreeSet<String>,
) -> Result<Vec<Planned>> {
    let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(scanned.small("manifest.json")?)
        .map_err(StoreError::json("manifest.json"))?;
    if entries.is_empty() {
        return Err(StoreError::Archive("manifest.json lists no image".into()));
    }
    entries
        .iter()
        .map(|e| plan_docker_entry(store, scanned, e, new_blobs))
        .collect()
}

/// Store `bytes` as a blob, remembering it in `new_blobs` when it was not there before.
fn write_tracked(
    store: &ImageStore,
    bytes: &[u8],
    what: &str,
    new_blobs: &mut BTreeSet<String>,
) -> Result<(String, u64)> {
    let d = sha256_digest(bytes);
    let existed = store.content().has(&d);
    let (digest, size) = store
        .content()
        .write_bytes(bytes)
        .map_err(StoreError::content(format!("writing {what}")))?;
    if !existed {
        new_blobs.insert(d.to_string());
    }
    Ok((digest.to_string(), size))
}

fn plan_docker_entry(
    store: &ImageStore,
    scanned: &ScannedArchive,
    e: &DockerArchiveEntry,
    new_blobs: &mut BTreeSet<String>,
) -> Result<Planned> {
    let (config_digest, config_size) = match scanned.get(&e.config)? {
        ArchiveFile::Small(bytes) => {
            let actual = sha256_digest(bytes);
            if let Some(expected) = implied_digest(&e.config) {
                if actual != *expected {
                    return Err(StoreError::DigestMismatch {
                        what: format!("config {:?}", e.config),
                        expected,
                        actual: actual.to_string(),
                    });
                }
            }
            write_tracked(store, bytes, "image config", new_blobs)?
        }
        ArchiveFile::Blob { digest, size } => (digest.clone(), *size),
        ArchiveFile::Large(size) => {
            return Err(StoreError::TooLarge {
                what: format!("config {:?}", e.config),
                size: *size,
                limit: crate::store::MAX_JSON_BLOB,
            })
        }
        ArchiveFile::Layer(_) => {
            return Err(StoreError::Archive(format!(
                "config {:?} is a tar file",
                e.config
            )))
        }
    };
    let config: ImageConfig = store.read_json_blob(&config_digest, "image config")?;
    if config.rootfs.diff_ids.len() != e.layers.len() {
        return Err(StoreError::InvalidImage(format!(
            "manifest.json lists {} layers for config {:?}, which lists {} diff_ids",
            e.layers.len(),
            e.config,
            config.rootfs.diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    for (path, expected) in e.layers.iter().zip(&config.rootfs.diff_ids) {
        let layer = match scanned.get(path)? {
            ArchiveFile::Layer(l) => l.clone(),
            ArchiveFile::Blob { digest, size } => blob_as_layer(store, digest, *size)?,
            _ => {
                return Err(StoreError::Archive(format!(
                    "layer {path:?} is not a tar file"
                )))
            }
        };
        if &layer.diff_id != expected {
            return Err(StoreError::DigestMismatch {
                what: format!("layer {path:?} (diff_id in config {:?})", e.config),
                expected: expected.clone(),
                actual: layer.diff_id,
            });
        }
        layers.push(layer);
    }
    let config_desc = Descriptor::new(
        oci::media::OCI_CONFIG,
        to_digest(&config_digest)?,
        config_size,
    );
    let bytes = manifest_bytes(config_desc, &layers)?;
    let (manifest_digest, _) = write_tracked(store, &bytes, "image manifest", new_blobs)?;
    let tags = e
        .repo_tags
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut blobs = vec![manifest_digest.clone(), config_digest.clone()];
    blobs.extend(layers.iter().map(|l| l.digest.clone()));
    Ok(Planned {
        image: LoadedImage {
            manifest_digest,
            id: config_digest,
            tags,
        },
        blobs,
        in_index: false,
    })
}

/// A `blobs/sha256/…` file used as a docker-archive layer: kept as it is, uncompressed tar
/// (diff_id = digest) or gzip (diff_id computed).
fn blob_as_layer(store: &ImageStore, digest: &str, size: u64) -> Result<LayerDesc> {
    let f = store
        .content()
        .open_blob(digest)
        .map_err(StoreError::content(format!("opening {digest}")))?;
    let mut r = BufReader::new(f);
    let head = r
        .fill_buf()
        .map_err(StoreError::stream(format!("reading layer {digest}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut h = HashingReader::new(GzDecoder::new(r));
        io::copy(&mut h, &mut io::sink())
            .map_err(StoreError::stream(format!("decompressing layer {digest}")))?;
        let (diff_id, _) = h.finish();
        Ok(LayerDesc {
            media_type: oci::media::OCI_LAYER_GZIP.into(),
            digest: digest.into(),
            size,
            diff_id: diff_id.to_string(),
        })
    } else {
        Ok(LayerDesc {
            media_type: oci::media::OCI_LAYER.into(),
            digest: digest.into(),
            size,
            diff_id: digest.into(),
        })
    }
}
