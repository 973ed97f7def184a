//! Stages: where they start (image, scratch, another stage), their running state, and
//! references between them (`FROM <stage>`, `--from=`).

use super::state::StageState;
use super::{set_arg, Loc, Lowerer, DEFAULT_PATH, NON_ENV_ARGS};
use crate::image::{ContainerConfig, ImageConfig, Platform};
use crate::instructions::{self, Command, FrontendError, Instruction};
use crate::lower::api::ResolvedImage;
use crate::stages::StageRef;
use kiln_solver::{Op, SourceOp, VertexId, VertexMeta};
use std::collections::BTreeMap;

fn makes_vertex(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

impl Lowerer<'_> {
    /// Build stage `i` (and what it needs) unless already built.
    pub fn build_stage(&mut self, i: usize) -> Result<(), FrontendError> {
        if self.built[i].is_some() {
            return Ok(());
        }
        let model = self.model;
        let stage = &model.stages[i];
        let from_loc = Loc::of(&self.file, &stage.from.cmd);
        if self.building[i] {
            let name = model.display_name(i);
            return Err(from_loc.err(format!("circular dependency detected on stage: {name}")));
        }
        self.building[i] = true;
        let mut st = self.start_stage(i)?;
        for instr in &stage.body {
            let c = &instr.cmd;
            let loc = Loc::of(&self.file, c);
            self.dispatch(&mut st, &c.instruction, c, &loc)?;
        }
        self.building[i] = false;
        self.order.push(st.display.clone());
        self.built[i] = Some(st);
        Ok(())
    }

    /// The FROM of stage `i`: base filesystem and config, then the base's ONBUILD triggers.
    fn start_stage(&mut self, i: usize) -> Result<StageState, FrontendError> {
        let model = self.model;
        let def = &model.stages[i];
        let loc = Loc::of(&self.file, &def.from.cmd);
        let display = model.display_name(i);
        let ignore_cache = self.opts.no_cache
            || self
                .opts
                .no_cache_filter
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&display));
        let meta_env = self.meta_env();
        let platform = match &def.platform {
            Some(p) => {
                let p = self
                    .lexer
                    .process_word(p, &meta_env)
                    .map_err(|e| loc.err(e.to_string()))?;
                Platform::parse(&p)
                    .map_err(|e| loc.err(format!("failed to parse platform {p}: {e}")))?
            }
            None => self.opts.target_platform.clone(),
        };
        let name = self
            .lexer
            .process_word(&def.base, &meta_env)
            .map_err(|e| loc.err(e.to_string()))?;
        if name.is_empty() {
            return Err(loc.err(format!("base name ({}) should not be blank", def.base)));
        }
        let mut st = StageState {
            display: display.clone(),
            index: i,
            vertex: VertexId::end(),
            config: ImageConfig::default(),
            steps: Vec::new(),
            platform: platform.clone(),
            env: Vec::new(),
            args: Vec::new(),
            cmd_set: false,
            cmd_index: 0,
            cmd_total: 0,
            name_in_steps: true,
            platform_in_steps: self.platform_in_steps,
            ignore_cache,
        };
        let mut image_source: Option<(ResolvedImage, Platform)> = None;
        if let Some(j) = model.base_stage(i, &name) {
            // A stage on another stage: its filesystem, config, platform and build
            // environment (the ARGs it declared included, as BuildKit's LLB state carries
            // them); its own ARG list starts empty.
            self.build_stage(j)?;
            let base = self.built[j]
                .clone()
                .ok_or_else(|| loc.err("base stage was not built"))?;
            st.vertex = base.vertex;
            st.config = base.config;
            st.steps = base.steps;
            st.platform = base.platform;
            st.env = base.env;
        } else {
            if name.eq_ignore_ascii_case("scratch") {
                st.vertex = self.scratch_vertex();
                st.config = scratch_config(&platform);
            } else {
                let resolved = self
                    .resolve_image(&name, &platform)
                    .map_err(|e| loc.err(e))?;
                st.config = resolved.config.clone();
                // The vertex is added below, once the step count is known.
                image_source = Some((resolved, platform.clone()));
            }
            for kv in st.config.config.env.clone().iter().flatten() {
                let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                st.set_build_env(k, v);
            }
            if (st.config.os == "linux" || st.config.os.is_empty())
                && !st.env.iter().any(|(k, _)| k == "PATH")
            {
                st.set_env("PATH", DEFAULT_PATH);
            }
        }
        let triggers = self.parse_triggers(&mut st, &loc)?;
        // Like BuildKit, a single-stage Dockerfile shows `[N/M]` without a stage name.
        st.name_in_steps = model.stages.len() > 1;
        st.cmd_total = def
            .body
            .iter()
            .filter(|c| makes_vertex(&c.cmd.instruction))
            .count()
            + triggers.len()
            + usize::from(image_source.is_some());
        if let Some((resolved, platform)) = image_source {
            let text = format!("FROM {}@{}", resolved.name, resolved.manifest_digest);
            let meta = st.meta(&loc, &text);
            st.vertex = self.image_vertex(&resolved, &platform, meta);
        }
        for t in &triggers {
            self.dispatch(&mut st, &t.instruction, t, &loc)?;
        }
        Ok(st)
    }

    /// The base's ONBUILD triggers, parsed; they are cleared from the config.
    fn parse_triggers(
        &mut self,
        st: &mut StageState,
        loc: &Loc,
    ) -> Result<Vec<Command>, FrontendError> {
        let Some(triggers) = st.config.config.on_build.take() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for t in triggers {
            let df = crate::parser::parse(&t, &self.file)
                .map_err(|e| loc.err(format!("invalid ONBUILD trigger {t:?}: {}", e.message)))?;
            if df.instructions.len() != 1 {
                return Err(loc.err(format!(
                    "onbuild trigger should be a single expression: {t:?}"
                )));
            }
            let c = instructions::from_node(&df.instructions[0], &self.file)
                .map_err(|e| loc.err(format!("invalid ONBUILD trigger {t:?}: {}", e.message)))?;
            if matches!(
                c.instruction,
                Instruction::From { .. } | Instruction::Onbuild { .. } | Instruction::Maintainer(_)
            ) {
                return Err(loc.err(format!("{t:?} isn't allowed as an ONBUILD trigger")));
            }
            out.push(c);
        }
        Ok(out)
    }

    /// Ask the resolver (once per reference and platform).
    pub fn resolve_image(
        &mut self,
        name: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let key = (name.to_string(), platform.to_string());
        if let Some(r) = self.images.get(&key) {
            return Ok(r.clone());
        }
        let r = self
            .resolver
            .resolve(name, platform)
            .map_err(|e| format!("failed to resolve source metadata for {name}: {e}"))?;
        self.images.insert(key, r.clone());
        Ok(r)
    }

    /// The source vertex of a resolved image.
    pub fn image_vertex(
        &mut self,
        r: &ResolvedImage,
        platform: &Platform,
        meta: VertexMeta,
    ) -> VertexId {
        let mut attrs = BTreeMap::new();
        attrs.insert("platform".to_string(), platform.to_string());
        let op = Op::Source(SourceOp {
            identifier: format!("docker-image://{}@{}", r.name, r.manifest_digest),
            attrs,
        });
        self.graph.add(op, &[], meta)
    }

    /// The root filesystem named by `--from=` (stage index, stage name, or image) as seen from
    /// stage `st`. A name taken by several stages means the last of them (as in BuildKit),
    /// which must come before the current stage.
    pub fn vertex_of_from(&mut self, from: &str, st: &StageState) -> Result<VertexId, String> {
        let (cur, current_display, platform) = (st.index, st.display.as_str(), &st.platform);
        match self.model.stage_ref(from) {
            StageRef::Stage(j) => {
                if j == cur {
                    return Err(format!("circular dependency detected on stage: {from}"));
                }
                if j > cur {
                    return Err(format!(
                        "cannot copy from stage {from:?}, it needs to be defined before current stage {current_display:?}"
                    ));
                }
                self.build_stage(j).map_err(|e| e.message)?;
                self.built[j]
                    .as_ref()
                    .map(|s| s.vertex)
                    .ok_or_else(|| format!("stage {from:?} was not built"))
            }
            StageRef::BadIndex(_) => Err(format!(
                "invalid stage index {from}: there are only {} stages",
                self.model.stages.len()
            )),
            StageRef::Image => {
                let r = self.resolve_image(from, platform)?;
                let meta = VertexMeta {
                    name: format!("FROM {}@{}", r.name, r.manifest_digest),
                    ..Default::default()
                };
                Ok(self.image_vertex(&r, platform, meta))
            }
        }
    }

    /// Declare in-stage ARGs: a value (the build arg, else the default expanded, else the
    /// global value) enters the build environment after what is there, so it wins over an
    /// earlier ENV of the same name inside RUN (the image config keeps the ENV).
    pub fn declare_args(
        &mut self,
        st: &mut StageState,
        args: &[(String, Option<String>)],
        loc: &Loc,
    ) -> Result<String, FrontendError> {
        let mut commit = Vec::new();
        for (name, default) in args {
            self.consumed.insert(name.clone());
            let value = if let Some(v) = self.opts.build_args.get(name) {
                Some(v.clone())
            } else if let Some(d) = default {
                let env = st.env_map();
                Some(
                    self.lexer
                        .process_word(d, &env)
                        .map_err(|e| loc.err(e.to_string()))?,
                )
            } else {
                self.meta
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.clone())
            };
            commit.push(match &value {
                Some(v) => format!("{name}={v}"),
                None => name.clone(),
            });
            if let Some(v) = &value {
                if !NON_ENV_ARGS.contains(&name.as_str()) {
                    st.set_build_env(name, v);
                }
            }
            set_arg(&mut st.args, name, value);
        }
        Ok(format!("ARG {}", commit.join(" ")))
    }
}

/// The config of `FROM scratch`.
fn scratch_config(p: &Platform) -> ImageConfig {
    ImageConfig {
        architecture: p.architecture.clone(),
        os: p.os.clone(),
        variant: p.variant.clone(),
        config: ContainerConfig {
            working_dir: Some("/".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}
