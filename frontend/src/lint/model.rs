//! The Dockerfile as the rules see it: global ARGs, stages with their instructions (AST node
//! and typed command side by side), the global argument scopes, and which stages a build of
//! the target reaches.

use crate::ast::{Dockerfile, Node};
use crate::instructions::{self, Command, FrontendError, Instruction};
use crate::lower::BuildOptions;
use crate::shell::Lexer;
use std::collections::{BTreeMap, BTreeSet};

/// One instruction: as parsed and as typed.
pub(crate) struct Instr<'a> {
    pub node: &'a Node,
    pub cmd: Command,
}

impl Instr<'_> {
    /// The keyword as written (`From`, `copy`).
    pub fn keyword(&self) -> &str {
        &self.node.keyword
    }
}

/// A stage: its FROM and the instructions after it.
pub(crate) struct Stage<'a> {
    pub from: Instr<'a>,
    /// `AS` name, lower-cased.
    pub name: Option<String>,
    /// Image or stage name as written (unexpanded).
    pub base: String,
    /// `--platform` as written.
    pub platform: Option<String>,
    pub body: Vec<Instr<'a>>,
}

/// The whole file.
pub(crate) struct Model<'a> {
    pub global_args: Vec<Instr<'a>>,
    pub stages: Vec<Stage<'a>>,
    pub lexer: Lexer,
}

impl<'a> Model<'a> {
    /// Types every instruction and groups them; the first invalid instruction (or an
    /// instruction before any FROM other than ARG) ends the model and is returned beside it.
    pub fn build(df: &'a Dockerfile, file: &str) -> (Model<'a>, Option<FrontendError>) {
        let mut model = Model {
            global_args: Vec::new(),
            stages: Vec::new(),
            lexer: Lexer::new(df.escape),
        };
        for node in &df.instructions {
            let cmd = match instructions::from_node(node, file) {
                Ok(c) => c,
                Err(e) => return (model, Some(e)),
            };
            let instr = Instr { node, cmd };
            if let Instruction::From {
                image,
                platform,
                stage_name,
            } = &instr.cmd.instruction
            {
                model.stages.push(Stage {
                    name: stage_name.clone(),
                    base: image.clone(),
                    platform: platform.clone(),
                    from: instr,
                    body: Vec::new(),
                });
                continue;
            }
            match model.stages.last_mut() {
                Some(s) => s.body.push(instr),
                None if matches!(instr.cmd.instruction, Instruction::Arg(_)) => {
                    model.global_args.push(instr)
                }
                None => {
                    let e = FrontendError::new(
                        file,
                        node.start_line,
                        node.column,
                        "no build stage in current context",
                    );
                    return (model, Some(e));
                }
            }
        }
        if model.stages.is_empty() {
            let e = FrontendError::general(file, "dockerfile contains no stages to build");
            return (model, Some(e));
        }
        (model, None)
    }

    /// The index of the stage a build of `target` produces (`None` when it does not exist).
    pub fn target_index(&self, target: Option<&str>) -> Option<usize> {
        let Some(t) = target else {
            return self.stages.len().checked_sub(1);
        };
        self.stage_named(t, self.stages.len())
            .or_else(|| t.parse::<usize>().ok().filter(|i| *i < self.stages.len()))
    }

    /// The last stage before `before` named `name` (case-insensitive).
    pub fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        self.stages[..before.min(self.stages.len())]
            .iter()
            .rposition(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
    }

    /// The stage a `--from`/`from=` value refers to (name or index), if any.
    fn stage_ref(&self, r: &str, before: usize) -> Option<usize> {
        self.stage_named(r, before)
            .or_else(|| r.parse::<usize>().ok().filter(|i| *i < before))
    }

    /// For each stage, whether building `target` reaches it (every stage when `target` is not
    /// found: lowering will report that).
    pub fn reachable(&self, target: Option<&str>, bases: &[String]) -> Vec<bool> {
        let mut seen = vec![false; self.stages.len()];
        let Some(t) = self.target_index(target) else {
            return vec![true; self.stages.len()];
        };
        let mut todo = vec![t];
        while let Some(i) = todo.pop() {
            if seen[i] {
                continue;
            }
            seen[i] = true;
            if let Some(j) = self.stage_named(&bases[i], i) {
                todo.push(j);
            }
            for instr in &self.stages[i].body {
                for r in stage_refs(&instr.cmd.instruction) {
                    if let Some(j) = self.stage_ref(&r, i) {
                        todo.push(j);
                    }
                }
            }
        }
        seen
    }
}

/// Stage names an instruction reads from (`COPY --from`, `RUN --mount=…,from=`).
fn stage_refs(i: &Instruction) -> Vec<String> {
    match i {
        Instruction::Copy(c) => c.from.iter().cloned().collect(),
        Instruction::Run(r) => r
            .mounts
            .iter()
            .flat_map(|m| m.split(','))
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("from"))
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// The global scope before the first stage.
pub(crate) struct GlobalScope {
    /// Values of predefined and global args (unset ones absent).
    pub env: BTreeMap<String, String>,
    /// Every declared name (predefined included), set or not.
    pub declared: BTreeSet<String>,
}

/// The predefined platform args, as lowering sets them.
pub(crate) fn predefined_args(
    opts: &BuildOptions,
    target_stage: Option<&str>,
) -> Vec<(&'static str, String)> {
    let t = &opts.target_platform;
    let b = &opts.build_platform;
    vec![
        ("TARGETPLATFORM", t.to_string()),
        ("TARGETOS", t.os.clone()),
        ("TARGETARCH", t.architecture.clone()),
        ("TARGETVARIANT", t.variant.clone().unwrap_or_default()),
        ("BUILDPLATFORM", b.to_string()),
        ("BUILDOS", b.os.clone()),
        ("BUILDARCH", b.architecture.clone()),
        ("BUILDVARIANT", b.variant.clone().unwrap_or_default()),
        ("TARGETSTAGE", target_stage.unwrap_or("default").to_string()),
    ]
}

impl Model<'_> {
    /// The global scope; with `with_build_args` false, only the ARGs' defaults count (what
    /// `InvalidDefaultArgInFrom` checks). `None` when a default cannot be expanded.
    pub fn global_scope(&self, opts: &BuildOptions, with_build_args: bool) -> Option<GlobalScope> {
        let target_stage = self
            .target_index(opts.target.as_deref())
            .and_then(|i| self.stages[i].name.clone());
        let mut env = BTreeMap::new();
        let mut declared = BTreeSet::new();
        for (k, v) in predefined_args(opts, target_stage.as_deref()) {
            let v = opts.build_args.get(k).cloned().unwrap_or(v);
            env.insert(k.to_string(), v);
            declared.insert(k.to_string());
        }
        for instr in &self.global_args {
            let Instruction::Arg(args) = &instr.cmd.instruction else {
                continue;
            };
            for (name, default) in args {
                declared.insert(name.clone());
                let given = if with_build_args {
                    opts.build_args.get(name).cloned()
                } else {
                    None
                };
                let value = match (given, default) {
                    (Some(v), _) => Some(v),
                    (None, Some(d)) => Some(self.lexer.process_word(d, &env).ok()?),
                    (None, None) => None,
                };
                if let Some(v) = value {
                    env.insert(name.clone(), v);
                }
            }
        }
        Some(GlobalScope { env, declared })
    }
}
