//! Resolving COPY/ADD source paths inside a root: wildcards per path segment with Go's
//! `filepath.Match`, symlinks in intermediate components followed inside the root, and entries
//! excluded by a `.dockerignore` invisible.

use super::dockerignore::{clean_path, DockerIgnore};
use super::pattern::{go_match, has_wildcard, BadPattern};
use super::walk::{walk_dir, WalkControl, WalkFilter};
use inroot::Root;
use std::io;
use std::path::PathBuf;

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

impl ResolveError {
    fn inroot(root: &Root, rel: &str, e: inroot::Error) -> ResolveError {
        ResolveError::Io {
            path: root.shown_host_path(rel),
            source: e.into(),
        }
    }
}

/// Cleans a source path into a root-relative one: `/a/./b/` → `a/b`, `/` → `` (the root).
pub fn rel_of(path: &str) -> String {
    let c = clean_path(&format!("/{path}"));
    c.trim_start_matches('/').to_string()
}

/// Is the entry at `rel` visible through `ignore`? Excluded directories stay visible when
/// something below them is re-included.
pub fn is_visible(root: &Root, rel: &str, ignore: Option<&DockerIgnore>) -> bool {
    let Some(ig) = ignore else { return true };
    if rel.is_empty() || !ig.matches(rel) {
        return true;
    }
    let is_dir = matches!(root.stat(rel, false), Ok(Some(m)) if m.is_dir());
    if !is_dir || ig.can_skip_dir(rel) {
        return false;
    }
    let Ok(dir) = root.open_dir(rel) else {
        return false;
    };
    // Look for a re-included descendant.
    let mut found = false;
    let _ = walk_dir(
        &dir,
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

/// Does resolving fail only because the path is not there (a missing or non-directory
/// component), which for a source means "no match"?
fn is_absent(e: &inroot::Error) -> bool {
    e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// Resolves one source path (already absolute inside the root, wildcards allowed if
/// `allow_wildcard`) into root-relative matches, sorted. A non-wildcard path that does not
/// exist (or is ignored) gives an empty list. The root itself is `""`.
pub fn resolve_matches(
    root: &Root,
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
                let names = match root.open_dir(base).and_then(|d| d.read_dir()) {
                    Ok(n) => n,
                    Err(e) if is_absent(&e) => continue,
                    Err(e) => return Err(ResolveError::inroot(root, base, e)),
                };
                for name in names {
                    let name = name.to_string_lossy();
                    if go_match(seg, &name)? {
                        next.push(join(&name));
                    }
                }
            } else {
                let candidate = join(seg);
                match root.resolve(&candidate, !is_last) {
                    Ok(r) if r.meta.is_some() => next.push(candidate),
                    Ok(_) => {}
                    Err(e) if is_absent(&e) => {}
                    Err(e) => return Err(ResolveError::inroot(root, &candidate, e)),
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
