//! `type=docker,dest=FILE|-`: a `docker load` archive of the built image, tagged with every
//! name the build gives (`RepoTags`).

use super::convert::LayerOptions;
use super::dest::{check_file, write_file};
use super::leaving::Leaving;
use super::oci::archive_names;
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
        let leaving = Leaving::of(cx, input, &self.layers)?;
        leaving.log(cx);
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
        Ok(leaving.metadata(input))
    }
}
