//! The changes a snapshot makes to its parent, as a sorted list (parents before children,
//! siblings by name bytes).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::fsmeta;
use crate::snapshotter::{Mode, SnapshotId, Snapshotter};
use crate::whiteout::{is_overlay_opaque, is_overlay_private_xattr, is_overlay_whiteout};

/// One change, relative to the snapshot root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add or replace the entry at this path (read from the snapshot's `fs`).
    Entry(PathBuf),
    /// The path was deleted.
    Whiteout(PathBuf),
    /// The directory hides everything below it in lower layers.
    Opaque(PathBuf),
}

fn sorted_children(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).ctx("read directory", dir)? {
        names.push(e.ctx("read directory", dir)?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn lstat_opt(p: &Path) -> Result<Option<Metadata>> {
    match fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("stat", p),
    }
}

impl Snapshotter {
    /// The changes of committed snapshot `id` against its parent.
    pub(crate) fn changes(&self, id: &SnapshotId) -> Result<Vec<Change>> {
        let meta = self.committed_meta(id)?;
        let root = self.fs_dir(id)?;
        let mut out = Vec::new();
        match self.inner.mode {
            Mode::Overlay => overlay_changes(&root, Path::new(""), &mut out)?,
            Mode::Copy => {
                let parent = match &meta.parent {
                    Some(p) => Some(self.fs_dir(&SnapshotId(p.clone()))?),
                    None => None,
                };
                let since = meta.copied_at.unwrap_or((i64::MIN, 0));
                let cmp = TreeCompare {
                    new_root: &root,
                    old_root: parent.as_deref(),
                    copied_at: since,
                };
                cmp.compare_dir(Path::new(""), &mut out)?;
            }
        }
        Ok(out)
    }
}

/// Overlay upper dirs are the diff: whiteout devices and opaque xattrs mark deletions.
fn overlay_changes(root: &Path, rel: &Path, out: &mut Vec<Change>) -> Result<()> {
    for name in sorted_children(&root.join(rel))? {
        let r = rel.join(&name);
        let abs = root.join(&r);
        let md = fs::symlink_metadata(&abs).ctx("stat", &abs)?;
        if is_overlay_whiteout(&md) {
            out.push(Change::Whiteout(r));
        } else if md.is_dir() {
            out.push(Change::Entry(r.clone()));
            if is_overlay_opaque(&abs).ctx("read xattr", &abs)? {
                out.push(Change::Opaque(r.clone()));
            }
            overlay_changes(root, &r, out)?;
        } else {
            out.push(Change::Entry(r));
        }
    }
    Ok(())
}

/// Copy mode: compare the snapshot's full tree with its parent's.
struct TreeCompare<'a> {
    new_root: &'a Path,
    old_root: Option<&'a Path>,
    copied_at: (i64, i64),
}

impl TreeCompare<'_> {
    fn compare_dir(&self, rel: &Path, out: &mut Vec<Change>) -> Result<()> {
        let new_dir = self.new_root.join(rel);
        let mut names: BTreeSet<Vec<u8>> = sorted_children(&new_dir)?
            .into_iter()
            .map(|n| n.as_bytes().to_vec())
            .collect();
        let old_dir = self.old_root.map(|o| o.join(rel));
        if let Some(od) = &old_dir {
            if let Some(m) = lstat_opt(od)? {
                if m.is_dir() {
                    names.extend(
                        sorted_children(od)?
                            .into_iter()
                            .map(|n| n.as_bytes().to_vec()),
                    );
                }
            }
        }
        for name in names {
            let r = rel.join(std::ffi::OsStr::from_bytes(&name));
            let new_md = lstat_opt(&self.new_root.join(&r))?;
            let old_md = match self.old_root {
                Some(o) => lstat_opt(&o.join(&r))?,
                None => None,
            };
            match (new_md, old_md) {
                (None, None) => {}
                (None, Some(_)) => out.push(Change::Whiteout(r)),
                (Some(n), None) => self.add_all(&r, &n, out)?,
                (Some(n), Some(o)) => {
                    if n.is_dir() && o.is_dir() {
                        let mut sub = Vec::new();
                        self.compare_dir(&r, &mut sub)?;
                        if !sub.is_empty() || self.meta_differs(&r, &n, &o)? {
                            out.push(Change::Entry(r));
                            out.extend(sub);
                        }
                    } else if n.is_dir() {
                        self.add_all(&r, &n, out)?;
                    } else if self.changed(&r, &n, &o)? {
                        out.push(Change::Entry(r));
                    }
                }
            }
        }
        Ok(())
    }

    fn add_all(&self, rel: &Path, md: &Metadata, out: &mut Vec<Change>) -> Result<()> {
        out.push(Change::Entry(rel.to_path_buf()));
        if md.is_dir() {
            for name in sorted_children(&self.new_root.join(rel))? {
                let r = rel.join(name);
                let abs = self.new_root.join(&r);
                let m = fs::symlink_metadata(&abs).ctx("stat", &abs)?;
                self.add_all(&r, &m, out)?;
            }
        }
        Ok(())
    }

    fn meta_differs(&self, rel: &Path, n: &Metadata, o: &Metadata) -> Result<bool> {
        if n.mode() != o.mode()
            || n.uid() != o.uid()
            || n.gid() != o.gid()
            || n.mtime() != o.mtime()
            || n.mtime_nsec() != o.mtime_nsec()
        {
            return Ok(true);
        }
        let np = self.new_root.join(rel);
        let Some(old_root) = self.old_root else {
            return Ok(true);
        };
        let op = old_root.join(rel);
        let strip = |v: Vec<(OsString, Vec<u8>)>| -> Vec<(OsString, Vec<u8>)> {
            v.into_iter()
                .filter(|(k, _)| !is_overlay_private_xattr(k.as_bytes()))
                .collect()
        };
        let nx = strip(fsmeta::list_xattrs(&np).ctx("list xattrs", &np)?);
        let ox = strip(fsmeta::list_xattrs(&op).ctx("list xattrs", &op)?);
        Ok(nx != ox)
    }

    /// Did a non-directory change? Entries whose ctime predates the copy are untouched
    /// copies; newer ones are compared in full (metadata, link target, content).
    fn changed(&self, rel: &Path, n: &Metadata, o: &Metadata) -> Result<bool> {
        if (n.ctime(), n.ctime_nsec()) < self.copied_at {
            return Ok(false);
        }
        if n.file_type() != o.file_type() || n.rdev() != o.rdev() || n.len() != o.len() {
            return Ok(true);
        }
        if self.meta_differs(rel, n, o)? {
            return Ok(true);
        }
        let np = self.new_root.join(rel);
        let Some(old_root) = self.old_root else {
            return Ok(true);
        };
        let op = old_root.join(rel);
        if n.file_type().is_symlink() {
            return Ok(fs::read_link(&np).ctx("read link", &np)?
                != fs::read_link(&op).ctx("read link", &op)?);
        }
        if n.is_file() {
            return Ok(!same_content(&np, &op)?);
        }
        Ok(false)
    }
}

fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = File::open(a).ctx("open", a)?;
    let mut fb = File::open(b).ctx("open", b)?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).ctx("read", a)?;
        let nb = read_full(&mut fb, &mut bb).ctx("read", b)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
