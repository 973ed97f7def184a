//! The actions of a file op applied to a destination root. Every path of the destination and
//! of the sources is resolved inside its root ([`inroot::Root`]).

use super::chmod::ModeSpec;
use super::copy::{copy_tree, At, CopyCtx};
use super::doublestar::{double_star_matches, has_double_star};
use super::owner::resolve_owner;
use super::unpack::try_unpack;
use super::{FileOpError, FileOpOptions, SourceRoot};
use crate::context::dockerignore::clean_path;
use crate::context::pattern::has_wildcard;
use crate::context::resolve::{rel_of, resolve_matches};
use crate::context::DockerIgnore;
use inroot::{Dir, Root};
use kiln_solver::{CopyAction, FileAction};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;

/// Applies `actions` in order to `dest_root` (input 0). `sources[i - 1]` is input `i`; see the
/// module docs.
pub fn apply_actions(
    dest_root: &Path,
    sources: &[SourceRoot],
    actions: &[FileAction],
    opts: &FileOpOptions,
) -> Result<(), FileOpError> {
    apply_actions_reusing(dest_root, sources, actions, opts, None)
}

/// [`apply_actions`], with the files of the copies that `reuse` can give written as
/// placeholders for [`Reuse::finish`](super::Reuse::finish) to fill.
pub fn apply_actions_reusing(
    dest_root: &Path,
    sources: &[SourceRoot],
    actions: &[FileAction],
    opts: &FileOpOptions,
    mut reuse: Option<&mut super::Reuse>,
) -> Result<(), FileOpError> {
    let dest = Root::open(dest_root)?;
    let mut opened: HashMap<usize, Root> = HashMap::new();
    for a in actions {
        match a {
            FileAction::Copy(c) => {
                let dest_src;
                let src = if c.src_input == 0 {
                    dest_src = SourceRoot::new(dest_root.to_path_buf());
                    &dest_src
                } else {
                    sources
                        .get(c.src_input - 1)
                        .ok_or(FileOpError::NoSuchInput(c.src_input, sources.len() + 1))?
                };
                if c.src_input == 0 {
                    copy_action(&dest, src, &dest, c, opts, None)?;
                } else {
                    let src_root = match opened.entry(c.src_input) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(Root::open(&src.root)?)
                        }
                    };
                    copy_action(&dest, src, src_root, c, opts, reuse.as_deref_mut())?;
                }
            }
            FileAction::Mkdir {
                path,
                mode,
                make_parents,
                owner,
            } => {
                let owner = owner
                    .as_ref()
                    .map(|o| resolve_owner(&dest, o))
                    .transpose()?;
                mkdir(&dest, path, *mode, *make_parents, owner)?;
            }
            FileAction::Mkfile {
                path,
                mode,
                data,
                owner,
            } => {
                let owner = owner
                    .as_ref()
                    .map(|o| resolve_owner(&dest, o))
                    .transpose()?;
                mkfile(&dest, path, *mode, data, owner)?;
            }
            FileAction::Rm {
                path,
                allow_not_found,
                allow_wildcard,
            } => rm(&dest, path, *allow_not_found, *allow_wildcard)?,
            FileAction::Symlink { target, link } => {
                let (dir, name) = dest.parent(link.as_str())?;
                if dir.stat(&name)?.is_some_and(|m| !m.is_dir()) {
                    dir.unlink(&name)?;
                }
                dir.symlink(&name, OsStr::new(target))?;
            }
        }
    }
    Ok(())
}

/// `mkdir -p` inside `root` with new directories owned by `owner` (default 0:0), with `perm`
/// and, if given, `mtime`.
pub(super) fn mkdir_all(
    root: &Root,
    path: &str,
    perm: u32,
    owner: Option<(u32, u32)>,
    mtime: Option<i64>,
) -> Result<Dir, FileOpError> {
    let (uid, gid) = owner.unwrap_or((0, 0));
    Ok(root.mkdir_all(path, perm, &mut |d, n| {
        d.chown(n, uid, gid)?;
        if let Some(t) = mtime {
            d.set_times(n, (t, 0), (t, 0))?;
        }
        Ok(())
    })?)
}

