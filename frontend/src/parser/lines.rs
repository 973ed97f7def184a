//! Physical-line helpers: splitting, comments, continuation.

/// Splits the file into lines like Go's `bufio.ScanLines`: `\n` ends a line, one `\r` before
/// it is dropped, no empty line after a final `\n`. A UTF-8 BOM at the start is dropped.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') || text.is_empty() {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// Whether the line's first non-blank character is `#`.
pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Whether the line is empty or blanks only.
pub(crate) fn is_blank(line: &str) -> bool {
    line.trim_start().is_empty()
}

/// If the line ends with the escape character (plus optional spaces/tabs) that is not itself
/// escaped, removes it and returns `(rest, false)`; otherwise `(line, true)` (end of
/// instruction).
pub(crate) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_go_scanner() {
        assert_eq!(split_lines("a\r\nb\n"), vec!["a", "b"]);
        assert_eq!(split_lines("a\n\nb"), vec!["a", "", "b"]);
        assert_eq!(split_lines("\u{feff}FROM x"), vec!["FROM x"]);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("echo a \\", '\\'), ("echo a ", false));
        assert_eq!(trim_continuation("echo a \\  \t", '\\'), ("echo a ", false));
        assert_eq!(trim_continuation("\\ ", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }
}
