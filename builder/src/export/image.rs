//! `type=image`: the image is in the local store (the build committed it, and the index over
//! the images of a multi-platform build); this exporter gives it the build's names, with
//! BuildKit's lines (`writing image … done` or `exporting manifest list … done`, `naming to …`).

use super::{image_metadata, ExportContext, ExportError, ExportInput, Exporter, Metadata};
use crate::store::StoreError;

/// Names the built image in the local store.
pub struct ImageExporter;

impl Exporter for ImageExporter {
    fn step_name(&self) -> String {
        "exporting to image".into()
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let store = &cx.kiln.images;
        let named = input.named_digest()?;
        for t in input.names {
            store.tag(t, named)?;
        }
        match input.index {
            Some(index) => {
                for b in input.images {
                    (cx.log)(&format!(
                        "exporting manifest {} done",
                        b.image.manifest_digest
                    ));
                    (cx.log)(&format!("exporting config {} done", b.image.config_digest));
                }
                (cx.log)(&format!("exporting manifest list {index} done"));
            }
            None => (cx.log)(&format!(
                "writing image {} done",
                input.images[0].image.config_digest
            )),
        }
        for t in input.names {
            (cx.log)(&format!("naming to {t} done"));
        }
        let size = store
            .content()
            .size(named)
            .map_err(StoreError::content("size of the manifest"))?;
        Ok(match input.index {
            Some(index) => image_metadata(
                index,
                store.read_index_blob(index)?.media_type(),
                size,
                None,
                input.names,
            ),
            None => {
                let image = &input.images[0].image;
                image_metadata(
                    &image.manifest_digest,
                    store.manifest(&image.manifest_digest)?.media_type(),
                    size,
                    Some(&image.config_digest),
                    input.names,
                )
            }
        })
    }
}
