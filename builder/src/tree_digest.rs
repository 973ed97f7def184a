//! The content digest of the part of a snapshot an op reads — a `COPY --from=STAGE` source or
//! a `RUN --mount=from=STAGE,source=…` bind — over each entry's path, type, permissions, owner,
//! symlink target, device number and file content, in a canonical order (times are left out,
//! as in BuildKit's content checksums). BuildKit keys such reads by content, so a stage that
//! changed elsewhere leaves the steps reading an unchanged part of it cached; the solver asks
//! for this digest once the stage has a result.
//!
//! Everything is read through the in-root resolution: a snapshot's symlinks cannot lead the
//! walk out of it.

use inroot::{Dir, Kind, Meta, Root};
use kiln_solver::op::{ContentSelection, ReadAs};
use sha2::{Digest as _, Sha256};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why a selection could not be digested.
#[derive(Debug, thiserror::Error)]
pub enum TreeDigestError {
    /// Resolving or opening an entry inside the snapshot failed.
    #[error(transparent)]
    InRoot(#[from] inroot::Error),
    /// Reading a file's content failed.
    #[error("reading a file of the snapshot: {0}")]
    Read(#[source] std::io::Error),
}

/// The digest of what `sel` reads of the tree mounted at `root`, or `None` when kiln does not
/// key this kind of read by content (wildcards, exclusions): the caller then keys it by the
/// input's cache key, which is never wrong, only less often cached.
pub fn selection_digest(
    root: &Path,
    sel: &ContentSelection,
) -> Result<Option<String>, TreeDigestError> {
    let wildcard = sel.path.contains(['*', '?', '[']);
    let supported = sel.excludes.is_empty()
        && match sel.read {
            ReadAs::Copy { allow_wildcard } => !(allow_wildcard && wildcard),
            ReadAs::Mount => true,
        };
    if !supported {
        return Ok(None);
    }
    let root = Root::open(root)?;
    let mut h = Sha256::new();
    // Both ways of reading follow every symlink on the path, the last one included.
    match root.stat(&sel.path, true)? {
        None => h.update(b"missing\n"),
        Some(meta) if meta.is_dir() => {
            entry_line(&mut h, OsStr::new("."), &meta, None);
            walk(&mut h, root.open_dir(&sel.path)?, Vec::new())?;
        }
        Some(meta) => {
            let content = if meta.is_file() {
                Some(file_sha(&mut root.open_file(&sel.path)?)?)
            } else {
                None
            };
            entry_line(&mut h, OsStr::new("."), &meta, content.as_deref());
        }
    }
    Ok(Some(format!("sha256:{}", hex::encode(h.finalize()))))
}

/// Every entry below `dir` (whose path from the selection is `prefix`), depth first in byte
/// order of names, without following symlinks. Iterative: a deep tree costs no stack.
fn walk(h: &mut Sha256, dir: Dir, prefix: Vec<u8>) -> Result<(), TreeDigestError> {
    let mut stack = vec![(dir, prefix)];
    while let Some((dir, prefix)) = stack.pop() {
        let mut names = dir.read_dir()?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let Some(meta) = dir.stat(&name)? else {
                continue;
            };
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name.as_bytes());
            let extra = match meta.kind {
                Kind::File => Some(file_sha(&mut dir.open_file(&name)?)?),
                Kind::Symlink => Some(format!(
                    "-> {}",
                    String::from_utf8_lossy(dir.readlink(&name)?.as_bytes())
                )),
                _ => None,
            };
            entry_line(h, OsStr::from_bytes(&path), &meta, extra.as_deref());
            if meta.is_dir() {
                subdirs.push((dir.open_dir(&name)?, path));
            }
        }
        // Popped in reverse: push so that the first name is walked first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn entry_line(h: &mut Sha256, path: &OsStr, meta: &Meta, extra: Option<&str>) {
    let rdev = matches!(meta.kind, Kind::Char | Kind::Block).then_some(meta.rdev);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(
        format!(
            "{:?} {:o} {}:{} {:?} {}",
            meta.kind,
            meta.perm,
            meta.uid,
            meta.gid,
            rdev,
            extra.unwrap_or("")
        )
        .as_bytes(),
    );
    h.update(b"\n");
}

fn file_sha(f: &mut std::fs::File) -> Result<String, TreeDigestError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(TreeDigestError::Read)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mount(path: &str) -> ContentSelection {
        ContentSelection {
            path: path.into(),
            read: ReadAs::Mount,
            excludes: Vec::new(),
        }
    }

    fn digest(root: &Path, path: &str) -> String {
        selection_digest(root, &mount(path)).unwrap().unwrap()
    }

    #[test]
    fn names_content_and_metadata_but_not_times() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        std::fs::write(root.join("sub/deep/f"), "one").unwrap();
        std::fs::write(root.join("other"), "o").unwrap();
        let first = digest(root, "/sub");
        std::fs::write(root.join("other"), "o2").unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(root.join("sub/deep/f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            digest(root, "/sub"),
            first,
            "outside the selection, or a time"
        );
        std::fs::write(root.join("sub/deep/f"), "two").unwrap();
        assert_ne!(digest(root, "/sub"), first);
        std::fs::rename(root.join("sub/deep/f"), root.join("sub/deep/g")).unwrap();
        let renamed = digest(root, "/sub");
        std::fs::write(root.join("sub/deep/g"), "two").unwrap();
        assert_eq!(digest(root, "/sub"), renamed);
        std::fs::set_permissions(
            root.join("sub/deep/g"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        assert_ne!(digest(root, "/sub"), renamed, "a mode");
    }

    /// A hostile snapshot: symlinks pointing out of it resolve inside it, and the walk never
    /// follows a symlink below the selection.
    #[test]
    fn symlinks_never_lead_out_of_the_snapshot() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("file"), "in").unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        symlink(outside.path(), root.join("abs")).unwrap();
        symlink("/", root.join("loop")).unwrap();
        // `up` leads to the snapshot's root, not the host's.
        assert_eq!(digest(&root, "/up"), digest(&root, "/"));
        // `abs` names a host path: inside the snapshot it does not exist.
        let missing = digest(&root, "/abs");
        std::fs::write(outside.path().join("secret"), "changed").unwrap();
        assert_eq!(digest(&root, "/abs"), missing);
        assert_eq!(missing, digest(&root, "/nothing-here"));
        // The walk of `/` records `loop` as a symlink and does not descend it.
        let whole = digest(&root, "/");
        std::fs::write(outside.path().join("secret"), "again").unwrap();
        assert_eq!(digest(&root, "/"), whole);
    }

    #[test]
    fn wildcards_and_exclusions_are_left_to_the_input_key() {
        let t = tempfile::tempdir().unwrap();
        let copy = |path: &str, excludes: Vec<String>| ContentSelection {
            path: path.into(),
            read: ReadAs::Copy {
                allow_wildcard: true,
            },
            excludes,
        };
        assert!(selection_digest(t.path(), &copy("/a*", vec![]))
            .unwrap()
            .is_none());
        assert!(selection_digest(t.path(), &copy("/a", vec!["x".into()]))
            .unwrap()
            .is_none());
        assert!(selection_digest(t.path(), &copy("/a", vec![]))
            .unwrap()
            .is_some());
    }
}
