//! `kiln system check [--repair]`: verify the store — every blob's content against its digest,
//! every blob an image references, every cache record's and base-image entry's snapshot chain,
//! every snapshot's parent, every kept container's snapshot — and, with `repair`, remove what
//! is broken: corrupt blobs, broken images (untagged and removed), records and index entries
//! that point at nothing, snapshots whose chain is broken. A good image is never touched.
//!
//! Blobs are hashed without holding anything; the references are checked (and repaired) under
//! the collector's lock, so a concurrent build or prune cannot make a check see a half-made
//! state. What dead processes left behind (partial blobs, uncommitted snapshots) is collected
//! first, as every command does, but completely.

use crate::error::{Result, ResultExt};
use crate::prune::record_snapshot;
use crate::root::Kiln;
use crate::run::list_containers;
use kiln_snapshot::gc::{Collected, SnapshotGraph};
use kiln_snapshot::SnapshotId;
use std::collections::HashSet;

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, e.g. `image busybox:latest: missing blob sha256:… (image config)`.
    pub message: String,
    /// What `--repair` did about it, if it did.
    pub repaired: Option<String>,
}

/// How much was looked at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub blobs: usize,
    pub images: usize,
    pub records: usize,
    pub snapshots: usize,
    pub chains: usize,
    pub containers: usize,
}

/// The result of a check.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub checked: Checked,
    pub problems: Vec<Problem>,
    /// What dead processes had left, collected before checking.
    pub collected: Collected,
}

impl CheckReport {
    /// Problems not repaired.
    pub fn remaining(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.repaired.is_none())
            .count()
    }
}

/// Everything the check found, before repairs.
#[derive(Default)]
struct Findings {
    corrupt_blobs: Vec<(String, String)>,
    broken_images: Vec<(String, String, String)>,
    broken_records: Vec<(kiln_solver::Digest, String)>,
    unreadable_records: Vec<std::path::PathBuf>,
    broken_chains: Vec<(std::path::PathBuf, String)>,
    broken_snapshots: Vec<(SnapshotId, String)>,
    broken_containers: Vec<(String, String)>,
}

/// Why the chain of `id` (it and its ancestors, all committed) is unusable, if it is.
fn chain_problem(graph: &SnapshotGraph, id: &SnapshotId) -> Option<String> {
    let mut cur = id.clone();
    let mut seen = HashSet::new();
    loop {
        if !seen.insert(cur.clone()) {
            return Some(format!("snapshot {cur} is its own ancestor"));
        }
        let Some(r) = graph.get(&cur.0) else {
            return Some(format!("snapshot {cur} not found"));
        };
        if !r.readable {
            return Some(format!("snapshot {cur} has unreadable metadata"));
        }
        if !r.committed {
            return Some(format!("snapshot {cur} was never committed"));
        }
        match &r.parent {
            Some(p) => cur = p.clone(),
            None => return None,
        }
    }
}

/// Check the store; with `repair`, remove what is broken.
pub fn check(kiln: &Kiln, repair: bool) -> Result<CheckReport> {
    let mut collected = kiln.collected_at_open().clone();
    let more = kiln.collect_dead(usize::MAX)?;
    collected.dead.extend(more.dead);
    collected.partials += more.partials;
    collected.snapshots += more.snapshots;
    collected.bytes += more.bytes;
    let mut report = CheckReport {
        collected,
        ..CheckReport::default()
    };
    let (images, snaps) = kiln.unleased();
    let content = images.content();
    let mut f = Findings::default();

    let blobs = content.list()?;
    report.checked.blobs = blobs.len();
    for (d, _) in &blobs {
        match content.verify(d) {
            Ok(Some(actual)) => f.corrupt_blobs.push((d.to_string(), actual.to_string())),
            Ok(None) => {}
            // Deleted meanwhile (rmi, prune): nothing to check.
            Err(kiln_snapshot::Error::BlobNotFound(_)) => {}
            Err(e) => f
                .corrupt_blobs
                .push((d.to_string(), format!("unreadable: {e}"))),
        }
    }
    let corrupt: HashSet<&str> = f.corrupt_blobs.iter().map(|(d, _)| d.as_str()).collect();

    let lock = kiln.leases.lock_gc().ctx("cannot lock the store")?;
    let held = kiln.leases.held(&lock).ctx("cannot read leases")?;

    let index = crate::store::tags::read_index(images.root())?;
    report.checked.images = index.images.len();
    for m in index.images.keys() {
        let name = index
            .refs_of(m)
            .first()
            .and_then(|r| crate::store::Reference::parse(r).ok())
            .map(|r| r.familiar_string())
            .unwrap_or_else(|| m.clone());
        let why = match images.check_complete(m) {
            Err(e) => Some(e.to_string()),
            Ok(_) => images
                .image_blobs(m)
                .into_iter()
                .find(|d| corrupt.contains(d.as_str()))
                .map(|d| format!("blob {d} is corrupt")),
        };
        if let Some(why) = why {
            f.broken_images.push((m.clone(), name, why));
        }
    }

    let graph = snaps.graph()?;
    report.checked.snapshots = graph.records().count();
    let records = kiln
        .cache
        .list()
        .map_err(|e| crate::Error::new(e.to_string()))?;
    report.checked.records = records.len();
    for info in &records {
        let snap = match kiln.cache.peek(&info.key) {
            Ok(Some(r)) => record_snapshot(&r.data),
            _ => None,
        };
        if let Some(id) = snap {
            if let Some(why) = chain_problem(&graph, &id) {
                f.broken_records.push((
                    info.key.clone(),
                    format!("{} ({}): {why}", info.key, info.name),
                ));
            }
        }
    }
    f.unreadable_records = kiln
        .cache
        .unreadable()
        .map_err(|e| crate::Error::new(e.to_string()))?;
    if let Ok(rd) = std::fs::read_dir(kiln.root.join("chains")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() != 64 {
                continue;
            }
            report.checked.chains += 1;
            let id = std::fs::read_to_string(e.path()).unwrap_or_default();
            let id = SnapshotId(id.trim().to_string());
            if let Some(why) = chain_problem(&graph, &id) {
                f.broken_chains
                    .push((e.path(), format!("base layer sha256:{name}: {why}")));
            }
        }
    }
    let containers = list_containers(kiln)?;
    report.checked.containers = containers.len();
    let container_snaps: HashSet<String> = containers.iter().map(|c| c.snapshot.clone()).collect();
    for c in &containers {
        let id = SnapshotId(c.snapshot.clone());
        let why = match graph.get(&id.0) {
            None => Some(format!("snapshot {id} not found")),
            Some(r) => r.parent.as_ref().and_then(|p| chain_problem(&graph, p)),
        };
        if let Some(why) = why {
            f.broken_containers
                .push((c.id.clone(), format!("container {}: {why}", c.name)));
        }
    }
    for r in graph.records() {
        // Active snapshots are containers' or a live build's; a dead process's were collected.
        if !r.committed && r.readable {
            continue;
        }
        if !r.readable && (held.snapshots.contains(&r.id.0) || container_snaps.contains(&r.id.0)) {
            continue;
        }
        if let Some(why) = chain_problem(&graph, &r.id) {
            f.broken_snapshots.push((r.id.clone(), why));
        }
    }

    report.problems = describe(&f);
    if repair {
        repair_all(kiln, &f, &held, &graph, &mut report.problems)?;
    }
    drop(lock);
    Ok(report)
}

