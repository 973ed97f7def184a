//! Incremental COPY: a copy from the build context shares the files that an earlier result of
//! the same step already holds with the same content, instead of writing them again.
//!
//! It works in two phases so that the copy itself keeps every COPY rule (destinations,
//! overwrites, owners, modes, times, xattrs, whiteouts) exactly as a cold copy applies them:
//!
//! 1. During the copy ([`Reuse::claim`]), a regular file whose content hash (taken for the
//!    cache key) is the one the earlier result recorded for the same destination path, going
//!    into a directory this copy created, is **not written**: the metadata it must have is
//!    recorded instead. (Creating inodes is what a large copy spends its time on, more than
//!    copying bytes.)
//! 2. After the copy, with the snapshot no longer mounted ([`Reuse::finish`]), each such file is
//!    put into the layer directory: a hard link to the earlier file when that inode already has
//!    exactly the metadata the new entry must have, else a reflink clone (`FICLONE`) where the
//!    filesystem has them, else a plain copy of its bytes, each given that metadata. The
//!    directory's times are put back afterwards, so the layer is the one a cold copy makes.
//!
//! A hard link shares the inode with a committed snapshot. That is safe because committed
//! layer directories are never written in place (a later step sees them as overlay lowers, and
//! a write there copies the file up first), nothing here sets anything on the shared inode (it
//! is linked only when its metadata already matches), and no two names of one layer are given
//! the same earlier inode (a layer tar writes names that share an inode as a hard link). The
//! caller uses this only with overlay snapshots.
//!
//! The earlier result is only a candidate: every file is checked (manifest hash, type, size,
//! metadata) before it is shared, and every path is opened without following symlinks.

use super::FileOpError;
use inroot::{Dir, Meta, Root};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Extended attributes, sorted by key.
pub(super) type Xattrs = Vec<(OsString, Vec<u8>)>;

/// A directory of the new layer being filled, beside the same one of the earlier layer.
struct InDir {
    dir: Dir,
    earlier: Dir,
    /// Its times before the first change.
    times: Meta,
}

/// What a new entry must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expect {
    pub size: u64,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub xattrs: Xattrs,
}

/// What a copy may share, and what it learns for the next one.
pub struct Reuse {
    earlier: Option<Earlier>,
    /// Destination paths left unwritten, with what goes there (`None`: overwritten since).
    pending: Vec<(String, Option<Expect>)>,
    /// Destination path → its live entry in `pending`.
    index: HashMap<String, usize>,
    /// Destination path → content sha256 of every regular file written from a hashed source.
    manifest: BTreeMap<String, String>,
    /// Earlier inodes already claimed (each may back one name of the new layer).
    used: HashSet<(u64, u64)>,
    written: u64,
}

struct Earlier {
    layer: Root,
    files: HashMap<String, String>,
}

/// What [`Reuse::finish`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseStats {
    /// Files given the earlier result's content without copying it through the copy.
    pub reused: u64,
    /// Regular files the copy wrote in full.
    pub copied: u64,
}

impl Reuse {
    /// Reuse from the layer directory `earlier` (its own files, not its parents') whose
    /// regular files had the contents `files` (destination path → sha256 hex); `None`: nothing
    /// to reuse, only learn the manifest.
    pub fn new(earlier: Option<(&Path, HashMap<String, String>)>) -> Result<Reuse, FileOpError> {
        let earlier = match earlier {
            Some((dir, files)) => Some(Earlier {
                layer: Root::open_no_symlinks(dir)?,
                files,
            }),
            None => None,
        };
        Ok(Reuse {
            earlier,
            pending: Vec::new(),
            index: HashMap::new(),
            manifest: BTreeMap::new(),
            used: HashSet::new(),
            written: 0,
        })
    }

    /// The destination entry `dest_rel` is about to be written (by anything): it no longer
    /// holds what an earlier claim recorded.
    pub(super) fn forget(&mut self, dest_rel: &str) {
        self.manifest.remove(dest_rel);
        if let Some(i) = self.index.remove(dest_rel) {
            self.pending[i].1 = None;
        }
    }

