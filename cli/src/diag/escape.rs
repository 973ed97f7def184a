//! Making text that came from outside (an image, a tar, a build context, a registry, the
//! command line) safe to show on a terminal: control characters, terminal escape sequences and
//! invisible format characters are written as Go's `%q` writes them (`\x1b`, `\x00`, `\r`,
//! `\u009b`), while ordinary text, tabs and the newlines between lines stay as they are. (Bytes
//! that are not UTF-8 reach the CLI already replaced by U+FFFD: messages are Rust strings.)

use std::borrow::Cow;
use std::fmt::Write;

/// Must `c` be escaped? C0 controls but tab and newline, DEL, C1 controls, and the invisible
/// format characters that reorder or hide text (bidirectional overrides, zero-width marks).
fn needs_escape(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\0'..='\x1f' | '\x7f'..='\u{9f}' => true,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' => true,
        '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}' => true,
        _ => false,
    }
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0b' => out.push_str("\\v"),
        '\x0c' => out.push_str("\\f"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
    }
}

/// `text` with every character that could act on a terminal written out visibly.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_as_go_quotes_them() {
        assert_eq!(escape("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(
            escape("a\0b\x07\x08\x0b\x0c\rc\x7f"),
            "a\\x00b\\a\\b\\v\\f\\rc\\x7f"
        );
        assert_eq!(
            escape("\u{9b}2J \u{202e}txt.exe"),
            "\\u009b2J \\u202etxt.exe"
        );
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let text = "line one\n\tindented: caf\u{e9} \u{2713} \\x1b stays\n";
        assert!(matches!(escape(text), Cow::Borrowed(_)));
        assert_eq!(escape(text), text);
    }
}
