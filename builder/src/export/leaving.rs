//! What an archive exporter (`type=oci`, `type=docker`) writes the build as: its image, or the
//! index of a multi-platform build, in the form the layer options give; BuildKit's lines and
//! buildx's metadata for it.

use super::convert::{distribution, Distribution, LayerOptions};
use super::index::{index_distribution, IndexDistribution};
use super::{image_metadata, ExportContext, ExportError, ExportInput, Metadata};
use crate::store::StoreError;

/// The build as it leaves.
pub(crate) enum Leaving {
    Image(Box<Distribution>),
    Index(IndexDistribution),
}

impl Leaving {
    /// The build's image or index, as `layers` makes it leave.
    pub fn of(
        cx: &ExportContext,
        input: &ExportInput,
        layers: &LayerOptions,
    ) -> Result<Leaving, ExportError> {
        let store = &cx.kiln.images;
        if let Some(index) = input.index {
            let rec = match store.lookup(index)? {
                Some(crate::store::Target::Index(rec)) => rec,
                _ => return Err(StoreError::NotFound(index.to_string()).into()),
            };
            return Ok(Leaving::Index(index_distribution(store, &rec, layers)?));
        }
        let image = &input.single("an archive")?.image;
        Ok(Leaving::Image(Box::new(distribution(
            store,
            &image.manifest_digest,
            layers,
        )?)))
    }

    /// BuildKit's lines (`exporting manifest … done`, `exporting manifest list … done`).
    pub fn log(&self, cx: &ExportContext) {
        (cx.log)("exporting layers done");
        match self {
            Leaving::Image(d) => log_image(cx, d),
            Leaving::Index(i) => {
                for image in &i.images {
                    log_image(cx, &image.dist);
                }
                (cx.log)(&format!("exporting manifest list {} done", i.digest));
            }
        }
    }

    /// buildx's `containerimage.*` keys.
    pub fn metadata(&self, input: &ExportInput) -> Metadata {
        match self {
            Leaving::Image(d) => image_metadata(
                d.digest.as_str(),
                d.media_type(),
                d.bytes.len() as u64,
                Some(d.manifest.config.digest.as_str()),
                input.names,
            ),
            Leaving::Index(i) => index_metadata(i, input),
        }
    }
}

fn log_image(cx: &ExportContext, d: &Distribution) {
    (cx.log)(&format!("exporting manifest {} done", d.digest));
    (cx.log)(&format!(
        "exporting config {} done",
        d.manifest.config.digest
    ));
}

/// buildx's keys for an index: its digest and descriptor (there is no one config).
pub(crate) fn index_metadata(i: &IndexDistribution, input: &ExportInput) -> Metadata {
    image_metadata(
        i.digest.as_str(),
        i.index.media_type(),
        i.bytes.len() as u64,
        None,
        input.names,
    )
}
