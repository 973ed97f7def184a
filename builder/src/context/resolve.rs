//! Resolving COPY/ADD source paths inside a root: wildcards per path segment with Go's
//! `filepath.Match`, symlinks in intermediate components followed inside the root, and entries
//! excluded by a `.dockerignore` invisible.

use super::dockerignore::{clean_path, DockerIgnore};
use super::pattern::{go_match, has_wildcard, BadPattern};
use super::walk::{walk, WalkControl, WalkFilter};
use crate::fileop::rootpath::resolve_in_root;
use std::io;
use std::path::{Path, PathBuf};

/// Errors resolving a source path.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A wildcard segment is malformed.
    #[error(transparent)]
    BadPattern(#[from] BadPattern),
    /// Reading the tree failed.
    #[error("{path}: {source}")]
    Io {
        /// The path that could not be read.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Cleans a source path into a root-relative one: `/a/./b/` → `a/b`, `/` → `` (the root).
pub fn rel_of(path: &str) -> String {
    let c = clean_path(&format!("/{path}"));
    c.trim_start_matches('/').to_string()
}

/// Is the entry at `rel` visible through `ignore`? Excluded directories stay visible when
/// something below them is re-included.
pub fn is_visible(root: &Path, rel: &str, ignore: Option<&DockerIgnore>) -> bool {
    let Some(ig) = ignore else { return true };
    if rel.is_empty() || !ig.matches(rel) {
        return true;
    }
    let host = root.join(rel);
    let is_dir = std::fs::symlink_metadata(&host)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if !is_dir || ig.can_skip_dir(rel) {
        return false;
    }
    // Look for a re-included descendant.
    let mut found = false;
    let _ = walk(
        &host,
        rel,
        WalkFilter {
            exclude: Some(ig),
            include: None,
        },
        &mut |_| {
            found = true;
            Ok(WalkControl::SkipDir)
        },
    );
    found
}

/// Resolves one source path (already absolute inside the root, wildcards allowed if
/// `allow_wildcard`) into root-relative matches, sorted. A non-wildcard path that does not
/// exist (or is ignored) gives an empty list. The root itself is `""`.
pub fn resolve_matches(
    root: &Path,
    src: &str,
    allow_wildcard: bool,
    ignore: Option<&DockerIgnore>,
) -> Result<Vec<String>, ResolveError> {
    let rel = rel_of(src);
    if rel.is_empty() {
        return Ok(vec![String::new()]);
    }
    let segments: Vec<&str> = rel.split('/').collect();
    let mut current: Vec<String> = vec![String::new()];
    for (i, seg) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        let mut next = Vec::new();
        for base in &current {
            let join = |name: &str| {
                if base.is_empty() {
                    name.to_string()
                } else {
                    format!("{base}/{name}")
                }
            };
            if allow_wildcard && has_wildcard(seg) {
                let dir = resolve_in_root(root, base, true).map_err(|source| ResolveError::Io {
                    path: root.join(base),
                    source,
                })?;
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for name in names {
                    if go_match(seg, &name)? {
                        next.push(join(&name));
                    }
                }
            } else {
                let candidate = join(seg);
                let host = resolve_in_root(root, &candidate, !is_last).map_err(|source| {
                    ResolveError::Io {
                        path: root.join(&candidate),
                        source,
                    }
                })?;
                if std::fs::symlink_metadata(&host).is_ok() {
                    next.push(candidate);
                }
            }
        }
        current = next
            .into_iter()
            .filter(|r| is_visible(root, r, ignore))
            .collect();
        if current.is_empty() {
            break;
        }
    }
    Ok(current)
}

/// Host path of a root-relative entry; intermediate symlinks are followed inside the root, the
/// final one only if `follow`.
pub fn host_path(root: &Path, rel: &str, follow: bool) -> io::Result<PathBuf> {
    resolve_in_root(root, rel, follow)
}
