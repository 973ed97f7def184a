//! [`KilnWorker`]: executes the solver's ops with snapshots, the runtime and file actions
//! (`exec.rs`: RUN; `file.rs`: file ops and merges).

mod exec;
mod file;

use crate::context::Context;
use crate::error::Result;
use crate::root::Kiln;
use crate::unpack;
use kiln_runtime::{ContainerSpec, MountSpec, Output, OutputSink, Rootfs, Runtime};
use kiln_snapshot::{Mode, SnapshotId};
use kiln_solver::{
    ContentSelection, Digest, Event, ExecContext, ExecOp, FileAction, FileOp, MountKind,
    NetworkMode, Op, ReadAs, SecurityMode, SourceOp, SummaryEntry, Vertex, Worker, WorkerError,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A result of the worker.
#[derive(Clone, Debug)]
pub enum Ref {
    /// The empty filesystem.
    Scratch,
    /// A committed snapshot (its whole chain is the filesystem).
    Snapshot(SnapshotId),
    /// The build context directory.
    Context(Arc<Context>),
}

/// What a cache record stores.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Saved {
    Scratch,
    Snapshot {
        id: String,
    },
    /// The build context: never stored, re-read on load (its content is keyed per COPY).
    Context,
}

/// The worker of one build.
pub struct KilnWorker {
    kiln: Kiln,
    context: Option<Arc<Context>>,
    runtime: Runtime,
    hostname: String,
    /// Base images whose layers this build still has to fetch.
    pending: Arc<crate::resolver::Pending>,
    /// `--secret` and `--ssh`.
    secrets: Arc<crate::secrets::Secrets>,
    /// `ADD <url>` and `ADD <git repository>` of this build.
    remote: crate::source::Remote,
}

impl KilnWorker {
    pub fn new(kiln: Kiln, context: Option<Arc<Context>>, runtime: Runtime) -> Self {
        KilnWorker {
            kiln,
            context,
            runtime,
            hostname: "buildkitsandbox".into(),
            pending: Arc::default(),
            secrets: Arc::default(),
            remote: Default::default(),
        }
    }

    /// This worker, giving steps the build's secrets and ssh agents.
    pub fn with_secrets(mut self, secrets: Arc<crate::secrets::Secrets>) -> Self {
        // `ADD git@…` reaches private repositories through `--ssh default`.
        let agent = secrets.agent("default").map(|a| a.socket().to_path_buf());
        self.remote.git = crate::source::git::GitSource::default().with_ssh_agent(agent);
        KilnWorker { secrets, ..self }
    }

    /// This worker, fetching the layers of the base images `pending` holds when a step needs
    /// them.
    pub fn with_pending(self, pending: Arc<crate::resolver::Pending>) -> Self {
        KilnWorker { pending, ..self }
    }

    fn source(
        &self,
        ctx: Option<&ExecContext<'_>>,
        op: &SourceOp,
    ) -> std::result::Result<Ref, WorkerError> {
        let id = op.identifier.as_str();
        if id == "scratch" {
            return Ok(Ref::Scratch);
        }
        if let Some(name) = id.strip_prefix("local://") {
            return match (&self.context, name) {
                (Some(ctx), "context") => Ok(Ref::Context(ctx.clone())),
                _ => Err(WorkerError::new(format!(
                    "no local source named {name:?} in this build"
                ))),
            };
        }
        if let Some(reference) = id.strip_prefix("docker-image://") {
            let digest = reference.rsplit_once('@').map(|(_, d)| d).ok_or_else(|| {
                WorkerError::new(format!("image source {reference} has no digest"))
            })?;
            self.complete_image(ctx, digest)?;
            return match unpack::image_snapshot(&self.kiln, digest)
                .map_err(|e| WorkerError::new(e.message))?
            {
                Some(s) => Ok(Ref::Snapshot(s)),
                None => Ok(Ref::Scratch),
            };
        }
        match crate::source::kind(op) {
            Some(crate::source::Kind::Http) => {
                let s = self.remote.http.snapshot(&self.kiln, op).map_err(werr)?;
                Ok(Ref::Snapshot(s))
            }
            Some(crate::source::Kind::Git) => {
                let s = self.remote.git.snapshot(&self.kiln, op).map_err(werr)?;
                Ok(Ref::Snapshot(s))
            }
            None => Err(WorkerError::new(format!(
                "unsupported source {id:?} (only images, scratch, the build context, URLs and git repositories)"
            ))),
        }
    }

