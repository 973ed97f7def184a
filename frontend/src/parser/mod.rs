//! The low-level Dockerfile parser: text → [`crate::ast::Dockerfile`], conformant with BuildKit's
//! `parser` package (directives, continuations, comments, JSON/shell forms, flags, heredocs).
//!
//! No variable expansion and no instruction validation happen here; see [`crate::shell`].

mod args;
mod directives;
mod dump;
mod error;
pub mod heredoc;
mod json;
mod lines;
mod quote;
mod words;

pub use dump::{dump, dump_node};
pub use error::ParseError;
pub use heredoc::{chomp_heredoc, heredocs_from_line, parse_heredoc_word, HeredocError};
pub use quote::go_quote;
pub use words::parse_words;

use crate::ast::{Dockerfile, Node, ParseWarning};
use directives::DirectiveParser;
use error::RawError;
use lines::{is_blank, is_comment, split_lines, trim_continuation};

/// Parses a Dockerfile. `file_name` is only used in error messages.
///
/// Errors (`FILE:LINE:COL: message`): a file without instructions, ENV/LABEL without value,
/// JSON arrays with non-strings, bad or repeated directives, unterminated heredocs.
pub fn parse(text: &str, file_name: &str) -> Result<Dockerfile, ParseError> {
    let lines = split_lines(text);
    let mut directives = DirectiveParser::new();
    let mut instructions = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let line_no = i;
        let stripped = raw.trim_start();
        directives
            .offer(stripped, line_no)
            .map_err(|e| e.at(file_name, line_no, 1))?;
        let escape = directives.escape;
        let content = if is_comment(raw) { "" } else { stripped };
        let (first, mut end) = trim_continuation(content, escape);
        if end && first.is_empty() {
            continue;
        }
        let column = raw[..raw.len() - stripped.len()].chars().count() + 1;
        let start_line = line_no;
        let mut line = first.to_string();
        let mut has_empty_continuation = false;
        while !end && i < lines.len() {
            let raw = lines[i];
            i += 1;
            if is_comment(raw) {
                continue;
            }
            if is_blank(raw) {
                has_empty_continuation = true;
                continue;
            }
            let (more, e) = trim_continuation(raw, escape);
            line.push_str(more);
            end = e;
        }
        if has_empty_continuation {
            warnings.push(ParseWarning {
                message: format!("Empty continuation line found in: {line}"),
                line: start_line,
            });
        }
        let located = |e: RawError, last: usize| e.at(file_name, last.max(start_line), column);
        let mut node = args::node_from_line(&line, escape).map_err(|e| located(e, start_line))?;
        if heredoc::can_contain_heredoc(&node) && line.contains("<<") {
            let found = heredocs_from_line(&line)
                .map_err(|e| located(RawError::new(e.to_string()), start_line))?;
            for mut doc in found {
                let mut terminated = false;
                while i < lines.len() {
                    let body_line = lines[i];
                    i += 1;
                    let candidate = if doc.chomp {
                        body_line.trim_start_matches('\t')
                    } else {
                        body_line
                    };
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(body_line);
                    doc.content.push('\n');
                }
                if !terminated {
                    return Err(located(
                        RawError::new(format!("unterminated heredoc {}", doc.name)),
                        start_line,
                    ));
                }
                node.heredocs.push(doc);
            }
        }
        set_position(&mut node, start_line, i, column);
        instructions.push(node);
    }
    if instructions.is_empty() {
        return Err(RawError::new("file with no instructions").at(
            file_name,
            lines.len().max(1),
            1,
        ));
    }
    Ok(Dockerfile {
        directives: directives.parsed,
        escape: directives.escape,
        instructions,
        warnings,
    })
}

/// Sets line range and column on a node and its ONBUILD child (the child's column is where
/// its keyword appears on the first line, when it does).
fn set_position(node: &mut Node, start: usize, end: usize, column: usize) {
    node.start_line = start;
    node.end_line = end;
    node.column = column;
    let original = node.original.clone();
    if let Some(next) = node.next.as_deref_mut() {
        let offset = original
            .find(next.original.as_str())
            .map(|b| original[..b].chars().count())
            .unwrap_or(0);
        set_position(next, start, end, column + offset);
    }
}

impl Dockerfile {
    /// BuildKit's dump of this file (see [`dump`]).
    pub fn dump(&self) -> String {
        dump(self)
    }
}

#[cfg(test)]
mod tests;
