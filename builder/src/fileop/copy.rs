//! Copying a tree between two roots: contents, modes, owners, mtimes, xattrs, symlinks,
//! hardlinks and special files. Existing destination directories keep their own metadata;
//! other existing entries are replaced.
//!
//! Both sides are walked through directory descriptors ([`inroot::Dir`]) with calls that never
//! follow a symlink: a source entry swapped for a symlink during the copy is copied as that
//! symlink (or refused), never followed to a file outside the source. The walk is iterative and
//! climbs back up with checked `..` opens, so neither the depth of the tree nor the number of
//! its entries costs more than linear time or more than a few open descriptors.

use super::chmod::ModeSpec;
use super::FileOpError;
use crate::context::statcache::StatKey;
use crate::context::{DockerIgnore, HashedFiles};
use inroot::{Dir, Kind, Meta, NodeKind, Root};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

/// Settings shared by one COPY.
pub(super) struct CopyCtx<'a> {
    /// `--chown`, resolved.
    pub chown: Option<(u32, u32)>,
    /// The source's forced owner (the context: 0:0).
    pub force_owner: Option<(u32, u32)>,
    pub mode: Option<&'a ModeSpec>,
    /// Fixed mtime (seconds).
    pub mtime: Option<i64>,
    pub skip_xattrs: bool,
    /// The source root's ignore rules and the path of the copied source relative to it.
    pub ignore: Option<&'a DockerIgnore>,
    /// `--exclude`, matched against paths relative to the copied source.
    pub excludes: Option<&'a DockerIgnore>,
    /// What was hashed of the source's files for the cache key (the build context).
    pub hashed: Option<&'a HashedFiles>,
    /// The destination root (to find the first copy of a hard-linked file).
    pub dest: &'a Root,
    /// (dev, ino) of multiply-linked sources already copied → their copy's in-root path.
    pub links: HashMap<(u64, u64), String>,
    /// Files an earlier result of the same step may give instead of copying them.
    pub reuse: Option<&'a mut super::reuse::Reuse>,
}

impl CopyCtx<'_> {
    fn owner_of(&self, meta: &Meta) -> (u32, u32) {
        self.chown
            .or(self.force_owner)
            .unwrap_or((meta.uid, meta.gid))
    }

    fn excluded(&self, root_rel: &str, sub_rel: &str) -> (bool, bool) {
        let mut skip = false;
        let mut can_skip_dir = true;
        if let Some(ig) = self.ignore {
            if !root_rel.is_empty() && ig.matches(root_rel) {
                skip = true;
                can_skip_dir &= ig.can_skip_dir(root_rel);
            }
        }
        if let Some(ex) = self.excludes {
            if !sub_rel.is_empty() && ex.matches(sub_rel) {
                skip = true;
                can_skip_dir &= ex.can_skip_dir(sub_rel);
            }
        }
        (skip, can_skip_dir)
    }
}

pub(super) fn join_rel(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// An entry given as the directory holding it and its name there (an empty name: the
/// directory itself).
pub(super) struct At<'a> {
    pub dir: &'a Dir,
    pub name: &'a OsStr,
    /// Its path inside its root, `a/b` (empty for the root).
    pub rel: String,
}

fn open_sub(dir: &Dir, name: &OsStr) -> Result<Dir, FileOpError> {
    Ok(if name.is_empty() {
        dir.try_clone()?
    } else {
        dir.open_dir(name)?
    })
}

/// One directory being copied.
struct Frame {
    /// Source and destination directories; `None` while a child is being copied (the walk
    /// holds only the innermost pair open).
    dirs: Option<(Dir, Dir)>,
    /// Identities of both directories, to check the climb back up.
    ids: ((u64, u64), (u64, u64)),
    /// Its name in the parent destination directory.
    name: OsString,
    /// Names still to copy, last first.
    left: Vec<OsString>,
    root_rel: String,
    sub_rel: String,
    dst_rel: String,
    meta: Meta,
    /// Made by this copy (so it gets the source's metadata at the end).
    created: bool,
    /// Made by this copy, here or as the destination directory before it (so it holds nothing
    /// of the layers below).
    fresh: bool,
    /// An excluded directory kept only if something below it is copied.
    excluded_existed: Option<bool>,
    wrote: bool,
    contents_root: bool,
}

