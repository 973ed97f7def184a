//! kiln's builder: wires the frontend, the solver, snapshots and the runtime together. It owns
//! the build context, the worker that executes ops, the local image store, and the exporters.

pub mod build;
pub mod check;
pub mod context;
mod copy_reuse;
pub mod emulation;
pub mod error;
pub mod explain;
pub mod export;
pub mod fileop;
pub mod import;
pub mod load;
mod load_index;
pub mod manifest_list;
pub mod multiplatform;
pub mod prune;
pub mod pull;
pub mod push;
pub mod push_index;
pub mod registry;
pub mod report;
pub mod resolver;
pub mod root;
pub mod run;
pub mod save;
mod save_index;
pub mod secrets;
pub mod source;
pub mod store;
pub mod tree_digest;
pub mod unpack;
pub mod worker;

pub use error::{Error, Result};
/// How the store keeps snapshots (overlay or full copies), for `kiln info`.
pub use kiln_snapshot::Mode as SnapshotMode;
pub use root::{default_root, Kiln};

/// The crates below the builder, re-exported for the CLI, which depends on the builder alone.
pub use kiln_frontend as frontend;
pub use kiln_solver as solver;
pub use oci;

/// The runtime's container init: the binary calls this first thing in `main` (see
/// [`kiln_runtime::maybe_run_init`]).
pub use kiln_runtime::maybe_run_init;
