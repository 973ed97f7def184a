//! Rules that follow a stage's state instruction by instruction, as a build would: undefined
//! variables, relative WORKDIR, shell-form CMD/ENTRYPOINT, repeated CMD/ENTRYPOINT/HEALTHCHECK,
//! legacy `ENV k v`, secrets in ARG/ENV names, context sources `.dockerignore` excludes.

use super::global::GlobalScope;
use super::ignore_rules::copy_ignored_files;
use super::rules::*;
use super::Sink;
use crate::ast::Node;
use crate::image::ImageConfig;
use crate::instructions::suggest::suggest;
use crate::instructions::{CopySource, Instruction, ShellOrExec};
use crate::lower::{BuildOptions, DEFAULT_PATH, NON_ENV_ARGS};
use crate::shell::Lexer;
use crate::stages::{Instr, StageModel};
use std::collections::{BTreeMap, BTreeSet};

/// Name parts that suggest a secret, and parts that clear the suspicion.
const SECRET_TOKENS: &[&str] = &[
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pword",
    "passwd",
    "secret",
    "token",
];
const NOT_SECRET_TOKENS: &[&str] = &["public", "file", "version"];

/// What a stage knows at one point; a child stage (`FROM <stage>`) starts from its parent's.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Environment (ENV, ARG values, the base image's Env).
    env: BTreeMap<String, String>,
    /// ARG names declared in the stage (set or not).
    args: BTreeSet<String>,
    /// `false` when the base image's Env is unknown: UndefinedVar stays silent.
    env_known: bool,
    shell_set: bool,
    workdir_set: bool,
}

impl Scope {
    /// The scope of a stage on an image with this config (`None`: unknown image).
    pub fn from_image(config: Option<&ImageConfig>) -> Scope {
        let mut env = BTreeMap::new();
        let mut shell_set = false;
        if let Some(c) = config {
            for kv in c.config.env.iter().flatten() {
                let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                env.insert(k.to_string(), v.to_string());
            }
            shell_set = c.config.shell.as_ref().is_some_and(|s| !s.is_empty());
        }
        env.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.to_string());
        Scope {
            env,
            args: BTreeSet::new(),
            env_known: config.is_some(),
            shell_set,
            workdir_set: false,
        }
    }
}

/// Where the last CMD/ENTRYPOINT/HEALTHCHECK of a stage was.
#[derive(Default)]
struct Seen<'a> {
    cmd: Option<&'a Node>,
    entrypoint: Option<&'a Node>,
    healthcheck: Option<&'a Node>,
}

/// Runs the stage rules over one stage, updating `scope` to its end state.
pub(crate) fn lint_stage(
    model: &StageModel,
    index: usize,
    scope: &mut Scope,
    global: &GlobalScope,
    opts: &BuildOptions,
    sink: &mut Sink,
) {
    let mut seen = Seen::default();
    for instr in &model.stages[index].body {
        let mut words: Vec<&str> = Vec::new();
        match &instr.cmd.instruction {
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                for (k, v) in pairs {
                    words.push(k);
                    words.push(v);
                }
            }
            Instruction::Copy(c) => {
                words.extend(paths(&c.srcs));
                words.push(&c.dest);
                words.extend(c.chown.as_deref());
                words.extend(c.chmod.as_deref());
            }
            Instruction::Add(a) => {
                words.extend(paths(&a.srcs));
                words.push(&a.dest);
                words.extend(a.chown.as_deref());
                words.extend(a.chmod.as_deref());
            }
            Instruction::Workdir(w) | Instruction::User(w) | Instruction::StopSignal(w) => {
                words.push(w)
            }
            Instruction::Volume(v) => words.extend(v.iter().map(String::as_str)),
            _ => {}
        }
        let expanded: Vec<String> = words
            .iter()
            .map(|w| undefined_vars(&model.lexer, instr.node, w, scope, sink))
            .collect();
        dispatch(
            &model.lexer,
            instr,
            &expanded,
            scope,
            &mut seen,
            global,
            opts,
            sink,
        );
    }
}

/// Source paths (heredocs have none).
fn paths(srcs: &[CopySource]) -> impl Iterator<Item = &str> {
    srcs.iter().filter_map(|s| match s {
        CopySource::Path(p) => Some(p.as_str()),
        CopySource::Heredoc(_) => None,
    })
}

/// Expands `word` in `scope`, reporting the variables it uses that nothing defines; returns
/// the expansion (the word itself when it cannot be expanded).
fn undefined_vars(
    lexer: &Lexer,
    node: &Node,
    word: &str,
    scope: &Scope,
    sink: &mut Sink,
) -> String {
    let Ok((value, info)) = lexer.process_word_with_info(word, &scope.env) else {
        return word.to_string();
    };
    if scope.env_known {
        for name in &info.unset {
            if scope.args.contains(name) || NON_ENV_ARGS.contains(&name.as_str()) {
                continue;
            }
            let mut msg = format!("Usage of undefined variable '${name}'");
            if let Some(s) = suggest(name, scope.env.keys().map(String::as_str), false) {
                msg.push_str(&format!(" (did you mean ${s}?)"));
            }
            sink.warn_once(&UNDEFINED_VAR, msg, node);
        }
    }
    value
}

