//! Lowering: a Dockerfile becomes a [`kiln_solver::Graph`] plus the target stage's image
//! config and history ([`BuildPlan`]), following docker/BuildKit semantics.
//!
//! Stages are built lazily from the target: only stages it reaches through `FROM <stage>`,
//! `COPY --from` or `RUN --mount=from=` get vertices.
//!
//! Conventions the builder relies on:
//! - Source identifiers: `docker-image://NAME@DIGEST` (attr `platform`), `scratch`,
//!   `local://<context_name>` (one vertex for every use of the context), `http(s)://…` for
//!   `ADD <url>` (attrs `filename` = the downloaded file's name, `checksum` when given; the
//!   copy reads `/<filename>` from it), git URLs for `ADD <repo>` (attrs `keep_git_dir`,
//!   `checksum`; the copy reads `/`).
//! - Heredoc bodies (`COPY <<EOF`, `RUN <<EOF` with a `#!` line) are `Mkfile` vertices over
//!   scratch; a shebang script is mounted read-only at `/dev/pipes/`.
//! - `HistoryStep::layer_vertex` is the stage's state after the step: the layer is the
//!   difference between it and the previous step's state (for `COPY --link` a Merge whose
//!   upper input is the copy over scratch).
//! - A secret mount with `env=` and no `target` has an empty `dest` (environment only).

mod api;
mod copy;
mod dispatch;
mod history;
mod paths;
mod proxy;
mod run;
mod stage;
mod state;

pub use api::*;
pub use copy::{is_git_source, is_http_source, url_file_name};
pub use dispatch::HISTORY_COMMENT;
pub use history::{
    go_q_list, go_quote_rune, go_v_list, go_v_set, healthcheck_text, run_command_string,
};
pub use paths::{clean_abs, copy_dest, go_clean, join_abs, parse_chown};
pub use proxy::proxy_env;

