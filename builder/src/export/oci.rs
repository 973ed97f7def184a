//! `type=oci,dest=FILE|DIR|-`: an OCI image layout of the built image (a tar, or a directory
//! with `tar=false`), under every name the build gives (`org.opencontainers.image.ref.name`).

use super::convert::LayerOptions;
use super::dest::{check_dir, check_file, write_file};
use super::spec::Dest;
use super::{image_metadata, ExportContext, ExportError, ExportInput, Exporter, Metadata};
use crate::save::{save_oci_dir_with, save_with, SaveFormat};

/// Writes an OCI image layout.
pub struct OciExporter {
    pub dest: Dest,
    pub tar: bool,
    pub layers: LayerOptions,
}

impl Exporter for OciExporter {
    fn step_name(&self) -> String {
        "exporting to oci image format".into()
    }

    fn check_destination(&self) -> Result<(), ExportError> {
        match (&self.dest, self.tar) {
            (Dest::Path(p), false) => check_dir(p),
            (d, _) => check_file(d),
        }
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let names = archive_names(input)?;
        let dist = super::distribution(
            &cx.kiln.images,
            &input.single("an OCI layout")?.image.manifest_digest,
            &self.layers,
        )?;
        log_layers(cx, &dist);
        match (&self.dest, self.tar) {
            (Dest::Path(dir), false) => {
                save_oci_dir_with(&cx.kiln.images, &names, dir, &self.layers)?
            }
            (dest, _) => {
                (cx.log)("sending tarball");
                write_file(dest, |w| {
                    save_with(
                        &cx.kiln.images,
                        &names,
                        w,
                        SaveFormat::OciLayout,
                        &self.layers,
                    )
                })?
            }
        }
        Ok(metadata(&dist, input))
    }
}

/// The names an archive records: every name the build gave, or the image by digest.
pub(crate) fn archive_names(input: &ExportInput) -> Result<Vec<String>, ExportError> {
    let image = &input.single("an archive")?.image;
    Ok(if input.names.is_empty() {
        vec![image.manifest_digest.clone()]
    } else {
        input.names.iter().map(|n| n.to_string()).collect()
    })
}

/// BuildKit's lines for an image leaving as `dist`.
pub(crate) fn log_layers(cx: &ExportContext, dist: &super::Distribution) {
    (cx.log)("exporting layers done");
    (cx.log)(&format!("exporting manifest {} done", dist.digest));
    (cx.log)(&format!(
        "exporting config {} done",
        dist.manifest.config.digest
    ));
}

pub(crate) fn metadata(dist: &super::Distribution, input: &ExportInput) -> Metadata {
    image_metadata(
        dist.digest.as_str(),
        dist.media_type(),
        dist.bytes.len() as u64,
        dist.manifest.config.digest.as_str(),
        input.names,
    )
}
