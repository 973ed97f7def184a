//! How a build's result leaves the build: one [`Exporter`] per `--output` type, run inside the
//! build's progress after the image is committed to the local store (BuildKit's
//! `exporter/exporter.go`).
//!
//! - [`image`]: the local store's names (`type=image`, the default);
//! - [`registry`]: a push of every name (`type=registry`, `push=true`, `--push`);
//! - [`oci`], [`docker`]: an OCI layout or a `docker load` archive of the image;
//! - [`local`], [`tar`]: the final filesystem, as a directory or a tar.
//!
//! Layers are compressed here, when they leave ([`convert`]), never at build time. An export
//! takes a list of images, one per platform, so an index can be exported by the same trait.

mod commit;
pub mod convert;
mod dest;
pub mod docker;
mod error;
pub mod image;
pub mod index;
mod leaving;
pub mod local;
pub mod oci;
pub mod registry;
pub mod run;
mod spec;
pub mod tar;

use std::collections::BTreeMap;

pub use commit::{commit_image, timestamp, ExportedImage};
pub use convert::{distribution, Distribution, LayerOptions, MediaTypes};
pub use error::ExportError;
pub use registry::PushLines;
pub use spec::{parse_output, Dest, OutputKind, OutputSpec, VALID_TYPES};

use crate::root::Kiln;
use crate::store::Reference;
use kiln_snapshot::SnapshotId;

/// What an exporter tells the build, merged into `--metadata-file` (buildx's keys:
/// `containerimage.digest`, `containerimage.config.digest`, `containerimage.descriptor`,
/// `image.name`).
pub type Metadata = BTreeMap<String, serde_json::Value>;

/// One image a build made (one per platform).
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Its platform (the image config's, else the one it was built for).
    pub platform: ::oci::Platform,
    /// The image committed to the local store.
    pub image: ExportedImage,
    /// Its final filesystem (`None`: empty).
    pub rootfs: Option<SnapshotId>,
}

/// What is exported.
#[derive(Debug, Clone, Copy)]
pub struct ExportInput<'a> {
    pub images: &'a [BuiltImage],
    /// A build for several platforms: the store's index over `images`, which the names
    /// designate.
    pub index: Option<&'a str>,
    /// Every name the build gives (`-t` and `name=`).
    pub names: &'a [Reference],
    /// SOURCE_DATE_EPOCH: the time of every file and entry written.
    pub epoch: Option<i64>,
}

impl ExportInput<'_> {
    /// What the build's names designate: the index of a multi-platform build, else the one
    /// image's manifest.
    pub fn named_digest(&self) -> Result<&str, ExportError> {
        match self.index {
            Some(i) => Ok(i),
            None => Ok(&self.single("the image store")?.image.manifest_digest),
        }
    }

    /// The one image of a single-platform build (exporters that cannot write an index yet).
    pub fn single(&self, what: &str) -> Result<&BuiltImage, ExportError> {
        match self.images {
            [one] => Ok(one),
            _ => Err(ExportError::Inconsistent {
                image: what.to_string(),
                reason: format!(
                    "{} images to export; {what} takes exactly one platform",
                    self.images.len()
                ),
            }),
        }
    }
}

/// What an exporter may use while it runs.
pub struct ExportContext<'a> {
    pub kiln: &'a Kiln,
    /// A line of output under the exporter's progress step.
    pub log: &'a dyn Fn(&str),
    /// Where a push prints docker's per-layer lines.
    pub push_lines: &'a dyn PushLines,
}

/// A way out of the build for its result.
pub trait Exporter: Send + Sync {
    /// The progress step's name (BuildKit's: `exporting to image`, `exporting to oci image
    /// format`, …).
    fn step_name(&self) -> String;
    /// Fail now, before the build runs, if the destination cannot be written.
    fn check_destination(&self) -> Result<(), ExportError> {
        Ok(())
    }
    /// Export the build's images.
    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError>;
}

/// The exporters an `--output` list asks for, after the store's own ([`image::ImageExporter`]
/// always runs first: every build's image goes to the local store). A push (`push`, or any
/// spec's `push=true`) comes last.
pub fn exporters_for(specs: &[OutputSpec], push: bool) -> Vec<Box<dyn Exporter>> {
    let mut out: Vec<Box<dyn Exporter>> = vec![Box::new(image::ImageExporter)];
    let mut push = push;
    for s in specs {
        push |= s.push;
        match &s.kind {
            OutputKind::Image => {}
            OutputKind::Oci { dest, tar } => out.push(Box::new(oci::OciExporter {
                dest: dest.clone(),
                tar: *tar,
                layers: s.layers,
            })),
            OutputKind::Docker { dest } => out.push(Box::new(docker::DockerExporter {
                dest: dest.clone(),
                layers: s.layers,
            })),
            OutputKind::Local { dest } => {
                out.push(Box::new(local::LocalExporter { dest: dest.clone() }))
            }
            OutputKind::Tar { dest } => out.push(Box::new(tar::TarExporter { dest: dest.clone() })),
        }
    }
    if push {
        let layers = specs
            .iter()
            .find(|s| s.push || s.kind == OutputKind::Image)
            .map(|s| s.layers)
            .unwrap_or_default();
        let by_digest = specs.iter().any(|s| s.push_by_digest);
        out.push(Box::new(registry::RegistryExporter { layers, by_digest }));
    }
    out
}

/// buildx's `containerimage.*` keys for an image (or index) that left as `dist`; an index has
/// no one config (`config_digest` is `None`).
pub(crate) fn image_metadata(
    dist_digest: &str,
    media_type: &str,
    size: u64,
    config_digest: Option<&str>,
    names: &[Reference],
) -> Metadata {
    let mut m = Metadata::new();
    m.insert("containerimage.digest".into(), dist_digest.into());
    if let Some(c) = config_digest {
        m.insert("containerimage.config.digest".into(), c.into());
    }
    m.insert(
        "containerimage.descriptor".into(),
        serde_json::json!({"mediaType": media_type, "digest": dist_digest, "size": size}),
    );
    if !names.is_empty() {
        let joined: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        m.insert("image.name".into(), joined.join(",").into());
    }
    m
}
