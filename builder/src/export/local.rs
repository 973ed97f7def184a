//! `type=local,dest=DIR` (and `-o DIR`): the final filesystem of the build written into a
//! directory. Entries are written through the in-root resolution: a symlink in the image
//! never sends a file outside `DIR`. A build for several platforms writes one directory per
//! platform under `DIR`, as buildx does.

use std::path::{Path, PathBuf};

use super::dest::check_dir;
use super::{BuiltImage, ExportContext, ExportError, ExportInput, Exporter, Metadata};
use kiln_snapshot::extract::{extract_archive, ExtractOptions};

/// Writes the final filesystem into a directory.
pub struct LocalExporter {
    pub dest: PathBuf,
}

impl Exporter for LocalExporter {
    fn step_name(&self) -> String {
        "copying files".into()
    }

    fn check_destination(&self) -> Result<(), ExportError> {
        check_dir(&self.dest)
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        match input.images {
            [one] => self.write(cx, one, &self.dest, input.epoch)?,
            // buildx: one directory per platform (`linux_amd64/`, `linux_arm_v7/`).
            several => {
                for built in several {
                    let sub = built.platform.to_string().replace('/', "_");
                    self.write(cx, built, &self.dest.join(sub), input.epoch)?;
                }
            }
        }
        (cx.log)(&format!("copying files to {} done", self.dest.display()));
        Ok(Metadata::new())
    }
}

impl LocalExporter {
    /// The filesystem of `built` into `dest`.
    fn write(
        &self,
        cx: &ExportContext,
        built: &BuiltImage,
        dest: &Path,
        epoch: Option<i64>,
    ) -> Result<(), ExportError> {
        let werr = |what, source| ExportError::Write {
            path: dest.to_path_buf(),
            what,
            source,
        };
        std::fs::create_dir_all(dest).map_err(|e| werr("creating the directory", e))?;
        let root = inroot::Root::open(dest).map_err(kiln_snapshot::Error::from)?;
        let (mut r, mut pw) = std::io::pipe().map_err(|e| werr("making a pipe", e))?;
        // Times come from the tree (already clamped to SOURCE_DATE_EPOCH).
        let opts = ExtractOptions::default();
        std::thread::scope(|s| {
            let snaps = &cx.kiln.snapshots;
            let writer = s.spawn(move || {
                let res = snaps.write_tree(built.rootfs.as_ref(), &mut pw, epoch);
                drop(pw);
                res
            });
            let extracted = extract_archive(&root, "/", &mut r, &opts);
            drop(r);
            let tree = writer.join().unwrap_or(Err(kiln_snapshot::Error::Panicked));
            // The extraction's error is the cause when it stopped first (the writer then
            // only saw a closed pipe).
            extracted?;
            tree?;
            Ok::<(), ExportError>(())
        })
    }
}