fn describe(f: &Findings) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |message: String| {
        out.push(Problem {
            message,
            repaired: None,
        })
    };
    for (d, actual) in &f.corrupt_blobs {
        if actual.starts_with("sha256:") {
            push(format!("blob {d}: content hashes to {actual}"));
        } else {
            push(format!("blob {d}: {actual}"));
        }
    }
    for (_, name, why) in &f.broken_images {
        push(format!("image {name}: {why}"));
    }
    for (_, why) in &f.broken_records {
        push(format!("cache record {why}"));
    }
    for p in &f.unreadable_records {
        push(format!("cache record {}: unreadable", p.display()));
    }
    for (_, why) in &f.broken_chains {
        push(why.clone());
    }
    for (id, why) in &f.broken_snapshots {
        if why.starts_with(&format!("snapshot {id} ")) {
            push(why.clone());
        } else {
            push(format!("snapshot {id}: {why}"));
        }
    }
    for (_, why) in &f.broken_containers {
        push(why.clone());
    }
    out
}

/// Repair every finding, in the order of [`describe`], marking the problems repaired.
fn repair_all(
    kiln: &Kiln,
    f: &Findings,
    held: &kiln_snapshot::Held,
    graph: &SnapshotGraph,
    problems: &mut [Problem],
) -> Result<()> {
    let (images, snaps) = kiln.unleased();
    let mut it = problems.iter_mut();
    let mut mark = |what: Option<String>| {
        if let Some(p) = it.next() {
            p.repaired = what;
        }
    };
    for (d, _) in &f.corrupt_blobs {
        let done = images.content().delete(d).is_ok() || !images.content().has(d);
        mark(done.then(|| "removed".into()));
    }
    for (m, _, _) in &f.broken_images {
        // By manifest digest: exactly this image, whatever its tags.
        let done = images.remove_collecting(m, true, held).is_ok();
        mark(done.then(|| "untagged and removed".into()));
    }
    for (key, _) in &f.broken_records {
        mark(kiln.cache.remove(key).is_ok().then(|| "removed".into()));
    }
    for p in &f.unreadable_records {
        mark(std::fs::remove_file(p).is_ok().then(|| "removed".into()));
    }
    for (p, _) in &f.broken_chains {
        mark(std::fs::remove_file(p).is_ok().then(|| "removed".into()));
    }
    // Children first, so a half-done repair never leaves a snapshot without its parent.
    let mut doomed: Vec<&SnapshotId> = f.broken_snapshots.iter().map(|(id, _)| id).collect();
    doomed.sort_by_key(|id| std::cmp::Reverse(graph.depth(&id.0)));
    let mut removed = HashSet::new();
    for id in doomed {
        if !held.snapshots.contains(&id.0) && snaps.remove_broken(id).is_ok() {
            removed.insert(id.clone());
        }
    }
    for (id, _) in &f.broken_snapshots {
        mark(removed.contains(id).then(|| "removed".into()));
    }
    for (cid, _) in &f.broken_containers {
        let done = crate::run::remove_container(kiln, cid).is_ok();
        mark(done.then(|| "removed".into()));
    }
    Ok(())
}
