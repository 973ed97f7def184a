//! `kiln prune` and `kiln system df`: build cache records, and the snapshots only they keep.

use crate::error::Result;
use crate::root::Kiln;
use crate::run::list_containers;
use kiln_snapshot::SnapshotId;
use kiln_solver::PruneFilter;
use std::collections::{BTreeSet, HashMap};

/// What a prune removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub records: usize,
    pub snapshots: usize,
    pub reclaimed: u64,
}

/// The snapshot a cache record points at, if any.
fn record_snapshot(data: &[u8]) -> Option<SnapshotId> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    if v["kind"] != "snapshot" {
        return None;
    }
    Some(SnapshotId(v["id"].as_str()?.to_string()))
}

/// Remove build cache records matching `filter`, then every snapshot nothing needs any more: not
/// a remaining cache record's chain, not a kept container's, and (unless `include_bases`) not a
/// base image's unpacked layers.
pub fn prune(kiln: &Kiln, filter: &PruneFilter, include_bases: bool) -> Result<PruneReport> {
    let removed = kiln
        .cache
        .prune(filter)
        .map_err(|e| crate::Error::new(e.to_string()))?;
    let mut report = PruneReport {
        records: removed.len(),
        ..PruneReport::default()
    };

    let mut roots: Vec<SnapshotId> = Vec::new();
    for info in kiln
        .cache
        .list()
        .map_err(|e| crate::Error::new(e.to_string()))?
    {
        if let Ok(Some(rec)) = kiln.cache.get(&info.key) {
            roots.extend(record_snapshot(&rec.data));
        }
    }
    for c in list_containers(kiln)? {
        roots.push(SnapshotId(c.snapshot));
    }
    if !include_bases {
        if let Ok(rd) = std::fs::read_dir(kiln.root.join("chains")) {
            for e in rd.flatten() {
                if let Ok(id) = std::fs::read_to_string(e.path()) {
                    roots.push(SnapshotId(id.trim().to_string()));
                }
            }
        }
    }
    let mut live: BTreeSet<String> = BTreeSet::new();
    for r in &roots {
        if let Ok(chain) = kiln.snapshots.chain(r) {
            live.extend(chain.into_iter().map(|s| s.0));
        }
    }
    // Remove children before parents: deepest chains first.
    let mut depth: HashMap<String, usize> = HashMap::new();
    let all = kiln.snapshots.list()?;
    for s in &all {
        depth.insert(
            s.0.clone(),
            kiln.snapshots.chain(s).map(|c| c.len()).unwrap_or(0),
        );
    }
    let mut doomed: Vec<&SnapshotId> = all.iter().filter(|s| !live.contains(&s.0)).collect();
    doomed.sort_by_key(|s| std::cmp::Reverse(depth.get(&s.0).copied().unwrap_or(0)));
    for s in doomed {
        let size = kiln.snapshots.usage(s).unwrap_or(0);
        if kiln.snapshots.remove(s).is_ok() {
            report.snapshots += 1;
            report.reclaimed += size;
        }
    }
    // Drop chain index entries whose snapshot is gone.
    if let Ok(rd) = std::fs::read_dir(kiln.root.join("chains")) {
        for e in rd.flatten() {
            let gone = std::fs::read_to_string(e.path())
                .map(|id| !kiln.snapshots.exists(&SnapshotId(id.trim().to_string())))
                .unwrap_or(true);
            if gone {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
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

/// Disk usage: images (blobs), containers, build cache (snapshots).
pub fn disk_usage(kiln: &Kiln) -> Result<Vec<DfRow>> {
    let images = kiln.images.list()?;
    let blobs: u64 = kiln.images.content().list()?.iter().map(|(_, s)| *s).sum();
    let containers = list_containers(kiln)?;
    let snaps = kiln.snapshots.list()?;
    let mut snap_size = 0;
    for s in &snaps {
        snap_size += kiln.snapshots.usage(s).unwrap_or(0);
    }
    let records = kiln
        .cache
        .list()
        .map_err(|e| crate::Error::new(e.to_string()))?;
    Ok(vec![
        DfRow {
            kind: "Images",
            total: images.len(),
            active: images.iter().filter(|i| !i.tags.is_empty()).count(),
            size: blobs,
            reclaimable: 0,
        },
        DfRow {
            kind: "Containers",
            total: containers.len(),
            active: 0,
            size: 0,
            reclaimable: 0,
        },
        DfRow {
            kind: "Build Cache",
            total: records.len(),
            active: 0,
            size: snap_size,
            reclaimable: snap_size,
        },
    ])
}
