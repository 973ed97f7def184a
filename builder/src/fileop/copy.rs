//! Copying a tree: contents, modes, owners, mtimes, xattrs, symlinks, hardlinks and special
//! files. Existing destination directories keep their own metadata; other existing entries are
//! replaced.

use super::chmod::ModeSpec;
use super::rootpath::resolve_in_root;
use super::FileOpError;
use crate::context::DockerIgnore;
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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
    /// (dev, ino) of multiply-linked sources already copied → their copy.
    pub links: HashMap<(u64, u64), PathBuf>,
}

impl CopyCtx<'_> {
    fn owner_of(&self, meta: &Metadata) -> (u32, u32) {
        self.chown
            .or(self.force_owner)
            .unwrap_or((meta.uid(), meta.gid()))
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

fn join_rel(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Copies `src` (host path; `root_rel` its path in the source root, `sub_rel` its path below
/// the copied source) to `dst`. Returns whether anything was written. `new_root_dir` marks the
/// top of a directory-contents copy: if created, it gets the chown/root owner instead of the
/// source's.
pub(super) fn copy_tree(
    cx: &mut CopyCtx<'_>,
    src: &Path,
    root_rel: &str,
    sub_rel: &str,
    dst: &Path,
    contents_root: bool,
) -> Result<bool, FileOpError> {
    let meta = std::fs::symlink_metadata(src).map_err(FileOpError::io("stat", src))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        let existing = std::fs::symlink_metadata(dst).ok();
        let created = match &existing {
            Some(m) if m.is_dir() => false,
            Some(_) => {
                std::fs::remove_file(dst).map_err(FileOpError::io("replace", dst))?;
                true
            }
            None => true,
        };
        if created {
            std::fs::create_dir(dst).map_err(FileOpError::io("mkdir", dst))?;
        }
        let mut names: Vec<_> = std::fs::read_dir(src)
            .map_err(FileOpError::io("read dir", src))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(FileOpError::io("read dir", src))?;
        names.sort();
        let mut wrote = created;
        for name in names {
            let n = name.to_string_lossy();
            let child_root = join_rel(root_rel, &n);
            let child_sub = join_rel(sub_rel, &n);
            let csrc = src.join(&name);
            let (skip, can_skip) = cx.excluded(&child_root, &child_sub);
            let is_dir = std::fs::symlink_metadata(&csrc)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if skip && (!is_dir || can_skip) {
                continue;
            }
            let cdst = dst.join(&name);
            if skip {
                // Excluded directory that may hold re-included entries: keep it only if so.
                let existed = cdst.symlink_metadata().is_ok();
                let any = copy_tree(cx, &csrc, &child_root, &child_sub, &cdst, false)?;
                if !any && !existed {
                    let _ = std::fs::remove_dir(&cdst);
                }
                wrote |= any;
                continue;
            }
            wrote |= copy_tree(cx, &csrc, &child_root, &child_sub, &cdst, false)?;
        }
        if created {
            let owner = if contents_root {
                cx.chown.unwrap_or((0, 0))
            } else {
                cx.owner_of(&meta)
            };
            set_meta(cx, src, dst, &meta, owner, !contents_root)?;
        }
        return Ok(wrote);
    }
    if let Ok(m) = std::fs::symlink_metadata(dst) {
        if m.is_dir() {
            std::fs::remove_dir_all(dst).map_err(FileOpError::io("replace", dst))?;
        } else {
            std::fs::remove_file(dst).map_err(FileOpError::io("replace", dst))?;
        }
    }
    let owner = cx.owner_of(&meta);
    if meta.nlink() > 1 && !ft.is_dir() {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = cx.links.get(&key) {
            if std::fs::hard_link(first, dst).is_ok() {
                return Ok(true);
            }
        }
        cx.links.insert(key, dst.to_path_buf());
    }
    if ft.is_symlink() {
        let target = std::fs::read_link(src).map_err(FileOpError::io("readlink", src))?;
        std::os::unix::fs::symlink(&target, dst).map_err(FileOpError::io("symlink", dst))?;
    } else if ft.is_file() {
        std::fs::copy(src, dst).map_err(FileOpError::io("copy", dst))?;
    } else if ft.is_socket() {
        std::fs::File::create(dst).map_err(FileOpError::io("create", dst))?;
    } else {
        let kind = if ft.is_fifo() {
            rustix::fs::FileType::Fifo
        } else if ft.is_char_device() {
            rustix::fs::FileType::CharacterDevice
        } else {
            rustix::fs::FileType::BlockDevice
        };
        rustix::fs::mknodat(
            CWD,
            dst,
            kind,
            rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777),
            meta.rdev(),
        )
        .map_err(|e| FileOpError::Io {
            op: "mknod",
            path: dst.to_path_buf(),
            source: e.into(),
        })?;
    }
    set_meta(cx, src, dst, &meta, owner, true)?;
    Ok(true)
}

/// Owner, mode, xattrs and times of a freshly written `dst`.
fn set_meta(
    cx: &CopyCtx<'_>,
    src: &Path,
    dst: &Path,
    meta: &Metadata,
    owner: (u32, u32),
    xattrs: bool,
) -> Result<(), FileOpError> {
    let is_link = meta.file_type().is_symlink();
    rustix::fs::chownat(
        CWD,
        dst,
        Some(rustix::fs::Uid::from_raw(owner.0)),
        Some(rustix::fs::Gid::from_raw(owner.1)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| FileOpError::Io {
        op: "chown",
        path: dst.to_path_buf(),
        source: e.into(),
    })?;
    if xattrs && !cx.skip_xattrs {
        copy_xattrs(src, dst);
    }
    if !is_link {
        let base = meta.mode() & 0o7777;
        let mode = cx
            .mode
            .map(|m| m.apply(base, meta.is_dir()))
            .unwrap_or(base);
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))
            .map_err(FileOpError::io("chmod", dst))?;
    }
    let (mt, mns) = match cx.mtime {
        Some(t) => (t, 0),
        None => (meta.mtime(), meta.mtime_nsec()),
    };
    let (at, ans) = match cx.mtime {
        Some(t) => (t, 0),
        None => (meta.atime(), meta.atime_nsec()),
    };
    set_times(dst, at, ans, mt, mns)
}

