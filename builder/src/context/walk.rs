//! A filtered, depth-first, name-sorted walk of a directory tree, with Docker's context rules:
//! excluded entries are dropped, excluded directories are skipped unless an exception could
//! re-include something below them, and the parents of a re-included entry are emitted even if
//! they themselves are excluded.

use super::dockerignore::DockerIgnore;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

/// One entry seen by [`walk`].
#[derive(Debug, Clone)]
pub struct WalkEntry {
    /// Path relative to the walk's root, `/`-separated, no leading `/`.
    pub rel: String,
    /// Host path.
    pub path: PathBuf,
    /// `lstat` of the entry.
    pub meta: Metadata,
}

/// Filters applied during a walk. All paths given to them are relative to the walk root.
#[derive(Default, Clone, Copy)]
pub struct WalkFilter<'a> {
    /// Entries this matches are left out (a `.dockerignore` or `--exclude` list).
    pub exclude: Option<&'a DockerIgnore>,
    /// If set, only entries this matches (or whose parent it matches) are kept.
    pub include: Option<&'a DockerIgnore>,
}

/// What the callback wants after seeing an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkControl {
    /// Go on (and descend if the entry is a directory).
    Continue,
    /// Do not descend into this directory.
    SkipDir,
}

impl WalkFilter<'_> {
    /// (keep this entry, may something below it be kept).
    fn judge(&self, rel: &str, is_dir: bool) -> (bool, bool) {
        let mut keep = true;
        let mut below = is_dir;
        if let Some(ex) = self.exclude {
            if ex.matches(rel) {
                keep = false;
                below = is_dir && !ex.can_skip_dir(rel);
            }
        }
        if let Some(inc) = self.include {
            if !inc.matches(rel) {
                keep = false;
                below = below && is_dir && inc.could_match_below(rel);
            }
        }
        (keep, below)
    }
}

/// Walks the tree under the host directory `dir` (not reporting `dir` itself), in lexical
/// order, calling `cb` for each kept entry. `base_rel` is `dir`'s path relative to the root the
/// filters are anchored at (`""` for the root itself); entries' `rel` include it. Read errors
/// on paths that are excluded are ignored.
pub fn walk(
    dir: &Path,
    base_rel: &str,
    filter: WalkFilter<'_>,
    cb: &mut dyn FnMut(&WalkEntry) -> io::Result<WalkControl>,
) -> io::Result<()> {
    let mut pending = Vec::new();
    walk_dir(dir, base_rel, filter, &mut pending, cb).map(|_| ())
}

fn walk_dir(
    dir: &Path,
    rel_dir: &str,
    filter: WalkFilter<'_>,
    pending: &mut Vec<WalkEntry>,
    cb: &mut dyn FnMut(&WalkEntry) -> io::Result<WalkControl>,
) -> io::Result<Option<String>> {
    // `DirEntry::metadata` stats relative to the open directory (and does not follow
    // symlinks), which saves a path lookup per file on large contexts.
    let mut entries: Vec<(std::ffi::OsString, std::fs::Metadata)> = std::fs::read_dir(dir)?
        .map(|e| e.and_then(|e| Ok((e.file_name(), e.metadata()?))))
        .collect::<io::Result<_>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, meta) in entries {
        let path = dir.join(&name);
        let name = name.to_string_lossy();
        let rel = if rel_dir.is_empty() {
            name.to_string()
        } else {
            format!("{rel_dir}/{name}")
        };
        let is_dir = meta.is_dir();
        let (keep, below) = filter.judge(&rel, is_dir);
        let entry = WalkEntry {
            rel: rel.clone(),
            path: path.clone(),
            meta,
        };
        if keep {
            for p in pending.drain(..) {
                if cb(&p)? == WalkControl::SkipDir {
                    // The callback refused a parent: nothing below it may be reported.
                    return Ok(Some(p.rel));
                }
            }
            if cb(&entry)? == WalkControl::SkipDir {
                continue;
            }
            if is_dir {
                if let Some(refused) = walk_dir(&path, &rel, filter, pending, cb)? {
                    if refused != rel {
                        return Ok(Some(refused));
                    }
                }
            }
        } else if below {
            let depth = pending.len();
            pending.push(entry);
            let r = walk_dir(&path, &rel, filter, pending, cb);
            pending.truncate(depth);
            match r {
                Ok(Some(refused)) if refused != rel => return Ok(Some(refused)),
                Ok(_) => {}
                // An unreadable excluded directory is not an error.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}