    /// Fetch what the store still lacks of the base image `manifest_digest`, with byte
    /// progress on the step when there is one.
    fn complete_image(
        &self,
        ctx: Option<&ExecContext<'_>>,
        manifest_digest: &str,
    ) -> std::result::Result<(), WorkerError> {
        let start = Instant::now();
        let report = |layer: &Digest, done: u64, total: u64| {
            if let Some(ctx) = ctx {
                ctx.progress.event(Event::Bytes {
                    vertex: ctx.vertex_index,
                    id: layer.to_string(),
                    done,
                    total,
                    elapsed: start.elapsed(),
                });
            }
        };
        self.pending
            .complete(&self.kiln, manifest_digest, &report)
            .map_err(werr)
    }

    fn parent_snapshot(
        input: Option<&Ref>,
    ) -> std::result::Result<Option<SnapshotId>, WorkerError> {
        match input {
            None | Some(Ref::Scratch) => Ok(None),
            Some(Ref::Snapshot(s)) => Ok(Some(s.clone())),
            Some(Ref::Context(_)) => Err(WorkerError::new(
                "the build context cannot be used as a root filesystem",
            )),
        }
    }
}

fn werr(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::new(e.to_string())
}

impl Worker for KilnWorker {
    type Ref = Ref;

    fn source_key(&self, vertex: &Vertex) -> std::result::Result<Digest, WorkerError> {
        // Images carry their manifest digest in the identifier; the context is keyed per COPY by
        // content; scratch is constant.
        match &vertex.op {
            // A URL by its content's digest, a repository by the commit its ref resolves to.
            Op::Source(s) => match crate::source::kind(s) {
                Some(crate::source::Kind::Http) => {
                    self.remote.http.key(&self.kiln, s).map_err(werr)
                }
                Some(crate::source::Kind::Git) => self.remote.git.key(&self.kiln, s).map_err(werr),
                None => Ok(Digest::sha256(s.identifier.as_bytes())),
            },
            _ => Err(WorkerError::new("source_key of a non-source vertex")),
        }
    }

    fn resolve_source(&self, vertex: &Vertex) -> std::result::Result<Ref, WorkerError> {
        match &vertex.op {
            Op::Source(s) => self.source(None, s),
            _ => Err(WorkerError::new("resolve_source of a non-source vertex")),
        }
    }

    fn content_digest(
        &self,
        input: &Ref,
        selection: &ContentSelection,
    ) -> std::result::Result<Option<Digest>, WorkerError> {
        let Ref::Context(ctx) = input else {
            return Ok(None);
        };
        context_digest(ctx, selection).map(Some)
    }

    fn content_entries(
        &self,
        input: &Ref,
        selection: &ContentSelection,
    ) -> std::result::Result<Option<Vec<SummaryEntry>>, WorkerError> {
        let Ref::Context(ctx) = input else {
            return Ok(None);
        };
        let (selectors, allow_wildcard) = context_selectors(ctx, selection)?;
        ctx.content_entries_with(&selectors, &selection.excludes, allow_wildcard)
            .map(Some)
            .map_err(werr)
    }

    fn result_content_digest(
        &self,
        input: &Ref,
        selection: &ContentSelection,
    ) -> std::result::Result<Option<Digest>, WorkerError> {
        // A stage's result: what the selection reads of it (the context is keyed up front).
        let Ref::Snapshot(s) = input else {
            return Ok(None);
        };
        let digest = self
            .kiln
            .snapshots
            .with_mounted(Some(s), |root| {
                crate::tree_digest::selection_digest(root, selection)
            })
            .map_err(werr)?
            .map_err(werr)?;
        digest
            .map(|d| {
                Digest::parse(&d).map_err(|e| WorkerError::new(format!("bad tree digest: {e}")))
            })
            .transpose()
    }

