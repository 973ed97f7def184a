//! The operations a build graph is made of: the analogue of BuildKit's LLB ops.
//!
//! Every op is plain data and serialises canonically (field order fixed, maps sorted), so that
//! the digest of a vertex is a pure function of what it does and of its inputs' digests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One operation of the build graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A filesystem that comes from outside the graph (an image, the build context, scratch).
    Source(SourceOp),
    /// Run a process over a root filesystem (input 0 unless the root mount names another).
    Exec(ExecOp),
    /// Filesystem actions (copy, mkdir, mkfile, rm, symlink) applied on input 0.
    File(FileOp),
    /// Layer the inputs on top of each other, first at the bottom (`COPY --link`).
    Merge(MergeOp),
    /// The changes that turn input 0 (lower) into input 1 (upper).
    Diff(DiffOp),
}

/// Where a source filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceOp {
    /// `docker-image://NAME[:TAG][@DIGEST]`, `local://NAME` (e.g. `local://context`), `scratch`,
    /// `https://...`, `git://...`.
    pub identifier: String,
    /// Source-specific attributes (e.g. `includepatterns`, `excludepatterns`, `followpaths` for
    /// local sources; `platform` for images). Sorted, so part of the digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// Run one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOp {
    pub meta: ExecMeta,
    /// Mounts, the root mount (`dest == "/"`) first. Its result is the vertex's output.
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub network: NetworkMode,
    #[serde(default)]
    pub security: SecurityMode,
    /// The platform whose programs the process runs (BuildKit's `Op.platform`): part of the
    /// digest, so that the same step for two platforms is two vertices, and what the worker
    /// reads to run it natively or through an emulator. `None`: the worker's own platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Box<oci::Platform>>,
}

/// The process of an exec op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecMeta {
    /// argv; shell form arrives here already wrapped (`["/bin/sh", "-c", "..."]`).
    pub args: Vec<String>,
    /// `KEY=VALUE` strings in order.
    pub env: Vec<String>,
    /// Working directory inside the container (absolute). Created if missing.
    pub cwd: String,
    /// `user[:group]`, names or ids; empty = root. Resolved by the worker inside the rootfs.
    #[serde(default)]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Extra `/etc/hosts` entries `name:ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Env entries (`KEY=VALUE`) given to the process but kept out of the cache key and history
    /// (proxy args). Not part of the digest.
    #[serde(default, skip)]
    pub proxy_env: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// kiln's default: like BuildKit's sandbox network. Today: the host's network namespace.
    #[default]
    Default,
    /// Only loopback.
    None,
    Host,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

/// A mount of an exec op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Index into the vertex's inputs; `None` = scratch (empty) or a mount that has no input
    /// (cache, tmpfs, secret, ssh).
    pub input: Option<usize>,
    /// Path inside the input to mount (`/` = its root).
    #[serde(default = "root_path")]
    pub selector: String,
    /// Mount point inside the container.
    pub dest: String,
    #[serde(default)]
    pub readonly: bool,
    #[serde(default)]
    pub kind: MountKind,
}

fn root_path() -> String {
    "/".to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MountKind {
    /// A snapshot (the root mount, or `--mount=type=bind`). Writes to a non-root bind are
    /// discarded.
    #[default]
    Bind,
    /// A persistent cache directory shared across builds.
    Cache {
        id: String,
        sharing: CacheSharing,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    },
    Tmpfs {
        size: Option<u64>,
    },
    /// A secret file. Its content never reaches the digest, the cache or a layer.
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
        env: Option<String>,
    },
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// A sequence of filesystem actions on input 0 (the destination).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOp {
    pub actions: Vec<FileAction>,
}

/// Owner for created files: names are resolved inside the destination's `/etc/passwd` and
/// `/etc/group` by the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chown {
    pub user: UserSpec,
    pub group: Option<UserSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSpec {
    Id(u32),
    Name(String),
}

/// A file mode change: an octal mode, or a symbolic one (`u+x,go-w`) applied per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chmod {
    Octal(u32),
    Symbolic(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// Copy `src` (inside input `src_input`) to `dest` (inside input 0).
    Copy(CopyAction),
    Mkdir {
        path: String,
        mode: u32,
        make_parents: bool,
        owner: Option<Chown>,
    },
    Mkfile {
        path: String,
        mode: u32,
        data: Vec<u8>,
        owner: Option<Chown>,
    },
    Rm {
        path: String,
        allow_not_found: bool,
        allow_wildcard: bool,
    },
    Symlink {
        target: String,
        link: String,
    },
}

