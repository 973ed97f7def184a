//! Turning a build result into an image in the local store (layers kept uncompressed: they
//! are compressed when they leave, see `convert`).

use crate::error::{Error, Result};
use crate::root::Kiln;
use crate::store::LayerDesc;
use kiln_frontend::image::{History, ImageConfig};
use kiln_frontend::lower::BuildPlan;
use kiln_snapshot::SnapshotId;

/// The image written for a build.
#[derive(Debug, Clone)]
pub struct ExportedImage {
    pub manifest_digest: String,
    /// The image ID as docker shows it (the config digest).
    pub config_digest: String,
    pub config: ImageConfig,
}

/// RFC 3339 time of `epoch` seconds, or now.
pub fn timestamp(epoch: Option<i64>) -> String {
    let t = match epoch {
        Some(e) => chrono::DateTime::from_timestamp(e, 0).unwrap_or_default(),
        None => chrono::Utc::now(),
    };
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Write the image of `plan` whose filesystem is `top` (None = empty) into the store.
pub fn commit_image(
    kiln: &Kiln,
    plan: &BuildPlan,
    top: Option<&SnapshotId>,
    epoch: Option<i64>,
) -> Result<ExportedImage> {
    let chain = match top {
        Some(t) => kiln.snapshots.chain(t)?,
        None => Vec::new(),
    };
    let mut config = plan.config.clone();
    let base_layers = config.rootfs.diff_ids.len();
    if chain.len() < base_layers {
        return Err(Error::new(format!(
            "internal error: result has {} layers, fewer than its base image's {base_layers}",
            chain.len()
        )));
    }
    let mut layers = Vec::with_capacity(chain.len());
    let mut diff_ids = Vec::with_capacity(chain.len());
    for id in &chain {
        // Lazily: a base layer's original blob, or this layer's uncompressed tar.
        let info = kiln
            .snapshots
            .local_layer(id, kiln.images.content(), epoch)?;
        diff_ids.push(info.diff_id.to_string());
        layers.push(LayerDesc::from(info));
    }
    let new_layers = chain.len() - base_layers;
    // Times come from when each layer was made (or SOURCE_DATE_EPOCH), not from now: a rebuild
    // served from the cache writes the very same image.
    let layer_times: Vec<i64> = chain[base_layers..]
        .iter()
        .map(|id| match epoch {
            Some(e) => Ok(e),
            None => kiln.snapshots.created(id).map_err(Error::from),
        })
        .collect::<Result<_>>()?;
    let base_time = epoch
        .map(|e| timestamp(Some(e)))
        .or_else(|| config.created.clone());
    let layer_steps = plan
        .steps
        .iter()
        .filter(|s| s.layer_vertex.is_some())
        .count();
    let mut history: Vec<History> = config.history.clone();
    let mut last = base_time;
    if layer_steps == new_layers {
        let mut times = layer_times.iter();
        for step in &plan.steps {
            let mut h = step.history.clone();
            if step.layer_vertex.is_some() {
                last = times.next().map(|t| timestamp(Some(*t))).or(last);
            }
            h.created = h.created.or_else(|| last.clone());
            h.empty_layer = step.layer_vertex.is_none().then_some(true);
            history.push(h);
        }
    } else {
        // The plan and the result disagree (should not happen): keep the history truthful about
        // the layers rather than wrong about the steps.
        for step in plan.steps.iter().filter(|s| s.layer_vertex.is_none()) {
            let mut h = step.history.clone();
            h.created = h.created.or_else(|| last.clone());
            h.empty_layer = Some(true);
            history.push(h);
        }
        for t in &layer_times {
            last = Some(timestamp(Some(*t)));
            history.push(History {
                created: last.clone(),
                created_by: Some("kiln build".into()),
                ..History::default()
            });
        }
    }
    config.history = history;
    if epoch.is_none() {
        crate::unpack::remember_built(kiln, &diff_ids, &chain)?;
    }
    config.rootfs.diff_ids = diff_ids;
    config.created = last.or_else(|| Some(timestamp(None)));
    let manifest_digest = kiln.images.put_image(&config, layers)?;
    let (manifest, _) = kiln.images.image(&manifest_digest)?;
    Ok(ExportedImage {
        manifest_digest,
        config_digest: manifest.config.digest.to_string(),
        config,
    })
}