fn mkdir(
    root: &Root,
    path: &str,
    mode: u32,
    parents: bool,
    owner: Option<(u32, u32)>,
) -> Result<(), FileOpError> {
    let rel = rel_of(path);
    if parents {
        let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        mkdir_all(root, parent, 0o755, owner, None)?;
    }
    let target = match root.resolve(rel.as_str(), true) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            return Err(FileOpError::Io {
                op: "mkdir",
                path: format!("/{rel}").into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if target.meta.is_some_and(|m| m.is_dir()) {
        return Ok(());
    }
    let (dir, name) = (&target.parent, &target.name);
    dir.mkdir(name, 0o700)?;
    let (uid, gid) = owner.unwrap_or((0, 0));
    dir.chown(name, uid, gid)?;
    dir.chmod(name, mode & 0o7777)?;
    Ok(())
}

fn mkfile(
    root: &Root,
    path: &str,
    mode: u32,
    data: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<(), FileOpError> {
    let (dir, name) = root.parent(rel_of(path).as_str())?;
    if dir.stat(&name)?.is_some_and(|m| !m.is_dir()) {
        dir.unlink(&name)?;
    }
    let mut f = dir.create_file(&name, 0o600)?;
    std::io::Write::write_all(&mut f, data).map_err(FileOpError::io("write", path))?;
    drop(f);
    let (uid, gid) = owner.unwrap_or((0, 0));
    dir.chown(&name, uid, gid)?;
    dir.chmod(&name, mode & 0o7777)?;
    Ok(())
}

fn rm(
    root: &Root,
    path: &str,
    allow_not_found: bool,
    allow_wildcard: bool,
) -> Result<(), FileOpError> {
    let matches = resolve_matches(root, path, allow_wildcard, None)
        .map_err(|e| FileOpError::BadPattern(e.to_string()))?;
    if matches.is_empty() {
        return if allow_not_found {
            Ok(())
        } else {
            Err(FileOpError::NotFound(path.to_string()))
        };
    }
    for m in matches {
        if m.is_empty() {
            continue;
        }
        let (dir, name) = root.parent(m.as_str())?;
        if !dir.remove_all(&name)? && !allow_not_found {
            return Err(FileOpError::NotFound(format!("/{m}")));
        }
    }
    Ok(())
}

/// The part of a `--parents` source kept below the destination: after a `/./` pivot if any,
/// else the whole path.
fn parents_part(src: &str, matched_rel: &str) -> String {
    let Some(idx) = src
        .find("/./")
        .or_else(|| src.starts_with("./").then_some(0))
    else {
        return matched_rel.to_string();
    };
    let pivot_depth = rel_of(&src[..idx])
        .split('/')
        .filter(|s| !s.is_empty())
        .count();
    matched_rel
        .split('/')
        .skip(pivot_depth)
        .collect::<Vec<_>>()
        .join("/")
}

fn copy_action(
    dest: &Root,
    src: &SourceRoot,
    src_root: &Root,
    a: &CopyAction,
    opts: &FileOpOptions,
    reuse: Option<&mut super::Reuse>,
) -> Result<(), FileOpError> {
    let chown = a
        .owner
        .as_ref()
        .map(|o| resolve_owner(dest, o))
        .transpose()?;
    let mode = a.mode.as_ref().map(ModeSpec::from_chmod).transpose()?;
    let excludes = if a.exclude_patterns.is_empty() {
        None
    } else {
        Some(
            DockerIgnore::from_patterns(&a.exclude_patterns)
                .map_err(|e| FileOpError::BadPattern(e.to_string()))?,
        )
    };
    let ignore = src.ignore.as_deref();
    let wildcard = a.allow_wildcard && has_wildcard(&a.src);
    let mut matches = if a.parents && wildcard && has_double_star(&a.src) {
        double_star_matches(src_root, &a.src, ignore)?
    } else {
        resolve_matches(src_root, &a.src, wildcard, ignore)
            .map_err(|e| FileOpError::BadPattern(e.to_string()))?
    };
    if let Some(ex) = &excludes {
        matches.retain(|m| {
            let base = m.rsplit('/').next().unwrap_or("");
            base.is_empty() || !ex.matches(base)
        });
    }
    if matches.is_empty() {
        if wildcard && a.allow_empty_wildcard {
            return Ok(());
        }
        return Err(FileOpError::NotFound(format!("/{}", rel_of(&a.src))));
    }
    if !a.create_dest_path {
        let d = rel_of(&a.dest);
        let parent = d.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        dest.open_dir(parent)?;
    }
    // Implicitly created parents are 0755 and owned by the --chown user (or root): --chmod is
    // for what is copied, never for the directories made to hold it (Docker 20.10's BuildKit).
    let parent_mode = 0o755;
    // Sharing needs each destination path to be written once: one source, walked once.
    let reuse = if matches.len() == 1 { reuse } else { None };
    let mut cx = CopyCtx {
        chown,
        force_owner: src.force_owner,
        mode: mode.as_ref(),
        mtime: a.mtime,
        skip_xattrs: opts.skip_xattrs,
        ignore,
        excludes: excludes.as_ref(),
        hashed: src.hashed.as_ref(),
        dest,
        links: HashMap::new(),
        reuse,
    };
    for m in &matches {
        let mut dest_path = a.dest.clone();
        if a.parents {
            // The kept path lands below the destination under its own name.
            let keep = parents_part(&a.src, m);
            if !keep.is_empty() {
                dest_path = format!("{}/{}", dest_path.trim_end_matches('/'), keep);
            }
        }
        let found = src_root.resolve(m.as_str(), a.follow_symlinks)?;
        let src_meta = found
            .meta
            .ok_or_else(|| FileOpError::NotFound(format!("/{m}")))?;
        if a.attempt_unpack && src_meta.is_file() {
            let rel = rel_of(&dest_path);
            let mut file = found.open_file()?;
            if try_unpack(&mut file, &format!("/{m}"), dest, &rel, chown, a.mtime)? {
                continue;
            }
        }
        // Make the destination's directory (or the destination itself when it ends in `/`).
        let dest_clean = clean_path(&format!("/{dest_path}"));
        let is_dir_dest =
            dest_path.ends_with('/') || dest_path.ends_with("/.") || dest_clean == "/";
        let ensure = if is_dir_dest {
            dest_clean.clone()
        } else {
            dest_clean
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default()
        };
        // A destination directory this copy makes holds nothing of the layers below.
        let fresh_dest = is_dir_dest
            && match dest.stat(ensure.as_str(), true) {
                Ok(m) => m.is_none(),
                Err(e) => e.is_not_found(),
            };
        mkdir_all(dest, &ensure, parent_mode, chown, a.mtime)?;
        let target = dest.resolve(dest_clean.as_str(), true)?;
        let src_is_dir = src_meta.is_dir();
        let dest_is_dir = target.meta.is_some_and(|d| d.is_dir());
        let into = (!a.dir_copy_contents && src_is_dir && target.meta.is_some())
            || (!src_is_dir && dest_is_dir);
        // Ignore rules see the path the source resolved to (a symlink may lead elsewhere in
        // the context): what BuildKit's transferred context would hold there.
        let real_rel = found.rel();
        if real_rel != *m && !src_is_dir && ignore.is_some_and(|ig| ig.matches(&real_rel)) {
            return Err(FileOpError::NotFound(format!("/{m}")));
        }
        let src_at = At {
            dir: &found.parent,
            name: &found.name,
            rel: real_rel,
        };
        let contents_root = src_is_dir && a.dir_copy_contents;
        if into {
            let base = m.rsplit('/').next().unwrap_or("");
            let into_dir = target.open_dir()?;
            let name = if base.is_empty() {
                // The source is the root itself: its contents go into the directory.
                OsStr::new("")
            } else {
                OsStr::new(base)
            };
            let rel = join_path(&target.rel(), base);
            copy_tree(
                &mut cx,
                src_at,
                "",
                At {
                    dir: &into_dir,
                    name,
                    rel,
                },
                contents_root,
                fresh_dest,
            )?;
        } else {
            copy_tree(
                &mut cx,
                src_at,
                "",
                At {
                    dir: &target.parent,
                    name: &target.name,
                    rel: target.rel(),
                },
                contents_root,
                fresh_dest,
            )?;
        }
    }
    Ok(())
}

fn join_path(a: &str, b: &str) -> String {
    super::copy::join_rel(a, b)
}
