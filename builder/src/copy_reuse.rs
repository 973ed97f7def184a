//! Where an incremental COPY finds the earlier result of the same step: one small record per
//! step shape (the COPY's actions with every flag, the snapshot it copies onto and the context
//! directory) naming the last snapshot it made and the content hash of each file in it, under
//! `ROOT/copy-reuse/`.
//!
//! A record is only a candidate: [`crate::fileop::Reuse`] checks every file it offers. A record
//! whose snapshot is gone (pruned) is ignored, one that cannot be read costs only speed, and
//! writes go through a temporary file and a rename, so concurrent builds never see half of one.

use crate::root::Kiln;
use kiln_snapshot::SnapshotId;
use kiln_solver::{Digest, FileAction, FileOp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The record of one step shape.
#[derive(Serialize, Deserialize)]
struct Record {
    snapshot: String,
    /// Destination path → content sha256 (hex) of each regular file copied from the context.
    files: HashMap<String, String>,
}

/// An earlier result: its snapshot and the content sha256 of each regular file it copied.
pub(crate) type Earlier = (SnapshotId, HashMap<String, String>);

/// The step shape of a file op that can copy incrementally: a single COPY from the build
/// context (not an ADD that may unpack an archive) onto `parent`.
pub(crate) struct Shape {
    path: PathBuf,
}

/// The shape of `op` when it is such a copy (`context_input`: the index of the build context
/// among the op's inputs, if it is one).
pub(crate) fn shape(
    kiln: &Kiln,
    op: &FileOp,
    context_input: Option<usize>,
    context_root: &Path,
    parent: Option<&SnapshotId>,
) -> Option<Shape> {
    let [FileAction::Copy(c)] = op.actions.as_slice() else {
        return None;
    };
    if c.attempt_unpack || Some(c.src_input) != context_input || c.src_input == 0 {
        return None;
    }
    let mut key = serde_json::to_vec(&op.actions).ok()?;
    key.push(0);
    key.extend_from_slice(parent.map(|p| p.0.as_str()).unwrap_or("").as_bytes());
    key.push(0);
    key.extend_from_slice(context_root.as_os_str().as_encoded_bytes());
    let digest = Digest::sha256(&key);
    let name = digest.hex();
    Some(Shape {
        path: kiln.root.join("copy-reuse").join(name),
    })
}

impl Shape {
    /// The earlier result of this step, if its record and snapshot are still there.
    pub(crate) fn earlier(&self, kiln: &Kiln) -> Option<Earlier> {
        let bytes = std::fs::read(&self.path).ok()?;
        let r: Record = serde_json::from_slice(&bytes).ok()?;
        let id = SnapshotId(r.snapshot);
        // Attaches it to this build's lease before its files are read.
        kiln.snapshots.exists(&id).then_some((id, r.files))
    }

    /// Remember `id` as the latest result of this step, with its files' contents.
    pub(crate) fn remember(&self, id: &SnapshotId, files: &BTreeMap<String, String>) {
        let r = Record {
            snapshot: id.0.clone(),
            files: files.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        if let Err(e) = self.write(&r) {
            log::warn!(
                "cannot remember this COPY for the next build ({}): {e}",
                self.path.display()
            );
        }
    }

    fn write(&self, r: &Record) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(std::io::BufWriter::new(tmp.as_file_mut()), r)?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Drop the record (its snapshot failed to give what it promised).
    pub(crate) fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Remove the records whose snapshot `gone` says is removed or unknown (after a prune).
pub(crate) fn sweep(kiln: &Kiln, gone: &dyn Fn(&SnapshotId) -> bool) {
    #[derive(Deserialize)]
    struct Head {
        snapshot: String,
    }
    let Ok(entries) = std::fs::read_dir(kiln.root.join("copy-reuse")) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().as_encoded_bytes().starts_with(b".") {
            // A record being written by a build running now.
            continue;
        }
        let path = e.path();
        let head = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Head>(&b).ok());
        // Unreadable ones go too.
        let dead = match head {
            Some(h) => gone(&SnapshotId(h.snapshot)),
            None => true,
        };
        if dead {
            let _ = std::fs::remove_file(&path);
        }
    }
}
