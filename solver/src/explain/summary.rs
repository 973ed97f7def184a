//! A compact, bounded summary of the files one COPY source (or one mount) reads: enough to name
//! the paths that changed since the summary was taken, never a copy of the files or of their
//! names.
//!
//! Each entry is 12 bytes: 8 of a hash of the entry's path and 4 of a hash of what it is (kind,
//! mode, owner, symlink target, file content; for a directory also the names of its children, so
//! that a removal shows up as a change of the directory). Changed paths are named from the
//! current walk, which knows the names. Past [`MAX_ENTRIES`] entries the summary keeps
//! directories only, each hashed over its whole subtree (a Merkle tree), shallowest first.

use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// At most this many entries per summary (12 bytes each: 768 KiB).
pub const MAX_ENTRIES: usize = 65_536;

/// One thing a selection reads, as the worker walked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryEntry {
    /// Path as the user knows it (relative to the source's root, `/`-separated).
    pub path: String,
    /// Whether it is a directory.
    pub dir: bool,
    /// Everything that decides the entry's contribution to the key (kind, mode, owner, symlink
    /// target, content digest), in any stable encoding.
    pub content: Vec<u8>,
}

/// How the entries of a [`ContentSummary`] were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Granularity {
    /// Every file and directory.
    Entries = 0,
    /// Directories only, each hashed over its subtree.
    Directories = 1,
}

/// The summary of one selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSummary {
    granularity: Granularity,
    /// Sorted by path hash.
    entries: Vec<(u64, u32)>,
}

/// A summary being compared: the paths that differ, files before directories.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SummaryDiff {
    /// Changed or added paths (a directory with a trailing `/`), files first, each sorted.
    pub paths: Vec<String>,
}

fn h(bytes: &[&[u8]]) -> [u8; 32] {
    let mut s = Sha256::new();
    for b in bytes {
        s.update((b.len() as u64).to_le_bytes());
        s.update(b);
    }
    s.finalize().into()
}

fn path_hash(path: &str) -> u64 {
    let d = h(&[path.as_bytes()]);
    u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8]))
}

fn short(d: &[u8; 32]) -> u32 {
    u32::from_le_bytes(d[..4].try_into().unwrap_or([0; 4]))
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    Some(path.rsplit_once('/').map_or("", |(p, _)| p))
}

/// Per path, the hash of what the entry is; directories include their children's names.
fn entry_hashes(entries: &[SummaryEntry]) -> BTreeMap<&str, ([u8; 32], bool)> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in entries {
        if let Some(p) = parent(&e.path) {
            let name = e.path.rsplit_once('/').map_or(e.path.as_str(), |(_, n)| n);
            children.entry(p).or_default().push(name);
        }
    }
    let mut out = BTreeMap::new();
    for e in entries {
        let d = if e.dir {
            let mut names = children.get(e.path.as_str()).cloned().unwrap_or_default();
            names.sort_unstable();
            names.dedup();
            let listing = names.join("\0");
            h(&[b"dir", &e.content, listing.as_bytes()])
        } else {
            h(&[b"entry", &e.content])
        };
        out.insert(e.path.as_str(), (d, e.dir));
    }
    out
}

/// Per directory, the hash of its subtree (its own entry and every entry below it, in path
/// order).
fn subtree_hashes<'a>(hashes: &BTreeMap<&'a str, ([u8; 32], bool)>) -> BTreeMap<&'a str, [u8; 32]> {
    let mut acc: BTreeMap<&str, Sha256> = BTreeMap::new();
    for (&path, &(d, dir)) in hashes {
        if dir {
            acc.entry(path).or_default();
        }
        // Into every ancestor directory present in the walk, itself included when a directory.
        let mut p = Some(path);
        while let Some(cur) = p {
            if let Some(s) = acc.get_mut(cur) {
                s.update(path.as_bytes());
                s.update([0]);
                s.update(d);
            }
            p = parent(cur);
        }
    }
    acc.into_iter()
        .map(|(p, s)| (p, s.finalize().into()))
        .collect()
}

