//! The whole filesystem of a snapshot as one tar (`--output type=tar|local`): the merged view
//! of its layers, entries sorted, the same tree always giving the same bytes.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::diff::TarWriter;
use crate::error::{stream_err, Error, Result};
use crate::snapshotter::{SnapshotId, Snapshotter};

impl Snapshotter {
    /// Write the merged filesystem of `id` (empty for `None`) as a tar: every entry of every
    /// layer as the container sees it (no whiteouts), sorted by name, modes, owners, xattrs,
    /// links kept; modification times clamped to `mtime_clamp` (SOURCE_DATE_EPOCH).
    pub fn write_tree(
        &self,
        id: Option<&SnapshotId>,
        w: &mut (dyn Write + Send),
        mtime_clamp: Option<i64>,
    ) -> Result<()> {
        self.with_mounted(id, |root| write_dir_tar(root, w, mtime_clamp))?
    }
}

fn write_dir_tar(root: &Path, w: &mut (dyn Write + Send), clamp: Option<i64>) -> Result<()> {
    let mut w: &mut dyn Write = w;
    let mut tw = TarWriter {
        builder: tar::Builder::new(&mut w),
        links: HashMap::new(),
        clamp,
        buf: Vec::new(),
    };
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
    for e in walk {
        let e = e.map_err(|e| Error::Stream {
            context: format!("walking {}", root.display()),
            source: e.into(),
        })?;
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        tw.entry(root, rel)?;
    }
    tw.builder
        .into_inner()
        .map_err(stream_err("finishing filesystem tar"))?
        .flush()
        .map_err(stream_err("flushing filesystem tar"))
}