/// Prepare the directory `name` in `dir` as a copy target: an existing directory is kept, any
/// other entry replaced. Returns whether it was made.
fn prepare_dir(dir: &Dir, name: &OsStr) -> Result<bool, FileOpError> {
    if name.is_empty() {
        return Ok(false);
    }
    match dir.stat(name)? {
        Some(m) if m.is_dir() => Ok(false),
        Some(_) => {
            dir.unlink(name)?;
            dir.mkdir(name, 0o700)?;
            Ok(true)
        }
        None => {
            dir.mkdir(name, 0o700)?;
            Ok(true)
        }
    }
}

/// Copies `src` (`root_rel` its path in the source root, `sub_rel` its path below the copied
/// source) to `dst`. Returns whether anything was written. `contents_root` marks the top of a
/// directory-contents copy: if created, it gets the chown/root owner instead of the source's.
/// `fresh_dest`: the copy made `dst` just before (as the destination directory).
pub(super) fn copy_tree(
    cx: &mut CopyCtx<'_>,
    src: At<'_>,
    sub_rel: &str,
    dst: At<'_>,
    contents_root: bool,
    fresh_dest: bool,
) -> Result<bool, FileOpError> {
    let meta = src
        .dir
        .stat(src.name)?
        .ok_or_else(|| FileOpError::NotFound(format!("/{}", src.rel)))?;
    if !meta.is_dir() {
        return copy_leaf(cx, &src, &meta, &dst, fresh_dest);
    }
    let created = prepare_dir(dst.dir, dst.name)?;
    let s = open_sub(src.dir, src.name)?;
    let d = open_sub(dst.dir, dst.name)?;
    let mut stack = vec![Frame {
        ids: (id(&s)?, id(&d)?),
        left: reversed(s.read_dir()?),
        dirs: Some((s, d)),
        name: dst.name.to_os_string(),
        root_rel: src.rel.clone(),
        sub_rel: sub_rel.to_string(),
        dst_rel: dst.rel.clone(),
        meta,
        created,
        fresh: created || fresh_dest,
        excluded_existed: None,
        wrote: created,
        contents_root,
    }];
    loop {
        let top = stack.last_mut().unwrap_or_else(|| unreachable!());
        if let Some(name) = top.left.pop() {
            let (s, d) = top.dirs.as_ref().unwrap_or_else(|| unreachable!());
            let child_root = join_rel(&top.root_rel, &name.to_string_lossy());
            let child_sub = join_rel(&top.sub_rel, &name.to_string_lossy());
            let child_dst = join_rel(&top.dst_rel, &name.to_string_lossy());
            let Some(cmeta) = s.stat(&name)? else {
                continue;
            };
            let (skip, can_skip) = cx.excluded(&child_root, &child_sub);
            if skip && (!cmeta.is_dir() || can_skip) {
                continue;
            }
            if !cmeta.is_dir() {
                let wrote = copy_leaf(
                    cx,
                    &At {
                        dir: s,
                        name: &name,
                        rel: child_root,
                    },
                    &cmeta,
                    &At {
                        dir: d,
                        name: &name,
                        rel: child_dst,
                    },
                    top.fresh,
                )?;
                top.wrote |= wrote;
                continue;
            }
            // Excluded directory that may hold re-included entries: keep it only if so.
            let existed = skip
                .then(|| d.stat(&name).map(|m| m.is_some()))
                .transpose()?;
            let created = prepare_dir(d, &name)?;
            let cs = s.open_dir(&name)?;
            let cd = d.open_dir(&name)?;
            let frame = Frame {
                ids: (id(&cs)?, id(&cd)?),
                left: reversed(cs.read_dir()?),
                dirs: Some((cs, cd)),
                name,
                root_rel: child_root,
                sub_rel: child_sub,
                dst_rel: child_dst,
                meta: cmeta,
                created,
                fresh: created,
                excluded_existed: existed,
                wrote: created,
                contents_root: false,
            };
            top.dirs = None;
            stack.push(frame);
            continue;
        }
        // This directory is done: its metadata now (after its contents, for its times).
        let done = stack.pop().unwrap_or_else(|| unreachable!());
        let (s, d) = done.dirs.unwrap_or_else(|| unreachable!());
        if done.created {
            let owner = if done.contents_root {
                cx.chown.unwrap_or((0, 0))
            } else {
                cx.owner_of(&done.meta)
            };
            let xattrs = !done.contents_root;
            set_meta(
                cx,
                &s,
                OsStr::new(""),
                &d,
                OsStr::new(""),
                &done.meta,
                owner,
                xattrs,
            )?;
        }
        let Some(parent) = stack.last_mut() else {
            return Ok(done.wrote);
        };
        let ps = s.open_parent_checked(parent.ids.0)?;
        let pd = d.open_parent_checked(parent.ids.1)?;
        drop((s, d));
        if done.excluded_existed == Some(false) && !done.wrote {
            let _ = pd.rmdir(&done.name);
        }
        parent.wrote |= done.wrote;
        parent.dirs = Some((ps, pd));
    }
}

