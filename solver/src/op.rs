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

impl Op {
    /// For each input of this op, the paths whose *content* decides the result, when the op
    /// reads only part of that input (COPY sources, bind-mount selectors). `None` means the
    /// whole input matters and its cache key is used as is.
    ///
    /// The solver asks the worker for a content digest of exactly these paths when the input is
    /// content-addressable (the build context), so editing an unselected file invalidates
    /// nothing.
    pub fn content_selectors(&self, n_inputs: usize) -> Vec<Option<Vec<String>>> {
        let mut out: Vec<Option<Vec<String>>> = vec![None; n_inputs];
        if let Op::File(f) = self {
            for a in &f.actions {
                if let FileAction::Copy(c) = a {
                    if c.src_input > 0 && c.src_input < n_inputs {
                        out[c.src_input]
                            .get_or_insert_with(Vec::new)
                            .push(c.src.clone());
                    }
                }
            }
        }
        out
    }
}
