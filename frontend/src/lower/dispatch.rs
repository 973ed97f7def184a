//! Per-instruction lowering of everything but RUN and COPY/ADD: image config updates and
//! their history entries.

use super::history::{go_q_list, go_v_list, go_v_set, healthcheck_text};
use super::paths::{join_abs, parse_chown};
use super::state::{display_text, StageState};
use super::{Loc, Lowerer};
use crate::image::{Empty, HealthConfig, History};
use crate::instructions::{Command, FrontendError, Healthcheck, Instruction, ShellOrExec};
use crate::lower::api::HistoryStep;
use kiln_solver::{FileAction, FileOp, Op, VertexId};
use std::collections::{BTreeMap, BTreeSet};

/// The `comment` BuildKit puts on the history entries it writes.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// Append a history entry; `layer` is the stage's vertex after the step when it changed the
/// filesystem.
pub(crate) fn commit(st: &mut StageState, created_by: String, layer: Option<VertexId>) {
    st.steps.push(HistoryStep {
        history: History {
            created: None,
            created_by: Some(created_by),
            author: None,
            comment: Some(HISTORY_COMMENT.into()),
            empty_layer: if layer.is_none() { Some(true) } else { None },
        },
        layer_vertex: layer,
    });
}

impl Lowerer<'_> {
    /// Expand one word in the stage's scope.
    pub fn word(&self, st: &StageState, w: &str, loc: &Loc) -> Result<String, FrontendError> {
        let env = st.env_map();
        self.lexer
            .process_word(w, &env)
            .map_err(|e| loc.err(e.to_string()))
    }

    /// Expand and split words in the stage's scope.
    pub fn words(&self, st: &StageState, w: &str, loc: &Loc) -> Result<Vec<String>, FrontendError> {
        let env = st.env_map();
        self.lexer
            .process_words(w, &env)
            .map_err(|e| loc.err(e.to_string()))
    }

    /// Lower one instruction into stage `st`.
    pub(crate) fn dispatch(
        &mut self,
        st: &mut StageState,
        inst: &Instruction,
        cmd: &Command,
        loc: &Loc,
    ) -> Result<(), FrontendError> {
        match inst {
            Instruction::From { .. } => Err(loc.err("FROM inside a stage")),
            Instruction::Run(r) => self.dispatch_run(st, r, cmd, loc),
            Instruction::Copy(c) => {
                self.dispatch_copy(st, &super::copy::CopyParams::from_copy(c), cmd, loc)
            }
            Instruction::Add(a) => {
                self.dispatch_copy(st, &super::copy::CopyParams::from_add(a), cmd, loc)
            }
            Instruction::Env(pairs) => {
                // Every value sees the environment as it was before this instruction.
                let env = st.env_map();
                let mut done = Vec::new();
                for (k, v) in pairs {
                    let k = self
                        .lexer
                        .process_word(k, &env)
                        .map_err(|e| loc.err(e.to_string()))?;
                    let v = self
                        .lexer
                        .process_word(v, &env)
                        .map_err(|e| loc.err(e.to_string()))?;
                    done.push((k, v));
                }
                let mut text = String::from("ENV");
                for (k, v) in &done {
                    st.set_env(k, v);
                    text.push_str(&format!(" {k}={v}"));
                }
                commit(st, text, None);
                Ok(())
            }
            Instruction::Label(pairs) => {
                let env = st.env_map();
                let mut text = String::from("LABEL");
                let mut done = Vec::new();
                for (k, v) in pairs {
                    let k = self
                        .lexer
                        .process_word(k, &env)
                        .map_err(|e| loc.err(e.to_string()))?;
                    let v = self
                        .lexer
                        .process_word(v, &env)
                        .map_err(|e| loc.err(e.to_string()))?;
                    text.push_str(&format!(" {k}={v}"));
                    done.push((k, v));
                }
                let labels = st.config.config.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(done);
                commit(st, text, None);
                Ok(())
            }
            Instruction::Arg(args) => {
                let text = self.declare_args(st, args, loc)?;
                commit(st, text, None);
                Ok(())
            }
            Instruction::Maintainer(m) => {
                st.config.author = Some(m.clone());
                commit(st, format!("MAINTAINER {m}"), None);
                Ok(())
            }
            Instruction::User(u) => {
                let u = self.word(st, u, loc)?;
                st.config.config.user = Some(u.clone());
                commit(st, format!("USER {u}"), None);
                Ok(())
            }
            Instruction::Workdir(w) => self.dispatch_workdir(st, w, cmd, loc),
            Instruction::Expose(ports) => {
                let mut expanded = Vec::new();
                for p in ports {
                    expanded.extend(self.words(st, p, loc)?);
                }
                let mut set = BTreeSet::new();
                for p in &expanded {
                    set.extend(parse_port_spec(p).map_err(|e| loc.err(e))?);
                }
                let exposed = st
                    .config
                    .config
                    .exposed_ports
                    .get_or_insert_with(BTreeMap::new);
                for p in &set {
                    exposed.insert(p.clone(), Empty {});
                }
                // Go's `%v` of the instruction's port map, as docker's BuildKit writes it.
                let list: Vec<String> = set.into_iter().collect();
                commit(st, format!("EXPOSE {}", go_v_set(&list)), None);
                Ok(())
            }
            Instruction::Volume(vols) => {
                let mut done = Vec::new();
                for v in vols {
                    let v = self.word(st, v, loc)?;
                    if v.is_empty() {
                        return Err(loc.err("VOLUME specified can not be an empty string"));
                    }
                    done.push(v);
                }
                let volumes = st.config.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in &done {
                    volumes.insert(v.clone(), Empty {});
                }
                commit(st, format!("VOLUME {}", go_v_list(&done)), None);
                Ok(())
            }
            Instruction::StopSignal(s) => {
                let s = self.word(st, s, loc)?;
                validate_signal(&s).map_err(|e| loc.err(e))?;
                st.config.config.stop_signal = Some(s.clone());
                commit(st, format!("STOPSIGNAL {s}"), None);
                Ok(())
            }
            Instruction::Cmd(c) => {
                let args = self.command_args(st, c);
                st.config.config.cmd = Some(args.clone());
                // BuildKit marks the command as escaped (it matters on Windows only).
                st.config.config.args_escaped = Some(true);
                st.cmd_set = true;
                commit(st, format!("CMD {}", go_q_list(&args)), None);
                Ok(())
            }
            Instruction::Entrypoint(c) => {
                let args = self.command_args(st, c);
                st.config.config.entrypoint = Some(args.clone());
                if !st.cmd_set {
                    st.config.config.cmd = None;
                }
                commit(st, format!("ENTRYPOINT {}", go_q_list(&args)), None);
                Ok(())
            }
            Instruction::Shell(s) => {
                st.config.config.shell = Some(s.clone());
                commit(st, format!("SHELL {}", go_v_list(s)), None);
                Ok(())
            }
            Instruction::Healthcheck(h) => {
                let hc = match h {
                    Healthcheck::None => HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    },
                    Healthcheck::Cmd {
                        test,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => HealthConfig {
                        test: Some(test.clone()),
                        interval: interval.unwrap_or(0),
                        timeout: timeout.unwrap_or(0),
                        start_period: start_period.unwrap_or(0),
                        start_interval: start_interval.unwrap_or(0),
                        retries: retries.unwrap_or(0),
                    },
                };
                commit(st, healthcheck_text(&hc), None);
                st.config.config.healthcheck = Some(hc);
                Ok(())
            }
            Instruction::Onbuild { expression, .. } => {
                // Like BuildKit: stored in the config, no history entry.
                st.config
                    .config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(expression.clone());
                Ok(())
            }
        }
    }

    /// CMD/ENTRYPOINT argv: shell form wrapped in the stage's shell.
    fn command_args(&self, st: &StageState, c: &ShellOrExec) -> Vec<String> {
        match c {
            ShellOrExec::Exec(a) => a.clone(),
            ShellOrExec::Shell(s) => {
                let mut a = st.shell();
                a.push(s.clone());
                a
            }
        }
    }

    fn dispatch_workdir(
        &mut self,
        st: &mut StageState,
        w: &str,
        cmd: &Command,
        loc: &Loc,
    ) -> Result<(), FrontendError> {
        let w = self.word(st, w, loc)?;
        let wd = join_abs(&st.workdir(), &w);
        st.config.config.working_dir = Some(wd.clone());
        if wd == "/" {
            commit(st, format!("WORKDIR {wd}"), None);
            return Ok(());
        }
        let owner = match st.config.config.user.as_deref() {
            Some(u) if !u.is_empty() => Some(parse_chown(u).map_err(|e| loc.err(e))?),
            _ => None,
        };
        let op = Op::File(FileOp {
            actions: vec![FileAction::Mkdir {
                path: wd.clone(),
                mode: 0o755,
                make_parents: true,
                owner,
            }],
        });
        let meta = st.meta(loc, &display_text(self.lexer, st, cmd));
        st.vertex = self.graph.add(op, &[st.vertex], meta);
        commit(st, format!("WORKDIR {wd}"), Some(st.vertex));
        Ok(())
    }
}

/// `80`, `80/udp`, `8000-8002/tcp`, `127.0.0.1:80:8080` → `port/proto` keys.
fn parse_port_spec(spec: &str) -> Result<Vec<String>, String> {
    let bad = || format!("invalid containerPort: {spec}");
    let (port, proto) = match spec.rsplit_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let port = port.rsplit(':').next().unwrap_or(port);
    let (lo, hi) = match port.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = port.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`.
fn validate_signal(s: &str) -> Result<(), String> {
    let ok = if let Ok(n) = s.parse::<u32>() {
        (1..=64).contains(&n)
    } else {
        let name = s.to_ascii_uppercase();
        let name = name.strip_prefix("SIG").unwrap_or(&name);
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid signal: {s}"))
    }
}
