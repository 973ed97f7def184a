//! kiln-runtime: a small container runtime. One process per container, in new mount, PID, UTS,
//! IPC (and optionally network) namespaces, on an overlay or directory rootfs, with `pivot_root`.
//!
//! The caller may be multi-threaded: it never forks without exec. [`Runtime::run`] re-executes a
//! helper binary (by default `/proc/self/exe`, whose `main` must call [`maybe_run_init`] first)
//! with the spec on a pipe; the single-threaded helper forks the container's PID 1, which sets up
//! the filesystem, forks the command and stays as its init.

pub mod emulation;
mod error;
mod exec;
mod fdmount;
mod helper;
mod init;
mod kernelfs;
mod memfile;
mod mounts;
mod network;
mod output;
mod overlay;
mod paths;
mod rootfs;
mod security;
mod spawn;
mod spec;
mod sys;
mod target;
mod user;

pub use error::{Error, Result};
pub use helper::{maybe_run_init, RUNTIME_INIT_ARG};
pub use network::{nat_helper, NatHelper};
pub use output::{Output, OutputSink, MAX_LINE};
pub use spawn::{Runtime, SignalProxy};
pub use spec::{ContainerSpec, MemData, MountKind, MountSpec, Network, Rootfs, Security, Stdio};
pub use user::{
    parse_group, parse_passwd, resolve_exec_user, resolve_user, ExecUser, GroupEntry, PasswdEntry,
};
