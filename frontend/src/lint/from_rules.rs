//! Rules on `FROM` lines: names, platforms and the global ARGs they use.

use super::global::GlobalScope;
use super::reference::is_valid_reference;
use super::rules::*;
use super::Sink;
use crate::image::Platform;
use crate::instructions::suggest::suggest;
use crate::stages::StageModel;

/// Stage names that mean something else in `FROM`/`--from`.
const RESERVED_STAGE_NAMES: &[&str] = &["context", "scratch"];

/// StageNameCasing, FromAsCasing, and unless `casing_only`, ReservedStageName and
/// DuplicateStageName (which need the whole file).
pub(crate) fn stage_names(model: &StageModel, casing_only: bool, sink: &mut Sink) {
    let mut seen: Vec<&str> = Vec::new();
    for st in &model.stages {
        let node = st.from.node;
        let Some(name) = st.name.as_deref() else {
            continue;
        };
        let written = node.args.get(2).map(String::as_str).unwrap_or(name);
        let as_word = node.args.get(1).map(String::as_str).unwrap_or("AS");
        if written != written.to_lowercase() {
            sink.warn_at(
                &STAGE_NAME_CASING,
                format!("Stage name '{written}' should be lowercase"),
                node,
            );
        }
        let from = node.keyword.as_str();
        let mismatch = (from == from.to_uppercase() && as_word != as_word.to_uppercase())
            || (from == from.to_lowercase() && as_word != as_word.to_lowercase());
        if mismatch {
            sink.warn_at(
                &FROM_AS_CASING,
                format!("'{as_word}' and '{from}' keywords' casing do not match"),
                node,
            );
        }
        if casing_only {
            continue;
        }
        if RESERVED_STAGE_NAMES.contains(&name) {
            sink.warn_at(
                &RESERVED_STAGE_NAME,
                format!("Stage name should not use the same name as reserved stage {name:?}"),
                node,
            );
        }
        if seen.contains(&name) {
            sink.warn_at(
                &DUPLICATE_STAGE_NAME,
                format!("Duplicate stage name {name:?}, stage names should be unique"),
                node,
            );
        }
        seen.push(name);
    }
}

/// UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed.
pub(crate) fn from_args(model: &StageModel, global: &GlobalScope, sink: &mut Sink) {
    let candidates: Vec<&str> = global.declared.iter().map(String::as_str).collect();
    for st in &model.stages {
        let node = st.from.node;
        let mut words = vec![st.base.as_str()];
        words.extend(st.platform.as_deref());
        for word in words {
            let Ok((_, info)) = model.lexer.process_word_with_info(word, &global.env) else {
                continue;
            };
            for name in info.used.iter().filter(|n| !global.declared.contains(*n)) {
                let mut msg = format!("FROM argument '{name}' is not declared");
                if let Some(s) = suggest(name, candidates.iter().copied(), false) {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                }
                sink.warn_at(&UNDEFINED_ARG_IN_FROM, msg, node);
            }
        }
        let Some(platform) = st.platform.as_deref() else {
            continue;
        };
        let Ok((value, info)) = model.lexer.process_word_with_info(platform, &global.env) else {
            continue;
        };
        let matched: Vec<&String> = info
            .used
            .iter()
            .filter(|n| global.env.contains_key(*n))
            .collect();
        let unmatched = info.used.len() - matched.len();
        if matched.len() == 1
            && unmatched == 0
            && matched[0] == "TARGETPLATFORM"
            && global.env.get("TARGETPLATFORM") == Some(&value)
        {
            sink.warn_at(
                &REDUNDANT_TARGET_PLATFORM,
                format!(
                    "Setting platform to predefined {platform} in FROM is redundant as this is the default behavior"
                ),
                node,
            );
        }
        if info.used.is_empty() {
            if let Ok(p) = Platform::parse(&value) {
                let name = st.name.as_deref().unwrap_or("");
                if !name.contains(&p.os) && !name.contains(&p.architecture) {
                    sink.warn_at(
                        &FROM_PLATFORM_FLAG_CONST_DISALLOWED,
                        format!("FROM --platform flag should not use constant value {value:?}"),
                        node,
                    );
                }
            }
        }
    }
}

/// InvalidDefaultArgInFrom: with only the ARGs' defaults, every base name must be valid.
pub(crate) fn default_args(model: &StageModel, defaults: &GlobalScope, sink: &mut Sink) {
    for st in &model.stages {
        let Ok(name) = model.lexer.process_word(&st.base, &defaults.env) else {
            return;
        };
        if !is_valid_reference(&name) {
            sink.warn_at(
                &INVALID_DEFAULT_ARG_IN_FROM,
                format!(
                    "Default value for ARG {} results in empty or invalid base image name",
                    st.base
                ),
                st.from.node,
            );
        }
    }
}
