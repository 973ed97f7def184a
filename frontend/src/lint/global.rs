//! The global argument scope the FROM rules read: predefined args, then the ARGs before the
//! first stage.

use crate::instructions::Instruction;
use crate::lower::BuildOptions;
use crate::stages::{predefined_args, StageModel};
use std::collections::{BTreeMap, BTreeSet};

/// The global scope before the first stage.
pub(crate) struct GlobalScope {
    /// Values of predefined and global args (unset ones absent).
    pub env: BTreeMap<String, String>,
    /// Every declared name (predefined included), set or not.
    pub declared: BTreeSet<String>,
}

/// The global scope; with `with_build_args` false, only the ARGs' defaults count (what
/// `InvalidDefaultArgInFrom` checks). `None` when a default cannot be expanded.
pub(crate) fn global_scope(
    model: &StageModel,
    opts: &BuildOptions,
    with_build_args: bool,
) -> Option<GlobalScope> {
    let target_stage = model
        .target_index(opts.target.as_deref())
        .and_then(|i| model.stages[i].name.clone());
    let mut env = BTreeMap::new();
    let mut declared = BTreeSet::new();
    for (k, v) in predefined_args(opts, target_stage.as_deref()) {
        let v = opts.build_args.get(k).cloned().unwrap_or(v);
        env.insert(k.to_string(), v);
        declared.insert(k.to_string());
    }
    for instr in &model.global_args {
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
                (None, Some(d)) => Some(model.lexer.process_word(d, &env).ok()?),
                (None, None) => None,
            };
            if let Some(v) = value {
                env.insert(name.clone(), v);
            }
        }
    }
    Some(GlobalScope { env, declared })
}
