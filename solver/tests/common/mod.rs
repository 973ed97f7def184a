//! A fake in-memory worker and graph helpers for the solver's tests.
#![allow(dead_code)]

use kiln_solver::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A result of the fake worker: an id in its store and a description of how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRef {
    pub id: u64,
    pub content: String,
}

/// Id of the build context's ref.
pub const CONTEXT_ID: u64 = 0;

/// Something a test wants to happen when a vertex (by name) executes.
pub type Hook = Arc<dyn Fn(&ExecContext<'_>) -> Result<(), WorkerError> + Send + Sync>;

#[derive(Default)]
pub struct Fake {
    next_id: AtomicU64,
    store: Mutex<HashMap<u64, String>>,
    /// Names of executed vertices, in order of execution start.
    pub executed: Mutex<Vec<String>>,
    /// (name, ExecContext::vertex_index) of each execution.
    pub indices: Mutex<Vec<(String, usize)>>,
    running: AtomicUsize,
    pub max_running: AtomicUsize,
    /// Files of the build context: path → content.
    pub context: Mutex<BTreeMap<String, String>>,
    hooks: Mutex<HashMap<String, Hook>>,
    /// How many times `content_digest` was called.
    pub content_queries: AtomicUsize,
    /// What every executed result holds at a path (for `result_content_digest`): path →
    /// content; a path not listed is not content-addressable (keyed by the input's key).
    pub result_files: Mutex<BTreeMap<String, String>>,
}

impl Fake {
    pub fn new() -> Arc<Fake> {
        let f = Fake {
            next_id: AtomicU64::new(1),
            ..Default::default()
        };
        Arc::new(f)
    }

    pub fn hook(&self, name: &str, hook: Hook) {
        self.hooks.lock().unwrap().insert(name.to_string(), hook);
    }

    pub fn clear_hooks(&self) {
        self.hooks.lock().unwrap().clear();
    }

    pub fn executed(&self) -> Vec<String> {
        self.executed.lock().unwrap().clone()
    }

    pub fn take_executed(&self) -> Vec<String> {
        std::mem::take(&mut *self.executed.lock().unwrap())
    }

    /// Drop a result's data, as a snapshot prune would.
    pub fn forget(&self, id: u64) {
        self.store.lock().unwrap().remove(&id);
    }

    pub fn set_file(&self, path: &str, content: &str) {
        self.context
            .lock()
            .unwrap()
            .insert(path.to_string(), content.to_string());
    }
}

impl Worker for Fake {
    type Ref = FakeRef;

    fn source_key(&self, vertex: &Vertex) -> Result<Digest, WorkerError> {
        match &vertex.op {
            Op::Source(s) if s.identifier.starts_with("local://") => Ok(Digest::sha256(b"local")),
            Op::Source(s) if s.identifier.starts_with("bad://") => {
                Err(WorkerError::new("no such source"))
            }
            Op::Source(s) => Ok(Digest::sha256(
                format!("manifest of {}", s.identifier).as_bytes(),
            )),
            _ => Err(WorkerError::new("not a source")),
        }
    }

    fn resolve_source(&self, vertex: &Vertex) -> Result<FakeRef, WorkerError> {
        match &vertex.op {
            Op::Source(s) if s.identifier.starts_with("local://") => Ok(FakeRef {
                id: CONTEXT_ID,
                content: "context".into(),
            }),
            Op::Source(s) => Ok(FakeRef {
                id: u64::MAX,
                content: s.identifier.clone(),
            }),
            _ => Err(WorkerError::new("not a source")),
        }
    }

    fn content_digest(
        &self,
        input: &FakeRef,
        selection: &ContentSelection,
    ) -> Result<Option<Digest>, WorkerError> {
        self.content_queries.fetch_add(1, Ordering::SeqCst);
        if input.id != CONTEXT_ID {
            return Ok(None);
        }
        // The files at or below the selected path.
        let ctx = self.context.lock().unwrap();
        let sel = selection.path.trim_end_matches('/');
        let mut text = format!("{sel}:");
        let mut found = false;
        for (path, content) in ctx.iter() {
            let below = path == sel || path.starts_with(&format!("{sel}/"));
            if below {
                found = true;
                text.push_str(&format!("{path}={content};"));
            }
        }
        if !found {
            text.push_str("<missing>");
        }
        Ok(Some(Digest::sha256(text.as_bytes())))
    }

    fn result_content_digest(
        &self,
        input: &FakeRef,
        selection: &ContentSelection,
    ) -> Result<Option<Digest>, WorkerError> {
        if input.id == CONTEXT_ID || input.id == u64::MAX {
            return Err(WorkerError::new("result_content_digest of a source"));
        }
        let files = self.result_files.lock().unwrap();
        Ok(files
            .get(&selection.path)
            .map(|c| Digest::sha256(format!("{}={c}", selection.path).as_bytes())))
    }

    fn execute(
        &self,
        ctx: &ExecContext<'_>,
        vertex: &Vertex,
        inputs: &[FakeRef],
    ) -> Result<FakeRef, WorkerError> {
        let name = vertex.meta.name.clone();
        self.executed.lock().unwrap().push(name.clone());
        self.indices
            .lock()
            .unwrap()
            .push((name.clone(), ctx.vertex_index));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let hook = self.hooks.lock().unwrap().get(&name).cloned();
        let result = match hook {
            Some(h) => h(ctx),
            None => Ok(()),
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        result?;
        ctx.progress.event(Event::Log {
            vertex: ctx.vertex_index,
            stream: 1,
            data: format!("ran {name}\n"),
            elapsed: Duration::ZERO,
        });
        let parts: Vec<&str> = inputs.iter().map(|r| r.content.as_str()).collect();
        let content = format!("{name}({})", parts.join(","));
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.store.lock().unwrap().insert(id, content.clone());
        Ok(FakeRef { id, content })
    }

    fn save(&self, r: &FakeRef) -> Result<Vec<u8>, WorkerError> {
        Ok(r.id.to_string().into_bytes())
    }

    fn load(&self, record: &[u8]) -> Result<Option<FakeRef>, WorkerError> {
        let id: u64 = std::str::from_utf8(record)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| WorkerError::new("bad record"))?;
        Ok(self.store.lock().unwrap().get(&id).map(|c| FakeRef {
            id,
            content: c.clone(),
        }))
    }

    fn result_size(&self, r: &FakeRef) -> Option<u64> {
        Some(r.content.len() as u64)
    }
}

/// A progress sink that keeps every event.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

impl ProgressSink for Recorder {
    fn event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Events other than logs, as short strings (`cached 1 t`, `started 2 a`, `done 2`...).
    pub fn summary(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Started { vertex, name } => Some(format!("started {vertex} {name}")),
                Event::Cached { vertex, name } => Some(format!("cached {vertex} {name}")),
                Event::Done { vertex, .. } => Some(format!("done {vertex}")),
                Event::Error {
                    vertex, message, ..
                } => Some(format!("error {vertex} {message}")),
                Event::Cancelled { vertex } => Some(format!("cancelled {vertex}")),
                Event::Log { .. } | Event::Bytes { .. } | Event::CacheMiss { .. } => None,
            })
            .collect()
    }

    pub fn cached_names(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Cached { name, .. } => Some(name),
                _ => None,
            })
            .collect()
    }
}

