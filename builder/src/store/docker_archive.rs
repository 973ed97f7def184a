//! The `manifest.json` of a docker archive (`docker save`): not OCI vocabulary, docker's own.

use serde::{Deserialize, Serialize};

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    /// The config blob's path in the archive.
    pub config: String,
    /// The image's names.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// The layer tars' paths in the archive, bottom first.
    #[serde(default)]
    pub layers: Vec<String>,
}
