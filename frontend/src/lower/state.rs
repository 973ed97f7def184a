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
    /// ARGs declared in this stage, in first-declaration order.
    pub args: Vec<(String, Option<String>)>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    pub cmd_index: usize,
    pub cmd_total: usize,
    /// Put the stage name in step names (not for single-stage Dockerfiles).
    pub name_in_steps: bool,
    pub ignore_cache: bool,
}

impl StageState {
    /// Variables for expansion: ENV, then ARGs that ENV does not override.
    pub fn env_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (k, v) in &self.args {
            if let Some(v) = v {
                m.insert(k.clone(), v.clone());
            }
        }
        for kv in self.config.config.env.iter().flatten() {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    /// Is `key` set by ENV?
    pub fn env_has(&self, key: &str) -> bool {
        self.config
            .config
            .env
            .iter()
            .flatten()
            .any(|kv| kv.split_once('=').map_or(kv.as_str(), |p| p.0) == key)
    }

    /// Set (or replace in place) an ENV entry in the image config.
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
        let name = if self.name_in_steps {
            format!("{} ", self.display)
        } else {
            String::new()
        };
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
        }
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
