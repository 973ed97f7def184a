//! Word-level splitting used by the instruction argument parsers.

/// BuildKit's `reWhitespace`: the blanks that separate words in whitespace-delimited forms.
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// Splits on runs of space/tab/`\v`/`\f`/`\r` (like Go's `regexp.Split(s, -1)`, empty pieces
/// kept at the ends: callers trim first).
pub(crate) fn split_whitespace_runs(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_sep = false;
    for c in s.chars() {
        if is_separator(c) {
            if !in_sep {
                out.push(std::mem::take(&mut cur));
                in_sep = true;
            }
        } else {
            in_sep = false;
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Splits at the first run of separators: `(first, Some(rest))`, or `(s, None)`.
pub(crate) fn split_once_whitespace(s: &str) -> (&str, Option<&str>) {
    match s.find(is_separator) {
        None => (s, None),
        Some(start) => {
            let rest = &s[start..];
            let rest = rest.trim_start_matches(is_separator);
            (&s[..start], Some(rest))
        }
    }
}

/// Splits `rest` into words on unquoted whitespace, keeping quotes and escape characters in
/// the words (BuildKit's `parseWords`, used for ENV, LABEL and ARG). An escape character at
/// the very end is dropped.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                word.push(chars[pos]);
                pos += 1;
                continue;
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            word.push(ch);
            pos += 1;
            word.push(chars[pos]);
            pos += 1;
            continue;
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// Extracts the leading `--flag[=value]` words of an instruction's arguments (quotes removed,
/// `\` escapes applied). A bare `--` ends the flags and is dropped. Returns the remaining text
/// and the flags.
pub(crate) fn extract_flags(line: &str) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let at_end = i >= chars.len();
        let (offset, ch) = chars.get(i).copied().unwrap_or((line.len(), '\0'));
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            let next_dash = chars.get(i + 1).map(|&(_, c)| c) == Some('-');
            if ch != '-' || !next_dash {
                return (&line[offset..], flags);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[offset..], flags);
                }
                if blank_ok || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            if ch == '\\' {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                i += 1;
                word.push(chars[i].1);
                i += 1;
                continue;
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        if ch == '\\' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(chars[i].1);
            i += 1;
            continue;
        }
        word.push(ch);
        i += 1;
    }
    ("", flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"abc="123 456" def"#, '\\'),
            vec![r#"abc="123 456""#, "def"]
        );
        assert_eq!(parse_words(r"a=b\ c d", '\\'), vec![r"a=b\ c", "d"]);
        assert_eq!(parse_words("x=''", '\\'), vec!["x=''"]);
        assert_eq!(parse_words("a\\", '\\'), vec!["a"]);
        assert!(parse_words("   ", '\\').is_empty());
    }

    #[test]
    fn flags() {
        assert_eq!(
            extract_flags("--user=me --doit=true foo /tmp/"),
            (
                "foo /tmp/",
                vec!["--user=me".to_string(), "--doit=true".into()]
            )
        );
        assert_eq!(extract_flags("-- foo"), (" foo", vec![]));
        assert_eq!(
            extract_flags(r#"--foo="a b" x"#),
            ("x", vec!["--foo=a b".to_string()])
        );
        assert_eq!(
            extract_flags("--doit -- [ ]"),
            (" [ ]", vec!["--doit".to_string()])
        );
        assert_eq!(extract_flags("--a --"), ("", vec!["--a".to_string()]));
        assert_eq!(extract_flags("-x"), ("-x", vec![]));
    }

    #[test]
    fn whitespace_runs() {
        assert_eq!(split_whitespace_runs("a \t b"), vec!["a", "b"]);
        assert_eq!(split_once_whitespace("ENV  a b"), ("ENV", Some("a b")));
        assert_eq!(split_once_whitespace("CMD"), ("CMD", None));
    }
}