/// The other rules of one instruction, then its effect on the scope.
#[allow(clippy::too_many_arguments)]
fn dispatch<'a>(
    lexer: &Lexer,
    instr: &'a Instr,
    expanded: &[String],
    scope: &mut Scope,
    seen: &mut Seen<'a>,
    global: &GlobalScope,
    opts: &BuildOptions,
    sink: &mut Sink,
) {
    let node = instr.node;
    let kw = instr.keyword();
    match &instr.cmd.instruction {
        Instruction::Env(_) | Instruction::Label(_) => {
            let is_env = matches!(instr.cmd.instruction, Instruction::Env(_));
            for t in node.args.chunks(3) {
                if t.get(2).is_some_and(|sep| sep.is_empty()) {
                    sink.warn_at(
                        &LEGACY_KEY_VALUE_FORMAT,
                        format!("\"{kw} key=value\" should be used instead of legacy \"{kw} key value\" format"),
                        node,
                    );
                }
            }
            if is_env {
                for pair in expanded.chunks(2) {
                    if let [k, v] = pair {
                        secret_check("ENV", k, node, sink);
                        scope.env.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Instruction::Arg(args) => {
            for (name, default) in args {
                secret_check("ARG", name, node, sink);
                let value = if let Some(v) = opts.build_args.get(name) {
                    Some(v.clone())
                } else if let Some(d) = default {
                    Some(undefined_vars(lexer, node, d, scope, sink))
                } else {
                    global.env.get(name).cloned()
                };
                if let Some(v) = value {
                    if !NON_ENV_ARGS.contains(&name.as_str()) {
                        scope.env.insert(name.clone(), v);
                    }
                }
                scope.args.insert(name.clone());
            }
        }
        Instruction::Workdir(_) => {
            let path = expanded.first().map(String::as_str).unwrap_or("");
            if !scope.workdir_set && !path.starts_with('/') {
                sink.warn_at(
                    &WORKDIR_RELATIVE_PATH,
                    format!(
                        "Relative workdir {path:?} can have unexpected results if the base image changes"
                    ),
                    node,
                );
            }
            scope.workdir_set = true;
        }
        Instruction::Cmd(c) | Instruction::Entrypoint(c) => {
            let slot = if matches!(instr.cmd.instruction, Instruction::Cmd(_)) {
                &mut seen.cmd
            } else {
                &mut seen.entrypoint
            };
            used_once(kw, slot, node, sink);
            if matches!(c, ShellOrExec::Shell(_)) && !scope.shell_set {
                sink.warn_at(
                    &JSON_ARGS_RECOMMENDED,
                    format!("JSON arguments recommended for {kw} to prevent unintended behavior related to OS signals"),
                    node,
                );
            }
        }
        Instruction::Copy(c) if c.from.is_none() => {
            let n = paths(&c.srcs).count();
            let ignore = opts.dockerignore.as_deref();
            copy_ignored_files(ignore, false, &expanded[..n], node, sink);
        }
        Instruction::Add(a) => {
            let n = paths(&a.srcs).count();
            let ignore = opts.dockerignore.as_deref();
            copy_ignored_files(ignore, true, &expanded[..n], node, sink);
        }
        Instruction::Healthcheck(_) => used_once(kw, &mut seen.healthcheck, node, sink),
        Instruction::Shell(_) => scope.shell_set = true,
        _ => {}
    }
}

/// MultipleInstructionsDisallowed: reported at the earlier instruction, the one ignored.
fn used_once<'a>(kw: &str, slot: &mut Option<&'a Node>, node: &'a Node, sink: &mut Sink) {
    if let Some(prev) = slot.replace(node) {
        sink.warn_at(
            &MULTIPLE_INSTRUCTIONS_DISALLOWED,
            format!("Multiple {kw} instructions should not be used in the same stage because only the last one will be used"),
            prev,
        );
    }
}

/// SecretsUsedInArgOrEnv: a `_`-separated part of the name is a secret word, and none clears it.
fn secret_check(instruction: &str, key: &str, node: &Node, sink: &mut Sink) {
    let parts = || key.split('_').map(str::to_ascii_lowercase);
    let suspicious = parts().any(|p| SECRET_TOKENS.contains(&p.as_str()));
    let cleared = parts().any(|p| NOT_SECRET_TOKENS.contains(&p.as_str()));
    if suspicious && !cleared {
        sink.warn_at(
            &SECRETS_USED_IN_ARG_OR_ENV,
            format!(
                "Do not use ARG or ENV instructions for sensitive data ({instruction} {key:?})"
            ),
            node,
        );
    }
}
