//! Parser directives (`# syntax=…`, `# escape=…`, `# check=…`) at the very top of a file.

use super::error::RawError;
use crate::ast::Directive;
use nom::bytes::complete::take_while;
use nom::character::complete::{alphanumeric0, char, satisfy, space0};
use nom::combinator::recognize;
use nom::sequence::pair;
use nom::{IResult, Parser};

/// The directive names BuildKit knows; any other `# key=value` ends the directive block.
const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Splits `#[ \t]*key[ \t]*=[ \t]*value[ \t]*` into `(key, value)`; `value` is non-empty.
pub(crate) fn directive_line(line: &str) -> Option<(&str, &str)> {
    fn parts(i: &str) -> IResult<&str, (&str, &str)> {
        let (i, _) = (char('#'), space0).parse(i)?;
        let (i, key) = recognize(pair(
            satisfy(|c: char| c.is_ascii_alphabetic()),
            alphanumeric0,
        ))
        .parse(i)?;
        let (i, _) = (space0, char('='), space0).parse(i)?;
        let (rest, value) = take_while(|_| true).parse(i)?;
        Ok((rest, (key, value)))
    }
    let (_, (key, value)) = parts(line).ok()?;
    let value = value.trim_end_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// Collects directives until the first line that is not one.
#[derive(Debug)]
pub(crate) struct DirectiveParser {
    done: bool,
    /// The escape character in force.
    pub(crate) escape: char,
    /// Directives seen so far, keys lower-cased.
    pub(crate) parsed: Vec<Directive>,
}

impl DirectiveParser {
    pub(crate) fn new() -> Self {
        DirectiveParser {
            done: false,
            escape: '\\',
            parsed: Vec::new(),
        }
    }

    /// Looks at one physical line (leading blanks already removed for instruction lines).
    pub(crate) fn offer(&mut self, line: &str, line_no: usize) -> Result<(), RawError> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive_line(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !KNOWN.contains(&key.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.parsed.iter().any(|d| d.name == key) {
            return Err(RawError::new(format!(
                "only one {key} parser directive can be used"
            )));
        }
        if key == "escape" {
            self.escape = match value {
                "`" => '`',
                "\\" => '\\',
                other => {
                    return Err(RawError::new(format!(
                        "invalid escape token '{other}' does not match ` or \\"
                    )))
                }
            };
        }
        self.parsed.push(Directive {
            name: key,
            value: value.to_string(),
            line: line_no,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_directive_lines() {
        assert_eq!(directive_line("# escape = `"), Some(("escape", "`")));
        assert_eq!(
            directive_line("#syntax=docker/dockerfile:1 \t"),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(
            directive_line("# check=skip=all;error=true"),
            Some(("check", "skip=all;error=true"))
        );
        assert_eq!(directive_line("# Comment here. escape=`"), None);
        assert_eq!(directive_line("# escape="), None);
        assert_eq!(directive_line("FROM a"), None);
    }

    #[test]
    fn rejects_duplicates_and_bad_escape() {
        let mut p = DirectiveParser::new();
        p.offer("# escape=`", 1).unwrap();
        assert_eq!(p.escape, '`');
        let err = p.offer("# escape=\\", 2).unwrap_err();
        assert_eq!(err.0, "only one escape parser directive can be used");
        let mut p = DirectiveParser::new();
        let err = p.offer("# escape=x", 1).unwrap_err();
        assert!(err.0.contains("invalid escape token 'x'"), "{}", err.0);
    }

    #[test]
    fn unknown_directive_ends_block() {
        let mut p = DirectiveParser::new();
        p.offer("# foo=bar", 1).unwrap();
        p.offer("# escape=`", 2).unwrap();
        assert_eq!(p.escape, '\\');
        assert!(p.parsed.is_empty());
    }
}
