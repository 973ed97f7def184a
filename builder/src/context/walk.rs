//! A filtered, depth-first, name-sorted walk of a directory tree, with Docker's context rules:
//! excluded entries are dropped, excluded directories are skipped unless an exception could
//! re-include something below them, and the parents of a re-included entry are emitted even if
//! they themselves are excluded.
//!
//! The walk goes through directory descriptors ([`inroot::Dir`]), never through paths: an entry
//! swapped for a symlink while the walk runs is seen as the symlink it has become, and nothing
//! outside the tree is ever listed or opened.

use super::dockerignore::DockerIgnore;
use inroot::{Dir, Meta};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

/// One entry seen by [`walk`].
#[derive(Debug)]
pub struct WalkEntry<'a> {
    /// Path relative to the walk's root, `/`-separated, no leading `/`.
    pub rel: String,
    /// The directory holding the entry.
    pub dir: &'a Dir,
    /// The entry's name in `dir`.
    pub name: &'a OsStr,
    /// `lstat` of the entry.
    pub meta: Meta,
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
    pub(super) fn judge(&self, rel: &str, is_dir: bool) -> (bool, bool) {
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

/// Walks the tree under the host directory `dir` (not reporting `dir` itself); see
/// [`walk_dir`].
pub fn walk(
    dir: &Path,
    base_rel: &str,
    filter: WalkFilter<'_>,
    cb: &mut dyn FnMut(&WalkEntry<'_>) -> io::Result<WalkControl>,
) -> io::Result<()> {
    let root = inroot::Root::open(dir)?;
    walk_dir(&root.dir()?, base_rel, filter, cb)
}

/// One directory being listed.
struct Frame {
    dir: Dir,
    rel: String,
    entries: Vec<(OsString, Meta)>,
    next: usize,
    /// Excluded itself, kept only if something below it is; `Some(false)` while not reported.
    held: Option<bool>,
    /// This directory's name and meta (for reporting it when held).
    meta: Option<(OsString, Meta)>,
}

/// Walks the tree under `dir` (not reporting `dir` itself), in lexical order, calling `cb` for
/// each kept entry. `base_rel` is `dir`'s path relative to the root the filters are anchored at
/// (`""` for the root itself); entries' `rel` include it. Read errors on directories that are
/// excluded are ignored.
pub fn walk_dir(
    dir: &Dir,
    base_rel: &str,
    filter: WalkFilter<'_>,
    cb: &mut dyn FnMut(&WalkEntry<'_>) -> io::Result<WalkControl>,
) -> io::Result<()> {
    let mut stack = vec![Frame {
        entries: list(dir)?,
        dir: dir.try_clone()?,
        rel: base_rel.to_string(),
        next: 0,
        held: None,
        meta: None,
    }];
    while let Some(top) = stack.last_mut() {
        let Some((name, meta)) = top.entries.get(top.next).cloned() else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let rel = if top.rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{}/{}", top.rel, name.to_string_lossy())
        };
        let is_dir = meta.is_dir();
        let (keep, below) = filter.judge(&rel, is_dir);
        if keep {
            if let Some(refused) = report_held(&mut stack, cb)? {
                // The callback refused a held parent: nothing below it may be reported.
                stack.truncate(refused);
                continue;
            }
            let top = stack.last().unwrap_or_else(|| unreachable!());
            let entry = WalkEntry {
                rel: rel.clone(),
                dir: &top.dir,
                name: &name,
                meta,
            };
            if cb(&entry)? == WalkControl::SkipDir || !is_dir {
                continue;
            }
            let sub = top.dir.open_dir(&name)?;
            stack.push(Frame {
                entries: list(&sub)?,
                dir: sub,
                rel,
                next: 0,
                held: None,
                meta: Some((name, meta)),
            });
        } else if below {
            let top = stack.last().unwrap_or_else(|| unreachable!());
            let listed = top
                .dir
                .open_dir(&name)
                .map_err(io::Error::from)
                .and_then(|d| {
                    let entries = list(&d)?;
                    Ok((d, entries))
                });
            match listed {
                Ok((sub, entries)) => stack.push(Frame {
                    entries,
                    dir: sub,
                    rel,
                    next: 0,
                    held: Some(false),
                    meta: Some((name, meta)),
                }),
                // An unreadable excluded directory is not an error.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Report the held (excluded) directories on the stack that were not reported yet, outermost
/// first. Returns the stack depth to cut back to when the callback refused one of them.
fn report_held(
    stack: &mut [Frame],
    cb: &mut dyn FnMut(&WalkEntry<'_>) -> io::Result<WalkControl>,
) -> io::Result<Option<usize>> {
    for i in 0..stack.len() {
        if stack[i].held != Some(false) {
            continue;
        }
        stack[i].held = Some(true);
        let (Some((name, meta)), Some(parent)) = (&stack[i].meta, i.checked_sub(1)) else {
            continue;
        };
        let entry = WalkEntry {
            rel: stack[i].rel.clone(),
            dir: &stack[parent].dir,
            name,
            meta: *meta,
        };
        if cb(&entry)? == WalkControl::SkipDir {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The entries of `dir` with their `lstat`, sorted by name.
fn list(dir: &Dir) -> io::Result<Vec<(OsString, Meta)>> {
    let mut out = Vec::new();
    for name in dir.read_dir()? {
        // Gone since the listing: nothing to report.
        if let Some(meta) = dir.stat(&name)? {
            out.push((name, meta));
        }
    }
    Ok(out)
}