use crate::instructions::suggest::did_you_mean;
use crate::instructions::{Command, FrontendError, Instruction};
use crate::shell::Lexer;
use crate::stages::{predefined_args, StageModel};
use kiln_solver::{Graph, Op, SourceLocation, SourceOp, VertexId, VertexMeta};
use state::StageState;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Args every build knows without an `ARG` line (usable in RUN, kept out of history and the
/// cache key).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Args that never enter the build environment (BuildKit's `nonEnvArgs`).
pub const NON_ENV_ARGS: &[&str] = &["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// BuildKit's default `PATH` for Linux images that have none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Parse, check and lower a Dockerfile for one platform (`opts.target_platform`).
pub fn lower(
    dockerfile_text: &str,
    opts: &BuildOptions,
    resolver: &dyn ImageResolver,
) -> Result<BuildPlan, FrontendError> {
    let mut plans = lower_platforms(
        dockerfile_text,
        opts,
        std::slice::from_ref(&opts.target_platform),
        resolver,
    )?;
    Ok(plans.remove(0))
}

/// Parse, check and lower a Dockerfile for each of `platforms` (at least one) into **one**
/// graph: every plan's `graph` is that same graph, and its `result` a vertex of it. Work that
/// does not depend on the target platform (loading the context, a stage `FROM
/// --platform=$BUILDPLATFORM` that does not read `TARGET*`, a COPY into it) is one vertex
/// shared by every platform, because a vertex is its digest; an exec carries its stage's
/// platform, so the same RUN for two platforms is two vertices. With several platforms, step
/// names start with the stage's platform (`[linux/arm64 build 2/3]`). Warnings are said once.
pub fn lower_platforms(
    dockerfile_text: &str,
    opts: &BuildOptions,
    platforms: &[crate::image::Platform],
    resolver: &dyn ImageResolver,
) -> Result<Vec<BuildPlan>, FrontendError> {
    let file = opts.dockerfile_name.clone();
    let df = crate::parser::parse(dockerfile_text, &file).map_err(|e| {
        FrontendError::new(&e.file, e.line, e.column, e.message).with_source(dockerfile_text)
    })?;
    crate::lint::check_syntax(&df, &file).map_err(|e| e.with_source(dockerfile_text))?;
    // One stage model for lowering and the checks, so that they agree on every name.
    let (model, broken) = StageModel::build(&df, &file);
    if let Some(e) = broken {
        return Err(e.with_source(dockerfile_text));
    }
    // Lint after lowering, reading the images lowering resolved (no second lookup); the
    // parser's empty-continuation findings are reported by the linter (NoEmptyContinuation).
    let memo = crate::lint::MemoResolver::new(resolver);
    let mut graph = Graph::new();
    let mut plans = Vec::with_capacity(platforms.len());
    let mut said: Vec<Warning> = Vec::new();
    for platform in platforms {
        let popts = BuildOptions {
            target_platform: platform.clone(),
            ..opts.clone()
        };
        let mut l =
            Lowerer::new(&popts, &memo, &model).map_err(|e| e.with_source(dockerfile_text))?;
        l.graph = std::mem::take(&mut graph);
        l.platform_in_steps = platforms.len() > 1;
        let mut plan = l.run().map_err(|e| e.with_source(dockerfile_text))?;
        let lint = crate::lint::warnings_for_build(dockerfile_text, &df, &model, &popts, &memo)?;
        plan.warnings.splice(0..0, lint);
        plan.warnings.retain(|w| {
            let new = !said.contains(w);
            if new {
                said.push(w.clone());
            }
            new
        });
        graph = std::mem::take(&mut plan.graph);
        plans.push(plan);
    }
    for plan in &mut plans {
        plan.graph = graph.clone();
    }
    Ok(plans)
}

/// Where an instruction is, for errors and vertex metadata.
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub file: String,
    pub start_line: usize,
    pub end_line: usize,
    pub column: usize,
}

impl Loc {
    pub fn of(file: &str, c: &Command) -> Loc {
        Loc {
            file: file.to_string(),
            start_line: c.start_line,
            end_line: c.end_line,
            column: c.column,
        }
    }

    pub fn err(&self, msg: impl Into<String>) -> FrontendError {
        FrontendError::new(&self.file, self.start_line, self.column, msg)
    }

    pub fn source_location(&self) -> SourceLocation {
        SourceLocation {
            file: self.file.clone(),
            start_line: self.start_line,
            end_line: self.end_line,
        }
    }
}

/// The state of one lowering run.
pub(crate) struct Lowerer<'a> {
    pub file: String,
    pub opts: &'a BuildOptions,
    pub resolver: &'a dyn ImageResolver,
    pub lexer: Lexer,
    pub graph: Graph,
    /// The stages, as the checks see them too.
    pub model: &'a StageModel<'a>,
    /// Global scope: predefined args, then the ARGs before the first FROM (value `None` = unset).
    pub meta: Vec<(String, Option<String>)>,
    pub built: Vec<Option<StageState>>,
    pub building: Vec<bool>,
    pub images: HashMap<(String, String), ResolvedImage>,
    pub context: Option<VertexId>,
    /// Build args some ARG declared.
    pub consumed: BTreeSet<String>,
    /// Names of built stages, in the order they were finished.
    pub order: Vec<String>,
    pub warnings: Vec<Warning>,
    pub target: usize,
    /// Step names carry the stage's platform (a build for several platforms).
    pub platform_in_steps: bool,
}

impl<'a> Lowerer<'a> {
    fn new(
        opts: &'a BuildOptions,
        resolver: &'a dyn ImageResolver,
        model: &'a StageModel<'a>,
    ) -> Result<Self, FrontendError> {
        let file = opts.dockerfile_name.clone();
        let n = model.stages.len();
        let mut l = Lowerer {
            file: file.clone(),
            opts,
            resolver,
            lexer: model.lexer,
            graph: Graph::new(),
            model,
            meta: Vec::new(),
            built: vec![None; n],
            building: vec![false; n],
            images: HashMap::new(),
            context: None,
            consumed: BTreeSet::new(),
            order: Vec::new(),
            warnings: Vec::new(),
            target: 0,
            platform_in_steps: false,
        };
        l.target = l.find_target()?;
        l.init_meta();
        for instr in &model.global_args {
            let c = &instr.cmd;
            if let Instruction::Arg(args) = &c.instruction {
                for (name, default) in args {
                    l.consumed.insert(name.clone());
                    let value = match opts.build_args.get(name) {
                        Some(v) => Some(v.clone()),
                        None => match default {
                            Some(d) => {
                                let env = l.meta_env();
                                Some(
                                    l.lexer
                                        .process_word(d, &env)
                                        .map_err(|e| Loc::of(&file, c).err(e.to_string()))?,
                                )
                            }
                            None => None,
                        },
                    };
                    set_arg(&mut l.meta, name, value);
                }
            }
        }
        Ok(l)
    }

