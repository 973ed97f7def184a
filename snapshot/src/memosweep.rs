//! The sweep of derived-blob memos (`ROOT/derived/<hex>.json`, see [`crate::derive`]): once
//! blobs are collected, the entries naming them are dropped and a memo naming no blob left is
//! removed, so the memos never outgrow what the store holds.

use std::fs;
use std::io;

use crate::content::ContentStore;
use crate::error::{IoContext, Result};

/// What [`ContentStore::sweep_memos`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoSweep {
    /// Memo files removed (no blob they name is left).
    pub removed: usize,
    /// Memo files rewritten without the entries whose blob is gone.
    pub trimmed: usize,
    /// Bytes freed.
    pub bytes: u64,
}

impl ContentStore {
    /// Drop every memo entry whose blob is gone or is not the size remembered, remove the memo
    /// files left with no entry (and unreadable ones), and the temporary files of memo writers
    /// that died more than [`crate::gc::UNOWNED_GRACE`] ago. Memo writers wait meanwhile, so
    /// an entry written during the sweep is kept.
    pub fn sweep_memos(&self) -> Result<MemoSweep> {
        let mut out = MemoSweep::default();
        let dir = self.derived_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).ctx("read directory", &dir),
        };
        let _lock = self.lock_memos()?;
        for e in rd {
            let e = e.ctx("read directory", &dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            if name.starts_with('.') && name.ends_with(".tmp") {
                if crate::lease::older_than(&path, crate::gc::UNOWNED_GRACE) {
                    remove(&path, size, &mut out)?;
                }
                continue;
            }
            let Some(hex) = name.strip_suffix(".json") else {
                continue;
            };
            let diff_id = format!("sha256:{hex}");
            let Ok(mut rec) = self.read_record(&diff_id) else {
                // Not a memo name this store writes.
                continue;
            };
            let before = (rec.blobs.len(), rec.verified.len());
            rec.blobs
                .retain(|_, l| self.blob_is(l.digest.as_ref(), l.size));
            let kept = &rec.blobs;
            rec.verified
                .retain(|d, _| kept.values().any(|l| l.digest.as_ref() == d.as_str()));
            if rec.blobs.is_empty() {
                remove(&path, size, &mut out)?;
            } else if (rec.blobs.len(), rec.verified.len()) != before {
                self.write_record(&diff_id, &rec)?;
                out.trimmed += 1;
            }
        }
        Ok(out)
    }
}

fn remove(path: &std::path::Path, size: u64, out: &mut MemoSweep) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {
            out.removed += 1;
            out.bytes += size;
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx("remove", path),
    }
}
