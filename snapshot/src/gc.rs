//! Garbage collection of snapshots, blobs and partial blobs: mark from the caller's roots and
//! from what live leases hold, sweep what nothing marks (containerd's `metadata/gc`, with
//! leases tied to processes; see [`crate::Leases`]).
//!
//! A collection that removes things runs under [`Leases::lock_gc`]: it reads the held
//! resources first, then the caller's roots, plans, and sweeps by renaming snapshots away and
//! unlinking blobs; the renamed trees are deleted after the lock is released
//! ([`Sweep::purge`]). A report (`system df`) makes the same plan without the lock, so what it
//! calls reclaimable is what a collection would remove.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::content::ContentStore;
use crate::error::{IoContext, Result};
use crate::lease::{older_than, owner_of, Held, Leases};
use crate::meta::read_meta;
use crate::mount::{MOUNT_PREFIX, PROBE_PREFIX};
use crate::snapshotter::{dir_usage, SnapshotId, Snapshotter};
use crate::trash::{purge, TRASH_PREFIX};

/// Temporaries without an owner (made by kiln versions without leases, or by handles used
/// without one) are collected once they are this old.
pub const UNOWNED_GRACE: Duration = Duration::from_secs(3600);

/// What the caller keeps: the snapshots its records, containers and base images use, and the
/// blobs its images reference. Everything below a kept snapshot (its parents) is kept too.
#[derive(Debug, Default, Clone)]
pub struct GcRoots {
    /// Snapshots to keep with their parents.
    pub snapshots: Vec<SnapshotId>,
    /// Blobs to keep (digests).
    pub blobs: HashSet<String>,
}

/// One snapshot directory as its metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    /// Its id.
    pub id: SnapshotId,
    /// Its parent, if it has one (and the metadata is readable).
    pub parent: Option<SnapshotId>,
    /// Committed (usable as a parent) rather than active.
    pub committed: bool,
    /// Whether `meta.json` could be read.
    pub readable: bool,
}

/// Every snapshot directory and its parent link, read once.
#[derive(Debug, Default)]
pub struct SnapshotGraph {
    nodes: HashMap<String, SnapshotRecord>,
}

impl SnapshotGraph {
    /// The snapshots.
    pub fn records(&self) -> impl Iterator<Item = &SnapshotRecord> {
        self.nodes.values()
    }

    /// The record of `id`, if that directory exists.
    pub fn get(&self, id: &str) -> Option<&SnapshotRecord> {
        self.nodes.get(id)
    }

    /// `seeds` and all their ancestors that exist.
    pub fn closure<'a>(&self, seeds: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
        let mut out = HashSet::new();
        for s in seeds {
            let mut cur = Some(s.to_string());
            while let Some(id) = cur.take() {
                if !out.insert(id.clone()) {
                    break;
                }
                cur = self
                    .nodes
                    .get(&id)
                    .and_then(|r| r.parent.as_ref().map(|p| p.0.clone()));
            }
        }
        out
    }

    /// Depth of `id` in its chain (1 for a snapshot without parent), for children-first order.
    pub fn depth(&self, id: &str) -> usize {
        let mut n = 0;
        let mut seen = HashSet::new();
        let mut cur = Some(id.to_string());
        while let Some(c) = cur.take() {
            if !seen.insert(c.clone()) {
                break;
            }
            n += 1;
            cur = self
                .nodes
                .get(&c)
                .and_then(|r| r.parent.as_ref().map(|p| p.0.clone()));
        }
        n
    }
}

impl Snapshotter {
    /// Read every snapshot directory's metadata (for collection, reports and checks; a leased
    /// handle does not attach what it scans).
    pub fn graph(&self) -> Result<SnapshotGraph> {
        let mut nodes = HashMap::new();
        for id in self.all_ids()? {
            let dir = self.dir(&id)?;
            let rec = match read_meta(&dir) {
                Ok(m) => SnapshotRecord {
                    id: id.clone(),
                    parent: m.parent.map(SnapshotId),
                    committed: m.committed,
                    readable: true,
                },
                Err(_) if !dir.exists() => continue,
                Err(_) => SnapshotRecord {
                    id: id.clone(),
                    parent: None,
                    committed: false,
                    readable: false,
                },
            };
            nodes.insert(id.0, rec);
        }
        Ok(SnapshotGraph { nodes })
    }
}

/// What a collection removes.
#[derive(Debug, Default)]
pub struct GcPlan {
    /// Snapshots, children before parents.
    pub snapshots: Vec<SnapshotId>,
    /// Blobs no root references and no live lease holds: (digest, size).
    pub blobs: Vec<(String, u64)>,
    /// Partial blobs of dead processes: (file name under `ingest/`, size).
    pub partials: Vec<(String, u64)>,
    /// Leftover temporary directories (half-deleted snapshots, mount points of dead
    /// processes) under the snapshotter's `tmp/`.
    pub scratch: Vec<PathBuf>,
    /// Snapshots kept (roots, held, and their parents).
    pub live: HashSet<String>,
}

