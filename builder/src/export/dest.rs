//! Writing an export's destination: checked before the build, written to a temporary file
//! beside it and renamed into place, so a failure (a full disk) leaves nothing under the name.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::ExportError;
use super::spec::Dest;

fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Check a file destination can be made: its directory exists and takes a new file.
pub fn check_file(dest: &Dest) -> Result<(), ExportError> {
    let Dest::Path(path) = dest else {
        return Ok(());
    };
    if path.is_dir() {
        return Err(ExportError::Destination {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        });
    }
    tempfile::NamedTempFile::new_in(parent_of(path))
        .map(drop)
        .map_err(|source| ExportError::Destination {
            path: path.clone(),
            source,
        })
}

/// Check a directory destination can be made and written.
pub fn check_dir(path: &Path) -> Result<(), ExportError> {
    let err = |source| ExportError::Destination {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() && !path.is_dir() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    // The nearest existing ancestor must take a new entry.
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        probe = parent_of(&probe);
    }
    tempfile::tempdir_in(&probe).map(drop).map_err(err)
}

/// Write `dest` with `f`: standard output directly, a file through a temporary file renamed
/// into place only when `f` succeeded.
pub fn write_file(
    dest: &Dest,
    f: impl FnOnce(&mut dyn Write) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    match dest {
        Dest::Stdout => {
            let mut out = std::io::stdout().lock();
            f(&mut out)?;
            out.flush().map_err(|source| ExportError::Write {
                path: "-".into(),
                what: "writing standard output",
                source,
            })
        }
        Dest::Path(path) => {
            let werr = |what, source| ExportError::Write {
                path: path.clone(),
                what,
                source,
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".kiln-export-")
                .tempfile_in(parent_of(path))
                .map_err(|e| werr("creating a temporary file", e))?;
            {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
                f(&mut w)?;
                w.flush().map_err(|e| werr("writing", e))?;
            }
            tmp.as_file().sync_all().map_err(|e| werr("syncing", e))?;
            // tempfile makes it 0600; an export is the user's file like any other.
            use std::os::unix::fs::PermissionsExt;
            let _ = tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644));
            tmp.persist(path)
                .map(drop)
                .map_err(|e| werr("renaming into place", e.error))
        }
    }
}
