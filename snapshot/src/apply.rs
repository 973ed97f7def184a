//! Unpacking a layer tar into a new snapshot, safely and in linear time.
//!
//! Every entry name is normalised (leading `/` and `.` dropped) and refused if it has a `..`
//! component. The snapshot directory is opened as an [`inroot::Root`] that refuses symlinks:
//! every directory on an entry's path must be a real directory of the snapshot (a symlink in
//! the middle of a path is refused, so nothing is ever written through a link), and the entry
//! itself is made by the shared extractor ([`crate::extract`]) with calls that never follow a
//! symlink. OCI whiteouts become overlayfs whiteouts (Overlay mode) or deletions (Copy mode).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use inroot::{Dir, Kind, NodeKind, Root};
use tar::EntryType;

use crate::digest::HashingReader;
use crate::error::{stream_err, Error, Result};
use crate::extract::{lstat_beneath, ExtractOptions, Extractor, Implied};
use crate::snapshotter::{Mode, SnapshotId, Snapshotter};
use crate::tarentry::{bad, read_meta, TarGuard};
use crate::whiteout::{is_overlay_whiteout, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

impl Snapshotter {
    /// Unpack one layer tar (gzip/zstd/plain detected) as a new snapshot over `parent`,
    /// converting OCI whiteouts to the on-disk form; returns the snapshot and the diff_id
    /// (sha256 of the uncompressed tar). Hostile tars (`..`, writes through symlinks,
    /// hardlinks to paths outside the tree) are rejected and leave nothing behind; device
    /// nodes that cannot be created are skipped with a warning.
    pub fn apply_layer(
        &self,
        parent: Option<&SnapshotId>,
        r: &mut dyn Read,
    ) -> Result<(SnapshotId, oci::Digest)> {
        self.apply_layer_sized(parent, r)
            .map(|(id, diff_id, _)| (id, diff_id))
    }

    /// [`Self::apply_layer`], also returning the size of the uncompressed tar.
    pub fn apply_layer_sized(
        &self,
        parent: Option<&SnapshotId>,
        r: &mut dyn Read,
    ) -> Result<(SnapshotId, oci::Digest, u64)> {
        let active = self.prepare(parent)?;
        let res = (|| -> Result<(oci::Digest, u64)> {
            let plain = crate::compress::decompressed(r)?;
            let mut hashing = HashingReader::new(plain);
            let root = Root::open_no_symlinks(&active.upper)?;
            let mut lx = LayerExtractor {
                ex: Extractor::new(
                    &root,
                    Vec::new(),
                    ExtractOptions::default(),
                    Implied::FromLowers(active.lowers.clone()),
                    self.mode() == Mode::Overlay,
                ),
                mode: self.mode(),
                lowers: &active.lowers,
                written: HashSet::new(),
            };
            lx.extract(&mut hashing)?;
            hashing
                .drain_and_finish()
                .map_err(stream_err("reading the end of the layer"))
        })();
        match res {
            Ok((diff_id, size)) => Ok((self.commit(active)?, diff_id, size)),
            Err(e) => {
                let _ = self.abort(active);
                Err(e)
            }
        }
    }
}

/// Split a tar path into safe components (no `..`, no root, no `.`).
fn sanitize(raw: &[u8]) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(Error::UnsafeEntry {
                    path: String::from_utf8_lossy(raw).into_owned(),
                    reason: "path has a '..' component".into(),
                })
            }
            _ => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

fn rel_path(comps: &[OsString]) -> PathBuf {
    comps.iter().collect()
}

/// Is this the overlayfs whiteout form (a character device 0/0)?
fn is_whiteout(m: &inroot::Meta) -> bool {
    m.kind == Kind::Char && m.rdev == 0
}

/// An inroot error on an entry, as the layer error it stands for: a symlink or a
/// non-directory in the middle of the path makes the entry unsafe.
fn entry_error(e: Error, name: &str) -> Error {
    match e {
        Error::InRoot(ref ie)
            if matches!(ie.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) =>
        {
            Error::UnsafeEntry {
                path: name.to_string(),
                reason: format!("a component of its path is a symlink or not a directory ({ie})"),
            }
        }
        other => other,
    }
}

struct LayerExtractor<'a, 'r> {
    ex: Extractor<'r>,
    mode: Mode,
    /// Lower layers (Overlay mode), top first: source of metadata for implied parents.
    lowers: &'a [PathBuf],
    /// Paths this layer created, with all their ancestors (Copy mode's whiteouts keep them).
    written: HashSet<PathBuf>,
}

