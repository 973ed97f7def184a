//! The form an image of the local store takes when it leaves the machine.
//!
//! The store keeps built layers uncompressed (`application/vnd.oci.image.layer.v1.tar`, digest
//! = diff ID) and pulled layers as they came. A push or an export asks for a compression: each
//! layer that is not in it yet is compressed then (several layers at once, each on several
//! threads; see [`kiln_snapshot::derive_layers`]), once per (diff ID, compression, level), and
//! the manifest is rewritten over the compressed blobs. The config is never rewritten, so the
//! image ID stays; only the manifest digest differs from the local one (docker's containerd
//! store does the same at push). An image whose layers are all in the wanted form already
//! leaves with its stored manifest, byte for byte (a pulled image re-pushes identically).

use kiln_snapshot::{Compression, LayerInfo, Target};
use oci::{media, Descriptor, Digest, Manifest};

use super::error::ExportError;
use crate::store::ImageStore;

/// Layers compressed at once (each on several threads of its own).
pub const PARALLEL_LAYERS: usize = 3;

/// Which family of media types the exported manifest uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaTypes {
    /// The stored manifest's (new layers in its family).
    #[default]
    Keep,
    /// OCI media types (`oci-mediatypes=true`).
    Oci,
    /// docker schema2 media types (`oci-mediatypes=false`).
    Docker,
}

/// How the layers of an exported image are compressed (buildx's `compression`,
/// `compression-level`, `force-compression`, `oci-mediatypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerOptions {
    pub compression: Compression,
    /// `None`: the compression's default level.
    pub level: Option<i32>,
    /// Recompress layers already compressed otherwise (or at another level).
    pub force: bool,
    pub media_types: MediaTypes,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            compression: Compression::Gzip,
            level: None,
            force: false,
            media_types: MediaTypes::Keep,
        }
    }
}

/// An image as it leaves: its manifest (whose blobs are all in the content store) and the
/// manifest's bytes, which may not be in the store.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
    pub digest: Digest,
    /// The diff ID of each layer, in order.
    pub diff_ids: Vec<String>,
}

impl Distribution {
    /// The manifest's media type.
    pub fn media_type(&self) -> &str {
        self.manifest.media_type()
    }
}

/// The image `manifest_digest` of `store` in the form `opts` asks for, compressing the layers
/// that need it.
pub fn distribution(
    store: &ImageStore,
    manifest_digest: &str,
    opts: &LayerOptions,
) -> Result<Distribution, ExportError> {
    let (stored, config) = store.image(manifest_digest)?;
    let diff_ids = config.rootfs.diff_ids.clone();
    if diff_ids.len() != stored.layers.len() {
        return Err(ExportError::Inconsistent {
            image: manifest_digest.to_string(),
            reason: format!(
                "{} layers but {} diff IDs in its config",
                stored.layers.len(),
                diff_ids.len()
            ),
        });
    }
    // zstd has no docker media type: BuildKit switches to OCI for it, and so does kiln.
    let docker = match opts.media_types {
        MediaTypes::Keep => stored.media_type() == media::DOCKER_MANIFEST,
        MediaTypes::Oci => false,
        MediaTypes::Docker => true,
    } && opts.compression != Compression::Zstd;
    let target = Target {
        compression: opts.compression,
        level: opts.level,
    };
    let mut todo: Vec<(usize, LayerInfo)> = Vec::new();
    for (i, (l, d)) in stored.layers.iter().zip(&diff_ids).enumerate() {
        let Some(have) = Compression::from_media_type(&l.media_type) else {
            continue; // foreign or unknown layers leave as they are
        };
        let convert = if have == Compression::None {
            opts.compression != Compression::None
        } else {
            opts.force && (have != opts.compression || opts.level.is_some())
        };
        if convert {
            let diff_id = crate::store::digest::to_digest(d)?;
            todo.push((
                i,
                LayerInfo {
                    digest: l.digest.clone(),
                    size: l.size,
                    diff_id,
                    media_type: l.media_type.clone(),
                },
            ));
        }
    }
    let sources: Vec<LayerInfo> = todo.iter().map(|(_, l)| l.clone()).collect();
    let derived = kiln_snapshot::derive_layers(
        store.content(),
        &sources,
        target,
        opts.force,
        PARALLEL_LAYERS,
    )?;
    let mut layers = stored.layers.clone();
    for ((i, _), new) in todo.iter().zip(derived) {
        let mt = layer_media_type(&new.media_type, docker);
        layers[*i] = Descriptor::new(&mt, new.digest, new.size);
    }
    if opts.media_types != MediaTypes::Keep {
        for l in &mut layers {
            l.media_type = layer_media_type(&l.media_type, docker);
        }
    }
    let config_type = if docker {
        media::DOCKER_CONFIG
    } else {
        media::OCI_CONFIG
    };
    let manifest_type = if docker {
        media::DOCKER_MANIFEST
    } else {
        media::OCI_MANIFEST
    };
    let unchanged = layers == stored.layers
        && (opts.media_types == MediaTypes::Keep
            || (stored.config.media_type == config_type && stored.media_type() == manifest_type));
    if unchanged {
        let bytes = store.read_small_blob(manifest_digest, "manifest")?;
        return Ok(Distribution {
            manifest: stored,
            bytes,
            digest: crate::store::digest::to_digest(manifest_digest)?,
            diff_ids,
        });
    }
    let mut config = stored.config.clone();
    config.media_type = config_type.to_string();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(manifest_type.to_string()),
        artifact_type: None,
        config,
        layers,
        subject: stored.subject.clone(),
        annotations: stored.annotations.clone(),
    };
    let bytes = serde_json::to_vec(&manifest)
        .map_err(crate::store::StoreError::json("exported manifest"))?;
    Ok(Distribution {
        digest: Digest::sha256(&bytes),
        manifest,
        bytes,
        diff_ids,
    })
}

/// A layer's media type in the OCI or docker family (unknown types unchanged).
fn layer_media_type(mt: &str, docker: bool) -> String {
    let out = match (Compression::from_media_type(mt), docker) {
        (Some(Compression::Gzip), true) => media::DOCKER_LAYER_GZIP,
        (Some(Compression::Gzip), false) => media::OCI_LAYER_GZIP,
        (Some(Compression::None), true) => media::DOCKER_LAYER,
        (Some(Compression::None), false) => media::OCI_LAYER,
        (Some(Compression::Zstd), _) => media::OCI_LAYER_ZSTD,
        (None, _) => mt,
    };
    out.to_string()
}
