//! The container description handed to [`crate::Runtime::run`] and, serialised as JSON, to the init helper.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything needed to run one process in a fresh container.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The root filesystem.
    pub rootfs: Rootfs,
    /// argv; `args[0]` is looked up through `PATH` from `env` when it has no slash.
    pub args: Vec<String>,
    /// The whole environment, `KEY=VALUE`. `PATH` and `HOME` get defaults when missing.
    pub env: Vec<String>,
    /// The working directory inside the container; created (owned by the user) when missing.
    pub cwd: String,
    /// `""`, `name`, `uid`, `name:group` or `uid:gid`, resolved in the rootfs's `/etc/passwd` and `/etc/group`.
    pub user: String,
    /// The container's hostname (`"kiln"` when empty).
    pub hostname: String,
    /// Extra mounts, applied after the rootfs and the standard mounts, in order.
    pub mounts: Vec<MountSpec>,
    /// Which network namespace the container gets.
    pub network: Network,
    /// How the process is confined: docker's default sandbox, or `--privileged`.
    #[serde(default)]
    pub security: Security,
    /// Extra `/etc/hosts` entries as `(hostname, ip)`.
    pub extra_hosts: Vec<(String, String)>,
    /// The container's standard input.
    pub stdin: Stdio,
    /// Allocate a terminal (not supported yet: `run` returns [`crate::Error::Unsupported`]).
    pub tty: bool,
}

/// How the root filesystem is provided.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Rootfs {
    /// An overlay of read-only `lowers` (top first) with a writable `upper` and overlay `work` dir.
    Overlay {
        /// Read-only layers, the topmost first. May be empty (a scratch rootfs).
        lowers: Vec<PathBuf>,
        /// Where the container's writes land.
        upper: PathBuf,
        /// overlayfs's work directory (same filesystem as `upper`, empty).
        work: PathBuf,
    },
    /// An already-prepared directory, used in place (writes land in it).
    Dir(PathBuf),
}

/// One extra mount.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountSpec {
    /// The host path for [`MountKind::Bind`]; for the overlay kinds, the path inside the overlay
    /// to mount (empty or `/`: the whole overlay); ignored for [`MountKind::Tmpfs`].
    pub source: PathBuf,
    /// Absolute path inside the container; symlinks in it resolve inside the rootfs.
    pub dest: String,
    /// What to mount.
    pub kind: MountKind,
}

/// The kinds of extra mounts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MountKind {
    /// A recursive bind mount of `source`.
    Bind {
        /// Mount it read-only.
        readonly: bool,
    },
    /// A fresh tmpfs (mode 1777).
    Tmpfs {
        /// Size limit in bytes (the kernel's default, half the RAM, when `None`).
        size: Option<u64>,
    },
    /// A read-only overlay of `lowers` (top first).
    OverlayRo {
        /// Read-only layers, the topmost first.
        lowers: Vec<PathBuf>,
    },
    /// A writable overlay of `lowers` whose writes go to a tmpfs and are discarded.
    OverlayScratch {
        /// Read-only layers, the topmost first.
        lowers: Vec<PathBuf>,
    },
    /// A read-only file holding `data` (a build secret): written on the container's private
    /// state tmpfs, never on disk, and bind-mounted `ro,nosuid,nodev,noexec`.
    MemFile {
        /// The file's content.
        data: MemData,
        /// Its permission bits.
        mode: u32,
        /// Its owner.
        uid: u32,
        /// Its group.
        gid: u32,
    },
}

/// Bytes that must not be shown or outlive their use: `Debug` prints only their length, and
/// the memory is zeroed when dropped.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(transparent)]
pub struct MemData(pub Vec<u8>);

impl std::fmt::Debug for MemData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemData({} bytes)", self.0.len())
    }
}

impl Drop for MemData {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, exclusive reference; a volatile write is not elided.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// The container's network.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace with outbound access through a user-space NAT helper
    /// (`slirp4netns` or `pasta`) and its own loopback: the host's loopback services are out of reach.
    /// Without a helper on the machine, the host's network (see [`crate::nat_helper`]).
    #[default]
    Default,
    /// Share the host's network namespace.
    Host,
    /// A new network namespace with only `lo`, brought up.
    None,
}

/// How the container's process is confined.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Security {
    /// docker's default: its capability set, its seccomp profile, masked and read-only kernel
    /// paths, a read-only `/sys`, only the harmless devices, a private session keyring.
    #[default]
    Sandbox,
    /// docker's `--privileged` (BuildKit's `RUN --security=insecure`): every capability, no
    /// seccomp filter, no masked paths, a writable `/sys`, every host device.
    Privileged,
}

/// The container's standard input.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Stdio {
    /// `/dev/null`.
    Null,
    /// The caller's own standard input.
    Inherit,
}

impl ContainerSpec {
    /// A spec with defaults: no mounts, the default network, docker's sandbox, `/` as cwd, root
    /// user, stdin from `/dev/null`.
    pub fn new(rootfs: Rootfs, args: Vec<String>) -> ContainerSpec {
        ContainerSpec {
            rootfs,
            args,
            env: Vec::new(),
            cwd: "/".to_string(),
            user: String::new(),
            hostname: String::new(),
            mounts: Vec::new(),
            network: Network::Default,
            security: Security::Sandbox,
            extra_hosts: Vec::new(),
            stdin: Stdio::Null,
            tty: false,
        }
    }
}