/// Liveness of the owners of temporary names, asked once per owner.
struct Owners<'a> {
    leases: &'a Leases,
    held: &'a Held,
    known: HashMap<String, bool>,
}

impl Owners<'_> {
    /// Is the temporary `name` (`<owner>-<random>`) owned by a live lease? Unowned names count
    /// as live until [`UNOWNED_GRACE`] has passed.
    fn live(&mut self, name: &str, path: &std::path::Path) -> bool {
        let Some(owner) = owner_of(name) else {
            return !older_than(path, UNOWNED_GRACE);
        };
        if self.held.is_live(owner) {
            return true;
        }
        if self.held.is_dead(owner) {
            return false;
        }
        // A lease created after the held set was read: its file is locked before any name
        // carrying its id exists, so asking now is exact.
        let leases = self.leases;
        *self
            .known
            .entry(owner.to_string())
            .or_insert_with(|| leases.is_live(owner))
    }
}

/// Decide what to remove: every snapshot neither in `roots`, nor held, nor a parent of one;
/// every blob neither in `roots` nor held; partial blobs and temporaries of dead owners.
pub fn plan(
    leases: &Leases,
    snaps: &Snapshotter,
    content: &ContentStore,
    held: &Held,
    graph: &SnapshotGraph,
    roots: &GcRoots,
) -> Result<GcPlan> {
    let live = graph.closure(
        roots
            .snapshots
            .iter()
            .map(|s| s.0.as_str())
            .chain(held.snapshots.iter().map(String::as_str)),
    );
    let mut doomed: Vec<&SnapshotRecord> = graph
        .records()
        .filter(|r| !live.contains(&r.id.0))
        .collect();
    doomed.sort_by_key(|r| (std::cmp::Reverse(graph.depth(&r.id.0)), r.id.clone()));
    let mut owners = Owners {
        leases,
        held,
        known: HashMap::new(),
    };
    let blobs = content
        .list()?
        .into_iter()
        .filter(|(d, _)| !roots.blobs.contains(d.as_str()) && !held.blobs.contains(d.as_str()))
        .map(|(d, size)| (d.to_string(), size))
        .collect();
    let mut partials = Vec::new();
    let ingest = content.ingest_dir();
    for (name, path) in list_dir(&ingest)? {
        if held.ingests.contains(&name) || owners.live(&name, &path) {
            continue;
        }
        let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
        partials.push((name, size));
    }
    partials.sort();
    let mut scratch = Vec::new();
    for (name, path) in list_dir(&snaps.tmp_dir())? {
        let collect = if name.starts_with(TRASH_PREFIX) {
            true
        } else if let Some(rest) = name.strip_prefix(MOUNT_PREFIX) {
            !owners.live(rest, &path)
        } else if name.starts_with(PROBE_PREFIX) {
            older_than(&path, UNOWNED_GRACE)
        } else {
            false
        };
        if collect {
            scratch.push(path);
        }
    }
    scratch.sort();
    Ok(GcPlan {
        snapshots: doomed.into_iter().map(|r| r.id.clone()).collect(),
        blobs,
        partials,
        scratch,
        live,
    })
}

/// Delete a directory tree another process may be deleting too (missing is fine).
pub fn remove_tree(path: &std::path::Path) -> Result<()> {
    purge(path)
}

fn list_dir(dir: &std::path::Path) -> Result<Vec<(String, PathBuf)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).ctx("read directory", dir),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.ctx("read directory", dir)?;
        out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    Ok(out)
}

/// Bytes a plan would free, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcSizes {
    /// Snapshot directories (whole: layer, work dir, metadata).
    pub snapshots: u64,
    /// Blobs.
    pub blobs: u64,
    /// Partial blobs.
    pub partials: u64,
    /// Leftover temporary directories.
    pub scratch: u64,
}

impl GcSizes {
    /// Everything.
    pub fn total(&self) -> u64 {
        self.snapshots + self.blobs + self.partials + self.scratch
    }
}