    /// A regular file with content `sha256` is being written at `dest_rel`; `expect`: it may be
    /// left unwritten (it goes into a directory this copy made), and must then look like this.
    /// Returns whether the copy must leave it to [`Reuse::finish`].
    pub(super) fn claim(&mut self, dest_rel: &str, sha256: &str, expect: Option<Expect>) -> bool {
        self.manifest
            .insert(dest_rel.to_string(), sha256.to_string());
        // The earlier file itself is checked in `finish` (a mismatch there fails the copy,
        // which is then made in full).
        let found = match (&self.earlier, &expect) {
            (Some(e), Some(_)) => e.files.get(dest_rel).is_some_and(|s| s == sha256),
            _ => false,
        };
        if found {
            self.index.insert(dest_rel.to_string(), self.pending.len());
            self.pending.push((dest_rel.to_string(), expect));
        } else {
            self.written += 1;
        }
        found
    }

    /// The manifest of the copy: destination path → content sha256 of each regular file.
    pub fn manifest(&self) -> &BTreeMap<String, String> {
        &self.manifest
    }

    /// Phase 2: put every file left unwritten into `layer` (the new snapshot's own directory,
    /// not mounted any more). Directories are filled in parallel, each by one task.
    pub fn finish(&mut self, layer: &Path) -> Result<ReuseStats, FileOpError> {
        let mut stats = ReuseStats {
            reused: 0,
            copied: self.written,
        };
        let Some(earlier) = &self.earlier else {
            return Ok(stats);
        };
        let up = Root::open_no_symlinks(layer)?;
        let pending = std::mem::take(&mut self.pending);
        self.index.clear();
        // Parent directory → its files, in copy order.
        let mut by_dir: BTreeMap<&str, Vec<Left<'_>>> = BTreeMap::new();
        for (rel, expect) in &pending {
            if let Some(x) = expect {
                let (parent, name) = split(rel);
                by_dir.entry(parent).or_default().push((rel, name, x));
            }
        }
        let shared = Shared {
            used: Mutex::new(std::mem::take(&mut self.used)),
            reflink: AtomicBool::new(true),
        };
        let groups: Vec<(&str, Vec<Left<'_>>)> = by_dir.into_iter().collect();
        let done: Vec<Filled> = groups
            .par_iter()
            .map(|(parent, files)| fill_dir(&up, &earlier.layer, parent, files, &shared))
            .collect::<Result<_, _>>()?;
        self.used = shared.used.into_inner().unwrap_or_else(|p| p.into_inner());
        for d in done {
            stats.reused += d.reused;
            for rel in d.dropped {
                self.manifest.remove(&rel);
            }
        }
        Ok(stats)
    }
}

/// A file left unwritten: its destination path, its name in its directory, what it must be.
type Left<'a> = (&'a str, &'a str, &'a Expect);

/// What the directory tasks of [`Reuse::finish`] share.
struct Shared {
    /// Earlier inodes already given to a name of the new layer.
    used: Mutex<HashSet<(u64, u64)>>,
    /// Reflinks may work here (cleared at the first failure).
    reflink: AtomicBool,
}

/// What one directory task did.
struct Filled {
    reused: u64,
    /// Destinations that turned out not to hold the claimed file (out of the manifest).
    dropped: Vec<String>,
}

