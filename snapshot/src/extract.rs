//! Writing tar entries into a directory tree: the one engine behind layer apply and `ADD` of a
//! local archive.
//!
//! Every path goes through an [`inroot::Root`]: parent directories are resolved inside the root
//! (a symlink brought by the tar, or already in the tree, leads somewhere *inside* it, never out),
//! and the entry itself is made with calls that never follow a symlink (`O_EXCL` creates, `*at`
//! calls with `AT_SYMLINK_NOFOLLOW`). The cost is linear in the number of path components: the
//! parent of each entry is found from the directory the last entry was put in, and directory
//! times are re-applied through the descriptor in hand, not by walking the tree again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use inroot::{Dir, Kind, NodeKind, Root};
use tar::EntryType;

use crate::error::{stream_err, Error, Result};
use crate::fsmeta;
use crate::tarentry::{bad, read_meta, write_sparse, EntryMeta, TarGuard};
use crate::whiteout::{is_overlay_private_xattr, OVERLAY_OPAQUE_XATTR};

/// How [`extract_archive`] treats what it unpacks.
#[derive(Clone, Debug, Default)]
pub struct ExtractOptions {
    /// Owner of every entry and of the directories made for them (`ADD --chown`); `None` keeps
    /// the tar's owners (and makes missing parents `0:0`).
    pub owner: Option<(u32, u32)>,
    /// Modification time of every entry (seconds); `None` keeps the tar's.
    pub mtime: Option<i64>,
}

/// Unpack the tar `reader` (plain: decompress it first) into the directory `dest` of `root`,
/// created if missing, the way `ADD` unpacks a local archive: entries may not climb above
/// `dest`; symlinks on the way resolve inside `root`; existing entries are replaced (a
/// directory entry over a file too); old-GNU and PAX sparse files are expanded.
pub fn extract_archive(
    root: &Root,
    dest: &str,
    reader: &mut dyn Read,
    opts: &ExtractOptions,
) -> Result<()> {
    let base = inroot::clean(OsStr::new(dest));
    let owner = opts.owner.unwrap_or((0, 0));
    root.mkdir_all(inroot::join(&base), 0o755, &mut |d, n| {
        d.chown(n, owner.0, owner.1)
    })?;
    let implied = Implied::Owner(owner);
    let mut ex = Extractor::new(root, base, opts.clone(), implied, false);
    let mut archive = tar::Archive::new(TarGuard::new(reader));
    let entries = archive.entries().map_err(|e| bad("", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad("", e))?;
        let meta = read_meta(&mut entry)?;
        let shown = String::from_utf8_lossy(&meta.name).into_owned();
        let comps = clean_within(&meta.name).ok_or_else(|| Error::UnsafeEntry {
            path: shown.clone(),
            reason: "it climbs out of the destination".into(),
        })?;
        if comps.is_empty() {
            continue;
        }
        ex.put(&mut entry, &meta, &comps, &shown)?;
    }
    Ok(())
}

/// An entry name as components, `..` resolved lexically; `None` when it climbs above the top.
fn clean_within(name: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for seg in name.split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            _ => out.push(OsStr::from_bytes(seg).to_os_string()),
        }
    }
    Some(out)
}

/// What a directory made implicitly (a parent no entry listed) gets.
pub(crate) enum Implied {
    /// This owner, mode 0755 (`ADD`).
    Owner((u32, u32)),
    /// The metadata of the same directory in the first of these lower layers (top first) that
    /// has it, else root:root 0755 (layer apply).
    FromLowers(Vec<PathBuf>),
}

/// `lstat(root/rel)` without following symlinks in any component; `None` if some component is
/// missing, a symlink or not a directory.
pub(crate) fn lstat_beneath(root: &Path, rel: &Path) -> Option<fs::Metadata> {
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

/// Places tar entries below `base` in a root.
pub(crate) struct Extractor<'r> {
    pub root: &'r Root,
    base: Vec<OsString>,
    opts: ExtractOptions,
    implied: Implied,
    /// Layer apply on overlayfs: a directory entry over a whiteout becomes an opaque directory.
    overlay: bool,
    /// Times of the directories the tar (or the caller) set, by inode: re-applied each time
    /// something is made in them, so no pass over the tree is needed at the end.
    dir_times: RefCell<HashMap<(u64, u64), (i64, u32)>>,
    buf: Vec<u8>,
}

