//! Removing directories that several processes may be removing at once.
//!
//! Snapshots are first renamed to `tmp/rm-<random>` (atomic: a snapshot is either there or
//! gone), then deleted. A process killed while deleting leaves its `rm-` directory behind;
//! any collector may finish the job, so deletion tolerates entries vanishing under it.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Prefix of renamed-away snapshot directories under the snapshotter's `tmp/`.
pub(crate) const TRASH_PREFIX: &str = "rm-";

fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// Delete `path` and everything under it, never following symlinks; entries another process
/// removed meanwhile are not errors.
pub(crate) fn purge(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e).ctx("stat", path),
        Ok(md) if !md.is_dir() => {
            return match fs::remove_file(path) {
                Err(e) if !gone(&e) => Err(e).ctx("remove", path),
                _ => Ok(()),
            }
        }
        Ok(_) => {}
    }
    for e in walkdir::WalkDir::new(path).contents_first(true) {
        let e = match e {
            Ok(e) => e,
            Err(e) if e.io_error().is_some_and(gone) => continue,
            Err(e) => {
                return Err(Error::Io {
                    op: "walk",
                    path: e.path().unwrap_or(path).to_path_buf(),
                    source: e.into(),
                })
            }
        };
        let res = if e.file_type().is_dir() {
            fs::remove_dir(e.path())
        } else {
            fs::remove_file(e.path())
        };
        match res {
            Err(err) if !gone(&err) => return Err(err).ctx("remove", e.path()),
            _ => {}
        }
    }
    Ok(())
}
