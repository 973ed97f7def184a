//! The end of a build for several platforms: one image per platform, written in parallel,
//! then an OCI image index over them (what the build's tags name; the exporters then take
//! them), and which steps the platforms shared (they ran once).

use crate::error::{Error, Result};
use crate::export::{commit_image, BuiltImage, ExportedImage};
use crate::root::Kiln;
use kiln_frontend::lower::BuildPlan;
use kiln_snapshot::SnapshotId;
use kiln_solver::{Graph, VertexId};
use oci::Platform;
use std::collections::{HashMap, HashSet};

/// Commit the image of each plan (its filesystem the matching `tops` entry) and, for several,
/// the index over them: the images, and the index's digest.
pub fn commit_all(
    kiln: &Kiln,
    plans: &[BuildPlan],
    platforms: &[Platform],
    tops: &[Option<SnapshotId>],
    epoch: Option<i64>,
) -> Result<(Vec<BuiltImage>, Option<String>)> {
    if let ([plan], [top], [platform]) = (plans, tops, platforms) {
        let image = commit_image(kiln, plan, top.as_ref(), epoch)?;
        let built = BuiltImage {
            platform: image_platform(&image, platform),
            image,
            rootfs: top.clone(),
        };
        return Ok((vec![built], None));
    }
    let images = commit_images(kiln, plans, platforms, tops, epoch)?;
    let index = commit_index(kiln, &images)?;
    Ok((images, Some(index)))
}

/// Write the image of each plan (its filesystem the matching `tops` entry), in parallel.
fn commit_images(
    kiln: &Kiln,
    plans: &[BuildPlan],
    platforms: &[Platform],
    tops: &[Option<SnapshotId>],
    epoch: Option<i64>,
) -> Result<Vec<BuiltImage>> {
    let results: Vec<Result<ExportedImage>> = std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .iter()
            .zip(tops)
            .map(|(plan, top)| s.spawn(move || commit_image(kiln, plan, top.as_ref(), epoch)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::new("exporting an image panicked")))
            })
            .collect()
    });
    results
        .into_iter()
        .zip(platforms.iter().zip(tops))
        .map(|(r, (p, top))| {
            r.map(|image| BuiltImage {
                platform: image_platform(&image, p),
                image,
                rootfs: top.clone(),
            })
        })
        .collect()
}

/// The platform an index entry says: the image config's (what the image is), else the one
/// it was built for.
fn image_platform(image: &ExportedImage, built_for: &Platform) -> Platform {
    let c = &image.config;
    if c.os.is_empty() || c.architecture.is_empty() {
        return built_for.normalized();
    }
    Platform::new(&c.os, &c.architecture, c.variant.as_deref()).normalized()
}

/// Write and register the index over `images`; its digest.
fn commit_index(kiln: &Kiln, images: &[BuiltImage]) -> Result<String> {
    let entries: Vec<(String, Platform)> = images
        .iter()
        .map(|i| (i.image.manifest_digest.clone(), i.platform.clone()))
        .collect();
    Ok(kiln.images.put_index(&entries)?)
}

/// The names of the steps that more than one of `targets` needs: in a build for several
/// platforms, the work they share, which ran (or was found in the cache) once. Internal
/// sources (scratch) are left out.
pub fn shared_steps(graph: &Graph, targets: &[VertexId]) -> Vec<String> {
    let mut users: HashMap<VertexId, usize> = HashMap::new();
    for t in targets {
        let mut seen = HashSet::new();
        let mut stack = vec![*t];
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            *users.entry(v).or_default() += 1;
            stack.extend(graph.inputs(v));
        }
    }
    let mut shared: Vec<VertexId> = users
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(v, _)| v)
        .collect();
    shared.sort();
    shared
        .into_iter()
        .map(|v| graph.vertex(v).meta.name.clone())
        .filter(|n| n != "[internal] scratch" && !n.is_empty())
        .collect()
}