/// One COPY/ADD source. Paths are absolute inside their input; `dest` ending in `/` means a
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyAction {
    pub src_input: usize,
    pub src: String,
    pub dest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Chown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Chmod>,
    pub follow_symlinks: bool,
    /// A directory source copies its contents, not itself (docker's COPY).
    pub dir_copy_contents: bool,
    /// Unpack a local archive source (ADD).
    pub attempt_unpack: bool,
    pub create_dest_path: bool,
    pub allow_wildcard: bool,
    pub allow_empty_wildcard: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_patterns: Vec<String>,
    /// `--parents`: keep the source's parent directories (from a `/./` pivot when present).
    #[serde(default)]
    pub parents: bool,
    /// Set every copied file's mtime to this (SOURCE_DATE_EPOCH, heredocs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
}

impl CopyAction {
    /// A plain copy of `src` (from input `src_input`) to `dest`: symlinks followed, directory
    /// contents copied, missing parents created, no wildcards, owners and modes kept.
    pub fn plain(src_input: usize, src: impl Into<String>, dest: impl Into<String>) -> CopyAction {
        CopyAction {
            src_input,
            src: src.into(),
            dest: dest.into(),
            owner: None,
            mode: None,
            follow_symlinks: true,
            dir_copy_contents: true,
            attempt_unpack: false,
            create_dest_path: true,
            allow_wildcard: false,
            allow_empty_wildcard: false,
            exclude_patterns: Vec::new(),
            parents: false,
            mtime: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOp {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffOp {}

/// One part of an input whose content decides an op's result: what one COPY source or one mount
/// reads. Each COPY action and each mount has its own, so that each enters the cache key on its
/// own (a union would let one mount's exclusions or wildcards hide another's files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSelection {
    /// The path read, absolute inside the input (`/` = all of it).
    pub path: String,
    /// How the op reads it.
    pub read: ReadAs,
    /// Patterns left out below each matched path (`COPY --exclude`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
}

/// How an op reads a [`ContentSelection`]; the worker digests exactly what that way exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadAs {
    /// Copied (COPY/ADD, the seed of a cache mount): wildcards expanded when allowed, a symlink
    /// at the path copied as what it points to.
    Copy { allow_wildcard: bool },
    /// Bind-mounted: the path taken literally, every symlink on it followed, and the tree it
    /// leads to exposed as it is.
    Mount,
}

impl ContentSelection {
    /// What one COPY action reads of its source input.
    pub fn of_copy(c: &CopyAction) -> ContentSelection {
        ContentSelection {
            path: c.src.clone(),
            read: ReadAs::Copy {
                allow_wildcard: c.allow_wildcard,
            },
            excludes: c.exclude_patterns.clone(),
        }
    }

    /// What a mount exposes of its input: a bind mount shows the tree at its selector, a cache
    /// mount is filled with a copy of it the first time.
    pub fn of_mount(m: &Mount) -> ContentSelection {
        match m.kind {
            MountKind::Cache { .. } => ContentSelection::cache_seed(&m.selector),
            _ => ContentSelection {
                path: m.selector.clone(),
                read: ReadAs::Mount,
                excludes: Vec::new(),
            },
        }
    }

    /// What a new cache mount is filled with from its `from` input: a plain copy of `path`.
    pub fn cache_seed(path: &str) -> ContentSelection {
        ContentSelection {
            path: path.to_string(),
            read: ReadAs::Copy {
                allow_wildcard: false,
            },
            excludes: Vec::new(),
        }
    }
}

impl Op {
    /// For each input of this op, the parts whose *content* decides the result, one per COPY
    /// action or mount that reads the input, in the op's order. `None` means the whole input
    /// matters (the destination of a file op, the root of an exec, any use not listed here) and
    /// its cache key is used as is.
    ///
    /// The solver asks the worker for a content digest of each part when the input is
    /// content-addressable (the build context), so editing a file no part reads invalidates
    /// nothing, and editing one that any part reads invalidates the op.
    pub fn content_selections(&self, n_inputs: usize) -> Vec<Option<Vec<ContentSelection>>> {
        let mut parts: Vec<Vec<ContentSelection>> = vec![Vec::new(); n_inputs];
        let mut whole = vec![false; n_inputs];
        match self {
            Op::File(f) => {
                // Input 0 is the destination: the whole of it matters.
                if let Some(w) = whole.first_mut() {
                    *w = true;
                }
                for a in &f.actions {
                    if let FileAction::Copy(c) = a {
                        if let Some(p) = parts.get_mut(c.src_input) {
                            p.push(ContentSelection::of_copy(c));
                        }
                    }
                }
            }
            Op::Exec(e) => {
                for m in &e.mounts {
                    let Some(i) = m.input.filter(|i| *i < n_inputs) else {
                        continue;
                    };
                    let partial = m.dest != "/"
                        && matches!(m.kind, MountKind::Bind | MountKind::Cache { .. });
                    if partial {
                        parts[i].push(ContentSelection::of_mount(m));
                    } else {
                        whole[i] = true;
                    }
                }
            }
            Op::Source(_) | Op::Merge(_) | Op::Diff(_) => return vec![None; n_inputs],
        }
        parts
            .into_iter()
            .zip(whole)
            .map(|(p, w)| (!w && !p.is_empty()).then_some(p))
            .collect()
    }
}
