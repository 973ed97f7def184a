//! How [`KilnWorker`] runs an `Exec` op: the container's root and mounts (cache, secret,
//! ssh, bind, tmpfs), the runtime, the output as the step's log, and the committed result.

use super::*;

impl KilnWorker {
    pub(super) fn exec(
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
