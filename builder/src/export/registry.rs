//! `type=registry`, `push=true`, `--push`: every name the build gives is pushed to its registry,
//! with docker's lines (`The push refers to repository […]`, a line per layer named by its diff
//! ID, `TAG: digest: … size: …`). `kiln push` prints the same lines through
//! [`push_reference`].

use std::collections::HashMap;
use std::sync::Arc;

use super::convert::LayerOptions;
use super::index::{index_distribution, IndexDistribution};
use super::{image_metadata, ExportContext, ExportError, ExportInput, Exporter, Metadata};
use crate::push::{self, Pushed};
use crate::push_index;
use crate::root::Kiln;
use crate::store::{Reference, StoreError, Target};
use registry::BlobPush;

/// Where docker's push lines go (the CLI draws them; a quiet build drops them).
pub trait PushLines: Send + Sync {
    /// A line of its own.
    fn line(&self, text: &str);
    /// A layer's state (`Preparing`, `Pushed`, `Mounted from …`).
    fn state(&self, id: &str, state: &str);
    /// A layer's upload progress.
    fn bytes(&self, id: &str, verb: &str, done: u64, total: u64);
    /// The push is over: settle what is drawn.
    fn finish(&self) {}
}

/// Prints nothing.
pub struct NoLines;

impl PushLines for NoLines {
    fn line(&self, _: &str) {}
    fn state(&self, _: &str, _: &str) {}
    fn bytes(&self, _: &str, _: &str, _: u64, _: u64) {}
}

/// Pushes every name of the build.
pub struct RegistryExporter {
    pub layers: LayerOptions,
    /// `push-by-digest=true`: to each name's repository, without a tag.
    pub by_digest: bool,
}

impl Exporter for RegistryExporter {
    fn step_name(&self) -> String {
        "pushing to registry".into()
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let client = crate::registry::client().map_err(|e| ExportError::Inconsistent {
            image: "registry client".into(),
            reason: e.to_string(),
        })?;
        let lines = cx.push_lines;
        let how = Push {
            layers: &self.layers,
            by_digest: self.by_digest,
        };
        let config = match input.index {
            Some(_) => None,
            None => Some(input.single("a push")?.image.config_digest.as_str()),
        };
        let mut meta = Metadata::new();
        for name in input.names {
            lines.line(&format!("The push refers to repository [{}]", name.name()));
            let pushed = push_reference(cx.kiln, &client, name, &how, lines)?;
            match (&name.tag, self.by_digest) {
                (Some(tag), false) => lines.line(&format!(
                    "{tag}: digest: {} size: {}",
                    pushed.digest, pushed.size
                )),
                _ => lines.line(&format!("digest: {} size: {}", pushed.digest, pushed.size)),
            }
            meta = image_metadata(
                pushed.digest.as_str(),
                &pushed.media_type,
                pushed.size,
                config,
                input.names,
            );
        }
        lines.finish();
        Ok(meta)
    }
}

/// How [`push_reference`] pushes.
#[derive(Debug, Clone, Copy)]
pub struct Push<'a> {
    /// How layers are compressed.
    pub layers: &'a LayerOptions,
    /// To the name's repository without a tag (the manifest by its digest).
    pub by_digest: bool,
}

/// The 12 hex digits docker names a layer by.
fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// What a name of the store leaves as, for a push.
enum Pushing {
    Image(Box<crate::store::ImageRecord>, Box<super::Distribution>),
    Index(Box<crate::store::IndexRecord>, Box<IndexDistribution>),
}

/// Push the image (or the index of several platforms' images) `target` names in the store to
/// `target`, its layers compressed as `how` says, with docker's per-layer lines (layers named
/// by their diff ID).
pub fn push_reference(
    kiln: &Kiln,
    client: &crate::registry::Client,
    target: &Reference,
    how: &Push,
    lines: &dyn PushLines,
) -> Result<Pushed, ExportError> {
    let found = kiln
        .images
        .lookup(&target.to_string())?
        .ok_or_else(|| StoreError::NoSuchImageToPush(target.familiar_string()))?;
    let pushing = match found {
        Target::Image(image) => {
            let dist = super::distribution(&kiln.images, &image.manifest_digest, how.layers)?;
            Pushing::Image(image, Box::new(dist))
        }
        Target::Index(rec) => {
            let dist = index_distribution(&kiln.images, &rec, how.layers)?;
            Pushing::Index(Box::new(rec), Box::new(dist))
        }
    };
    let dists: Vec<&super::Distribution> = match &pushing {
        Pushing::Image(_, d) => vec![d],
        Pushing::Index(_, i) => i.images.iter().map(|i| &i.dist).collect(),
    };
    // A layer's line is named by its diff ID; blobs that are not layers (the config) have none.
    let names: HashMap<String, String> = dists
        .iter()
        .flat_map(|d| d.manifest.layers.iter().zip(&d.diff_ids))
        .map(|(l, d)| (l.digest.to_string(), short_id(d)))
        .collect();
    for d in &dists {
        for l in d.manifest.layers.iter().rev() {
            if let Some(n) = names.get(l.digest.as_str()) {
                lines.state(n, "Preparing");
            }
        }
    }
    let pushed = std::thread::scope(|s| {
        // The lines are drawn from this thread: the progress callback only queues them.
        let (tx, rx) = std::sync::mpsc::channel::<(String, u64, u64)>();
        let bar_names = names.clone();
        let report: push::BlobProgress = Arc::new(move |d, done, total| {
            if let Some(n) = bar_names.get(d.as_str()) {
                if done < total {
                    let _ = tx.send((n.clone(), done, total));
                }
            }
        });
        let pushing = &pushing;
        let worker =
            s.spawn(move || push_one(kiln, client, pushing, target, how.by_digest, report));
        for (n, done, total) in rx {
            lines.bytes(&n, "Pushing", done, total);
        }
        worker.join().unwrap_or_else(|_| {
            Err(push::PushError::Store(StoreError::InvalidImage(
                "the push thread panicked".into(),
            )))
        })
    })?;
    for b in pushed.blobs.iter().rev() {
        let Some(n) = names.get(b.digest.as_str()) else {
            continue;
        };
        let state = match &b.how {
            BlobPush::Exists => "Layer already exists".to_string(),
            BlobPush::Mounted { from } => format!("Mounted from {from}"),
            BlobPush::Uploaded => "Pushed".to_string(),
        };
        lines.state(n, &state);
    }
    Ok(pushed)
}

/// The push itself: an image, or an index (its images by digest, then itself), under the tag
/// or by digest.
fn push_one(
    kiln: &Kiln,
    client: &crate::registry::Client,
    pushing: &Pushing,
    target: &Reference,
    by_digest: bool,
    report: push::BlobProgress,
) -> Result<Pushed, push::PushError> {
    match pushing {
        Pushing::Image(image, dist) if by_digest => {
            push::push_by_digest(kiln, client, image, dist, target, report)
        }
        Pushing::Image(image, dist) => push::push(kiln, client, image, dist, target, report),
        Pushing::Index(rec, dist) => {
            let p = if by_digest {
                push_index::push_index_by_digest(kiln, client, rec, dist, target, report)?
            } else {
                push_index::push_index(kiln, client, rec, dist, target, report)?
            };
            Ok(Pushed {
                reference: p.reference,
                digest: p.digest,
                size: p.size,
                media_type: dist.index.media_type().to_string(),
                blobs: p.images.into_iter().flat_map(|i| i.blobs).collect(),
            })
        }
    }
}
