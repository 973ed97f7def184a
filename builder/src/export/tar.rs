//! `type=tar,dest=FILE|-` (and `-o -`): the final filesystem of the build as one tar.

use super::dest::{check_file, write_file};
use super::spec::Dest;
use super::{ExportContext, ExportError, ExportInput, Exporter, Metadata};

/// Writes the final filesystem as a tar.
pub struct TarExporter {
    pub dest: Dest,
}

impl Exporter for TarExporter {
    fn step_name(&self) -> String {
        "exporting to client tarball".into()
    }

    fn check_destination(&self) -> Result<(), ExportError> {
        check_file(&self.dest)
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let built = input.single("type=tar")?;
        (cx.log)("sending tarball");
        write_file(&self.dest, |w| {
            // The tree is walked on a thread of its own (in a private mount namespace).
            let (mut r, mut pw) = std::io::pipe().map_err(|source| ExportError::Write {
                path: "-".into(),
                what: "making a pipe",
                source,
            })?;
            std::thread::scope(|s| {
                let snaps = &cx.kiln.snapshots;
                let writer = s.spawn(move || {
                    let res = snaps.write_tree(built.rootfs.as_ref(), &mut pw, input.epoch);
                    drop(pw);
                    res
                });
                let copied = std::io::copy(&mut r, w);
                drop(r);
                let tree = writer.join().unwrap_or(Err(kiln_snapshot::Error::Panicked));
                tree?;
                copied.map(drop).map_err(|source| ExportError::Write {
                    path: match &self.dest {
                        Dest::Path(p) => p.clone(),
                        Dest::Stdout => "-".into(),
                    },
                    what: "writing the filesystem tar",
                    source,
                })
            })
        })?;
        Ok(Metadata::new())
    }
}