    /// The index of the stage to build: the last stage of the `--target` name (BuildKit
    /// overwrites a name taken twice), or a stage index.
    fn find_target(&self) -> Result<usize, FrontendError> {
        let t = self.opts.target.as_deref();
        if let Some(i) = self.model.target_index(t) {
            return Ok(i);
        }
        let t = t.unwrap_or_default();
        let hint = did_you_mean(
            t,
            self.model.stages.iter().filter_map(|s| s.name.as_deref()),
            true,
        );
        Err(FrontendError::general(
            &self.file,
            format!("target stage {t:?} could not be found{hint}"),
        ))
    }

    /// Predefined platform args (overridable with `--build-arg`).
    fn init_meta(&mut self) {
        let target_stage = self.model.stages[self.target].name.clone();
        for (k, v) in predefined_args(self.opts, target_stage.as_deref()) {
            let v = self.opts.build_args.get(k).cloned().unwrap_or(v);
            self.meta.push((k.to_string(), Some(v)));
        }
    }

    /// The global scope as an expansion environment.
    pub fn meta_env(&self) -> BTreeMap<String, String> {
        self.meta
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect()
    }

    fn run(mut self) -> Result<BuildPlan, FrontendError> {
        let target = self.target;
        self.build_stage(target)?;
        let st = self.built[target]
            .take()
            .ok_or_else(|| FrontendError::general(&self.file, "target stage was not built"))?;
        let mut config = st.config;
        if !self.opts.labels.is_empty() {
            let labels = config.config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in &self.opts.labels {
                labels.insert(k.clone(), v.clone());
            }
        }
        let mut unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.consumed.contains(*k) && !is_predefined_arg(k))
            .collect();
        unused.sort();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            self.warnings.push(Warning {
                rule: String::new(),
                message: format!(
                    "[Warning] One or more build-args [{}] were not consumed",
                    names.join(" ")
                ),
                file: self.file.clone(),
                line: 0,
            });
        }
        Ok(BuildPlan {
            graph: self.graph,
            result: st.vertex,
            config,
            steps: st.steps,
            warnings: self.warnings,
            stages: self.order,
        })
    }

    /// The shared build-context source vertex.
    pub fn context_vertex(&mut self) -> VertexId {
        if let Some(v) = self.context {
            return v;
        }
        let op = Op::Source(SourceOp {
            identifier: format!("local://{}", self.opts.context_name),
            attrs: BTreeMap::new(),
        });
        let meta = VertexMeta {
            name: "[internal] load build context".into(),
            ..Default::default()
        };
        let v = self.graph.add(op, &[], meta);
        self.context = Some(v);
        v
    }

    /// An empty filesystem.
    pub fn scratch_vertex(&mut self) -> VertexId {
        let op = Op::Source(SourceOp {
            identifier: "scratch".into(),
            attrs: BTreeMap::new(),
        });
        self.graph.add(
            op,
            &[],
            VertexMeta {
                name: "[internal] scratch".into(),
                ..Default::default()
            },
        )
    }

    /// A heredoc body as the file `/NAME` (mode `mode`) alone over scratch, for COPY to copy
    /// from or RUN to mount.
    pub fn inline_document(&mut self, name: &str, mode: u32, data: String) -> VertexId {
        let scratch = self.scratch_vertex();
        let op = Op::File(kiln_solver::FileOp {
            actions: vec![kiln_solver::FileAction::Mkfile {
                path: format!("/{name}"),
                mode,
                data: data.into_bytes(),
                owner: None,
            }],
        });
        let meta = VertexMeta {
            name: "[internal] preparing inline document".into(),
            ..Default::default()
        };
        self.graph.add(op, &[scratch], meta)
    }
}

/// Set `name` in an ordered arg list, keeping its first position.
pub(crate) fn set_arg(list: &mut Vec<(String, Option<String>)>, name: &str, value: Option<String>) {
    match list.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => list.push((name.to_string(), value)),
    }
}

/// Build args that need no `ARG` declaration to be "consumed".
fn is_predefined_arg(k: &str) -> bool {
    PROXY_ARGS.contains(&k)
        || k.starts_with("BUILDKIT_")
        || k == "SOURCE_DATE_EPOCH"
        || matches!(
            k,
            "TARGETPLATFORM"
                | "TARGETOS"
                | "TARGETARCH"
                | "TARGETVARIANT"
                | "BUILDPLATFORM"
                | "BUILDOS"
                | "BUILDARCH"
                | "BUILDVARIANT"
                | "TARGETSTAGE"
        )
}
