//! BuildKit's `Node.Dump()` text form of the AST (the `result` files of its parser tests).

use super::args::{form_of, Form};
use super::quote::go_quote;
use crate::ast::{Dockerfile, Node};

/// Dumps the instructions like BuildKit's root `Dump()`: one `(…)` line per instruction,
/// joined by `\n`, no trailing newline. Heredocs and directives are not shown.
pub fn dump(file: &Dockerfile) -> String {
    file.instructions
        .iter()
        .map(|n| format!("({})", dump_node(n)))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Dumps one instruction without the surrounding parentheses, e.g. `run "echo hi"`.
pub fn dump_node(node: &Node) -> String {
    let mut s = node.keyword.to_lowercase();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|f| go_quote(f)).collect();
        s.push_str(" [");
        s.push_str(&flags.join(" "));
        s.push(']');
    }
    if let Some(next) = &node.next {
        s.push_str(" (");
        s.push_str(&dump_node(next));
        s.push(')');
    }
    if form_of(&node.keyword) == Form::Ignore {
        s.push_str(" \"\"");
    }
    for arg in &node.args {
        s.push(' ');
        s.push_str(&go_quote(arg));
    }
    s.trim().to_string()
}
