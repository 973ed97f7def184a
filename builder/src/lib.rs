//! kiln's builder: wires the frontend, the solver, snapshots and the runtime together. It owns
//! the build context, the worker that executes ops, the local image store, and the exporters.

pub mod context;
pub mod fileop;
pub mod store;
