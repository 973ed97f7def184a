//! Rules on the text of instructions, for every stage: keyword casing, MAINTAINER, EXPOSE
//! forms and empty continuation lines.

use super::rules::*;
use super::Sink;
use crate::ast::{Dockerfile, Node};
use crate::instructions::Instruction;
use crate::stages::Instr;
use crate::stages::StageModel;

/// ConsistentInstructionCasing: every keyword all-lower or all-upper, as the majority is.
pub(crate) fn instruction_casing(model: &StageModel, sink: &mut Sink) {
    let keywords = model
        .stages
        .iter()
        .flat_map(|s| std::iter::once(&s.from).chain(s.body.iter()))
        .map(|i| i.node);
    let (mut lower, mut upper) = (0usize, 0usize);
    for n in keywords.clone() {
        let k = n.keyword.as_str();
        if k == k.to_lowercase() {
            lower += 1;
        } else if k == k.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    for n in keywords {
        let k = n.keyword.as_str();
        let casing = if majority_lower && k != k.to_lowercase() {
            "lowercase"
        } else if !majority_lower && k != k.to_uppercase() {
            "uppercase"
        } else {
            continue;
        };
        sink.warn_at(
            &CONSISTENT_INSTRUCTION_CASING,
            format!("Command '{k}' should match the case of the command majority ({casing})"),
            n,
        );
    }
}

/// MaintainerDeprecated, ExposeProtoCasing, ExposeInvalidFormat.
pub(crate) fn instruction_forms(model: &StageModel, sink: &mut Sink) {
    for instr in model.stages.iter().flat_map(|s| s.body.iter()) {
        match &instr.cmd.instruction {
            Instruction::Maintainer(_) => sink.warn_at(
                &MAINTAINER_DEPRECATED,
                "Maintainer instruction is deprecated in favor of using label".into(),
                instr.node,
            ),
            Instruction::Expose(ports) => {
                for p in ports {
                    if p.contains(':') {
                        sink.warn_at(
                            &EXPOSE_INVALID_FORMAT,
                            format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{p}'"),
                            instr.node,
                        );
                    }
                    if let Some((_, proto)) = p.rsplit_once('/') {
                        if proto != proto.to_lowercase() {
                            sink.warn_at(
                                &EXPOSE_PROTO_CASING,
                                format!("Defined protocol '{p}' in EXPOSE instruction should be lowercase"),
                                instr.node,
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// NoEmptyContinuation, from the parser's findings; reported at the instruction's last line.
pub(crate) fn empty_continuations(df: &Dockerfile, sink: &mut Sink) {
    for w in &df.warnings {
        if !w.message.starts_with("Empty continuation line") {
            continue;
        }
        let end = df
            .instructions
            .iter()
            .find(|n| n.start_line == w.line)
            .map_or(w.line, |n| n.end_line);
        sink.warn(
            &NO_EMPTY_CONTINUATION,
            "Empty continuation line".into(),
            end,
            end,
        );
    }
}

/// InvalidDefinitionDescription (experimental): a comment right above `ARG` or `FROM … AS`
/// describes it, so its first word must be the argument or stage name.
pub(crate) fn definition_descriptions(
    text: &str,
    df: &Dockerfile,
    model: &StageModel,
    sink: &mut Sink,
) {
    let lines: Vec<&str> = text.lines().collect();
    let directives_end = df.directives.iter().map(|d| d.line).max().unwrap_or(0);
    let instrs = model.global_args.iter().chain(
        model
            .stages
            .iter()
            .flat_map(|s| std::iter::once(&s.from).chain(&s.body)),
    );
    for instr in instrs {
        let (what, names) = match defined_names(instr) {
            Some(x) => x,
            None => continue,
        };
        let Some(comment) = top_comment(&lines, instr.node, directives_end) else {
            continue;
        };
        let Some(first) = comment.split_whitespace().next() else {
            continue;
        };
        if names.iter().any(|n| n == first) {
            continue;
        }
        let shown = match names.as_slice() {
            [one] => one.clone(),
            _ => "<arg_key>".to_string(),
        };
        sink.warn_at(
            &INVALID_DEFINITION_DESCRIPTION,
            format!("Comment for {what} should follow the format: `# {shown} <description>`"),
            instr.node,
        );
    }
}

/// What an instruction defines: (`ARG`, its names) or (`FROM`, the stage name).
fn defined_names(instr: &Instr) -> Option<(&'static str, Vec<String>)> {
    match &instr.cmd.instruction {
        Instruction::Arg(args) => Some(("ARG", args.iter().map(|(n, _)| n.clone()).collect())),
        Instruction::From {
            stage_name: Some(_),
            ..
        } => Some(("FROM", vec![instr.node.args.get(2)?.clone()])),
        _ => None,
    }
}

/// The first line of the comment block right above `node` (text after `#`), if any.
fn top_comment<'t>(lines: &[&'t str], node: &Node, directives_end: usize) -> Option<&'t str> {
    let mut n = node.start_line;
    let mut top = None;
    while n > 1 && n - 1 > directives_end {
        n -= 1;
        match lines.get(n - 1).and_then(|l| l.trim().strip_prefix('#')) {
            Some(c) => top = Some(c.trim()),
            None => break,
        }
    }
    top
}
