//! `type=local,dest=DIR` (and `-o DIR`): the final filesystem of the build written into a
//! directory. Entries are written through the in-root resolution: a symlink in the image
//! never sends a file outside `DIR`.

use std::path::PathBuf;

use super::dest::check_dir;
use super::{ExportContext, ExportError, ExportInput, Exporter, Metadata};
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
        let built = input.single("type=local")?;
        let werr = |what, source| ExportError::Write {
            path: self.dest.clone(),
            what,
            source,
        };
        std::fs::create_dir_all(&self.dest).map_err(|e| werr("creating the directory", e))?;
        let root = inroot::Root::open(&self.dest).map_err(kiln_snapshot::Error::from)?;
        let (mut r, mut pw) = std::io::pipe().map_err(|e| werr("making a pipe", e))?;
        // Times come from the tree (already clamped to SOURCE_DATE_EPOCH).
        let opts = ExtractOptions::default();
        std::thread::scope(|s| {
            let snaps = &cx.kiln.snapshots;
            let writer = s.spawn(move || {
                let res = snaps.write_tree(built.rootfs.as_ref(), &mut pw, input.epoch);
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
        })?;
        (cx.log)(&format!("copying files to {} done", self.dest.display()));
        Ok(Metadata::new())
    }
}
