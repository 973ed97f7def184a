//! Resolving paths inside a root directory: every component is looked up by hand and symlinks
//! are followed *inside* the root (absolute targets are relative to the root, `..` never climbs
//! above it), like a chroot would.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed while resolving one path (Linux's limit is 40; BuildKit allows 255).
const MAX_SYMLINKS: usize = 255;

/// Resolves `path` (absolute or relative, both taken relative to `root`) to a host path that
/// is guaranteed to lie inside `root`. Symlinks in intermediate components are always followed;
/// the final component is followed only if `follow_final`. Missing components are kept as is,
/// so the result may not exist.
pub fn resolve_in_root(root: &Path, path: &str, follow_final: bool) -> io::Result<PathBuf> {
    let mut done: Vec<std::ffi::OsString> = Vec::new();
    let mut todo: Vec<std::ffi::OsString> = components(Path::new(path));
    todo.reverse();
    let mut links = 0usize;
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            done.pop();
            continue;
        }
        let is_final = todo.is_empty();
        let mut candidate = root.to_path_buf();
        candidate.extend(done.iter());
        candidate.push(&comp);
        if is_final && !follow_final {
            done.push(comp);
            break;
        }
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links resolving {path:?}"
                    )));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    done.clear();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            _ => done.push(comp),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(done.iter());
    Ok(out)
}

/// The normal components of `p` (`.` dropped, `..` kept, root dropped).
fn components(p: &Path) -> Vec<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_symlink_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/real", d.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", d.path().join("up")).unwrap();
        let p = resolve_in_root(d.path(), "/abs/x", true).unwrap();
        assert_eq!(p, d.path().join("real/x"));
        let p = resolve_in_root(d.path(), "up/passwd", true).unwrap();
        assert_eq!(p, d.path().join("etc/passwd"));
        let p = resolve_in_root(d.path(), "abs", false).unwrap();
        assert_eq!(p, d.path().join("abs"));
    }

    #[test]
    fn loop_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("b", d.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("b")).unwrap();
        assert!(resolve_in_root(d.path(), "a/x", true).is_err());
    }
}