impl GcPlan {
    /// Is there nothing to remove?
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
            && self.blobs.is_empty()
            && self.partials.is_empty()
            && self.scratch.is_empty()
    }

    /// What removing the plan frees, measured the way [`Sweep::purge`] counts it.
    pub fn sizes(&self, snaps: &Snapshotter) -> Result<GcSizes> {
        let mut s = GcSizes {
            blobs: self.blobs.iter().map(|(_, n)| n).sum(),
            partials: self.partials.iter().map(|(_, n)| n).sum(),
            ..GcSizes::default()
        };
        for id in &self.snapshots {
            s.snapshots += dir_usage(&snaps.dir(id)?)?;
        }
        for p in &self.scratch {
            s.scratch += dir_usage(p)?;
        }
        Ok(s)
    }

    /// Remove what the plan says: snapshots are renamed away (deleted by [`Sweep::purge`]),
    /// blobs and partial blobs unlinked. Run it under the collector's lock it was planned
    /// under. Items already gone are skipped.
    pub fn sweep(&self, snaps: &Snapshotter, content: &ContentStore) -> Result<Sweep> {
        let mut sw = Sweep::default();
        for id in &self.snapshots {
            match snaps.detach(id) {
                Ok(t) => {
                    sw.snapshots += 1;
                    sw.trash.push(t);
                }
                Err(crate::Error::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for (d, size) in &self.blobs {
            let p = content.path(d);
            match fs::remove_file(&p) {
                Ok(()) => {
                    sw.blobs += 1;
                    sw.bytes += size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("remove", &p),
            }
        }
        for (name, size) in &self.partials {
            let p = content.ingest_dir().join(name);
            match fs::remove_file(&p) {
                Ok(()) => {
                    sw.partials += 1;
                    sw.bytes += size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("remove", &p),
            }
        }
        sw.trash.extend(self.scratch.iter().cloned());
        Ok(sw)
    }
}

/// What [`GcPlan::sweep`] removed; the renamed trees are deleted by [`Sweep::purge`].
#[derive(Debug, Default)]
pub struct Sweep {
    /// Snapshots removed.
    pub snapshots: usize,
    /// Blobs removed.
    pub blobs: usize,
    /// Partial blobs removed.
    pub partials: usize,
    bytes: u64,
    trash: Vec<PathBuf>,
}

impl Sweep {
    /// Delete the renamed trees (outside the collector's lock) and return every byte the
    /// collection freed.
    pub fn purge(self) -> Result<u64> {
        let mut total = self.bytes;
        for t in &self.trash {
            total += dir_usage(t)?;
            purge(t)?;
        }
        Ok(total)
    }
}

/// What [`collect_dead`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Ids of the dead leases whose leftovers were removed (the caller removes what else it
    /// named after them).
    pub dead: Vec<String>,
    /// Partial blobs removed.
    pub partials: usize,
    /// Uncommitted snapshots removed.
    pub snapshots: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// The cheap collection run when a store is opened: for up to `limit` leases of dead
/// processes, remove their partial blobs, their uncommitted snapshots (except those `keep`
/// names: kept containers; `None` keeps them all) and their mount directories, then the lease.
/// Committed snapshots and blobs are left to [`plan`]/[`GcPlan::sweep`], which know the roots.
pub fn collect_dead(
    leases: &Leases,
    snaps: &Snapshotter,
    content: &ContentStore,
    keep: &mut dyn FnMut() -> Option<HashSet<String>>,
    limit: usize,
) -> Result<Collected> {
    let mut out = Collected::default();
    let dead = leases.dead(limit)?;
    if dead.is_empty() {
        return Ok(out);
    }
    let mut kept: Option<Option<HashSet<String>>> = None;
    let dead_ids: HashSet<String> = dead.iter().map(|d| d.id.clone()).collect();
    for d in dead {
        let h = d.held();
        for name in &h.ingests {
            let p = content.ingest_dir().join(name);
            if let Ok(md) = fs::symlink_metadata(&p) {
                if fs::remove_file(&p).is_ok() {
                    out.partials += 1;
                    out.bytes += md.len();
                }
            }
        }
        for id in &h.snapshots {
            let id = SnapshotId(id.clone());
            let Ok(dir) = snaps.dir(&id) else { continue };
            if !dir.exists() {
                continue;
            }
            let committed = read_meta(&dir).map(|m| m.committed).unwrap_or(false);
            if committed {
                continue;
            }
            match kept.get_or_insert_with(&mut *keep) {
                Some(k) if !k.contains(&id.0) => {}
                _ => continue,
            }
            if let Ok(t) = snaps.detach(&id) {
                out.bytes += dir_usage(&t).unwrap_or(0);
                purge(&t)?;
                out.snapshots += 1;
            }
        }
        out.dead.push(d.id.clone());
        d.remove();
    }
    for (name, path) in list_dir(&snaps.tmp_dir())? {
        let owner = name.strip_prefix(MOUNT_PREFIX).and_then(owner_of);
        if owner.is_some_and(|o| dead_ids.contains(o)) {
            purge(&path)?;
        }
    }
    Ok(out)
}
