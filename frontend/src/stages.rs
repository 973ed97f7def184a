//! The one stage model of a Dockerfile, shared by lowering and the checks so that they can
//! never disagree on what a name refers to: the global ARGs, the stages with their
//! instructions (AST node and typed command side by side), and the lookups BuildKit makes.
//!
//! Names follow BuildKit's `dispatchStates`, which overwrites a name when a later stage takes
//! it again:
//! - `FROM <name>` is the last stage of that name *before* the FROM (BuildKit resolves the base
//!   while it registers the stages one by one);
//! - `--target`, `COPY --from=<name>` and `RUN --mount=from=<name>` are the last stage of that
//!   name in the whole file (a stage at or after the current one is then an error of lowering);
//! - a number is a stage index.

use crate::ast::{Dockerfile, Node};
use crate::instructions::{self, Command, FrontendError, Instruction};
use crate::lower::BuildOptions;
use crate::shell::Lexer;

/// One instruction: as parsed and as typed.
#[derive(Debug)]
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
#[derive(Debug)]
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

impl Stage<'_> {
    /// Is this stage called `name` (case-insensitive)?
    pub fn is_named(&self, name: &str) -> bool {
        self.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The whole file.
#[derive(Debug)]
pub(crate) struct StageModel<'a> {
    pub global_args: Vec<Instr<'a>>,
    pub stages: Vec<Stage<'a>>,
    pub lexer: Lexer,
}

impl<'a> StageModel<'a> {
    /// Types every instruction and groups them; the first invalid instruction (or an
    /// instruction before any FROM other than ARG, or a file without FROM) ends the model and
    /// is returned beside it.
    pub fn build(df: &'a Dockerfile, file: &str) -> (StageModel<'a>, Option<FrontendError>) {
        let mut model = StageModel {
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

    /// The last stage in the file called `name`.
    pub fn last_named(&self, name: &str) -> Option<usize> {
        self.stages.iter().rposition(|s| s.is_named(name))
    }

    /// The stage a build of `target` produces: the last stage when `None`, else the last stage
    /// of that name, else a stage index (`None` when there is no such stage).
    pub fn target_index(&self, target: Option<&str>) -> Option<usize> {
        let Some(t) = target else {
            return self.stages.len().checked_sub(1);
        };
        self.last_named(t)
            .or_else(|| t.parse::<usize>().ok().filter(|i| *i < self.stages.len()))
    }

    /// The stage `FROM <base>` of stage `i` starts from: the last stage called `base` before
    /// `i` (`base` already expanded). `None`: `base` is an image (or scratch).
    pub fn base_stage(&self, i: usize, base: &str) -> Option<usize> {
        self.stages[..i.min(self.stages.len())]
            .iter()
            .rposition(|s| s.is_named(base))
    }

    /// The stage a `--from`/`from=` value refers to: an index when it is a number, else the
    /// last stage of that name in the file. `None`: an image.
    pub fn stage_ref(&self, r: &str) -> StageRef {
        if let Ok(i) = r.parse::<usize>() {
            return if i < self.stages.len() {
                StageRef::Stage(i)
            } else {
                StageRef::BadIndex(i)
            };
        }
        match self.last_named(r) {
            Some(i) => StageRef::Stage(i),
            None => StageRef::Image,
        }
    }

    /// `stage-N` or the stage's name, as progress and errors show it.
    pub fn display_name(&self, i: usize) -> String {
        self.stages[i]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{i}"))
    }

    /// For each stage, whether building `target` reaches it (every stage when `target` is not
    /// found: lowering will report that). `bases` are the stages' base names, expanded.
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
            if let Some(j) = self.base_stage(i, &bases[i]) {
                todo.push(j);
            }
            for instr in &self.stages[i].body {
                for r in stage_refs(&instr.cmd.instruction) {
                    if let StageRef::Stage(j) = self.stage_ref(&r) {
                        todo.push(j);
                    }
                }
            }
        }
        seen
    }
}

/// What a `--from` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageRef {
    /// A stage of the file.
    Stage(usize),
    /// A number past the last stage.
    BadIndex(usize),
    /// Not a stage: an image reference.
    Image,
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

/// The predefined platform args and `TARGETSTAGE` (the target's name, `default` when it has
/// none), before `--build-arg` overrides.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> (Dockerfile, String) {
        (
            crate::parser::parse(text, "Dockerfile").unwrap(),
            text.into(),
        )
    }

    #[test]
    fn a_name_taken_twice_means_the_last_stage_with_it() {
        let (df, _) = model(
            "FROM busybox AS dup\nFROM dup AS a\nFROM busybox AS dup\nFROM dup AS b\nFROM busybox\nCOPY --from=dup / /\n",
        );
        let (m, broken) = StageModel::build(&df, "Dockerfile");
        assert!(broken.is_none());
        // FROM: the last one before it.
        assert_eq!(m.base_stage(1, "dup"), Some(0));
        assert_eq!(m.base_stage(3, "DUP"), Some(2));
        assert_eq!(m.base_stage(0, "dup"), None);
        // --from and --target: the last one in the file.
        assert_eq!(m.stage_ref("dup"), StageRef::Stage(2));
        assert_eq!(m.stage_ref("1"), StageRef::Stage(1));
        assert_eq!(m.stage_ref("9"), StageRef::BadIndex(9));
        assert_eq!(m.stage_ref("busybox"), StageRef::Image);
        assert_eq!(m.target_index(Some("dup")), Some(2));
        assert_eq!(m.target_index(None), Some(4));
        let bases: Vec<String> = m.stages.iter().map(|s| s.base.clone()).collect();
        assert_eq!(
            m.reachable(None, &bases),
            vec![false, false, true, false, true]
        );
        assert_eq!(
            m.reachable(Some("a"), &bases),
            vec![true, true, false, false, false]
        );
    }
}
