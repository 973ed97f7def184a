//! `kiln prune` and `kiln system df`: one walk decides both what prune removes and what df calls
//! reclaimable.
//!
//! The walk reads, in this order, what live kiln processes hold (their leases), then the roots:
//! the cache records prune keeps (its filter, and every record a running build uses), kept
//! containers, the unpacked layers of images in the store (pulled, loaded or built; unless
//! `--all`) and the blobs images reference.
//! Everything else goes: snapshots, blobs, and partial blobs, mount points and temporary files
//! of dead processes. `prune` walks and sweeps under the collector's lock
//! ([`kiln_snapshot::Leases::lock_gc`]), so nothing a build attaches meanwhile is removed;
//! leases are read first so that a root registered by a process that then ends is still seen.

use crate::error::{Result, ResultExt};
use crate::root::Kiln;
use crate::run::{container_snapshots, list_containers};
use kiln_snapshot::gc::{self, GcPlan, GcRoots, SnapshotGraph};
use kiln_snapshot::{Held, SnapshotId};
use kiln_solver::{CacheRecordInfo, Digest, PruneFilter};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What a prune removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub records: usize,
    pub snapshots: usize,
    pub blobs: usize,
    pub partials: usize,
    pub reclaimed: u64,
}

/// The snapshot a cache record points at, if any.
pub fn record_snapshot(data: &[u8]) -> Option<SnapshotId> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    if v["kind"] != "snapshot" {
        return None;
    }
    Some(SnapshotId(v["id"].as_str()?.to_string()))
}

/// A cache record with the snapshot it points at.
struct Record {
    info: CacheRecordInfo,
    snapshot: Option<SnapshotId>,
}

/// The outcome of one walk.
struct Walk {
    records: Vec<Record>,
    /// Records the filter selects (none of them in use).
    doomed_records: Vec<Digest>,
    /// Records whose snapshot a live process holds.
    in_use: usize,
    graph: SnapshotGraph,
    plan: GcPlan,
}

fn cache_err(e: kiln_solver::CacheError) -> crate::Error {
    crate::Error::new(e.to_string())
}

/// Snapshots the base-image index points at, and its entries: (file, snapshot).
fn chain_entries(kiln: &Kiln) -> Vec<(PathBuf, SnapshotId)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(kiln.root.join("chains")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            if let Ok(id) = std::fs::read_to_string(e.path()) {
                out.push((e.path(), SnapshotId(id.trim().to_string())));
            }
        }
    }
    out
}

fn walk(kiln: &Kiln, held: &Held, filter: &PruneFilter, include_bases: bool) -> Result<Walk> {
    let (images, snaps) = kiln.unleased();
    let graph = snaps.graph()?;
    let used = graph.closure(held.snapshots.iter().map(String::as_str));

    let mut records = Vec::new();
    for info in kiln.cache.list().map_err(cache_err)? {
        let snapshot = match kiln.cache.peek(&info.key) {
            Ok(Some(r)) => record_snapshot(&r.data),
            _ => None,
        };
        records.push(Record { info, snapshot });
    }
    let snapshot_of: HashMap<&Digest, &SnapshotId> = records
        .iter()
        .filter_map(|r| r.snapshot.as_ref().map(|s| (&r.info.key, s)))
        .collect();
    let is_used =
        |i: &CacheRecordInfo| snapshot_of.get(&i.key).is_some_and(|s| used.contains(&s.0));
    let infos: Vec<CacheRecordInfo> = records.iter().map(|r| r.info.clone()).collect();
    let doomed_records = kiln.cache.victims(&infos, filter, &is_used);
    let in_use = infos.iter().filter(|i| is_used(i)).count();

    let doomed: HashSet<&Digest> = doomed_records.iter().collect();
    let mut roots = GcRoots::default();
    roots.snapshots.extend(
        records
            .iter()
            .filter(|r| !doomed.contains(&r.info.key))
            .filter_map(|r| r.snapshot.clone()),
    );
    match container_snapshots(kiln)? {
        Some(c) => roots.snapshots.extend(c.into_iter().map(SnapshotId)),
        // A container record is unreadable: every active snapshot may be a container's.
        None => roots.snapshots.extend(
            graph
                .records()
                .filter(|r| !r.committed)
                .map(|r| r.id.clone()),
        ),
    }
    let index = crate::store::tags::read_index(images.root())?;
    if !include_bases {
        // The unpacked layers of images still in the store (an image removed since leaves
        // its index entries behind: they keep nothing).
        let stored = crate::unpack::stored_chains(kiln, &index);
        roots.snapshots.extend(
            chain_entries(kiln)
                .into_iter()
                .filter(|(file, _)| {
                    file.file_name().is_some_and(|n| {
                        stored.contains(&format!("sha256:{}", n.to_string_lossy()))
                    })
                })
                .map(|(_, s)| s),
        );
    }
    roots.blobs = images.referenced_blobs(&index)?.into_iter().collect();

    let mut plan = gc::plan(&kiln.leases, &snaps, images.content(), held, &graph, &roots)?;
    plan.scratch.extend(leftover_temporaries(kiln, held)?);
    plan.scratch.sort();
    Ok(Walk {
        records,
        doomed_records,
        in_use,
        graph,
        plan,
    })
}