/// Put the files left unwritten in `parent` (paths `rel`, names `name`) into the new layer.
fn fill_dir(
    up: &Root,
    earlier: &Root,
    parent: &str,
    files: &[Left<'_>],
    shared: &Shared,
) -> Result<Filled, FileOpError> {
    let mut out = Filled {
        reused: 0,
        dropped: Vec::new(),
    };
    let d = match up.open_dir(parent) {
        Ok(dir) => {
            let times = dir
                .stat(OsStr::new(""))?
                .ok_or_else(|| FileOpError::NotFound(format!("/{parent}")))?;
            InDir {
                earlier: earlier.open_dir(parent)?,
                dir,
                times,
            }
        }
        Err(e) if gone(&e) => {
            // Removed or replaced later in the copy: none of its files is there.
            out.dropped = files.iter().map(|(rel, _, _)| rel.to_string()).collect();
            return Ok(out);
        }
        Err(e) => return Err(e.into()),
    };
    let (dir, edir) = (&d.dir, &d.earlier);
    for (rel, name, x) in files {
        let name = OsStr::new(name);
        let Some(em) = edir.stat(name)?.filter(|m| m.is_file() && m.size == x.size) else {
            return Err(changed(rel, "the earlier result of this step changed"));
        };
        let fresh = shared
            .used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(em.id());
        let shareable = fresh
            && (em.perm, em.uid, em.gid, em.mtime) == (x.perm, x.uid, x.gid, x.mtime)
            && plain_xattrs(edir, name)?.is_some_and(|ex| ex == x.xattrs);
        // A link that fails for another reason than a taken name falls back to a copy.
        let linked = shareable.then(|| dir.hard_link(name, edir, name).map_err(FileOpError::from));
        let placed = match linked {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) if taken(&e) => Err(e),
            _ => fill(dir, edir, name, x, &shared.reflink),
        };
        match placed {
            Ok(()) => out.reused += 1,
            // Something the copy made later took the name (a directory): it stays.
            Err(e) if taken(&e) => out.dropped.push(rel.to_string()),
            Err(e) => return Err(e),
        }
    }
    d.restore_times()?;
    Ok(out)
}

impl InDir {
    /// Put back the times the copy gave the directory (adding names to it changed them).
    fn restore_times(&self) -> Result<(), FileOpError> {
        Ok(self
            .dir
            .set_times(OsStr::new(""), self.times.atime, self.times.mtime)?)
    }
}

/// A path that no longer leads to a directory (removed or replaced later in the copy).
fn gone(e: &inroot::Error) -> bool {
    e.is_not_found() || matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::ELOOP))
}

/// The name is already there (made by the copy after the file was left unwritten).
fn taken(e: &FileOpError) -> bool {
    match e {
        FileOpError::InRoot(e) => e.raw_os_error() == Some(libc::EEXIST),
        _ => false,
    }
}

fn changed(rel: &str, why: &str) -> FileOpError {
    FileOpError::Io {
        op: "reuse",
        path: format!("/{rel}").into(),
        source: std::io::Error::other(why.to_string()),
    }
}

fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Make `name` in `dir` a new file with the content of `name` in `edir` (a reflink clone if the
/// filesystem can, else a copy) and the metadata `x`.
fn fill(
    dir: &Dir,
    edir: &Dir,
    name: &OsStr,
    x: &Expect,
    reflink: &AtomicBool,
) -> Result<(), FileOpError> {
    let mut from = edir.open_file(name)?;
    let mut to = dir.create_file(name, 0o600)?;
    let cloned = reflink.load(Ordering::Relaxed) && rustix::fs::ioctl_ficlone(&to, &from).is_ok();
    if !cloned {
        // No reflinks here (or not between these two): do not try again in this copy.
        reflink.store(false, Ordering::Relaxed);
        std::io::copy(&mut from, &mut to).map_err(FileOpError::io("copy", name))?;
    }
    drop(to);
    dir.chown(name, x.uid, x.gid)?;
    for (k, v) in &x.xattrs {
        // Best effort, as the copy itself does.
        let _ = dir.set_xattr(name, k, v);
    }
    dir.chmod(name, x.perm)?;
    dir.set_times(name, x.atime, x.mtime)?;
    Ok(())
}

/// The xattrs of an earlier file, or `None` when it has overlayfs-private ones (its inode is
/// then not handed to a new layer).
fn plain_xattrs(dir: &Dir, name: &OsStr) -> Result<Option<Xattrs>, FileOpError> {
    let list = dir.list_xattrs(name)?;
    let private = list.iter().any(|(k, _)| {
        k.as_encoded_bytes().starts_with(b"trusted.overlay.")
            || k.as_encoded_bytes().starts_with(b"user.overlay.")
    });
    Ok((!private).then_some(list))
}