fn id(d: &Dir) -> Result<(u64, u64), FileOpError> {
    Ok(d.stat(OsStr::new(""))?.map(|m| m.id()).unwrap_or_default())
}

fn reversed(mut v: Vec<OsString>) -> Vec<OsString> {
    v.reverse();
    v
}

/// Copy one non-directory `src` (with `meta`) to `dst`, replacing what is there. `fresh_dir`:
/// `dst.dir` was made by this copy.
fn copy_leaf(
    cx: &mut CopyCtx<'_>,
    src: &At<'_>,
    meta: &Meta,
    dst: &At<'_>,
    fresh_dir: bool,
) -> Result<bool, FileOpError> {
    if dst.name.is_empty() {
        return Err(FileOpError::Io {
            op: "copy",
            path: dst.rel.clone().into(),
            source: std::io::Error::from(std::io::ErrorKind::IsADirectory),
        });
    }
    // A directory this copy made holds only the names of the one listing being copied into
    // it, each once: nothing is there to replace (and a lookup through the overlay is costly).
    if !fresh_dir {
        dst.dir.remove_all(dst.name)?;
        if let Some(r) = cx.reuse.as_deref_mut() {
            r.forget(&dst.rel);
        }
    }
    let owner = cx.owner_of(meta);
    if meta.nlink > 1 {
        let key = meta.id();
        if let Some(first) = cx.links.get(&key) {
            if let Ok((fdir, fname)) = cx.dest.parent(first.as_str()) {
                if dst.dir.hard_link(dst.name, &fdir, &fname).is_ok() {
                    return Ok(true);
                }
            }
        }
        cx.links.insert(key, dst.rel.clone());
    }
    match meta.kind {
        Kind::Symlink => {
            let target = src.dir.readlink(src.name)?;
            dst.dir.symlink(dst.name, &target)?;
        }
        Kind::File => {
            // A file left to an earlier result is never read: the lstat just taken is what
            // must match what was hashed. One that is copied is checked again once open.
            let hashed = hashed_of(cx, &src.rel);
            if let Some((key, sha)) = &hashed {
                same_as_hashed(&src.rel, StatKey::of_meta(meta), key)?;
                // Only a file alone in its inode, going into a directory this copy made (it
                // holds nothing of the layers below), may be left to an earlier result.
                let expect = (fresh_dir && meta.nlink <= 1 && cx.reuse.is_some())
                    .then(|| expected(cx, src, meta, owner, key.size));
                if let Some(r) = cx.reuse.as_deref_mut() {
                    if r.claim(&dst.rel, sha, expect) {
                        return Ok(true);
                    }
                }
            }
            let mut from = src.dir.open_file(src.name)?;
            if let Some((want, _)) = &hashed {
                let opened = from
                    .metadata()
                    .map(|m| StatKey::of(&m))
                    .map_err(FileOpError::io("stat", &src.rel))?;
                same_as_hashed(&src.rel, opened, want)?;
            }
            let mut to = dst.dir.create_file(dst.name, 0o600)?;
            std::io::copy(&mut from, &mut to).map_err(FileOpError::io("copy", &dst.rel))?;
        }
        Kind::Socket => {
            dst.dir.create_file(dst.name, 0o600)?;
        }
        Kind::Fifo | Kind::Char | Kind::Block => {
            let node = match meta.kind {
                Kind::Fifo => NodeKind::Fifo,
                Kind::Char => NodeKind::Char,
                _ => NodeKind::Block,
            };
            dst.dir.mknod(dst.name, node, meta.perm, meta.rdev)?;
        }
        Kind::Dir => unreachable!("directories are copied by copy_tree"),
    }
    set_meta(cx, src.dir, src.name, dst.dir, dst.name, meta, owner, true)?;
    Ok(true)
}