/// Temporary files and directories of the builder and the cache that no live process owns:
/// `tmp/<lease>` of dead leases, and anything else there (or in the cache's and image index's
/// temporaries) older than [`gc::UNOWNED_GRACE`].
fn leftover_temporaries(kiln: &Kiln, held: &Held) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let tmp = kiln.root.join("tmp");
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            let owned = name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit());
            let dead = if owned {
                !held.is_live(&name) && (held.is_dead(&name) || !kiln.leases.is_live(&name))
            } else {
                old(&p)
            };
            if dead {
                out.push(p);
            }
        }
    }
    // Base-image index entries being written (`<hex>.tmp<pid>`).
    if let Ok(rd) = std::fs::read_dir(kiln.root.join("chains")) {
        for e in rd.flatten() {
            if e.file_name().len() != 64 && old(&e.path()) {
                out.push(e.path());
            }
        }
    }
    for p in kiln.cache.temporaries().map_err(cache_err)? {
        if old(&p) {
            out.push(p);
        }
    }
    if let Ok(rd) = std::fs::read_dir(&kiln.root) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".repositories.json.tmp-") && old(&e.path()) {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

fn old(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .map(|t| t.elapsed().unwrap_or_default() >= gc::UNOWNED_GRACE)
        .unwrap_or(false)
}

/// Remove build cache records matching `filter` (never one a running build uses), then
/// everything nothing needs any more: snapshots that are not a remaining record's chain, a kept
/// container's or (unless `include_bases`) the unpacked layers of an image in the store; blobs no image
/// references, with the memos of compressed blobs that name them; and what dead processes
/// left. Nothing a live process holds is removed.
pub fn prune(kiln: &Kiln, filter: &PruneFilter, include_bases: bool) -> Result<PruneReport> {
    let (images, snaps) = kiln.unleased();
    let lock = kiln.leases.lock_gc().ctx("cannot lock the store")?;
    let mut held = kiln.leases.held(&lock).ctx("cannot read leases")?;
    let w = walk(kiln, &held, filter, include_bases)?;
    let mut report = PruneReport::default();
    for key in &w.doomed_records {
        if kiln.cache.remove(key).map_err(cache_err)?.is_some() {
            report.records += 1;
        }
    }
    // The explanations of removed records went with them; drop the steps pointing at them.
    kiln.cache.sweep_explanations().map_err(cache_err)?;
    let sweep = w.plan.sweep(&snaps, images.content())?;
    report.snapshots = sweep.snapshots;
    report.blobs = sweep.blobs;
    report.partials = sweep.partials;
    // Base-image index entries whose snapshot is gone.
    for (file, id) in chain_entries(kiln) {
        let gone = w.plan.snapshots.contains(&id) || w.graph.get(&id.0).is_none();
        if gone {
            let _ = std::fs::remove_file(file);
        }
    }
    // Incremental COPY hints are build cache too: one outlives the record of its step only
    // while that step's snapshot lives as something else (an image's unpacked layer).
    let doomed: HashSet<&Digest> = w.doomed_records.iter().collect();
    let kept: HashSet<&SnapshotId> = w
        .records
        .iter()
        .filter(|r| !doomed.contains(&r.info.key))
        .filter_map(|r| r.snapshot.as_ref())
        .collect();
    crate::copy_reuse::sweep(kiln, &|id| {
        w.plan.snapshots.contains(id) || !snaps.exists(id) || !kept.contains(id)
    });
    // Memos of compressed blobs that were just removed (or removed with their images); their
    // few bytes are not counted, as `system df` does not count them.
    images.content().sweep_memos()?;
    held.remove_dead();
    drop(lock);
    report.reclaimed = sweep.purge()?;
    Ok(report)
}

/// One row of `kiln system df`.
#[derive(Debug, Clone)]
pub struct DfRow {
    pub kind: &'static str,
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// Disk usage: images (the blobs they reference), containers (their writable layers), build
/// cache (every other snapshot, blob and leftover). Build Cache's reclaimable space is what
/// `kiln prune` (without options) would free now, computed by the same walk.
pub fn disk_usage(kiln: &Kiln) -> Result<Vec<DfRow>> {
    let (images, snaps) = kiln.unleased();
    let held = kiln.leases.held_unlocked().ctx("cannot read leases")?;
    let filter = PruneFilter {
        all: true,
        ..PruneFilter::default()
    };
    let w = walk(kiln, &held, &filter, false)?;
    let sizes = w.plan.sizes(&snaps)?;

    let list = images.list()?;
    let blob_sizes: HashMap<String, u64> = images
        .content()
        .list()?
        .into_iter()
        .map(|(d, size)| (d.to_string(), size))
        .collect();
    let index = crate::store::tags::read_index(images.root())?;
    let image_bytes: u64 = images
        .referenced_blobs(&index)?
        .iter()
        .filter_map(|d| blob_sizes.get(d))
        .sum();

    let containers = list_containers(kiln)?;
    let container_ids: HashSet<String> = containers.iter().map(|c| c.snapshot.clone()).collect();
    let mut container_bytes = 0;
    let mut cache_bytes = sizes.total();
    let doomed: HashSet<&SnapshotId> = w.plan.snapshots.iter().collect();
    for r in w.graph.records() {
        if doomed.contains(&r.id) {
            continue;
        }
        let n = snaps.disk_usage(&r.id)?;
        if container_ids.contains(&r.id.0) {
            container_bytes += n;
        } else {
            cache_bytes += n;
        }
    }
    Ok(vec![
        DfRow {
            kind: "Images",
            total: list.len(),
            active: list.iter().filter(|i| !i.tags.is_empty()).count(),
            size: image_bytes,
            reclaimable: 0,
        },
        DfRow {
            kind: "Containers",
            total: containers.len(),
            active: 0,
            size: container_bytes,
            reclaimable: 0,
        },
        DfRow {
            kind: "Build Cache",
            total: w.records.len(),
            active: w.in_use,
            size: cache_bytes,
            reclaimable: sizes.total(),
        },
    ])
}
