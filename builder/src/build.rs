//! `kiln build`: read the Dockerfile, lower it, solve the graph, write the image.

use crate::context::{Context, DockerIgnore};
use crate::error::{Error, Result, ResultExt};
use crate::export::run::{export_build, ExportPlan};
use crate::export::{exporters_for, ExportedImage, Metadata, OutputSpec, PushLines};
use crate::resolver::{PullPolicy, StoreResolver};
use crate::root::Kiln;
use crate::store::Reference;
use crate::worker::KilnWorker;
use kiln_frontend::image::Platform;
use kiln_frontend::lower::{lower_platforms, BuildOptions, IgnoreMatcher, Warning};
use kiln_runtime::Runtime;
use kiln_solver::{Event, ProgressSink, SolveOptions, Solver};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The context directory.
    pub context_dir: PathBuf,
    /// `-f`: the Dockerfile; default `<context>/Dockerfile` (or `dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `-t`: names to give the image.
    pub tags: Vec<String>,
    pub options: BuildOptions,
    /// `--jobs`: concurrent steps; 0 = number of cores.
    pub jobs: usize,
    /// `--allow security.insecure`: `RUN --security=insecure` runs privileged (otherwise the
    /// build fails, as BuildKit's does without the entitlement).
    pub allow_insecure: bool,
    /// `--pull`: when base images are fetched from their registry.
    pub pull: PullPolicy,
    /// `--secret` and `--ssh`: what `RUN --mount=type=secret|ssh` steps get.
    pub secrets: Arc<crate::secrets::Secrets>,
    /// `--output`s: where the image goes besides the local store (which always gets it).
    pub outputs: Vec<OutputSpec>,
    /// `--push`: push every name after the build.
    pub push: bool,
    /// Where a push prints docker's lines (none: nothing is printed).
    pub push_lines: Option<PushLinesHandle>,
    /// `--platform a,b,…` with several platforms: one image each, in one solve, and an index
    /// over them under the tags. Empty: `options.target_platform` alone.
    pub platforms: Vec<Platform>,
}

/// A shared [`PushLines`] in a [`BuildRequest`].
#[derive(Clone)]
pub struct PushLinesHandle(pub Arc<dyn PushLines>);

impl std::fmt::Debug for PushLinesHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushLinesHandle")
    }
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image (the first platform's, for a build of several).
    pub image: ExportedImage,
    pub tags: Vec<Reference>,
    pub warnings: Vec<Warning>,
    /// What the exporters said (buildx's `--metadata-file` keys).
    pub metadata: Metadata,
    /// A build for several platforms: the index the tags name.
    pub index: Option<String>,
    /// Each platform's image.
    pub images: Vec<crate::export::BuiltImage>,
    /// The steps the platforms shared (each ran, or was found in the cache, once).
    pub shared: Vec<String>,
}

/// Find the Dockerfile of a request, as docker does.
pub fn dockerfile_path(req: &BuildRequest) -> Result<PathBuf> {
    if let Some(f) = &req.dockerfile {
        if f.as_os_str() == "-" {
            return Ok(f.clone());
        }
        return if f.exists() {
            Ok(f.clone())
        } else {
            Err(Error::new(format!(
                "failed to read dockerfile: open {}: no such file or directory",
                f.display()
            )))
        };
    }
    for name in ["Dockerfile", "dockerfile"] {
        let p = req.context_dir.join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(Error::new(format!(
        "failed to read dockerfile: open {}: no such file or directory",
        req.context_dir.join("Dockerfile").display()
    )))
}

/// Wraps the user's sink to learn the highest step number, so that the export step gets the
/// next one.
struct Counting<'a> {
    inner: &'a dyn ProgressSink,
    max: AtomicUsize,
}

impl ProgressSink for Counting<'_> {
    fn event(&self, event: Event) {
        let v = match &event {
            Event::Started { vertex, .. }
            | Event::Cached { vertex, .. }
            | Event::CacheMiss { vertex, .. }
            | Event::Log { vertex, .. }
            | Event::Done { vertex, .. }
            | Event::Error { vertex, .. }
            | Event::Bytes { vertex, .. }
            | Event::Cancelled { vertex } => *vertex,
        };
        self.max.fetch_max(v, Ordering::Relaxed);
        self.inner.event(event);
    }
}

