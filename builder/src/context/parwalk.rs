//! [`collect_dir`]: the walk of [`super::walk::walk_dir`] done on every core, for callers that
//! only gather one value per entry (the context digest).
//!
//! Same tree, same rules, same result: the entries of each directory are judged and visited in
//! parallel (rayon), subdirectories walked the same way, and the values put back together in
//! the sequential walk's order (depth-first, names sorted bytewise), so the output does not
//! depend on the number of threads. Like the sequential walk it goes through directory
//! descriptors ([`inroot::Dir`]) only: nothing outside the tree is listed or opened, and an
//! entry swapped for a symlink while the walk runs is seen as that symlink.

use super::walk::{WalkControl, WalkEntry, WalkFilter};
use inroot::{Dir, Meta};
use rayon::prelude::*;
use std::ffi::OsString;
use std::io;

/// What [`collect_dir`]'s visitor says about one entry: whether to descend (for a directory)
/// and the value it keeps for it, if any.
pub type Visit<T> = (WalkControl, Option<T>);

/// The values of one subtree, and whether any entry in it was kept by the filter (which, in
/// the sequential walk, is when the excluded directories above it are reported).
struct Part<T> {
    items: Vec<T>,
    reached: bool,
}

impl<T> Part<T> {
    fn none() -> Part<T> {
        Part {
            items: Vec::new(),
            reached: false,
        }
    }
}

