//! The actions of a file op applied to a destination root.

use super::chmod::ModeSpec;
use super::copy::{copy_tree, mkdir_all_in_root, CopyCtx};
use super::doublestar::{double_star_matches, has_double_star};
use super::owner::resolve_owner;
use super::rootpath::resolve_in_root;
use super::unpack::try_unpack;
use super::{FileOpError, FileOpOptions, SourceRoot};
use crate::context::dockerignore::clean_path;
use crate::context::pattern::has_wildcard;
use crate::context::resolve::{rel_of, resolve_matches};
use crate::context::DockerIgnore;
use kiln_solver::{CopyAction, FileAction};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Applies `actions` in order to `dest_root` (input 0). `sources[i - 1]` is input `i`; see the
/// module docs.
pub fn apply_actions(
    dest_root: &Path,
    sources: &[SourceRoot],
    actions: &[FileAction],
    opts: &FileOpOptions,
) -> Result<(), FileOpError> {
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
                copy_action(dest_root, src, c, opts)?;
            }
            FileAction::Mkdir {
                path,
                mode,
                make_parents,
                owner,
            } => {
                let owner = owner
                    .as_ref()
                    .map(|o| resolve_owner(dest_root, o))
                    .transpose()?;
                mkdir(dest_root, path, *mode, *make_parents, owner)?;
            }
            FileAction::Mkfile {
                path,
                mode,
                data,
                owner,
            } => {
                let owner = owner
                    .as_ref()
                    .map(|o| resolve_owner(dest_root, o))
                    .transpose()?;
                mkfile(dest_root, path, *mode, data, owner)?;
            }
            FileAction::Rm {
                path,
                allow_not_found,
                allow_wildcard,
            } => rm(dest_root, path, *allow_not_found, *allow_wildcard)?,
            FileAction::Symlink { target, link } => {
                let host = resolve_in_root(dest_root, link, false)
                    .map_err(FileOpError::io("resolve", dest_root.join(rel_of(link))))?;
                if let Ok(m) = std::fs::symlink_metadata(&host) {
                    if !m.is_dir() {
                        std::fs::remove_file(&host).map_err(FileOpError::io("replace", &host))?;
                    }
                }
                std::os::unix::fs::symlink(target, &host)
                    .map_err(FileOpError::io("symlink", &host))?;
            }
        }
    }
    Ok(())
}

fn mkdir(
    root: &Path,
    path: &str,
    mode: u32,
    parents: bool,
    owner: Option<(u32, u32)>,
) -> Result<(), FileOpError> {
    let rel = rel_of(path);
    if parents {
        let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        mkdir_all_in_root(root, parent, 0o755, owner, None)?;
    }
    let host =
        resolve_in_root(root, &rel, true).map_err(FileOpError::io("resolve", root.join(&rel)))?;
    if host.is_dir() {
        return Ok(());
    }
    std::fs::create_dir(&host).map_err(FileOpError::io("mkdir", &host))?;
    let (uid, gid) = owner.unwrap_or((0, 0));
    std::os::unix::fs::chown(&host, Some(uid), Some(gid))
        .map_err(FileOpError::io("chown", &host))?;
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(FileOpError::io("chmod", &host))
}