/// Run a build.
pub fn build(
    kiln: &Kiln,
    req: &BuildRequest,
    progress: &dyn ProgressSink,
    cancel: Arc<AtomicBool>,
) -> Result<BuildResult> {
    // The build's lease: every snapshot and blob the build creates or reads through these
    // handles is attached to it before it is relied on, so a concurrent `kiln prune` leaves
    // them alone; it ends when the build returns (the image and cache records keep what stays).
    let lease = kiln.leases.create();
    let kiln = &kiln.with_lease(&lease);
    if !req.context_dir.is_dir() {
        return Err(Error::new(format!(
            "unable to prepare context: path {:?} not found",
            req.context_dir.display().to_string()
        )));
    }
    // Validate the tags before any work, so a bad -t costs nothing.
    let tags = req
        .tags
        .iter()
        .map(|t| Reference::parse(t).map_err(|e| Error::new(format!("invalid tag {t:?}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    // So is every destination: a build whose result cannot be written does not run.
    let exporters = exporters_for(&req.outputs, req.push);
    for e in &exporters {
        e.check_destination()?;
    }
    let df_path = dockerfile_path(req)?;
    let text = if df_path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .ctx("failed to read dockerfile from stdin")?;
        s
    } else {
        std::fs::read_to_string(&df_path).ctx(format_args!(
            "failed to read dockerfile {}",
            df_path.display()
        ))?
    };
    let mut options = req.options.clone();
    if options.dockerfile_name.is_empty() || options.dockerfile_name == "Dockerfile" {
        options.dockerfile_name = display_name(&df_path, &req.context_dir);
    }
    // Absolute paths: file ops run in threads that may change their working directory.
    let context_dir = std::fs::canonicalize(&req.context_dir).ctx(format_args!(
        "unable to prepare context {}",
        req.context_dir.display()
    ))?;
    let df_abs = if df_path.as_os_str() == "-" {
        df_path.clone()
    } else {
        std::fs::canonicalize(&df_path).unwrap_or(df_path.clone())
    };
    let context = Context::open_default(&context_dir, Some(&df_abs))
        .map(|c| c.with_stat_cache(stat_cache_path(kiln, &context_dir)))
        .map_err(|e| {
            Error::new(format!(
                "cannot read the build context {}: {e}",
                req.context_dir.display()
            ))
        })?;
    // The checks see the .dockerignore the build applies (CopyIgnoredFile).
    if let Some(ignore) = context.ignore() {
        options.dockerignore = Some(Arc::new(ContextIgnore(ignore.clone())));
    }
    let resolver = StoreResolver::new(kiln).with_policy(req.pull);
    let platforms = if req.platforms.is_empty() {
        vec![options.target_platform.clone()]
    } else {
        req.platforms.clone()
    };
    let plans = lower_platforms(&text, &options, &platforms, &resolver)
        .map_err(|e| Error::new(e.to_string()))?;
    let plan = &plans[0];
    let targets: Vec<_> = plans.iter().map(|p| p.result).collect();
    check_entitlements(&plan.graph, req.allow_insecure)?;
    crate::emulation::check_graph(&plan.graph, &targets)?;
    let mut warnings: Vec<Warning> = plans.iter().flat_map(|p| p.warnings.clone()).collect();
    if uses_default_network(&plan.graph) && kiln_runtime::nat_helper().is_none() {
        warnings.push(Warning {
            rule: String::new(),
            message: NO_NAT_HELPER.to_string(),
            file: String::new(),
            line: 0,
        });
    }

    let worker = KilnWorker::new(kiln.clone(), Some(Arc::new(context)), Runtime::new())
        .with_pending(resolver.pending.clone())
        .with_secrets(req.secrets.clone());
    let jobs = if req.jobs == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        req.jobs
    };
    let solver = Solver::new(Arc::new(worker), kiln.cache.clone(), SolveOptions { jobs })
        .with_explain_scope(crate::explain::scope(
            &context_dir,
            &options.dockerfile_name,
        ));
    let counting = Counting {
        inner: progress,
        max: AtomicUsize::new(0),
    };
    let results = match solver.solve_all(&plan.graph, &targets, &counting, cancel) {
        Ok(r) => r,
        Err(kiln_solver::SolveError::Vertex(f)) => {
            return Err(Error {
                message: format!("failed to solve: {}", f.message),
                detail: Some(crate::report::failure_detail(
                    &f,
                    &options.dockerfile_name,
                    &text,
                )),
            })
        }
        Err(e) => return Err(Error::new(format!("failed to solve: {e}"))),
    };

    let export_vertex = counting.max.load(Ordering::Relaxed) + 1;
    let tops = results
        .iter()
        .map(crate::worker::snapshot_of)
        .collect::<Result<Vec<_>>>()?;
    let no_lines = crate::export::registry::NoLines;
    let plan_out = ExportPlan {
        exporters: &exporters,
        names: &tags,
        epoch: options.source_date_epoch,
        push_lines: req.push_lines.as_ref().map_or(&no_lines, |h| &*h.0),
    };
    let exported = export_build(
        kiln,
        &plans,
        &platforms,
        &tops,
        &plan_out,
        progress,
        export_vertex,
    )?;
    let image = exported.images[0].image.clone();
    let shared = if plans.len() > 1 {
        crate::multiplatform::shared_steps(&plan.graph, &targets)
    } else {
        Vec::new()
    };
    Ok(BuildResult {
        image,
        tags,
        warnings,
        metadata: exported.metadata,
        index: exported.index,
        images: exported.images,
        shared,
    })
}

/// Said once when the default network has to fall back to the host's.
pub const NO_NAT_HELPER: &str = "no user-space NAT helper (pasta or slirp4netns) was found: \
     RUN steps use the host's network; install passt for an isolated default network";

/// BuildKit's entitlement check: an exec op in the insecure security mode needs
/// `--allow security.insecure` (the message is BuildKit's).
fn check_entitlements(graph: &kiln_solver::Graph, allow_insecure: bool) -> Result<()> {
    let insecure = graph.dag().node_weights().any(|v| {
        matches!(&v.op, kiln_solver::Op::Exec(e) if e.security == kiln_solver::SecurityMode::Insecure)
    });
    if insecure && !allow_insecure {
        return Err(Error::new(
            "failed to solve: security.insecure is not allowed",
        ));
    }
    Ok(())
}

/// Whether the build runs a step on the default network (which needs a NAT helper).
pub fn uses_default_network(graph: &kiln_solver::Graph) -> bool {
    graph.dag().node_weights().any(|v| {
        matches!(&v.op, kiln_solver::Op::Exec(e) if e.network == kiln_solver::NetworkMode::Default)
    })
}

/// The `.dockerignore` a build of `req` applies, as the frontend's checks read it (for
/// `kiln build --check`, which lints without building: set it as `options.dockerignore`).
pub fn dockerignore(req: &BuildRequest) -> Result<Option<Arc<dyn IgnoreMatcher>>> {
    let df_path = dockerfile_path(req)?;
    let df = (df_path.as_os_str() != "-").then_some(df_path.as_path());
    let context = Context::open_default(&req.context_dir, df).map_err(|e| {
        Error::new(format!(
            "cannot read the build context {}: {e}",
            req.context_dir.display()
        ))
    })?;
    Ok(context
        .ignore()
        .map(|i| Arc::new(ContextIgnore(i.clone())) as Arc<dyn IgnoreMatcher>))
}

/// A context's `.dockerignore` as the frontend's checks read it.
#[derive(Debug)]
struct ContextIgnore(Arc<DockerIgnore>);

impl IgnoreMatcher for ContextIgnore {
    fn matches_or_parent_matches(&self, path: &str) -> bool {
        self.0.matches_verbatim(path)
    }

    fn patterns(&self) -> Vec<String> {
        self.0.patterns()
    }
}

/// The Dockerfile's name as errors show it: relative to the context when inside it.
fn display_name(df: &Path, context: &Path) -> String {
    df.strip_prefix(context).unwrap_or(df).display().to_string()
}

/// Forget what builds remembered of the context directory `dir` (its stat cache), for a
/// context that was temporary (`kiln build -`); call it before `dir` goes.
pub fn forget_context(kiln: &Kiln, dir: &Path) {
    let _ = std::fs::remove_file(stat_cache_path(kiln, dir));
}

fn stat_cache_path(kiln: &Kiln, context: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
    let key = kiln_solver::Digest::sha256(abs.as_os_str().as_encoded_bytes());
    kiln.root.join("contexts").join(key.hex())
}