/// What was hashed of the context file `rel` for the cache key (its stat key and content
/// sha256), if it was.
fn hashed_of(cx: &CopyCtx<'_>, rel: &str) -> Option<(StatKey, String)> {
    cx.hashed?.lock().ok()?.get(rel).cloned()
}

/// A context file must be the one whose content was hashed for the cache key.
fn same_as_hashed(rel: &str, got: StatKey, hashed: &StatKey) -> Result<(), FileOpError> {
    if got != *hashed {
        return Err(FileOpError::ChangedDuringBuild(format!("/{rel}")));
    }
    Ok(())
}

/// What [`set_meta`] gives a regular file copied from `src`.
fn expected(
    cx: &CopyCtx<'_>,
    src: &At<'_>,
    meta: &Meta,
    owner: (u32, u32),
    size: u64,
) -> super::reuse::Expect {
    let xattrs = if cx.skip_xattrs {
        Vec::new()
    } else {
        src.dir.list_xattrs(src.name).unwrap_or_default()
    };
    let perm = cx
        .mode
        .map(|m| m.apply(meta.perm, false))
        .unwrap_or(meta.perm);
    let (atime, mtime) = match cx.mtime {
        Some(t) => ((t, 0), (t, 0)),
        None => (meta.atime, meta.mtime),
    };
    super::reuse::Expect {
        size,
        perm,
        uid: owner.0,
        gid: owner.1,
        atime,
        mtime,
        xattrs,
    }
}

/// Owner, mode, xattrs and times of a freshly written `dst` (copied from `src`).
#[allow(clippy::too_many_arguments)]
fn set_meta(
    cx: &CopyCtx<'_>,
    src_dir: &Dir,
    src_name: &OsStr,
    dst_dir: &Dir,
    dst_name: &OsStr,
    meta: &Meta,
    owner: (u32, u32),
    xattrs: bool,
) -> Result<(), FileOpError> {
    dst_dir.chown(dst_name, owner.0, owner.1)?;
    if xattrs && !cx.skip_xattrs {
        // Best effort: file systems without (some) xattrs are tolerated.
        if let Ok(list) = src_dir.list_xattrs(src_name) {
            for (k, v) in list {
                let _ = dst_dir.set_xattr(dst_name, &k, &v);
            }
        }
    }
    if meta.kind != Kind::Symlink {
        let mode = cx
            .mode
            .map(|m| m.apply(meta.perm, meta.is_dir()))
            .unwrap_or(meta.perm);
        dst_dir.chmod(dst_name, mode)?;
    }
    let (at, mt) = match cx.mtime {
        Some(t) => ((t, 0), (t, 0)),
        None => (meta.atime, meta.mtime),
    };
    dst_dir.set_times(dst_name, at, mt)?;
    Ok(())
}
