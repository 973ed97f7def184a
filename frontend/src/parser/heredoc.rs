//! Heredoc recognition (`<<EOF`, `<<-EOF`, `<<'EOF'`, `3<<EOF`, …) in instruction lines.

use crate::ast::{Heredoc, Node};
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit0};
use nom::combinator::opt;
use nom::{IResult, Parser};
use thiserror::Error;

/// A heredoc word that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeredocError {
    /// A quote in the delimiter word is not closed.
    #[error("unexpected end of statement while looking for matching {quote} in heredoc delimiter {word:?}")]
    UnbalancedQuote {
        /// `single-quote` or `double-quote`.
        quote: &'static str,
        /// The delimiter word as written.
        word: String,
    },
    /// The file descriptor prefix does not fit a `u32`.
    #[error("invalid file descriptor in heredoc {word:?}")]
    BadFd {
        /// The heredoc word as written.
        word: String,
    },
}

/// Splits `<digits><<[-]rest`; `None` when the word is not of that shape.
fn heredoc_operator(word: &str) -> Option<(&str, bool, &str)> {
    fn parts(i: &str) -> IResult<&str, (&str, Option<char>)> {
        let (i, fd) = digit0(i)?;
        let (i, _) = tag("<<").parse(i)?;
        let (i, dash) = opt(char('-')).parse(i)?;
        Ok((i, (fd, dash)))
    }
    let (rest, (fd, dash)) = parts(word).ok()?;
    if rest.contains('<') {
        return None;
    }
    Some((fd, dash.is_some(), rest))
}

/// Recognises one heredoc word such as `<<EOF`, `<<-'EOF'`, `3<<EOF` or `<< EOF`.
///
/// Returns `Ok(None)` for words that are not heredocs (`<EOF`, `<<<EOF`, `<<`, `<<EOF sh`),
/// and an error for unbalanced quotes in the delimiter. `expand` is false when any part of
/// the delimiter was quoted; the content is left empty.
pub fn parse_heredoc_word(word: &str) -> Result<Option<Heredoc>, HeredocError> {
    let Some((fd, chomp, rest)) = heredoc_operator(word) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let words = unquote_words(rest).map_err(|quote| HeredocError::UnbalancedQuote {
        quote,
        word: word.to_string(),
    })?;
    let [(name, quoted)] = words.as_slice() else {
        return Ok(None);
    };
    let fd = if fd.is_empty() {
        None
    } else {
        Some(fd.parse::<u32>().map_err(|_| HeredocError::BadFd {
            word: word.to_string(),
        })?)
    };
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand: !quoted,
        chomp,
        fd,
    }))
}

/// Finds every heredoc in an instruction line, in order (contents left empty).
///
/// Words are split on unquoted blanks; quoted words (`"<<EOF"`) are not heredocs; `<<` or
/// `<<-` followed by blanks takes the next word as its delimiter.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, HeredocError> {
    let words = raw_words(line);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let mut word = words[i].clone();
        let bare_operator = heredoc_operator(&word).is_some_and(|(_, _, rest)| rest.is_empty());
        if bare_operator && i + 1 < words.len() {
            word.push(' ');
            word.push_str(&words[i + 1]);
            i += 1;
        }
        if let Some(h) = parse_heredoc_word(&word)? {
            out.push(h);
        }
        i += 1;
    }
    Ok(out)
}

/// Removes leading tabs from every line (what `<<-` does to a body).
pub fn chomp_heredoc(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

impl Heredoc {
    /// The body as the heredoc delivers it: leading tabs removed from each line for `<<-`.
    pub fn body(&self) -> String {
        if self.chomp {
            chomp_heredoc(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// Whether heredocs are looked for after this node (RUN/COPY/ADD, also under ONBUILD,
/// shell form only).
pub(crate) fn can_contain_heredoc(node: &Node) -> bool {
    let node = match &node.next {
        Some(inner) if node.keyword.eq_ignore_ascii_case("onbuild") => inner,
        _ => node,
    };
    let name = node.keyword.to_ascii_lowercase();
    matches!(name.as_str(), "run" | "copy" | "add") && !node.json
}

/// Splits on unquoted blanks keeping quotes and `\` escapes as written.
fn raw_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                word.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == '\\' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Shell-style words with quotes removed and `\` escapes applied, no expansion; each word
/// with whether any part of it was quoted. Errors name the unclosed quote kind.
fn unquote_words(s: &str) -> Result<Vec<(String, bool)>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push((std::mem::take(&mut word), quoted));
                }
                quoted = false;
            }
            '\'' => {
                quoted = true;
                loop {
                    match chars.next() {
                        None => return Err("single-quote"),
                        Some('\'') => break,
                        Some(c) => word.push(c),
                    }
                }
            }
            '"' => {
                quoted = true;
                loop {
                    match chars.next() {
                        None => return Err("double-quote"),
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n @ ('"' | '$' | '\\')) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some(c) => word.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push((word, quoted));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_words_keep_quotes() {
        assert_eq!(
            raw_words(r#"RUN "<<EOF" 'a b' c\ d"#),
            vec!["RUN", "\"<<EOF\"", "'a b'", "c\\ d"]
        );
    }

    #[test]
    fn operator_shapes() {
        assert_eq!(heredoc_operator("3<<-EOF"), Some(("3", true, "EOF")));
        assert_eq!(heredoc_operator("<<<EOF"), None);
        assert_eq!(heredoc_operator("<EOF"), None);
    }
}
