//! Unpacking a layer tar into a new snapshot, safely.
//!
//! Every entry name is normalised (leading `/` and `.` dropped) and refused if it has a
//! `..` component. Parent directories are checked with `lstat` on every component and
//! must be real directories inside the snapshot: a symlink in the middle of a path is
//! refused, so nothing is ever written through a link. Final components are created with
//! calls that do not follow symlinks (O_NOFOLLOW/O_EXCL, symlink, mknod, linkat without
//! AT_SYMLINK_FOLLOW, lchown, utimensat(AT_SYMLINK_NOFOLLOW), l*xattr).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::digest::HashingReader;
use crate::error::{stream_err, Error, IoContext, Result};
use crate::fsmeta::{self, NodeKind};
use crate::snapshotter::{Mode, SnapshotId, Snapshotter};
use crate::whiteout::{
    is_overlay_opaque, is_overlay_private_xattr, is_overlay_whiteout, make_overlay_whiteout,
    set_overlay_opaque, OPAQUE_MARKER, WHITEOUT_PREFIX,
};

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
    ) -> Result<(SnapshotId, String)> {
        let active = self.prepare(parent)?;
        let res = (|| -> Result<String> {
            let plain = crate::compress::decompressed(r)?;
            let mut hashing = HashingReader::new(plain);
            let mut ex = Extractor {
                root: &active.upper,
                mode: self.mode(),
                lowers: &active.lowers,
                written: HashSet::new(),
                dir_times: Vec::new(),
                buf: vec![0u8; 256 * 1024],
            };
            ex.extract(&mut hashing)?;
            ex.finish_dir_times()?;
            let (diff_id, _) = hashing
                .drain_and_finish()
                .map_err(stream_err("reading the end of the layer"))?;
            Ok(diff_id)
        })();
        match res {
            Ok(diff_id) => Ok((self.commit(active)?, diff_id)),
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

/// `lstat(root/rel)` without following symlinks in any component; `None` if some
/// component is missing, a symlink or not a directory.
fn lstat_beneath(root: &Path, rel: &Path) -> Option<fs::Metadata> {
    let mut p = root.to_path_buf();
    let mut comps = rel.components().peekable();
    while let Some(c) = comps.next() {
        p.push(c);
        let md = fs::symlink_metadata(&p).ok()?;
        if comps.peek().is_none() {
            return Some(md);
        }
        if !md.is_dir() {
            return None;
        }
    }
    None
}

fn join(comps: &[OsString]) -> PathBuf {
    comps.iter().collect()
}

/// Metadata from a tar header, with PAX overrides applied.
struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nanos: u32,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

fn bad(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::BadTar {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<EntryMeta> {
    let h = entry.header();
    let mode = h.mode().map_err(|e| bad(name, e))?;
    let mut uid = h.uid().map_err(|e| bad(name, e))?;
    let mut gid = h.gid().map_err(|e| bad(name, e))?;
    let mut mtime = h.mtime().map_err(|e| bad(name, e))? as i64;
    let mut mtime_nanos = 0u32;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad(name, e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad(name, e))?;
            let Ok(key) = ext.key() else { continue };
            let val = ext.value_bytes();
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                if !is_overlay_private_xattr(x.as_bytes()) {
                    xattrs.push((OsString::from(x), val.to_vec()));
                }
                continue;
            }
            let text = String::from_utf8_lossy(val);
            match key {
                "uid" => uid = text.parse().map_err(|_| bad(name, "bad PAX uid"))?,
                "gid" => gid = text.parse().map_err(|_| bad(name, "bad PAX gid"))?,
                "mtime" => {
                    let (s, frac) = text.split_once('.').unwrap_or((&text, ""));
                    mtime = s.parse().map_err(|_| bad(name, "bad PAX mtime"))?;
                    let digits: String = frac.chars().take(9).collect();
                    if !digits.is_empty() {
                        let scale = 10u32.pow(9 - digits.len() as u32);
                        mtime_nanos = digits.parse::<u32>().unwrap_or(0) * scale;
                    }
                }
                _ => {}
            }
        }
    }
    let uid = u32::try_from(uid).map_err(|_| bad(name, "uid out of range"))?;
    let gid = u32::try_from(gid).map_err(|_| bad(name, "gid out of range"))?;
    Ok(EntryMeta {
        mode: mode & 0o7777,
        uid,
        gid,
        mtime,
        mtime_nanos,
        xattrs,
    })
}

struct Extractor<'a> {
    root: &'a Path,
    mode: Mode,
    /// Lower layers (Overlay mode), top first: source of metadata for implied parents.
    lowers: &'a [PathBuf],
    /// Paths this layer created, with all their ancestors.
    written: HashSet<PathBuf>,
    /// Directory mtimes, applied after all contents.
    dir_times: Vec<(PathBuf, i64, u32)>,
    /// Copy buffer reused for every file.
    buf: Vec<u8>,
}

