//! The running state of a stage: its root vertex, image config, history and scopes.

use super::Loc;
use crate::image::{ImageConfig, Platform};
use crate::instructions::{Command, Instruction};
use crate::lower::api::HistoryStep;
use crate::shell::Lexer;
use kiln_solver::{VertexId, VertexMeta};
use std::collections::BTreeMap;

/// The running state of a stage while its instructions are lowered.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// `name` or `stage-<index>`.
    pub display: String,
    /// Position of the stage in the Dockerfile.
    pub index: usize,
    /// The current root filesystem.
    pub vertex: VertexId,
    pub config: ImageConfig,
    pub steps: Vec<HistoryStep>,
    pub platform: Platform,
    /// The build environment (BuildKit's LLB state env): the base's `Env`, then every ENV and
    /// every ARG with a value, in the order they were set (a later one replaces an earlier one
    /// in place). RUN gets it and words expand in it; the image config keeps only ENV.
    /// A stage built `FROM <stage>` starts with its parent's, ARGs included.
    pub env: Vec<(String, String)>,
    /// ARGs declared in this stage, in first-declaration order (RUN's `|N k=v` history).
    pub args: Vec<(String, Option<String>)>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    pub cmd_index: usize,
    pub cmd_total: usize,
    /// Put the stage name in step names (not for single-stage Dockerfiles).
    pub name_in_steps: bool,
    /// Put the stage's platform in step names (builds for several platforms, as BuildKit's
    /// `[linux/arm64 build 2/3]`).
    pub platform_in_steps: bool,
    pub ignore_cache: bool,
}

impl StageState {
    /// Variables for expansion: the build environment.
    pub fn env_map(&self) -> BTreeMap<String, String> {
        self.env.iter().cloned().collect()
    }

    /// The build environment as `KEY=VALUE` entries, in order.
    pub fn env_list(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Set a build-environment variable (ARG), leaving the image config alone.
    pub fn set_build_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.env.push((key.to_string(), value.to_string())),
        }
    }

    /// ENV: set (or replace in place) an entry of the image config and of the build
    /// environment.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let env = self.config.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |p| p.0) == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
        self.set_build_env(key, value);
    }

    /// The working directory (`/` when unset).
    pub fn workdir(&self) -> String {
        match self.config.config.working_dir.as_deref() {
            Some(w) if !w.is_empty() => w.to_string(),
            _ => "/".into(),
        }
    }

    /// The shell for shell-form commands.
    pub fn shell(&self) -> Vec<String> {
        match &self.config.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => vec!["/bin/sh".into(), "-c".into()],
        }
    }

    /// `[stage N/M] TEXT`, advancing the step counter.
    pub fn step_name(&mut self, text: &str) -> String {
        self.cmd_index += 1;
        let width = self.cmd_total.max(1).to_string().len();
        let mut name = if self.name_in_steps {
            format!("{} ", self.display)
        } else {
            String::new()
        };
        if self.platform_in_steps {
            name.insert_str(0, &format!("{} ", self.platform));
        }
        format!(
            "[{name}{:>width$}/{}] {text}",
            self.cmd_index, self.cmd_total
        )
    }

    /// Metadata of a vertex made by the instruction at `loc`.
    pub fn meta(&mut self, loc: &Loc, text: &str) -> VertexMeta {
        VertexMeta {
            name: self.step_name(text),
            locations: vec![loc.source_location()],
            ignore_cache: self.ignore_cache,
            stage: Some(self.display.clone()),
            build_args: self.build_arg_names(),
        }
    }

    /// The names in the build environment that ARGs set: those the image config does not hold
    /// with the same value (ENV sets both).
    fn build_arg_names(&self) -> Vec<String> {
        let config = self.config.config.env.as_deref().unwrap_or_default();
        self.env
            .iter()
            .filter(|(k, v)| {
                !config.iter().any(|kv| {
                    kv.split_once('=')
                        .is_some_and(|(ck, cv)| ck == k && cv == v)
                })
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// The instruction's text as shown in progress: keyword upper-cased, variables of the stage
/// expanded (RUN keeps its quotes and unset variables, as the shell will see them), and for a
/// heredoc RUN a summary of the script.
pub(crate) fn display_text(lexer: Lexer, st: &StageState, c: &Command) -> String {
    let t = c.original.trim();
    let (kw, rest) = match t.split_once(char::is_whitespace) {
        Some((kw, rest)) => (kw.to_ascii_uppercase(), rest.trim_start()),
        None => return t.to_ascii_uppercase(),
    };
    let env = st.env_map();
    let mut out = if let Instruction::Run(r) = &c.instruction {
        let raw = Lexer {
            raw_quotes: true,
            skip_unset_env: true,
            ..lexer
        };
        let mut s = format!(
            "{kw} {}",
            raw.process_word(rest, &env)
                .unwrap_or_else(|_| rest.to_string())
        );
        if let [h] = r.heredocs.as_slice() {
            let body = h.body();
            let body = body.trim();
            let mut lines = body.lines();
            let first = lines.next().unwrap_or("");
            let more = if lines.next().is_some() { "..." } else { "" };
            s.push_str(&format!(" ({first}{more})"));
        }
        s
    } else {
        format!(
            "{kw} {}",
            lexer
                .process_word(rest, &env)
                .unwrap_or_else(|_| rest.to_string())
        )
    };
    if out.ends_with(' ') {
        out.pop();
    }
    out
}