impl LayerExtractor<'_, '_> {
    fn extract<R: Read>(&mut self, r: &mut R) -> Result<()> {
        let mut archive = tar::Archive::new(TarGuard::new(r));
        let entries = archive.entries().map_err(|e| bad("", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad("", e))?;
            let meta = read_meta(&mut entry)?;
            let name = String::from_utf8_lossy(&meta.name).into_owned();
            let comps = sanitize(&meta.name)?;
            let Some((last, parents)) = comps.split_last() else {
                // The root itself ("./"): only a directory entry means something.
                if entry.header().entry_type() == EntryType::Directory {
                    let top = self.ex.root.dir()?;
                    self.ex.set_meta(&top, OsStr::new(""), &meta, false)?;
                    self.ex
                        .remember_dir_times(&top, (meta.mtime, meta.mtime_nanos))?;
                }
                continue;
            };
            let last_b = last.as_bytes();
            if last_b == OPAQUE_MARKER.as_bytes() {
                self.opaque(parents, &name)
                    .map_err(|e| entry_error(e, &name))?;
                continue;
            }
            if let Some(target) = last_b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
                if target.is_empty() || target == b"." || target == b".." {
                    return Err(Error::UnsafeEntry {
                        path: name,
                        reason: "invalid whiteout name".into(),
                    });
                }
                self.whiteout(parents, OsStr::from_bytes(target))
                    .map_err(|e| entry_error(e, &name))?;
                continue;
            }
            self.entry(&mut entry, &meta, &comps, &name)
                .map_err(|e| entry_error(e, &name))?;
        }
        Ok(())
    }

    fn mark_written(&mut self, rel: &Path) {
        for a in rel.ancestors() {
            if !self.written.insert(a.to_path_buf()) {
                break;
            }
        }
    }

    /// The directory at `comps`, made (with implied metadata) where missing; in Overlay mode
    /// a directory this layer deleted earlier on the way is made again.
    fn dir_at(&mut self, comps: &[OsString]) -> Result<Dir> {
        match self.ex.dir_at(comps) {
            Err(e) if is_not_dir(&e) && self.fix_whiteouts(comps)? => self.ex.dir_at(comps),
            r => r,
        }
    }

    /// Overlay mode: a directory on `comps` that this layer deleted earlier (an overlayfs
    /// whiteout in the upper dir) is made again, as an opaque directory. Returns whether one
    /// was. Only called when a path failed on a non-directory, so it costs nothing otherwise.
    fn fix_whiteouts(&mut self, comps: &[OsString]) -> Result<bool> {
        if self.mode != Mode::Overlay {
            return Ok(false);
        }
        let mut fixed = false;
        let mut cur = self.ex.root.dir()?;
        for (i, c) in comps.iter().enumerate() {
            match cur.stat(c)? {
                Some(m) if m.is_dir() => cur = cur.open_dir(c)?,
                Some(m) if is_whiteout(&m) => {
                    cur.unlink(c)?;
                    cur.mkdir(c, 0o755)?;
                    cur.chmod(c, 0o755)?;
                    cur.set_xattr(c, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")?;
                    self.mark_written(&rel_path(&comps[..=i]));
                    cur = cur.open_dir(c)?;
                    fixed = true;
                }
                _ => break,
            }
        }
        Ok(fixed)
    }

    fn whiteout(&mut self, parents: &[OsString], target: &OsStr) -> Result<()> {
        let rel = rel_path(parents).join(target);
        if self.mode == Mode::Copy {
            match self.ex.root.open_dir(inroot::join(parents)) {
                Ok(_) => {}
                // Nothing below a missing directory to delete.
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            let dir = self.dir_at(parents)?;
            self.hide_lower(&rel)?;
            return Ok(self.ex.touched(&dir)?);
        }
        let dir = self.dir_at(parents)?;
        // Anything already in the upper dir came from this layer: keep it. A whiteout is only
        // made where a lower layer has something to hide: overlayfs shows whiteouts in
        // directories that are not merged (new or opaque ones).
        let exists_here = dir.stat(target)?.is_some();
        let opaque = dir
            .get_xattr(OsStr::new(""), OsStr::new(OVERLAY_OPAQUE_XATTR))?
            .as_deref()
            == Some(b"y");
        if !exists_here && !opaque && self.in_lowers(&rel) {
            dir.mknod(target, NodeKind::Char, 0, 0)?;
        }
        Ok(self.ex.touched(&dir)?)
    }

    fn opaque(&mut self, dir_comps: &[OsString], _name: &str) -> Result<()> {
        let dir = self.dir_at(dir_comps)?;
        match self.mode {
            Mode::Overlay => {
                dir.set_xattr(OsStr::new(""), OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")?;
            }
            Mode::Copy => {
                let rel = rel_path(dir_comps);
                for child in dir.read_dir()? {
                    self.hide_lower(&rel.join(child))?;
                }
                self.ex.touched(&dir)?;
            }
        }
        Ok(())
    }

    /// Does the topmost lower layer that has an entry at `rel` have a real one (not a
    /// whiteout)?
    fn in_lowers(&self, rel: &Path) -> bool {
        for l in self.lowers {
            if let Some(md) = lstat_beneath(l, rel) {
                return !is_overlay_whiteout(&md);
            }
        }
        false
    }

    /// Copy mode: delete `rel` unless this layer wrote it (or something below it); in a
    /// directory this layer kept, delete what it did not write.
    fn hide_lower(&mut self, rel: &Path) -> Result<()> {
        let mut todo = vec![rel.to_path_buf()];
        while let Some(rel) = todo.pop() {
            let (dir, name) = self.ex.root.parent(rel.as_os_str())?;
            let Some(md) = dir.stat(&name)? else {
                continue;
            };
            if !self.written.contains(&rel) {
                dir.remove_all(&name)?;
                continue;
            }
            if md.is_dir() {
                for child in dir.open_dir(&name)?.read_dir()? {
                    todo.push(rel.join(child));
                }
            }
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        meta: &crate::tarentry::EntryMeta,
        comps: &[OsString],
        name: &str,
    ) -> Result<()> {
        let placed = match self.ex.put(entry, meta, comps, name) {
            Err(e) if is_not_dir(&e) && self.fix_whiteouts(&comps[..comps.len() - 1])? => {
                self.ex.put(entry, meta, comps, name)?
            }
            r => r?,
        };
        if placed {
            self.mark_written(&rel_path(comps));
        }
        Ok(())
    }
}

/// Did an operation fail on a path component that is not a directory?
fn is_not_dir(e: &Error) -> bool {
    matches!(e, Error::InRoot(ie) if ie.raw_os_error() == Some(libc::ENOTDIR))
}