    fn execute(
        &self,
        ctx: &ExecContext<'_>,
        vertex: &Vertex,
        inputs: &[Ref],
    ) -> std::result::Result<Ref, WorkerError> {
        match &vertex.op {
            Op::Source(s) => self.source(Some(ctx), s),
            Op::Exec(e) => self.exec(ctx, e, inputs),
            Op::File(f) => self.file(ctx, f, inputs),
            Op::Merge(_) => self.merge(inputs),
            Op::Diff(_) => Err(WorkerError::new("diff ops are not supported yet")),
        }
    }

    fn save(&self, r: &Ref) -> std::result::Result<Vec<u8>, WorkerError> {
        let saved = match r {
            Ref::Scratch => Saved::Scratch,
            Ref::Snapshot(s) => Saved::Snapshot { id: s.0.clone() },
            Ref::Context(_) => Saved::Context,
        };
        serde_json::to_vec(&saved).map_err(werr)
    }

    fn load(&self, record: &[u8]) -> std::result::Result<Option<Ref>, WorkerError> {
        match serde_json::from_slice::<Saved>(record) {
            Ok(Saved::Scratch) => Ok(Some(Ref::Scratch)),
            Ok(Saved::Context) => Ok(self.context.clone().map(Ref::Context)),
            Ok(Saved::Snapshot { id }) => {
                let id = SnapshotId(id);
                let whole = self
                    .kiln
                    .snapshots
                    .chain(&id)
                    .map(|c| c.iter().all(|s| self.kiln.snapshots.exists(s)));
                Ok(matches!(whole, Ok(true)).then_some(Ref::Snapshot(id)))
            }
            Err(_) => Ok(None),
        }
    }
}

/// The digest of what `selection` reads of the build context, as the op sees it: the ignore
/// rules and the selection's exclusions applied, wildcards expanded only where the op expands
/// them, a mount's path resolved as the mount resolves it.
fn context_digest(
    ctx: &Context,
    selection: &ContentSelection,
) -> std::result::Result<Digest, WorkerError> {
    let fail = |e: &dyn std::fmt::Display| WorkerError::new(e.to_string());
    let (selectors, allow_wildcard) = context_selectors(ctx, selection)?;
    let d = ctx
        .content_digest_with(&selectors, &selection.excludes, allow_wildcard)
        .map_err(|e| fail(&e))?;
    Digest::parse(&d).map_err(|e| WorkerError::new(format!("bad context digest: {e}")))
}

/// The paths of the context `selection` reads, and whether wildcards in them expand.
fn context_selectors(
    ctx: &Context,
    selection: &ContentSelection,
) -> std::result::Result<(Vec<String>, bool), WorkerError> {
    let fail = |e: &dyn std::fmt::Display| WorkerError::new(e.to_string());
    Ok(match selection.read {
        ReadAs::Copy { allow_wildcard } => {
            let mut selectors = vec![selection.path.clone()];
            // `**` spans directories in `--parents` sources: key on everything it can reach.
            if allow_wildcard {
                selectors.extend(
                    crate::fileop::double_star_selectors(&ctx.source_root(), &selection.path)
                        .map_err(|e| fail(&e))?,
                );
            }
            (selectors, allow_wildcard)
        }
        // A bind mount follows every symlink on its path (inside the context) and exposes what
        // it leads to, with the ignore rules judged there (`fileop::context_bind_source`).
        ReadAs::Mount => (
            vec![ctx.mount_target(&selection.path).map_err(|e| fail(&e))?],
            false,
        ),
    })
}

/// Used by [`crate::build`] to report the kind of result.
pub fn snapshot_of(r: &Ref) -> Result<Option<SnapshotId>> {
    match r {
        Ref::Scratch => Ok(None),
        Ref::Snapshot(s) => Ok(Some(s.clone())),
        Ref::Context(_) => Err(crate::error::Error::new(
            "the build result is the build context itself",
        )),
    }
}
