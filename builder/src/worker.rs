//! [`KilnWorker`]: executes the solver's ops with snapshots, the runtime and file actions.

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

    fn exec(
        &self,
        ctx: &ExecContext<'_>,
        op: &ExecOp,
        inputs: &[Ref],
    ) -> std::result::Result<Ref, WorkerError> {
        let root_mount = op
            .mounts
            .iter()
            .find(|m| m.dest == "/")
            .ok_or_else(|| WorkerError::new("exec op without a root mount"))?;
        if let Some(p) = &op.platform {
            // Natively or through a registered emulator; else the step fails naming it.
            crate::emulation::runner(p).map_err(werr)?;
        }
        let parent = Self::parent_snapshot(root_mount.input.map(|i| &inputs[i]))?;
        let active = self.kiln.snapshots.prepare(parent.as_ref()).map_err(werr)?;
        let rootfs = match self.kiln.snapshots.mode() {
            Mode::Overlay => Rootfs::Overlay {
                lowers: active.lowers.clone(),
                upper: active.upper.clone(),
                work: active.work.clone(),
            },
            Mode::Copy => Rootfs::Dir(active.upper.clone()),
        };
        let mut env = op.meta.env.clone();
        env.extend(op.meta.proxy_env.iter().cloned());
        let mut mounts = Vec::new();
        let mut keep = Vec::new();
        // Secrets go to the spec alone (a file in memory, or `env`); ssh relays live as `keep`.
        let mut relays = Vec::new();
        for m in op.mounts.iter().filter(|m| m.dest != "/") {
            let spec = match &m.kind {
                MountKind::Secret { .. } => {
                    crate::secrets::secret_mount(&self.secrets, m, &mut env).map_err(werr)
                }
                MountKind::Ssh { .. } => {
                    crate::secrets::ssh_mount(&self.secrets, m, &std::env::temp_dir())
                        .map(|o| {
                            o.map(|(spec, relay)| {
                                relays.push(relay);
                                spec
                            })
                        })
                        .map_err(werr)
                }
                _ => self.mount_spec(m, inputs, &mut keep).map(Some),
            };
            match spec {
                Ok(Some(spec)) => mounts.push(spec),
                Ok(None) => {}
                Err(e) => {
                    let _ = self.kiln.snapshots.abort(active);
                    return Err(e);
                }
            }
        }
        let spec = ContainerSpec {
            rootfs,
            args: op.meta.args.clone(),
            env,
            cwd: op.meta.cwd.clone(),
            user: op.meta.user.clone(),
            hostname: op
                .meta
                .hostname
                .clone()
                .unwrap_or_else(|| self.hostname.clone()),
            mounts,
            network: match op.network {
                NetworkMode::None => kiln_runtime::Network::None,
                NetworkMode::Host => kiln_runtime::Network::Host,
                NetworkMode::Default => kiln_runtime::Network::Default,
            },
            // `build` refused the insecure mode unless `--allow security.insecure` was given.
            security: match op.security {
                SecurityMode::Sandbox => kiln_runtime::Security::Sandbox,
                SecurityMode::Insecure => kiln_runtime::Security::Privileged,
            },
            extra_hosts: op
                .meta
                .extra_hosts
                .iter()
                .filter_map(|h| {
                    h.split_once(':')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect(),
            stdin: kiln_runtime::Stdio::Null,
            tty: false,
        };
        let sink = LogSink {
            ctx,
            start: Instant::now(),
            tail: Mutex::new(Tail::default()),
        };
        let result = self.runtime.run(&spec, Output::Sink(&sink), &ctx.cancelled);
        drop(keep);
        drop(relays);
        let shown = shown_command(&op.meta.args);
        match result {
            Ok(0) => {
                let id = self.kiln.snapshots.commit(active).map_err(werr)?;
                Ok(Ref::Snapshot(id))
            }
            Ok(code) => {
                let _ = self.kiln.snapshots.abort(active);
                let tail = sink
                    .tail
                    .into_inner()
                    .map(|t| t.lines())
                    .unwrap_or_default();
                Err(WorkerError {
                    message: format!(
                        "process \"{shown}\" did not complete successfully: exit code: {code}"
                    ),
                    log_tail: tail,
                })
            }
            Err(e) => {
                let _ = self.kiln.snapshots.abort(active);
                Err(WorkerError::new(format!(
                    "process \"{shown}\" could not be started: {e}"
                )))
            }
        }
    }

    /// The runtime's mount for `m`; the context sources it needs (private copies, descriptors
    /// held on the context) go to `keep`, to live until the
    /// container is gone.
    fn mount_spec(
        &self,
        m: &kiln_solver::Mount,
        inputs: &[Ref],
        keep: &mut Vec<crate::fileop::BindSource>,
    ) -> std::result::Result<MountSpec, WorkerError> {
        let kind = match &m.kind {
            MountKind::Bind => {
                let input = m.input.map(|i| &inputs[i]);
                return match input {
                    Some(Ref::Context(c)) => {
                        let b = crate::fileop::context_bind_source(
                            &c.source_root(),
                            &m.selector,
                            !m.readonly,
                            &self.kiln.tmp_dir(),
                        )
                        .map_err(|e| WorkerError::new(format!("bind mount {}: {e}", m.dest)))?;
                        let source = b.path.clone();
                        keep.push(b);
                        Ok(MountSpec {
                            source,
                            dest: m.dest.clone(),
                            kind: kiln_runtime::MountKind::Bind {
                                readonly: m.readonly,
                            },
                        })
                    }
                    Some(Ref::Snapshot(s)) => {
                        let lowers = self.kiln.snapshots.lowers(s).map_err(werr)?;
                        Ok(MountSpec {
                            // The overlay kinds mount this path inside the stage's filesystem.
                            source: PathBuf::from(&m.selector),
                            dest: m.dest.clone(),
                            kind: if m.readonly {
                                kiln_runtime::MountKind::OverlayRo { lowers }
                            } else {
                                kiln_runtime::MountKind::OverlayScratch { lowers }
                            },
                        })
                    }
                    None | Some(Ref::Scratch) => Ok(MountSpec {
                        source: PathBuf::new(),
                        dest: m.dest.clone(),
                        kind: kiln_runtime::MountKind::Tmpfs { size: None },
                    }),
                };
            }
            MountKind::Cache {
                id, mode, uid, gid, ..
            } => {
                let from = m
                    .input
                    .map(|i| &inputs[i])
                    .map(|r| (r, m.selector.as_str()));
                let dir = self.cache_dir(id, *mode, *uid, *gid, from)?;
                return Ok(MountSpec {
                    source: dir,
                    dest: m.dest.clone(),
                    kind: kiln_runtime::MountKind::Bind {
                        readonly: m.readonly,
                    },
                });
            }
            MountKind::Tmpfs { size } => kiln_runtime::MountKind::Tmpfs { size: *size },
            // `exec` asks `crate::secrets` for these.
            MountKind::Secret { .. } | MountKind::Ssh { .. } => {
                return Err(WorkerError::new("secret and ssh mounts are made by exec"))
            }
        };
        Ok(MountSpec {
            source: PathBuf::new(),
            dest: m.dest.clone(),
            kind,
        })
    }

    /// The directory of cache mount `id`, made the first time: filled from `from` (a stage,
    /// image or the context, and the path in it) when given, its top directory owned by `uid`
    /// and `gid` with `mode` (by default root and 0755, or those of the `from` directory).
    /// Like BuildKit, a cache with other creation settings is another cache.
    fn cache_dir(
        &self,
        id: &str,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        from: Option<(&Ref, &str)>,
    ) -> std::result::Result<PathBuf, WorkerError> {
        // Filled from other content, it is another cache (BuildKit keys it by the source ref).
        let from_key = match from {
            None => None,
            Some((Ref::Scratch, sel)) => Some(format!("scratch:{sel}")),
            Some((Ref::Snapshot(s), sel)) => Some(format!("snapshot:{}:{sel}", s.0)),
            Some((Ref::Context(c), sel)) => {
                let seed = ContentSelection::cache_seed(sel);
                Some(format!("context:{sel}:{}", context_digest(c, &seed)?))
            }
        };
        let key = match (mode, uid, gid, &from_key) {
            (None, None, None, None) => id.to_string(),
            _ => format!("{id}\0{mode:?}\0{uid:?}\0{gid:?}\0{from_key:?}"),
        };
        let parent = self.kiln.root.join("cache-mounts");
        let dir = parent.join(Digest::sha256(key.as_bytes()).hex());
        if dir.is_dir() {
            return Ok(dir);
        }
        let fail = |what: &str, e: std::io::Error| {
            WorkerError::new(format!("cache mount {id}: {what} {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(&parent).map_err(|e| fail("create the parent of", e))?;
        // Made aside then renamed into place, so a concurrent build never sees it half-made.
        let fresh = tempfile::Builder::new()
            .prefix("new-")
            .tempdir_in(&parent)
            .map_err(|e| fail("create a directory next to", e))?;
        let seeded = match from {
            Some((r, sel)) => self.seed_cache(fresh.path(), r, sel)?,
            None => None,
        };
        let (base_uid, base_gid, base_mode) = seeded.unwrap_or((0, 0, 0o755));
        rustix::fs::chown(
            fresh.path(),
            Some(rustix::fs::Uid::from_raw(uid.unwrap_or(base_uid))),
            Some(rustix::fs::Gid::from_raw(gid.unwrap_or(base_gid))),
        )
        .map_err(|e| fail("chown", e.into()))?;
        std::fs::set_permissions(
            fresh.path(),
            std::os::unix::fs::PermissionsExt::from_mode(mode.unwrap_or(base_mode) & 0o7777),
        )
        .map_err(|e| fail("chmod", e))?;
        match std::fs::rename(fresh.path(), &dir) {
            // `fresh` is gone from its path now; dropping it finds nothing to remove.
            Ok(()) => Ok(dir),
            Err(_) if dir.is_dir() => Ok(dir),
            Err(e) => Err(fail("create", e)),
        }
    }

    /// Copy the directory `sel` of `from` into the new cache directory `dir`; returns the
    /// owner and mode of `sel` (`None` when `from` is empty).
    fn seed_cache(
        &self,
        dir: &Path,
        from: &Ref,
        sel: &str,
    ) -> std::result::Result<Option<(u32, u32, u32)>, WorkerError> {
        let copy = |root: crate::fileop::SourceRoot| {
            let fail = |e: &dyn std::fmt::Display| {
                WorkerError::new(format!("cache mount source {sel}: {e}"))
            };
            let meta = inroot::Root::open(&root.root)
                .and_then(|r| r.stat(sel, true))
                .map_err(|e| fail(&e))?
                .ok_or_else(|| fail(&"not found"))?;
            let action = FileAction::Copy(kiln_solver::CopyAction::plain(1, sel, "/"));
            crate::fileop::apply_actions(dir, &[root], &[action], &Default::default())
                .map_err(|e| fail(&e))?;
            Ok(Some((meta.uid, meta.gid, meta.perm)))
        };
        match from {
            Ref::Scratch => Ok(None),
            Ref::Context(c) => copy(c.source_root()),
            Ref::Snapshot(s) => self
                .kiln
                .snapshots
                .with_mounted(Some(s), |p| {
                    copy(crate::fileop::SourceRoot::new(p.to_path_buf()))
                })
                .map_err(werr)
                .and_then(|r| r),
        }
    }

    fn file(
        &self,
        ctx: &ExecContext<'_>,
        op: &FileOp,
        inputs: &[Ref],
    ) -> std::result::Result<Ref, WorkerError> {
        let start = Instant::now();
        let parent = Self::parent_snapshot(inputs.first())?;
        let shape = match (self.kiln.snapshots.mode(), &self.context) {
            // Only overlay layers hold nothing but their own files, safe to share.
            (Mode::Overlay, Some(c)) => {
                let input = inputs.iter().position(|r| matches!(r, Ref::Context(_)));
                crate::copy_reuse::shape(&self.kiln, op, input, c.root(), parent.as_ref())
            }
            _ => None,
        };
        let Some(shape) = shape else {
            return self
                .file_with(op, inputs, parent.as_ref(), None)
                .map(|(r, _)| r);
        };
        let earlier = shape.earlier(&self.kiln);
        let tried = earlier.is_some();
        match self.file_with(op, inputs, parent.as_ref(), Some((&shape, earlier))) {
            Ok((r, stats)) => {
                if tried {
                    ctx.progress.event(Event::Log {
                        vertex: ctx.vertex_index,
                        stream: 1,
                        data: format!(
                            "{} unchanged files reused from the previous build of this step, {} copied\n",
                            stats.reused, stats.copied
                        ),
                        elapsed: start.elapsed(),
                    });
                }
                Ok(r)
            }
            Err(e) if tried => {
                // The earlier result did not give what its record promised: copy in full.
                log::warn!("incremental COPY failed, copying everything: {}", e.message);
                shape.forget();
                self.file_with(op, inputs, parent.as_ref(), Some((&shape, None)))
                    .map(|(r, _)| r)
            }
            Err(e) => Err(e),
        }
    }

    /// Apply `op` on a new snapshot over `parent`; with a shape, reusing the files of its earlier
    /// result (if any) and remembering this one.
    fn file_with(
        &self,
        op: &FileOp,
        inputs: &[Ref],
        parent: Option<&SnapshotId>,
        reuse: Option<(
            &crate::copy_reuse::Shape,
            Option<crate::copy_reuse::Earlier>,
        )>,
    ) -> std::result::Result<(Ref, crate::fileop::ReuseStats), WorkerError> {
        let (shape, earlier) = match reuse {
            Some((s, e)) => (Some(s), e),
            None => (None, None),
        };
        let earlier_dir = match &earlier {
            Some((id, _)) => Some(
                self.kiln
                    .snapshots
                    .lowers(id)
                    .map_err(werr)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| WorkerError::new("earlier COPY result has no layer"))?,
            ),
            None => None,
        };
        let reuse = match shape {
            Some(_) => Some(
                crate::fileop::Reuse::new(
                    earlier_dir.as_deref().zip(earlier.map(|(_, files)| files)),
                )
                .map_err(werr)?,
            ),
            None => None,
        };
        let reuse = Mutex::new(reuse);
        let active = self.kiln.snapshots.prepare(parent).map_err(werr)?;
        let snapshots = self.kiln.snapshots.clone();
        let result = snapshots
            .with_active_mounted(&active, |dest| {
                with_sources(&snapshots, inputs, 1, Vec::new(), &|sources| {
                    let mut guard = reuse.lock().unwrap_or_else(|p| p.into_inner());
                    crate::fileop::apply_actions_reusing(
                        dest,
                        sources,
                        &op.actions,
                        &crate::fileop::FileOpOptions::default(),
                        guard.as_mut(),
                    )
                    .map_err(|e| WorkerError::new(e.to_string()))
                })
            })
            .map_err(werr)
            .and_then(|r| r);
        let mut reuse = reuse.into_inner().unwrap_or_else(|p| p.into_inner());
        // Placeholders get their content once nothing is mounted over the layer any more.
        let result = result.and_then(|()| match &mut reuse {
            Some(r) => r.finish(&active.upper).map_err(werr),
            None => Ok(Default::default()),
        });
        match result {
            Ok(stats) => {
                let id = self.kiln.snapshots.commit(active).map_err(werr)?;
                if let (Some(shape), Some(r)) = (shape, &reuse) {
                    shape.remember(&id, r.manifest());
                }
                Ok((Ref::Snapshot(id), stats))
            }
            Err(e) => {
                let _ = self.kiln.snapshots.abort(active);
                Err(e)
            }
        }
    }

    /// `Merge`: the first input, with the layers of the others rebased on top of it.
    fn merge(&self, inputs: &[Ref]) -> std::result::Result<Ref, WorkerError> {
        let mut acc = Self::parent_snapshot(inputs.first())?;
        for input in &inputs[1..] {
            let Ref::Snapshot(top) = input else { continue };
            for layer in self.kiln.snapshots.chain(top).map_err(werr)? {
                let (reader, mut writer) =
                    std::io::pipe().map_err(|e| WorkerError::new(e.to_string()))?;
                let snaps = self.kiln.snapshots.clone();
                let l = layer.clone();
                let t = std::thread::spawn(move || snaps.write_diff(&l, &mut writer, None));
                let mut reader = reader;
                let applied = self.kiln.snapshots.apply_layer(acc.as_ref(), &mut reader);
                drop(reader);
                let written = t
                    .join()
                    .map_err(|_| WorkerError::new("layer writer panicked"))?;
                let (id, _) = applied.map_err(werr)?;
                written.map_err(werr)?;
                acc = Some(id);
            }
        }
        Ok(acc.map(Ref::Snapshot).unwrap_or(Ref::Scratch))
    }
}

/// Mount every snapshot input from `next` on (each in its own nested mount namespace), then
/// call `f` with the source roots in input order (index 0 of `f`'s slice is input 1).
fn with_sources(
    snapshots: &kiln_snapshot::Snapshotter,
    inputs: &[Ref],
    next: usize,
    mut acc: Vec<crate::fileop::SourceRoot>,
    f: &(dyn Fn(&[crate::fileop::SourceRoot]) -> std::result::Result<(), WorkerError> + Sync),
) -> std::result::Result<(), WorkerError> {
    if next >= inputs.len() {
        return f(&acc);
    }
    match &inputs[next] {
        Ref::Context(c) => {
            acc.push(c.source_root());
            with_sources(snapshots, inputs, next + 1, acc, f)
        }
        Ref::Scratch => {
            let empty = tempfile::tempdir().map_err(|e| WorkerError::new(e.to_string()))?;
            acc.push(crate::fileop::SourceRoot::new(empty.path().to_path_buf()));
            with_sources(snapshots, inputs, next + 1, acc, f)
        }
        Ref::Snapshot(s) => snapshots
            .with_mounted(Some(s), |path| {
                let mut acc = acc;
                acc.push(crate::fileop::SourceRoot::new(path.to_path_buf()));
                with_sources(snapshots, inputs, next + 1, acc, f)
            })
            .map_err(werr)
            .and_then(|r| r),
    }
}

fn werr(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::new(e.to_string())
}

/// How BuildKit shows a failed command: `/bin/sh -c make`.
fn shown_command(args: &[String]) -> String {
    args.join(" ")
}

/// The last lines of a step's output, kept for its error report.
#[derive(Default)]
struct Tail {
    lines: std::collections::VecDeque<String>,
    partial: String,
}

const TAIL_LINES: usize = 10;

impl Tail {
    fn push(&mut self, data: &str) {
        self.partial.push_str(data);
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            self.lines
                .push_back(line.trim_end_matches('\n').to_string());
            if self.lines.len() > TAIL_LINES {
                self.lines.pop_front();
            }
        }
    }

    fn lines(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            self.lines.push_back(std::mem::take(&mut self.partial));
        }
        self.lines.into_iter().collect()
    }
}

struct LogSink<'a, 'b> {
    ctx: &'a ExecContext<'b>,
    start: Instant,
    tail: Mutex<Tail>,
}

impl OutputSink for LogSink<'_, '_> {
    fn output(&self, stream: u8, data: &[u8]) {
        let text = String::from_utf8_lossy(data).into_owned();
        if let Ok(mut t) = self.tail.lock() {
            t.push(&text);
        }
        self.ctx.progress.event(Event::Log {
            vertex: self.ctx.vertex_index,
            stream,
            data: text,
            elapsed: self.start.elapsed(),
        });
    }
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