fn mkfile(
    root: &Path,
    path: &str,
    mode: u32,
    data: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<(), FileOpError> {
    let rel = rel_of(path);
    let host =
        resolve_in_root(root, &rel, false).map_err(FileOpError::io("resolve", root.join(&rel)))?;
    if let Ok(m) = std::fs::symlink_metadata(&host) {
        if !m.is_dir() {
            std::fs::remove_file(&host).map_err(FileOpError::io("replace", &host))?;
        }
    }
    std::fs::write(&host, data).map_err(FileOpError::io("write", &host))?;
    let (uid, gid) = owner.unwrap_or((0, 0));
    std::os::unix::fs::chown(&host, Some(uid), Some(gid))
        .map_err(FileOpError::io("chown", &host))?;
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(FileOpError::io("chmod", &host))
}

fn rm(
    root: &Path,
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
        let host =
            resolve_in_root(root, &m, false).map_err(FileOpError::io("resolve", root.join(&m)))?;
        let meta = std::fs::symlink_metadata(&host).map_err(FileOpError::io("stat", &host))?;
        if meta.is_dir() {
            std::fs::remove_dir_all(&host).map_err(FileOpError::io("remove", &host))?;
        } else {
            std::fs::remove_file(&host).map_err(FileOpError::io("remove", &host))?;
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
    dest_root: &Path,
    src: &SourceRoot,
    a: &CopyAction,
    opts: &FileOpOptions,
) -> Result<(), FileOpError> {
    let chown = a
        .owner
        .as_ref()
        .map(|o| resolve_owner(dest_root, o))
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
        double_star_matches(&src.root, &a.src, ignore)?
    } else {
        resolve_matches(&src.root, &a.src, wildcard, ignore)
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
        let host = resolve_in_root(dest_root, parent, true)
            .map_err(FileOpError::io("resolve", dest_root.join(parent)))?;
        std::fs::metadata(&host).map_err(FileOpError::io("stat", &host))?;
    }
    // Implicitly created parents: the --chmod octal mode (BuildKit's testCopyChmod), else 0755.
    let parent_mode = match &mode {
        Some(ModeSpec::Octal(m)) => *m,
        _ => 0o755,
    };
    let mut cx = CopyCtx {
        chown,
        force_owner: src.force_owner,
        mode: mode.as_ref(),
        mtime: a.mtime,
        skip_xattrs: opts.skip_xattrs,
        ignore,
        excludes: excludes.as_ref(),
        links: HashMap::new(),
    };
    for m in &matches {
        let mut dest = a.dest.clone();
        if a.parents {
            // The kept path lands below the destination under its own name.
            let keep = parents_part(&a.src, m);
            if !keep.is_empty() {
                dest = format!("{}/{}", dest.trim_end_matches('/'), keep);
            }
        }
        let src_host = resolve_in_root(&src.root, m, a.follow_symlinks)
            .map_err(FileOpError::io("resolve", src.root.join(m)))?;
        let src_meta = std::fs::symlink_metadata(&src_host)
            .map_err(|_| FileOpError::NotFound(format!("/{m}")))?;
        if a.attempt_unpack && src_meta.is_file() {
            let rel = rel_of(&dest);
            if try_unpack(&src_host, dest_root, &rel, chown, a.mtime)? {
                continue;
            }
        }
        // Make the destination's directory (or the destination itself when it ends in `/`).
        let dest_clean = clean_path(&format!("/{dest}"));
        let ensure = if dest.ends_with('/') || dest.ends_with("/.") || dest_clean == "/" {
            dest_clean.clone()
        } else {
            dest_clean
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default()
        };
        mkdir_all_in_root(dest_root, &ensure, parent_mode, chown, a.mtime)?;
        let mut dst = resolve_in_root(dest_root, &dest_clean, true)
            .map_err(FileOpError::io("resolve", dest_root.join(rel_of(&dest))))?;
        let dest_meta = std::fs::metadata(&dst).ok();
        let src_is_dir = src_meta.is_dir();
        let dest_is_dir = dest_meta.as_ref().is_some_and(|d| d.is_dir());
        if (!a.dir_copy_contents && src_is_dir && dest_meta.is_some())
            || (!src_is_dir && dest_is_dir)
        {
            let base = m.rsplit('/').next().unwrap_or("");
            if !base.is_empty() {
                dst = dst.join(base);
            }
        }
        // The copy itself creates `dst` (with the source's metadata); make sure its parent exists.
        let target_parent = dst.parent().map(Path::to_path_buf).unwrap_or(dst.clone());
        if let Ok(tp) = target_parent.strip_prefix(dest_root) {
            mkdir_all_in_root(
                dest_root,
                &tp.to_string_lossy(),
                parent_mode,
                chown,
                a.mtime,
            )?;
        }
        // Ignore rules see the path the source resolved to (a symlink may lead elsewhere in
        // the context): what BuildKit's transferred context would hold there.
        let real_rel = src_host
            .strip_prefix(&src.root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| m.clone());
        if real_rel != *m && !src_meta.is_dir() && ignore.is_some_and(|ig| ig.matches(&real_rel)) {
            return Err(FileOpError::NotFound(format!("/{m}")));
        }
        copy_tree(
            &mut cx,
            &src_host,
            &real_rel,
            "",
            &dst,
            src_is_dir && a.dir_copy_contents,
        )?;
    }
    Ok(())
}
