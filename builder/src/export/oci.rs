//! `type=oci,dest=FILE|DIR|-`: an OCI image layout of the built image (a tar, or a directory
//! with `tar=false`), under every name the build gives (`org.opencontainers.image.ref.name`).

use super::convert::LayerOptions;
use super::dest::{check_dir, check_file, write_file};
use super::leaving::Leaving;
use super::spec::Dest;
use super::{ExportContext, ExportError, ExportInput, Exporter, Metadata};
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
        let leaving = Leaving::of(cx, input, &self.layers)?;
        leaving.log(cx);
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
        Ok(leaving.metadata(input))
    }
}

/// The names an archive records: every name the build gave, or the image (the index of a
/// multi-platform build) by digest.
pub(crate) fn archive_names(input: &ExportInput) -> Result<Vec<String>, ExportError> {
    Ok(if input.names.is_empty() {
        vec![input.named_digest()?.to_string()]
    } else {
        input.names.iter().map(|n| n.to_string()).collect()
    })
}
