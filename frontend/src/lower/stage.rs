//! Stages: where they start (image, scratch, another stage), their running state, and
//! references between them (`FROM <stage>`, `--from=`).

use super::state::StageState;
use super::{set_arg, Loc, Lowerer, DEFAULT_PATH};
use crate::image::{ContainerConfig, ImageConfig, Platform};
use crate::instructions::{self, Command, FrontendError, Instruction};
use crate::lower::api::ResolvedImage;
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
        let def = self.stages[i].clone();
        let from_loc = Loc::of(&self.file, &def.from);
        if self.building[i] {
            let name = def.name.clone().unwrap_or_else(|| format!("stage-{i}"));
            return Err(from_loc.err(format!("circular dependency detected on stage: {name}")));
        }
        self.building[i] = true;
        let mut st = self.start_stage(i)?;
        for c in &def.commands {
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
        let def = self.stages[i].clone();
        let loc = Loc::of(&self.file, &def.from);
        let Instruction::From {
            image, platform, ..
        } = &def.from.instruction
        else {
            return Err(loc.err("stage does not start with FROM"));
        };
        let display = def.name.clone().unwrap_or_else(|| format!("stage-{i}"));
        let ignore_cache = self.opts.no_cache
            || self
                .opts
                .no_cache_filter
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&display));
        let meta_env = self.meta_env();
        let platform = match platform {
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
            .process_word(image, &meta_env)
            .map_err(|e| loc.err(e.to_string()))?;
        if name.is_empty() {
            return Err(loc.err(format!("base name ({image}) should not be blank")));
        }
        let parent = self.stages[..i].iter().position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        });
        let mut st;
        let mut image_source: Option<(ResolvedImage, Platform)> = None;
        if let Some(j) = parent {
            self.build_stage(j)?;
            let base = self.built[j]
                .clone()
                .ok_or_else(|| loc.err("base stage was not built"))?;
            st = StageState {
                display: display.clone(),
                index: i,
                vertex: base.vertex,
                config: base.config,
                steps: base.steps,
                platform: base.platform,
                args: Vec::new(),
                cmd_set: false,
                cmd_index: 0,
                cmd_total: 0,
                name_in_steps: true,
                ignore_cache,
            };
        } else {
            let (vertex, config) = if name.eq_ignore_ascii_case("scratch") {
                (self.scratch_vertex(), scratch_config(&platform))
            } else {
                let resolved = self
                    .resolve_image(&name, &platform)
                    .map_err(|e| loc.err(e))?;
                let config = resolved.config.clone();
                image_source = Some((resolved, platform.clone()));
                // The vertex is added below, once the step count is known.
                (VertexId::end(), config)
            };
            st = StageState {
                display: display.clone(),
                index: i,
                vertex,
                config,
                steps: Vec::new(),
                platform: platform.clone(),
                args: Vec::new(),
                cmd_set: false,
                cmd_index: 0,
                cmd_total: 0,
                name_in_steps: true,
                ignore_cache,
            };
            if st.config.os == "linux" || st.config.os.is_empty() {
                let has_path = st
                    .config
                    .config
                    .env
                    .iter()
                    .flatten()
                    .any(|kv| kv.starts_with("PATH="));
                if !has_path {
                    st.set_env("PATH", DEFAULT_PATH);
                }
            }
        }
        let triggers = self.parse_triggers(&mut st, &loc)?;
        // Like BuildKit, a single-stage Dockerfile shows `[N/M]` without a stage name.
        st.name_in_steps = self.stages.len() > 1;
        st.cmd_total = def
            .commands
            .iter()
            .filter(|c| makes_vertex(&c.instruction))
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

    /// The root filesystem named by `--from=` (stage name, stage index, or image) as seen from
    /// stage `current`.
    pub fn vertex_of_from(&mut self, from: &str, st: &StageState) -> Result<VertexId, String> {
        let (cur, current_display, platform) = (st.index, st.display.as_str(), &st.platform);
        let by_name = self.stages.iter().position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(from))
        });
        let by_index = from
            .parse::<usize>()
            .ok()
            .filter(|i| *i < self.stages.len());
        if let Some(j) = by_name.or(by_index) {
            if j == cur {
                return Err(format!("circular dependency detected on stage: {from}"));
            }
            if j > cur {
                return Err(format!(
                    "cannot copy from stage {from:?}, it needs to be defined before current stage {current_display:?}"
                ));
            }
            self.build_stage(j).map_err(|e| e.message)?;
            return self.built[j]
                .as_ref()
                .map(|s| s.vertex)
                .ok_or_else(|| format!("stage {from:?} was not built"));
        }
        if from.parse::<usize>().is_ok() {
            return Err(format!(
                "invalid stage index {from}: there are only {} stages",
                self.stages.len()
            ));
        }
        let r = self.resolve_image(from, platform)?;
        let meta = VertexMeta {
            name: format!("FROM {}@{}", r.name, r.manifest_digest),
            ..Default::default()
        };
        Ok(self.image_vertex(&r, platform, meta))
    }

    /// Declare in-stage ARGs.
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
