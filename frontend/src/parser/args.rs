//! Per-instruction argument splitting (BuildKit's dispatch table of the low-level parser).

use super::error::RawError;
use super::json::{parse_json_array, JsonArgs};
use super::quote::go_quote;
use super::words::{extract_flags, parse_words, split_once_whitespace, split_whitespace_runs};
use crate::ast::Node;

/// How an instruction's arguments are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// JSON array, else whitespace-separated words (ADD, COPY, VOLUME).
    JsonOrList,
    /// JSON array, else the whole rest as one string (RUN, CMD, ENTRYPOINT, SHELL).
    JsonOrString,
    /// Whitespace-separated words (FROM, EXPOSE).
    List,
    /// The whole rest as one string (MAINTAINER, USER, WORKDIR, STOPSIGNAL).
    String,
    /// Key/value/separator triples (ENV, LABEL).
    NameVal(&'static str),
    /// Words, quotes kept (ARG).
    Words,
    /// A type word then the CMD form (HEALTHCHECK).
    Health,
    /// A nested instruction (ONBUILD).
    SubCommand,
    /// Unknown instruction: arguments dropped.
    Ignore,
}

/// The argument form of a keyword (any case).
pub(crate) fn form_of(keyword: &str) -> Form {
    match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => Form::JsonOrList,
        "run" | "cmd" | "entrypoint" | "shell" => Form::JsonOrString,
        "from" | "expose" => Form::List,
        "maintainer" | "user" | "workdir" | "stopsignal" => Form::String,
        "env" => Form::NameVal("ENV"),
        "label" => Form::NameVal("LABEL"),
        "arg" => Form::Words,
        "healthcheck" => Form::Health,
        "onbuild" => Form::SubCommand,
        _ => Form::Ignore,
    }
}

/// How many `ONBUILD` may nest in one line (the instructions layer rejects any nesting; this
/// only guards the stack).
const MAX_ONBUILD_DEPTH: usize = 16;

/// Builds the node for one joined instruction line (no heredocs, no line numbers yet).
pub(crate) fn node_from_line(line: &str, escape: char) -> Result<Node, RawError> {
    node_at_depth(line, escape, 0)
}

fn node_at_depth(line: &str, escape: char, depth: usize) -> Result<Node, RawError> {
    let trimmed = line.trim();
    let (keyword, rest) = split_once_whitespace(trimmed);
    let (args_text, flags) = match rest {
        Some(rest) => extract_flags(rest),
        None => ("", Vec::new()),
    };
    let rest = args_text.trim();
    let mut node = Node {
        keyword: keyword.to_string(),
        flags,
        original: line.to_string(),
        ..Node::default()
    };
    match form_of(keyword) {
        Form::JsonOrList => match parse_json_array(rest)? {
            JsonArgs::Strings(v) => {
                node.args = v;
                node.json = true;
            }
            JsonArgs::NotJson => node.args = list(rest),
        },
        Form::JsonOrString => {
            let (args, json) = json_or_string(rest)?;
            node.args = args;
            node.json = json;
        }
        Form::List => node.args = list(rest),
        Form::String => {
            if !rest.is_empty() {
                node.args = vec![rest.to_string()];
            }
        }
        Form::NameVal(key) => node.args = name_val(rest, key, escape)?,
        Form::Words => node.args = parse_words(rest, escape),
        Form::Health => {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if end > 0 {
                let (args, json) = json_or_string(rest[end..].trim_start())?;
                node.args = std::iter::once(rest[..end].to_string())
                    .chain(args)
                    .collect();
                node.json = json;
            }
        }
        Form::SubCommand => {
            if depth >= MAX_ONBUILD_DEPTH {
                return Err(RawError::new(format!(
                    "ONBUILD nested more than {MAX_ONBUILD_DEPTH} deep"
                )));
            }
            if !rest.is_empty() {
                node.next = Some(Box::new(node_at_depth(rest, escape, depth + 1)?));
            }
        }
        Form::Ignore => {}
    }
    Ok(node)
}

/// JSON array elements, or the whole text as one argument (none when empty).
fn json_or_string(rest: &str) -> Result<(Vec<String>, bool), RawError> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match parse_json_array(rest)? {
        JsonArgs::Strings(v) => (v, true),
        JsonArgs::NotJson => (vec![rest.to_string()], false),
    })
}

fn list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_whitespace_runs(rest)
}

/// ENV/LABEL: `(key, value, separator)` triples, legacy `KEY value…` form included.
fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, RawError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (name, value) = split_once_whitespace(rest);
        return match value {
            Some(value) => Ok(vec![name.to_string(), value.to_string(), String::new()]),
            None => Err(RawError::new(format!("{key} must have two arguments"))),
        };
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(RawError::new(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(word)
            )));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}
