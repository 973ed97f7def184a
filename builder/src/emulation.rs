//! Whether a build's steps can run here: every exec op carries its platform, and a platform
//! this CPU does not run needs an emulator registered in binfmt_misc (see
//! [`kiln_runtime::emulation`]). Checked for the whole graph before anything runs, so a
//! missing emulator costs nothing, and again by the worker before each step.

use crate::error::{Error, Result};
use kiln_runtime::emulation::runner_for;
pub use kiln_runtime::emulation::{
    binfmt_dir, handlers, runnable_platforms, EmulationError, Handler, Runner,
};
use kiln_solver::{Graph, Op, VertexId};
use oci::Platform;
use std::collections::{BTreeMap, HashSet};

/// How programs of `platform` run here (the answer is the kernel's registration, read anew).
pub fn runner(platform: &Platform) -> std::result::Result<Runner, EmulationError> {
    runner_for(platform)
}

/// The platforms of the exec ops reachable from `targets`, each with the first step that
/// needs it (for the error), and refuse those this machine cannot run: the error names the
/// step (`Dockerfile:3`), the platform and how to register an emulator.
pub fn check_graph(graph: &Graph, targets: &[VertexId]) -> Result<Vec<(Platform, Runner)>> {
    let mut first: BTreeMap<String, (Platform, VertexId)> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<VertexId> = targets.to_vec();
    while let Some(v) = stack.pop() {
        if !seen.insert(v) {
            continue;
        }
        if let Op::Exec(e) = &graph.vertex(v).op {
            if let Some(p) = &e.platform {
                first.entry(p.to_string()).or_insert(((**p).clone(), v));
            }
        }
        stack.extend(graph.inputs(v));
    }
    let mut out = Vec::new();
    for (platform, v) in first.into_values() {
        match runner(&platform) {
            Ok(r) => out.push((platform, r)),
            Err(e) => {
                let vertex = graph.vertex(v);
                let at = vertex
                    .meta
                    .locations
                    .first()
                    .map(|l| format!("{}:{}: ", l.file, l.start_line))
                    .unwrap_or_default();
                return Err(Error::new(format!(
                    "failed to solve: {at}{}: {e}",
                    vertex.meta.name
                )));
            }
        }
    }
    Ok(out)
}
