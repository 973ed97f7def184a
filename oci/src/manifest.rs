//! Image manifests and indexes (OCI, and docker's schema2 manifests and manifest lists, which
//! deserialise into the same structs).

use crate::descriptor::Descriptor;
use crate::media;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An image manifest (OCI or docker schema2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Its media type (absent in some OCI manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest media type, defaulting to OCI when the field is absent.
    pub fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(media::OCI_MANIFEST)
    }

    /// Every blob the manifest references, config first.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

/// An image index (OCI) or manifest list (docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Its media type (absent in some OCI indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests (or nested indexes) it lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The index media type, defaulting to OCI when the field is absent.
    pub fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(media::OCI_INDEX)
    }
}

/// The `oci-layout` file of an image layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciLayout {
    /// `1.0.0`.
    pub image_layout_version: String,
}

/// The documents a registry serves at `/v2/<name>/manifests/<ref>`, told apart by media type
/// (the `Content-Type` header, else the document's own `mediaType`, else its shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image manifest.
    Image(Box<Manifest>),
    /// An index or manifest list.
    Index(Index),
}

/// Why manifest bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The media type is neither a manifest nor an index.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// The document says another media type than it was served as.
    #[error("manifest served as {served:?} says it is {document:?}")]
    MediaTypeMismatch {
        /// The type it was served or described as.
        served: String,
        /// The type the document names.
        document: String,
    },
    /// Not valid JSON for the type.
    #[error("malformed manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// A schema version other than 2.
    #[error("unsupported manifest schema version {0}")]
    SchemaVersion(u32),
}

impl ManifestKind {
    /// Parse `bytes`, served (or described) as `media_type` when given.
    pub fn parse(bytes: &[u8], media_type: Option<&str>) -> Result<ManifestKind, ManifestError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            #[serde(default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        let served = media_type.filter(|m| !m.is_empty() && *m != "application/json");
        if let (Some(s), Some(d)) = (served, probe.media_type.as_deref()) {
            if s != d {
                return Err(ManifestError::MediaTypeMismatch {
                    served: s.to_string(),
                    document: d.to_string(),
                });
            }
        }
        let mt = served
            .map(str::to_string)
            .or(probe.media_type)
            .unwrap_or_else(|| {
                if probe.manifests.is_some() {
                    media::OCI_INDEX.to_string()
                } else {
                    media::OCI_MANIFEST.to_string()
                }
            });
        if media::is_index(&mt) {
            let i: Index = serde_json::from_slice(bytes)?;
            if i.schema_version != 2 {
                return Err(ManifestError::SchemaVersion(i.schema_version));
            }
            return Ok(ManifestKind::Index(i));
        }
        if media::is_manifest(&mt) {
            let m: Manifest = serde_json::from_slice(bytes)?;
            if m.schema_version != 2 {
                return Err(ManifestError::SchemaVersion(m.schema_version));
            }
            return Ok(ManifestKind::Image(Box::new(m)));
        }
        Err(ManifestError::UnsupportedMediaType(mt))
    }
}