impl ContentSummary {
    /// Summarise `entries` in at most `budget` (capped at [`MAX_ENTRIES`]) entries.
    pub fn new(entries: &[SummaryEntry], budget: usize) -> ContentSummary {
        let budget = budget.min(MAX_ENTRIES);
        let hashes = entry_hashes(entries);
        let (granularity, mut list): (Granularity, Vec<(u64, u32)>) = if hashes.len() <= budget {
            (
                Granularity::Entries,
                hashes
                    .iter()
                    .map(|(p, (d, _))| (path_hash(p), short(d)))
                    .collect(),
            )
        } else {
            let mut dirs: Vec<(&str, [u8; 32])> = subtree_hashes(&hashes).into_iter().collect();
            dirs.sort_by_key(|(p, _)| (depth(p), *p));
            dirs.truncate(budget);
            (
                Granularity::Directories,
                dirs.iter().map(|(p, d)| (path_hash(p), short(d))).collect(),
            )
        };
        list.sort_unstable();
        list.dedup_by_key(|e| e.0);
        ContentSummary {
            granularity,
            entries: list,
        }
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The paths of `current` (the entries walked now) that differ from this (earlier) summary.
    /// A directory whose only change is explained by a listed path below it is left out.
    pub fn diff(&self, current: &[SummaryEntry]) -> SummaryDiff {
        let before: HashMap<u64, u32> = self.entries.iter().copied().collect();
        let hashes = entry_hashes(current);
        let changed: Vec<(&str, bool)> = match self.granularity {
            Granularity::Entries => hashes
                .iter()
                .filter(|(p, (d, _))| before.get(&path_hash(p)) != Some(&short(d)))
                .map(|(p, (_, dir))| (*p, *dir))
                .collect(),
            Granularity::Directories => subtree_hashes(&hashes)
                .into_iter()
                // Only directories the earlier summary kept can be compared.
                .filter(|(p, d)| {
                    before
                        .get(&path_hash(p))
                        .is_some_and(|old| *old != short(d))
                })
                .map(|(p, _)| (p, true))
                .collect(),
        };
        let listed: HashSet<&str> = changed.iter().map(|(p, _)| *p).collect();
        let mut paths: Vec<(bool, String)> = changed
            .iter()
            .filter(|(p, dir)| {
                // A directory is named only when nothing listed lies below it.
                !*dir
                    || !listed.iter().any(|q| {
                        q != p
                            && (p.is_empty()
                                || q.strip_prefix(*p).is_some_and(|r| r.starts_with('/')))
                    })
            })
            .map(|(p, dir)| {
                let shown = match (*dir, p.is_empty()) {
                    (_, true) => ".".to_string(),
                    (true, false) => format!("{p}/"),
                    (false, false) => p.to_string(),
                };
                (*dir, shown)
            })
            .collect();
        paths.sort();
        SummaryDiff {
            paths: paths.into_iter().map(|(_, p)| p).collect(),
        }
    }

    /// The summary as bytes: one granularity byte, then 12 bytes per entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.entries.len() * 12);
        out.push(self.granularity as u8);
        for (p, c) in &self.entries {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// Decode [`ContentSummary::to_bytes`]; `None` when malformed or over the bound.
    pub fn from_bytes(bytes: &[u8]) -> Option<ContentSummary> {
        let (&g, rest) = bytes.split_first()?;
        let granularity = match g {
            0 => Granularity::Entries,
            1 => Granularity::Directories,
            _ => return None,
        };
        if rest.len() % 12 != 0 || rest.len() / 12 > MAX_ENTRIES {
            return None;
        }
        let entries = rest
            .chunks_exact(12)
            .map(|c| {
                let p = u64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8]));
                let d = u32::from_le_bytes(c[8..].try_into().unwrap_or([0; 4]));
                (p, d)
            })
            .collect();
        Some(ContentSummary {
            granularity,
            entries,
        })
    }
}

fn depth(p: &str) -> usize {
    if p.is_empty() {
        0
    } else {
        p.matches('/').count() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> SummaryEntry {
        SummaryEntry {
            path: path.into(),
            dir: false,
            content: content.as_bytes().to_vec(),
        }
    }

    fn dir(path: &str) -> SummaryEntry {
        SummaryEntry {
            path: path.into(),
            dir: true,
            content: b"755".to_vec(),
        }
    }

    fn tree() -> Vec<SummaryEntry> {
        vec![
            dir(""),
            dir("src"),
            file("src/main.rs", "fn main() {}"),
            file("src/lib.rs", "pub fn f() {}"),
            file("README", "hello"),
        ]
    }

    #[test]
    fn names_a_changed_file_and_nothing_else() {
        let before = ContentSummary::new(&tree(), MAX_ENTRIES);
        let mut now = tree();
        now[2].content = b"fn main() { run() }".to_vec();
        assert_eq!(before.diff(&now).paths, vec!["src/main.rs"]);
        assert!(before.diff(&tree()).paths.is_empty());
    }

    #[test]
    fn an_added_file_is_named_and_its_directory_is_not() {
        let before = ContentSummary::new(&tree(), MAX_ENTRIES);
        let mut now = tree();
        now.push(file("src/new.rs", ""));
        assert_eq!(before.diff(&now).paths, vec!["src/new.rs"]);
    }

    #[test]
    fn a_removal_names_the_directory_it_was_in() {
        let before = ContentSummary::new(&tree(), MAX_ENTRIES);
        let mut now = tree();
        now.remove(3);
        assert_eq!(before.diff(&now).paths, vec!["src/"]);
    }

    #[test]
    fn over_the_budget_directories_are_compared_by_subtree() {
        let mut t = vec![dir(""), dir("a"), dir("b")];
        for i in 0..50 {
            t.push(file(&format!("a/{i}"), "x"));
            t.push(file(&format!("b/{i}"), "y"));
        }
        let before = ContentSummary::new(&t, 10);
        assert!(before.len() <= 10);
        let mut now = t.clone();
        now[10].content = b"changed".to_vec(); // a/3 or b/3
        let changed = now[10].path.clone();
        let top = format!("{}/", changed.split('/').next().unwrap());
        assert_eq!(before.diff(&now).paths, vec![top]);
    }

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        let s = ContentSummary::new(&tree(), MAX_ENTRIES);
        assert_eq!(ContentSummary::from_bytes(&s.to_bytes()), Some(s.clone()));
        assert_eq!(s.to_bytes().len(), 1 + 12 * 5);
        assert_eq!(ContentSummary::from_bytes(&[7, 0, 0]), None);
        assert_eq!(ContentSummary::from_bytes(&[0, 1, 2]), None);
        assert_eq!(ContentSummary::from_bytes(&[]), None);
    }
}
