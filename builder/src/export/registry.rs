//! `type=registry`, `push=true`, `--push`: every name the build gives is pushed to its registry,
//! with docker's lines (`The push refers to repository […]`, a line per layer named by its diff
//! ID, `TAG: digest: … size: …`). `kiln push` prints the same lines through
//! [`push_reference`].

use std::collections::HashMap;
use std::sync::Arc;

use super::convert::LayerOptions;
use super::{image_metadata, ExportContext, ExportError, ExportInput, Exporter, Metadata};
use crate::push::{self, Pushed};
use crate::root::Kiln;
use crate::store::{Reference, StoreError};
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
}

impl Exporter for RegistryExporter {
    fn step_name(&self) -> String {
        "pushing to registry".into()
    }

    fn export(&self, cx: &ExportContext, input: &ExportInput) -> Result<Metadata, ExportError> {
        let built = input.single("a push")?;
        let client = crate::registry::client().map_err(|e| ExportError::Inconsistent {
            image: "registry client".into(),
            reason: e.to_string(),
        })?;
        let lines = cx.push_lines;
        let mut meta = Metadata::new();
        for tag in input.names {
            lines.line(&format!("The push refers to repository [{}]", tag.name()));
            let pushed = push_reference(cx.kiln, &client, tag, &self.layers, lines)?;
            lines.line(&format!(
                "{}: digest: {} size: {}",
                tag.tag.as_deref().unwrap_or("latest"),
                pushed.digest,
                pushed.size
            ));
            meta = image_metadata(
                pushed.digest.as_str(),
                &pushed.media_type,
                pushed.size,
                &built.image.config_digest,
                input.names,
            );
        }
        lines.finish();
        Ok(meta)
    }
}

/// The 12 hex digits docker names a layer by.
fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// Push the image `target` names in the store to `target`, its layers compressed as
/// `layers` says, with docker's per-layer lines (layers named by their diff ID).
pub fn push_reference(
    kiln: &Kiln,
    client: &crate::registry::Client,
    target: &Reference,
    layers: &LayerOptions,
    lines: &dyn PushLines,
) -> Result<Pushed, ExportError> {
    let image = kiln
        .images
        .resolve(&target.to_string())?
        .ok_or_else(|| StoreError::NoSuchImageToPush(target.familiar_string()))?;
    let dist = super::distribution(&kiln.images, &image.manifest_digest, layers)?;
    // A layer's line is named by its diff ID; blobs that are not layers (the config) have none.
    let names: HashMap<String, String> = dist
        .manifest
        .layers
        .iter()
        .zip(&dist.diff_ids)
        .map(|(l, d)| (l.digest.to_string(), short_id(d)))
        .collect();
    for l in dist.manifest.layers.iter().rev() {
        if let Some(n) = names.get(l.digest.as_str()) {
            lines.state(n, "Preparing");
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
        let worker = s.spawn(|| push::push(kiln, client, &image, &dist, target, report));
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
