//! Shared helpers for the lowering tests (included with `#[path]`; has no tests of its own).
#![allow(dead_code)]

use kiln_frontend::image::{ContainerConfig, History, ImageConfig, Platform, RootFs};
use kiln_frontend::lower::{lower, BuildOptions, BuildPlan, ImageResolver, ResolvedImage};
use kiln_solver::{ExecOp, FileAction, FileOp, Op, Vertex, VertexId};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A resolver with a few canned images; records every lookup.
#[derive(Default)]
pub struct FakeResolver {
    pub images: BTreeMap<String, ImageConfig>,
    pub calls: RefCell<Vec<String>>,
}

pub fn busybox_config() -> ImageConfig {
    ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        config: ContainerConfig {
            env: Some(vec![
                "PATH=/usr/local/bin:/usr/bin:/bin".into(),
                "BASEVAR=base".into(),
            ]),
            cmd: Some(vec!["sh".into()]),
            working_dir: Some("/home".into()),
            user: Some("nobody".into()),
            ..Default::default()
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![format!("sha256:{}", "a".repeat(64))],
        },
        history: vec![History {
            created_by: Some("ADD rootfs.tar /".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

impl FakeResolver {
    pub fn new() -> Self {
        let mut images = BTreeMap::new();
        images.insert("busybox".to_string(), busybox_config());
        let mut nopath = busybox_config();
        nopath.config.env = Some(vec!["FOO=1".into()]);
        images.insert("nopath".to_string(), nopath);
        let mut trig = busybox_config();
        trig.config.on_build = Some(vec![
            "RUN echo triggered".into(),
            "ENV FROM_TRIGGER=yes".into(),
        ]);
        images.insert("withtrigger".to_string(), trig);
        images.insert("alpine".to_string(), busybox_config());
        FakeResolver {
            images,
            calls: RefCell::new(Vec::new()),
        }
    }
}

impl ImageResolver for FakeResolver {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        self.calls.borrow_mut().push(reference.to_string());
        let short = reference.split(':').next().unwrap_or(reference);
        let config = self
            .images
            .get(short)
            .cloned()
            .ok_or_else(|| format!("{reference}: not found"))?;
        Ok(ResolvedImage {
            name: format!("docker.io/library/{short}:latest"),
            manifest_digest: format!("sha256:{}", "b".repeat(64)),
            config,
        })
    }
}

pub fn opts() -> BuildOptions {
    BuildOptions {
        target_platform: Platform::parse("linux/amd64").unwrap(),
        build_platform: Platform::parse("linux/amd64").unwrap(),
        ..Default::default()
    }
}

pub fn plan(df: &str) -> BuildPlan {
    plan_with(df, &opts())
}

pub fn plan_with(df: &str, o: &BuildOptions) -> BuildPlan {
    let r = FakeResolver::new();
    match lower(df, o, &r) {
        Ok(p) => p,
        Err(e) => panic!("lowering failed:\n{e}"),
    }
}

pub fn err_with(df: &str, o: &BuildOptions) -> String {
    let r = FakeResolver::new();
    match lower(df, o, &r) {
        Ok(_) => panic!("expected an error for:\n{df}"),
        Err(e) => e.to_string(),
    }
}

pub fn err(df: &str) -> String {
    err_with(df, &opts())
}

pub fn v(p: &BuildPlan, id: VertexId) -> &Vertex {
    p.graph.vertex(id)
}

/// All vertices whose op is an exec, in graph order.
pub fn execs(p: &BuildPlan) -> Vec<(VertexId, ExecOp)> {
    p.graph
        .dag()
        .node_indices()
        .filter_map(|i| match &p.graph.vertex(i).op {
            Op::Exec(e) => Some((i, e.clone())),
            _ => None,
        })
        .collect()
}

/// The exec vertex whose last argv element is `cmd`.
pub fn exec_running(p: &BuildPlan, cmd: &str) -> ExecOp {
    execs(p)
        .into_iter()
        .map(|(_, e)| e)
        .find(|e| e.meta.args.last().map(String::as_str) == Some(cmd))
        .unwrap_or_else(|| panic!("no RUN of {cmd:?}"))
}

pub fn file_op(p: &BuildPlan, id: VertexId) -> FileOp {
    match &v(p, id).op {
        Op::File(f) => f.clone(),
        other => panic!("expected a file op, got {other:?}"),
    }
}

/// Destinations of every copy action in the graph.
pub fn copy_dests(p: &BuildPlan) -> Vec<String> {
    let mut out = Vec::new();
    for i in p.graph.dag().node_indices() {
        if let Op::File(f) = &p.graph.vertex(i).op {
            for a in &f.actions {
                if let FileAction::Copy(c) = a {
                    out.push(c.dest.clone());
                }
            }
        }
    }
    out
}

pub fn created_by(p: &BuildPlan) -> Vec<String> {
    p.steps
        .iter()
        .map(|s| s.history.created_by.clone().unwrap_or_default())
        .collect()
}

pub fn source_ids(p: &BuildPlan) -> Vec<String> {
    p.graph
        .dag()
        .node_indices()
        .filter_map(|i| match &p.graph.vertex(i).op {
            Op::Source(s) => Some(s.identifier.clone()),
            _ => None,
        })
        .collect()
}