/// Sets atime/mtime without following a final symlink.
pub(super) fn set_times(p: &Path, at: i64, ans: i64, mt: i64, mns: i64) -> Result<(), FileOpError> {
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: at,
            tv_nsec: ans as _,
        },
        last_modification: Timespec {
            tv_sec: mt,
            tv_nsec: mns as _,
        },
    };
    rustix::fs::utimensat(CWD, p, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| FileOpError::Io {
        op: "utimes",
        path: p.to_path_buf(),
        source: e.into(),
    })
}

/// Best-effort copy of every extended attribute (unsupported ones are skipped).
fn copy_xattrs(src: &Path, dst: &Path) {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(src, &mut names) else {
        return;
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        let mut val = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(src, cname.as_c_str(), &mut val) {
            let _ = rustix::fs::lsetxattr(
                dst,
                cname.as_c_str(),
                &val[..len],
                rustix::fs::XattrFlags::empty(),
            );
        }
    }
}

/// `mkdir -p` of `rel` inside `root`, every component resolved inside the root. Created
/// directories get `mode`, `owner` (default 0:0) and `mtime` if given.
pub(super) fn mkdir_all_in_root(
    root: &Path,
    rel: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
    mtime: Option<i64>,
) -> Result<PathBuf, FileOpError> {
    let mut prefix = String::new();
    let mut host = root.to_path_buf();
    for comp in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        prefix = join_rel(&prefix, comp);
        host = resolve_in_root(root, &prefix, true)
            .map_err(FileOpError::io("resolve", root.join(&prefix)))?;
        match std::fs::metadata(&host) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(FileOpError::Io {
                    op: "mkdir",
                    path: host,
                    source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
                })
            }
            Err(_) => {}
        }
        // The resolved path (through a symlink) may need several new directories.
        let mut missing = Vec::new();
        let mut cur = host.as_path();
        while cur.starts_with(root) && cur != root && std::fs::symlink_metadata(cur).is_err() {
            missing.push(cur.to_path_buf());
            cur = match cur.parent() {
                Some(p) => p,
                None => break,
            };
        }
        for dir in missing.into_iter().rev() {
            std::fs::create_dir(&dir).map_err(FileOpError::io("mkdir", &dir))?;
            let (uid, gid) = owner.unwrap_or((0, 0));
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(FileOpError::io("chown", &dir))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .map_err(FileOpError::io("chmod", &dir))?;
            if let Some(t) = mtime {
                set_times(&dir, t, 0, t, 0)?;
            }
        }
    }
    Ok(host)
}
