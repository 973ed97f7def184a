//! `type=image`: the image is in the local store (the build committed it); this exporter
//! gives it the build's names, with BuildKit's lines (`writing image … done`, `naming to …`).

use super::{image_metadata, ExportContext, ExportError, ExportInput, Exporter, Metadata};

/// Names the built image in the local store.
pub struct ImageExporter;

impl Exporter for ImageExporter {
    fn step_name(&self) -> String {
        "exporting to image".into()
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let built = input.single("the image store")?;
        let image = &built.image;
        for t in input.names {
            cx.kiln.images.tag(t, &image.manifest_digest)?;
        }
        (cx.log)(&format!("writing image {} done", image.config_digest));
        for t in input.names {
            (cx.log)(&format!("naming to {t} done"));
        }
        let size = cx
            .kiln
            .images
            .content()
            .size(&image.manifest_digest)
            .map_err(crate::store::StoreError::content("size of the manifest"))?;
        let media_type = cx.kiln.images.manifest(&image.manifest_digest)?;
        Ok(image_metadata(
            &image.manifest_digest,
            media_type.media_type(),
            size,
            &image.config_digest,
            input.names,
        ))
    }
}