/// Walks the tree under `dir` as [`super::walk::walk_dir`] does (same filter, same entries, the
/// same `rel`s), calling `visit` for every entry that walk would report, possibly on several
/// threads at once and in any order, and returns the values `visit` kept, in the sequential
/// walk's order. `visit` returning [`WalkControl::SkipDir`] for a directory leaves out
/// everything below it (what `visit` kept for the directory itself stays). The first error in
/// walk order is returned.
pub fn collect_dir<T, F>(
    dir: &Dir,
    base_rel: &str,
    filter: WalkFilter<'_>,
    visit: &F,
) -> io::Result<Vec<T>>
where
    T: Send,
    F: Fn(&WalkEntry<'_>) -> io::Result<Visit<T>> + Sync,
{
    let entries = par_list(dir)?;
    Ok(walk_entries(dir, base_rel, &entries, filter, visit)?.items)
}

/// The entries of `dir` with their `lstat`, sorted by name; the `lstat`s in parallel.
fn par_list(dir: &Dir) -> io::Result<Vec<(OsString, Meta)>> {
    let names = dir.read_dir()?;
    let stat = |n: &OsString| dir.stat(n).map_err(io::Error::from);
    let metas: Vec<io::Result<Option<Meta>>> = if names.len() < 64 {
        names.iter().map(stat).collect()
    } else {
        names.par_iter().with_min_len(16).map(stat).collect()
    };
    let mut out = Vec::with_capacity(names.len());
    for (name, meta) in names.into_iter().zip(metas) {
        // Gone since the listing: nothing to report.
        if let Some(meta) = meta? {
            out.push((name, meta));
        }
    }
    Ok(out)
}

/// The entries of one directory, each (and each subtree) on whichever thread is free.
fn walk_entries<T, F>(
    dir: &Dir,
    rel: &str,
    entries: &[(OsString, Meta)],
    filter: WalkFilter<'_>,
    visit: &F,
) -> io::Result<Part<T>>
where
    T: Send,
    F: Fn(&WalkEntry<'_>) -> io::Result<Visit<T>> + Sync,
{
    let parts: Vec<io::Result<Part<T>>> = entries
        .par_iter()
        .map(|(name, meta)| walk_entry(dir, rel, name, *meta, filter, visit))
        .collect();
    let mut out = Part::none();
    for p in parts {
        let p = p?;
        out.reached |= p.reached;
        out.items.extend(p.items);
    }
    Ok(out)
}

/// One entry of `dir` and, for a directory, what is below it.
fn walk_entry<T, F>(
    dir: &Dir,
    parent_rel: &str,
    name: &OsString,
    meta: Meta,
    filter: WalkFilter<'_>,
    visit: &F,
) -> io::Result<Part<T>>
where
    T: Send,
    F: Fn(&WalkEntry<'_>) -> io::Result<Visit<T>> + Sync,
{
    let rel = if parent_rel.is_empty() {
        name.to_string_lossy().into_owned()
    } else {
        format!("{parent_rel}/{}", name.to_string_lossy())
    };
    let is_dir = meta.is_dir();
    let (keep, below) = filter.judge(&rel, is_dir);
    let entry = WalkEntry {
        rel,
        dir,
        name,
        meta,
    };
    if keep {
        let (control, item) = visit(&entry)?;
        let mut out = Part {
            items: item.into_iter().collect(),
            reached: true,
        };
        if is_dir && control == WalkControl::Continue {
            let sub = dir.open_dir(name)?;
            let entries = par_list(&sub)?;
            out.items
                .extend(walk_entries(&sub, &entry.rel, &entries, filter, visit)?.items);
        }
        return Ok(out);
    }
    if !below {
        return Ok(Part::none());
    }
    // Excluded, but an exception may keep something below it.
    let listed = dir
        .open_dir(name)
        .map_err(io::Error::from)
        .and_then(|d| Ok((par_list(&d)?, d)));
    let (entries, sub) = match listed {
        Ok(l) => l,
        // An unreadable excluded directory is not an error.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(Part::none()),
        Err(e) => return Err(e),
    };
    let inner = match walk_entries(&sub, &entry.rel, &entries, filter, visit) {
        Ok(inner) if !inner.reached => return Ok(Part::none()),
        Ok(inner) => inner,
        // The sequential walk never looks below a directory the visitor refuses.
        Err(e) => {
            return match visit(&entry)? {
                (WalkControl::SkipDir, item) => Ok(Part {
                    items: item.into_iter().collect(),
                    reached: true,
                }),
                _ => Err(e),
            }
        }
    };
    let (control, item) = visit(&entry)?;
    let mut items: Vec<T> = item.into_iter().collect();
    // Refused: nothing below it counts (the directories above it were reported all the same).
    if control == WalkControl::Continue {
        items.extend(inner.items);
    }
    Ok(Part {
        items,
        reached: true,
    })
}

#[cfg(test)]
mod tests {
    use super::super::dockerignore::DockerIgnore;
    use super::super::walk::walk_dir;
    use super::*;
    use std::fs;

    /// The sequential walk's (rel, kept) list with `skip` refusing some directories.
    fn sequential(root: &std::path::Path, ig: &DockerIgnore, skip: &[&str]) -> Vec<String> {
        let top = inroot::Root::open(root).unwrap();
        let mut out = Vec::new();
        let filter = WalkFilter {
            exclude: Some(ig),
            include: None,
        };
        walk_dir(&top.dir().unwrap(), "", filter, &mut |e| {
            out.push(e.rel.clone());
            Ok(if skip.contains(&e.rel.as_str()) {
                WalkControl::SkipDir
            } else {
                WalkControl::Continue
            })
        })
        .unwrap();
        out
    }

    fn parallel(root: &std::path::Path, ig: &DockerIgnore, skip: &[&str]) -> Vec<String> {
        let top = inroot::Root::open(root).unwrap();
        let filter = WalkFilter {
            exclude: Some(ig),
            include: None,
        };
        collect_dir(&top.dir().unwrap(), "", filter, &|e| {
            let control = if skip.contains(&e.rel.as_str()) {
                WalkControl::SkipDir
            } else {
                WalkControl::Continue
            };
            Ok((control, Some(e.rel.clone())))
        })
        .unwrap()
    }

    #[test]
    fn same_entries_in_the_same_order_as_the_sequential_walk() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in 0..5 {
            for s in 0..3 {
                let p = r.join(format!("d{d}/s{s}"));
                fs::create_dir_all(&p).unwrap();
                for f in 0..70 {
                    fs::write(p.join(format!("f{f:02}.txt")), b"x").unwrap();
                }
            }
            fs::write(r.join(format!("d{d}/keep.md")), b"y").unwrap();
        }
        fs::create_dir_all(r.join("held/inner/deep")).unwrap();
        fs::write(r.join("held/inner/deep/back.txt"), b"z").unwrap();
        fs::write(r.join("held/inner/gone.txt"), b"z").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("d1/link")).unwrap();
        let cases: [(&str, &[&str]); 5] = [
            ("", &[]),
            ("d2\n*/s1/f1*\n", &["d3/s0"]),
            ("held\n!held/inner/deep/back.txt\n", &[]),
            // A held directory refused: the ones above it are still reported.
            ("held\n!held/inner/deep/back.txt\n", &["held/inner"]),
            ("held\n!held/inner/deep/back.txt\n", &["held"]),
        ];
        for (patterns, skip) in cases {
            let ig = DockerIgnore::parse(patterns).unwrap();
            let want = sequential(r, &ig, skip);
            assert!(!want.is_empty());
            assert_eq!(
                parallel(r, &ig, skip),
                want,
                "patterns {patterns:?} skip {skip:?}"
            );
        }
    }
}
