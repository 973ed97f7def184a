//! `type=docker,dest=FILE|-`: a `docker load` archive of the built image, tagged with every
//! name the build gives (`RepoTags`).

use super::convert::LayerOptions;
use super::dest::{check_file, write_file};
use super::oci::{archive_names, log_layers, metadata};
use super::spec::Dest;
use super::{ExportContext, ExportError, ExportInput, Exporter, Metadata};
use crate::save::{save_with, SaveFormat};

/// Writes a docker archive.
pub struct DockerExporter {
    pub dest: Dest,
    pub layers: LayerOptions,
}

impl Exporter for DockerExporter {
    fn step_name(&self) -> String {
        "exporting to docker image format".into()
    }

    fn check_destination(&self) -> Result<(), ExportError> {
        check_file(&self.dest)
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let names = archive_names(input)?;
        let dist = super::distribution(
            &cx.kiln.images,
            &input.single("a docker archive")?.image.manifest_digest,
            &self.layers,
        )?;
        log_layers(cx, &dist);
        (cx.log)("sending tarball");
        write_file(&self.dest, |w| {
            save_with(
                &cx.kiln.images,
                &names,
                w,
                SaveFormat::DockerArchive,
                &self.layers,
            )
        })?;
        Ok(metadata(&dist, input))
    }
}