/// Copy `r` into `w` through `buf` (large writes instead of io::copy's 8 KiB).
fn copy_with(r: &mut dyn Read, w: &mut dyn io::Write, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

impl Extractor<'_> {
    fn extract<R: Read>(&mut self, r: &mut R) -> Result<()> {
        let mut archive = tar::Archive::new(r);
        let entries = archive.entries().map_err(|e| bad("", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad("", e))?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let comps = sanitize(&raw)?;
            let Some((last, parents)) = comps.split_last() else {
                // The root itself ("./"): only a directory entry means something.
                if entry.header().entry_type() == EntryType::Directory {
                    let meta = read_meta(&mut entry, &name)?;
                    self.set_meta(self.root, &meta, false)?;
                    self.dir_times
                        .push((self.root.to_path_buf(), meta.mtime, meta.mtime_nanos));
                }
                continue;
            };
            let last_b = last.as_bytes();
            if last_b == OPAQUE_MARKER.as_bytes() {
                self.opaque(parents, &name)?;
                continue;
            }
            if let Some(target) = last_b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
                if target.is_empty() || target == b"." || target == b".." {
                    return Err(Error::UnsafeEntry {
                        path: name,
                        reason: "invalid whiteout name".into(),
                    });
                }
                self.whiteout(parents, OsStr::from_bytes(target), &name)?;
                continue;
            }
            self.entry(&mut entry, &comps, &name)?;
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

    /// Make sure every component of `comps` is a real directory inside the root, creating
    /// missing ones. Returns the absolute path.
    fn ensure_dirs(&mut self, comps: &[OsString], name: &str) -> Result<PathBuf> {
        let mut abs = self.root.to_path_buf();
        let mut rel = PathBuf::new();
        for c in comps {
            abs.push(c);
            rel.push(c);
            match fs::symlink_metadata(&abs) {
                Ok(md) if md.is_dir() => {}
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(Error::UnsafeEntry {
                        path: name.to_string(),
                        reason: format!("path component {} is a symlink", rel.display()),
                    })
                }
                Ok(md) if self.mode == Mode::Overlay && is_overlay_whiteout(&md) => {
                    // Deleted and re-created in this layer: a fresh opaque directory.
                    fs::remove_file(&abs).ctx("remove", &abs)?;
                    fs::create_dir(&abs).ctx("create directory", &abs)?;
                    fs::set_permissions(&abs, fs::Permissions::from_mode(0o755))
                        .ctx("chmod", &abs)?;
                    set_overlay_opaque(&abs).ctx("set opaque xattr", &abs)?;
                    self.mark_written(&rel);
                }
                Ok(_) => {
                    return Err(Error::UnsafeEntry {
                        path: name.to_string(),
                        reason: format!("path component {} is not a directory", rel.display()),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&abs).ctx("create directory", &abs)?;
                    self.implied_dir_meta(&rel, &abs)?;
                }
                Err(e) => return Err(e).ctx("stat", &abs),
            }
        }
        Ok(abs)
    }

    /// Give a directory created implicitly the metadata of the same directory in the
    /// lower layers (Overlay mode), or root:root 0755.
    fn implied_dir_meta(&mut self, rel: &Path, abs: &Path) -> Result<()> {
        let lower = self.lowers.iter().find_map(|l| {
            lstat_beneath(l, rel)
                .filter(|m| m.is_dir())
                .map(|m| (l.join(rel), m))
        });
        match lower {
            Some((p, md)) => {
                crate::copytree::copy_metadata(&p, abs, &md)?;
                self.dir_times
                    .push((abs.to_path_buf(), md.mtime(), md.mtime_nsec() as u32));
            }
            None => {
                fsmeta::lchown(abs, 0, 0).ctx("chown", abs)?;
                fs::set_permissions(abs, fs::Permissions::from_mode(0o755)).ctx("chmod", abs)?;
            }
        }
        Ok(())
    }

    /// Remove whatever is at `abs` (never following symlinks).
    fn remove_existing(abs: &Path) -> Result<()> {
        match fs::symlink_metadata(abs) {
            Ok(md) if md.is_dir() => fs::remove_dir_all(abs).ctx("remove", abs),
            Ok(_) => fs::remove_file(abs).ctx("remove", abs),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx("stat", abs),
        }
    }

    fn whiteout(&mut self, parents: &[OsString], target: &OsStr, name: &str) -> Result<()> {
        if self.mode == Mode::Copy {
            let parent = self.root.join(join(parents));
            if !fs::symlink_metadata(&parent)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                return Ok(()); // nothing below a missing directory to delete
            }
        }
        let dir = self.ensure_dirs(parents, name)?;
        let abs = dir.join(target);
        let rel = join(parents).join(target);
        match self.mode {
            Mode::Overlay => {
                // Anything already in the upper dir came from this layer: keep it. A
                // whiteout is only made where a lower layer has something to hide: overlayfs
                // shows whiteouts in directories that are not merged (new or opaque ones).
                let exists_here = fs::symlink_metadata(&abs).is_ok();
                let opaque = is_overlay_opaque(&dir).ctx("read xattr", &dir)?;
                if !exists_here && !opaque && self.in_lowers(&rel) {
                    make_overlay_whiteout(&abs).ctx("create whiteout", &abs)?;
                }
            }
            Mode::Copy => self.hide_lower(&rel)?,
        }
        Ok(())
    }

    fn opaque(&mut self, dir: &[OsString], name: &str) -> Result<()> {
        let abs = self.ensure_dirs(dir, name)?;
        match self.mode {
            Mode::Overlay => set_overlay_opaque(&abs).ctx("set opaque xattr", &abs)?,
            Mode::Copy => {
                let rel = join(dir);
                for child in fs::read_dir(&abs).ctx("read directory", &abs)? {
                    let child = child.ctx("read directory", &abs)?;
                    self.hide_lower(&rel.join(child.file_name()))?;
                }
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
        let abs = self.root.join(rel);
        let Ok(md) = fs::symlink_metadata(&abs) else {
            return Ok(());
        };
        if !self.written.contains(rel) {
            return Self::remove_existing(&abs);
        }
        if md.is_dir() {
            for child in fs::read_dir(&abs).ctx("read directory", &abs)? {
                let child = child.ctx("read directory", &abs)?;
                self.hide_lower(&rel.join(child.file_name()))?;
            }
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        comps: &[OsString],
        name: &str,
    ) -> Result<()> {
        let (last, parents) = match comps.split_last() {
            Some(x) => x,
            None => return Ok(()),
        };
        let dir = self.ensure_dirs(parents, name)?;
        let abs = dir.join(last);
        let rel = join(comps);
        let meta = read_meta(entry, name)?;
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Directory => {
                match fs::symlink_metadata(&abs) {
                    Ok(md) if md.is_dir() => {}
                    Ok(md) => {
                        let was_whiteout = self.mode == Mode::Overlay && is_overlay_whiteout(&md);
                        fs::remove_file(&abs).ctx("remove", &abs)?;
                        fs::create_dir(&abs).ctx("create directory", &abs)?;
                        if was_whiteout {
                            set_overlay_opaque(&abs).ctx("set opaque xattr", &abs)?;
                        }
                    }
                    Err(_) => fs::create_dir(&abs).ctx("create directory", &abs)?,
                }
                self.set_meta(&abs, &meta, false)?;
                self.dir_times.push((abs, meta.mtime, meta.mtime_nanos));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                Self::remove_existing(&abs)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&abs)
                    .ctx("create", &abs)?;
                copy_with(entry, &mut f, &mut self.buf)
                    .map_err(stream_err(format!("extracting {name}")))?;
                drop(f);
                self.set_meta(&abs, &meta, false)?;
                self.set_time(&abs, &meta)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(name, "symlink without target"))?
                    .into_owned();
                Self::remove_existing(&abs)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &abs)
                    .ctx("create symlink", &abs)?;
                self.set_meta(&abs, &meta, true)?;
                self.set_time(&abs, &meta)?;
            }
            EntryType::Link => {
                let raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(name, "hardlink without target"))?
                    .into_owned();
                let tcomps = sanitize(&raw)?;
                let Some((tlast, tparents)) = tcomps.split_last() else {
                    return Err(Error::UnsafeEntry {
                        path: name.to_string(),
                        reason: "hardlink to the root".into(),
                    });
                };
                let target = self.existing_dir(tparents, name)?.join(tlast);
                let tmd = fs::symlink_metadata(&target).map_err(|_| Error::UnsafeEntry {
                    path: name.to_string(),
                    reason: format!(
                        "hardlink target {} is not in the layer",
                        String::from_utf8_lossy(&raw)
                    ),
                })?;
                if tmd.is_dir() || (self.mode == Mode::Overlay && is_overlay_whiteout(&tmd)) {
                    return Err(Error::UnsafeEntry {
                        path: name.to_string(),
                        reason: "hardlink target is a directory or deleted".into(),
                    });
                }
                if target != abs {
                    Self::remove_existing(&abs)?;
                    fs::hard_link(&target, &abs).ctx("hard link", &abs)?;
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let node = match kind {
                    EntryType::Char => NodeKind::Char,
                    EntryType::Block => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                Self::remove_existing(&abs)?;
                if let Err(e) = fsmeta::mknod(&abs, node, meta.mode, major, minor) {
                    log::warn!("skipping device node {name}: {e}");
                    return Ok(());
                }
                self.set_meta(&abs, &meta, false)?;
                self.set_time(&abs, &meta)?;
            }
            EntryType::XGlobalHeader => return Ok(()),
            other => {
                log::warn!("skipping tar entry {name} of type {other:?}");
                return Ok(());
            }
        }
        self.mark_written(&rel);
        Ok(())
    }

    /// Like `ensure_dirs` but creates nothing: every component must exist as a directory.
    fn existing_dir(&self, comps: &[OsString], name: &str) -> Result<PathBuf> {
        let mut abs = self.root.to_path_buf();
        for c in comps {
            abs.push(c);
            match fs::symlink_metadata(&abs) {
                Ok(md) if md.is_dir() => {}
                _ => {
                    return Err(Error::UnsafeEntry {
                        path: name.to_string(),
                        reason: format!(
                            "hardlink target directory {} is missing or not a real directory",
                            abs.strip_prefix(self.root).unwrap_or(&abs).display()
                        ),
                    })
                }
            }
        }
        Ok(abs)
    }

    fn set_meta(&self, abs: &Path, m: &EntryMeta, is_symlink: bool) -> Result<()> {
        fsmeta::lchown(abs, m.uid, m.gid).ctx("chown", abs)?;
        if !is_symlink {
            // After chown, which clears setuid/setgid bits.
            fs::set_permissions(abs, fs::Permissions::from_mode(m.mode)).ctx("chmod", abs)?;
        }
        for (k, v) in &m.xattrs {
            if let Err(e) = fsmeta::set_xattr(abs, k, v) {
                log::warn!(
                    "cannot set xattr {} on {}: {e}",
                    k.to_string_lossy(),
                    abs.display()
                );
            }
        }
        Ok(())
    }

    fn set_time(&self, abs: &Path, m: &EntryMeta) -> Result<()> {
        fsmeta::set_times(abs, m.mtime, m.mtime_nanos).ctx("set times", abs)
    }

    fn finish_dir_times(&mut self) -> Result<()> {
        for (p, s, ns) in self.dir_times.iter().rev() {
            // The directory may have been replaced by a later entry.
            if fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false) {
                fsmeta::set_times(p, *s, *ns).ctx("set times", p)?;
            }
        }
        Ok(())
    }
}