pub fn meta(name: &str) -> VertexMeta {
    VertexMeta {
        name: name.to_string(),
        ..Default::default()
    }
}

/// A source vertex named after its identifier.
pub fn source(g: &mut Graph, identifier: &str) -> VertexId {
    g.add(
        Op::Source(SourceOp {
            identifier: identifier.to_string(),
            attrs: Default::default(),
        }),
        &[],
        meta(identifier),
    )
}

/// A distinct file op named `name` over `inputs`.
pub fn step(g: &mut Graph, name: &str, inputs: &[VertexId]) -> VertexId {
    let op = Op::File(FileOp {
        actions: vec![FileAction::Mkfile {
            path: format!("/{name}"),
            mode: 0o644,
            data: Vec::new(),
            owner: None,
        }],
    });
    g.add(op, inputs, meta(name))
}

/// `COPY <path> /dst/` from `context` onto `base`.
pub fn copy_from(
    g: &mut Graph,
    name: &str,
    base: VertexId,
    context: VertexId,
    path: &str,
) -> VertexId {
    let op = Op::File(FileOp {
        actions: vec![FileAction::Copy(CopyAction {
            src_input: 1,
            src: path.to_string(),
            dest: "/dst/".to_string(),
            owner: None,
            mode: None,
            follow_symlinks: true,
            dir_copy_contents: true,
            attempt_unpack: false,
            create_dest_path: true,
            allow_wildcard: true,
            allow_empty_wildcard: false,
            exclude_patterns: Vec::new(),
            parents: false,
            mtime: None,
        })],
    });
    g.add(op, &[base, context], meta(name))
}

/// `RUN` over `root` with each of `mounts` (selector, dest) a bind mount of `context`.
pub fn exec_with_mounts(
    g: &mut Graph,
    name: &str,
    root: VertexId,
    context: VertexId,
    mounts: &[(&str, &str)],
) -> VertexId {
    let mut all = vec![Mount {
        input: Some(0),
        selector: "/".into(),
        dest: "/".into(),
        readonly: false,
        kind: MountKind::Bind,
    }];
    for (selector, dest) in mounts {
        all.push(Mount {
            input: Some(1),
            selector: selector.to_string(),
            dest: dest.to_string(),
            readonly: true,
            kind: MountKind::Bind,
        });
    }
    let op = Op::Exec(ExecOp {
        meta: ExecMeta {
            args: vec!["/bin/sh".into(), "-c".into(), name.into()],
            env: Vec::new(),
            cwd: "/".into(),
            user: String::new(),
            hostname: None,
            extra_hosts: Vec::new(),
            proxy_env: Vec::new(),
        },
        mounts: all,
        network: NetworkMode::default(),
        security: SecurityMode::default(),
        platform: None,
    });
    g.add(op, &[root, context], meta(name))
}

/// Wait until `cond` holds, polling, for at most 10 s; returns whether it held.
pub fn wait_for(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

pub fn no_cancel() -> Arc<std::sync::atomic::AtomicBool> {
    Arc::new(std::sync::atomic::AtomicBool::new(false))
}

pub fn solver(worker: &Arc<Fake>, dir: &std::path::Path, jobs: usize) -> Solver<Fake> {
    Solver::new(
        worker.clone(),
        Cache::open(dir).expect("open cache"),
        SolveOptions { jobs },
    )
}