impl<'r> Extractor<'r> {
    pub(crate) fn new(
        root: &'r Root,
        base: Vec<OsString>,
        opts: ExtractOptions,
        implied: Implied,
        overlay: bool,
    ) -> Extractor<'r> {
        Extractor {
            root,
            base,
            opts,
            implied,
            overlay,
            dir_times: RefCell::new(HashMap::new()),
            buf: vec![0u8; 256 * 1024],
        }
    }

    /// The directory at `comps` (below the base), made with implied metadata where missing.
    pub(crate) fn dir_at(&self, comps: &[OsString]) -> Result<Dir> {
        let mut full = self.base.clone();
        full.extend(comps.iter().cloned());
        Ok(self
            .root
            .mkdir_all(inroot::join(&full), 0o755, &mut |d, n| {
                self.implied_dir(d, n)
            })?)
    }

    /// The parent directory of `comps` (below the base), made with implied metadata where
    /// missing, and the last component.
    pub(crate) fn parent_of(&self, comps: &[OsString]) -> Result<(Dir, OsString)> {
        let mut full = self.base.clone();
        full.extend(comps.iter().cloned());
        Ok(self
            .root
            .create_parent(inroot::join(&full), 0o755, &mut |d, n| {
                self.implied_dir(d, n)
            })?)
    }

    /// Give the directory `name` just made in `parent` its implied metadata.
    fn implied_dir(&self, parent: &Dir, name: &OsStr) -> inroot::Result<()> {
        match &self.implied {
            Implied::Owner((uid, gid)) => parent.chown(name, *uid, *gid)?,
            Implied::FromLowers(lowers) => {
                let mut rel = PathBuf::from(parent.shown_path().trim_start_matches('/'));
                rel.push(name);
                let lower = lowers.iter().find_map(|l| {
                    lstat_beneath(l, &rel)
                        .filter(|m| m.is_dir())
                        .map(|m| (l.join(&rel), m))
                });
                match lower {
                    Some((p, md)) => {
                        parent.chown(name, md.uid(), md.gid())?;
                        parent.chmod(name, md.mode() & 0o7777)?;
                        for (k, v) in fsmeta::list_xattrs(&p).unwrap_or_default() {
                            if !is_overlay_private_xattr(k.as_bytes()) {
                                let _ = parent.set_xattr(name, &k, &v);
                            }
                        }
                        let t = (md.mtime(), md.mtime_nsec() as u32);
                        parent.set_times(name, t, t)?;
                        let dir = parent.open_dir(name)?;
                        self.remember_dir_times(&dir, t)?;
                    }
                    None => parent.chown(name, 0, 0)?,
                }
            }
        }
        // Making it changed its parent.
        self.touched(parent)
    }

    /// Remember `dir`'s own times (to re-apply them after changes inside it).
    pub(crate) fn remember_dir_times(&self, dir: &Dir, time: (i64, u32)) -> inroot::Result<()> {
        if let Some(m) = dir.stat(OsStr::new(""))? {
            self.dir_times.borrow_mut().insert(m.id(), time);
        }
        Ok(())
    }

    /// Something was made or removed in `dir`: give it back the times it should have.
    pub(crate) fn touched(&self, dir: &Dir) -> inroot::Result<()> {
        if self.dir_times.borrow().is_empty() {
            return Ok(());
        }
        if let Some(m) = dir.stat(OsStr::new(""))? {
            let t = self.dir_times.borrow().get(&m.id()).copied();
            if let Some(t) = t {
                dir.set_times(OsStr::new(""), t, t)?;
            }
        }
        Ok(())
    }

    /// Put one entry (not a whiteout) at `comps` below the base. Returns whether something was
    /// made (a device node that cannot be made, or an unknown entry type, is skipped).
    pub(crate) fn put<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        meta: &EntryMeta,
        comps: &[OsString],
        shown: &str,
    ) -> Result<bool> {
        let (parent, name) = self.parent_of(comps)?;
        let kind = entry.header().entry_type();
        let placed = match kind {
            EntryType::Directory => {
                match parent.stat(&name)? {
                    Some(m) if m.is_dir() => {}
                    Some(m) => {
                        let was_whiteout = self.overlay && m.kind == Kind::Char && m.rdev == 0;
                        parent.remove_all(&name)?;
                        parent.mkdir(&name, 0o700)?;
                        if was_whiteout {
                            // Deleted below and made again here: nothing of the old one shows.
                            parent.set_xattr(&name, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")?;
                        }
                    }
                    None => parent.mkdir(&name, 0o700)?,
                }
                self.set_meta(&parent, &name, meta, false)?;
                let dir = parent.open_dir(&name)?;
                self.remember_dir_times(&dir, self.time_of(meta))?;
                true
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                parent.remove_all(&name)?;
                let mut f = parent.create_file(&name, 0o600)?;
                match &meta.sparse {
                    Some(sparse) => write_sparse(entry, sparse, &mut f, &mut self.buf, shown)?,
                    None => {
                        copy_with(entry, &mut f, &mut self.buf)
                            .map_err(stream_err(format!("extracting {shown}")))?;
                    }
                }
                drop(f);
                self.set_meta(&parent, &name, meta, false)?;
                true
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(shown, "symlink without target"))?
                    .into_owned();
                parent.remove_all(&name)?;
                parent.symlink(&name, OsStr::from_bytes(&target))?;
                self.set_meta(&parent, &name, meta, true)?;
                true
            }
            EntryType::Link => {
                let raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(shown, "hardlink without target"))?
                    .into_owned();
                self.hard_link(&parent, &name, &raw, shown)?
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
                parent.remove_all(&name)?;
                let dev = libc::makedev(major, minor);
                if let Err(e) = parent.mknod(&name, node, meta.mode, dev) {
                    log::warn!("skipping device node {shown}: {e}");
                    false
                } else {
                    self.set_meta(&parent, &name, meta, false)?;
                    true
                }
            }
            EntryType::XGlobalHeader => false,
            other => {
                log::warn!("skipping tar entry {shown} of type {other:?}");
                false
            }
        };
        self.touched(&parent)?;
        Ok(placed)
    }

    /// Make `name` in `parent` a hard link to the tar path `raw` (below the base), which must
    /// already be in the tree and not be a directory.
    fn hard_link(&mut self, parent: &Dir, name: &OsStr, raw: &[u8], shown: &str) -> Result<bool> {
        let refused = |reason: String| Error::UnsafeEntry {
            path: shown.to_string(),
            reason,
        };
        let target = String::from_utf8_lossy(raw).into_owned();
        let tcomps = clean_within(raw)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refused(format!("hardlink target {target} is outside the tree")))?;
        let mut full = self.base.clone();
        full.extend(tcomps);
        let (tdir, tname) = match self.root.parent(inroot::join(&full)) {
            Ok(x) => x,
            Err(e) if e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(refused(format!(
                    "hardlink target {target} is not in the tree"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let tmeta = tdir
            .stat(&tname)?
            .ok_or_else(|| refused(format!("hardlink target {target} is not in the tree")))?;
        if tmeta.is_dir() || (self.overlay && tmeta.kind == Kind::Char && tmeta.rdev == 0) {
            return Err(refused(
                "hardlink target is a directory or deleted".to_string(),
            ));
        }
        if parent.stat(name)?.is_some_and(|m| m.id() == tmeta.id()) {
            return Ok(true);
        }
        parent.remove_all(name)?;
        parent.hard_link(name, &tdir, &tname)?;
        Ok(true)
    }

    fn time_of(&self, meta: &EntryMeta) -> (i64, u32) {
        match self.opts.mtime {
            Some(t) => (t, 0),
            None => (meta.mtime, meta.mtime_nanos),
        }
    }

    /// Owner, mode, xattrs and times of a freshly made entry.
    pub(crate) fn set_meta(
        &self,
        dir: &Dir,
        name: &OsStr,
        meta: &EntryMeta,
        is_symlink: bool,
    ) -> Result<()> {
        let (uid, gid) = self.opts.owner.unwrap_or((meta.uid, meta.gid));
        dir.chown(name, uid, gid)?;
        if !is_symlink {
            // After chown, which clears setuid and setgid.
            dir.chmod(name, meta.mode)?;
        }
        for (k, v) in &meta.xattrs {
            if let Err(e) = dir.set_xattr(name, k, v) {
                log::warn!(
                    "cannot set xattr {} on {}: {e}",
                    k.to_string_lossy(),
                    String::from_utf8_lossy(&meta.name)
                );
            }
        }
        let t = self.time_of(meta);
        dir.set_times(name, t, t)?;
        Ok(())
    }
}

/// Copy `r` into `w` through `buf` (large writes instead of io::copy's 8 KiB).
pub(crate) fn copy_with(
    r: &mut dyn Read,
    w: &mut dyn io::Write,
    buf: &mut [u8],
) -> io::Result<u64> {
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
