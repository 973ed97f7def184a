//! What lowering takes and gives: the contract between the frontend and the builder.

use crate::image::{History, ImageConfig, Platform};
use kiln_solver::{Graph, VertexId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Build options, as given on the command line.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Name shown in errors and progress, e.g. `Dockerfile`.
    pub dockerfile_name: String,
    /// `--target`: stage name (case-insensitive) or index; `None` = the last stage.
    pub target: Option<String>,
    /// `--build-arg K=V` (`K` alone takes the value from the environment in the CLI).
    pub build_args: BTreeMap<String, String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    pub target_platform: Platform,
    pub build_platform: Platform,
    /// `--no-cache`: every vertex ignores the cache.
    pub no_cache: bool,
    /// `--no-cache-filter STAGE,...`: vertices of these stages ignore the cache.
    pub no_cache_filter: Vec<String>,
    /// `--network` default for RUN.
    pub network: kiln_solver::NetworkMode,
    /// SOURCE_DATE_EPOCH, when given.
    pub source_date_epoch: Option<i64>,
    /// The local sources the Dockerfile may read: `context` always.
    pub context_name: String,
    /// The context's `.dockerignore`, handed over by the builder (for the CopyIgnoredFile
    /// check); `None`: there is none.
    pub dockerignore: Option<Arc<dyn IgnoreMatcher>>,
}

/// The build context's `.dockerignore` as the builder read it: the frontend reads no disk.
pub trait IgnoreMatcher: Send + Sync + std::fmt::Debug {
    /// Docker's `MatchesOrParentMatches` on `path` exactly as given (a COPY source, cleaned
    /// like Go's `filepath.Clean`): is it, or a directory above it, excluded?
    fn matches_or_parent_matches(&self, path: &str) -> bool;
    /// The patterns in order, cleaned; a `!` exception starts with `!`.
    fn patterns(&self) -> Vec<String>;
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            dockerfile_name: "Dockerfile".into(),
            target: None,
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            target_platform: Platform::host(),
            build_platform: Platform::host(),
            no_cache: false,
            no_cache_filter: Vec::new(),
            network: kiln_solver::NetworkMode::Default,
            source_date_epoch: None,
            context_name: "context".into(),
            dockerignore: None,
        }
    }
}

/// A base image, as the builder found it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Canonical reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// The manifest digest (`sha256:...`); becomes part of the source identifier.
    pub manifest_digest: String,
    /// Its config (Env, WorkingDir, User, OnBuild, history, rootfs...).
    pub config: ImageConfig,
}

/// Looks base images up for lowering (implemented by the builder over its image store and
/// registries). Errors are shown to the user with the FROM line's location.
pub trait ImageResolver {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String>;
}

/// One entry of the new image's history, linked to the vertex whose layer it describes.
#[derive(Debug, Clone)]
pub struct HistoryStep {
    pub history: History,
    /// The vertex that produced this step's layer; `None` for metadata-only steps
    /// (`empty_layer: true`).
    pub layer_vertex: Option<VertexId>,
}

/// The result of lowering a Dockerfile for one platform.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub graph: Graph,
    /// The vertex whose output is the target stage's root filesystem.
    pub result: VertexId,
    /// The target stage's image config. `history` and `rootfs.diff_ids` hold only the base
    /// image's entries; the builder appends `steps` as it exports layers.
    pub config: ImageConfig,
    /// History of the steps of the target stage (and of the stages it inherits with FROM), in
    /// order, after the base image's own history.
    pub steps: Vec<HistoryStep>,
    /// Warnings for the user (undeclared build args, lint findings).
    pub warnings: Vec<Warning>,
    /// Names of the stages that are part of the result, in build order (for progress).
    pub stages: Vec<String>,
}

/// A warning with where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// e.g. `UndefinedVar`, or empty for plain warnings.
    pub rule: String,
    pub message: String,
    pub file: String,
    pub line: usize,
}
