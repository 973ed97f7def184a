//! The word scanner: quotes, escapes and `$` expansions.

use super::env::Env;
use super::error::ExpandError;
use super::pattern::Pattern;
use super::words::Words;
use std::collections::BTreeSet;

/// Expands shell words the way Docker does for Dockerfile instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character (`\` or `` ` ``, from the `# escape=` directive).
    pub escape: char,
    /// Keep quote characters in the output (quotes still group).
    pub raw_quotes: bool,
    /// Keep escape characters in the output (they still escape).
    pub raw_escapes: bool,
    /// Leave `$V`/`${V}` as written when `V` is unset instead of expanding to empty.
    pub skip_unset_env: bool,
}

/// Which variables a word referred to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordInfo {
    /// Every variable name looked up.
    pub used: BTreeSet<String>,
    /// Names looked up and not set, except where the form itself handles the unset case
    /// (`${V-x}`, `${V:-x}`, `${V+x}`, `${V:+x}`, `${V?m}`, `${V:?m}`) and except positional
    /// and special parameters (`$1`, `$@`, …).
    pub unset: BTreeSet<String>,
}

impl Lexer {
    /// A lexer with the given escape character and no raw/skip options.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
        }
    }

    /// Processes one word: quotes removed, escapes applied, variables expanded, no splitting.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ExpandError> {
        self.process_word_with_info(word, env).map(|(s, _)| s)
    }

    /// Like [`Lexer::process_word`], also telling which variables were used and unset.
    pub fn process_word_with_info(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<(String, WordInfo), ExpandError> {
        let mut scan = Scan::new(self, word, env);
        let (result, _, _) = scan.stop_on(None, self.raw_escapes)?;
        Ok((result, scan.info))
    }

    /// Processes a line into words: like [`Lexer::process_word`], and unquoted whitespace
    /// (also inside unquoted expansion results) separates words.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        self.process_words_with_info(word, env).map(|(w, _)| w)
    }

    /// Like [`Lexer::process_words`], also telling which variables were used and unset.
    pub fn process_words_with_info(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<(Vec<String>, WordInfo), ExpandError> {
        let mut scan = Scan::new(self, word, env);
        let (_, words, _) = scan.stop_on(None, self.raw_escapes)?;
        Ok((words.finish(), scan.info))
    }
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new('\\')
    }
}

/// Scanning state over one input.
struct Scan<'a> {
    lexer: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    info: WordInfo,
    depth: usize,
}

/// How deeply `${V:-${W:-…}}` may nest (guards the stack against hostile input).
const MAX_DEPTH: usize = 100;

/// The longest expansion result accepted, in bytes: bounds what `$A$A…` chains and
/// `${V//p/$V}` can build from a small Dockerfile (Linux refuses single exec strings over
/// 128 KiB anyway).
pub const MAX_WORD_LEN: usize = 1 << 20;

/// Special parameters: expand to nothing in a Dockerfile.
fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

impl<'a> Scan<'a> {
    fn new(lexer: &'a Lexer, input: &str, env: &'a dyn Env) -> Self {
        Scan {
            lexer,
            chars: input.chars().collect(),
            pos: 0,
            env,
            info: WordInfo::default(),
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Looks a variable up; `tracked` adds it to `unset` when missing.
    fn get_env(&mut self, name: &str, tracked: bool) -> Option<String> {
        self.info.used.insert(name.to_string());
        let value = self.env.get(name);
        let ordinary = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
        if value.is_none() && tracked && ordinary {
            self.info.unset.insert(name.to_string());
        }
        value
    }

    /// Scans until `stop` (consumed) or the end. Returns the text, the words and whether
    /// `stop` was found; a missing `stop` is an error.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Words, bool), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        let mut found = false;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                found = true;
                break;
            }
            match c {
                '\'' => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
            if result.len() > MAX_WORD_LEN {
                return Err(ExpandError::TooLong(MAX_WORD_LEN));
            }
        }
        if let (Some(stop), false) = (stop, found) {
            return Err(ExpandError::Unterminated(stop));
        }
        Ok((result, words, found))
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    out.push_str(&self.dollar()?);
                    if out.len() > MAX_WORD_LEN {
                        return Err(ExpandError::TooLong(MAX_WORD_LEN));
                    }
                }
                Some(c) => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if self.lexer.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                self.pos += 1;
                                out.push(n);
                                continue;
                            }
                            Some(_) => {
                                if !self.lexer.raw_escapes {
                                    out.push(c);
                                }
                                continue;
                            }
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// Reads a variable name: digits, one special parameter, or `[letter digit _]*`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if is_special_param(c) {
                self.pos += 1;
                return c.to_string();
            }
        }
        while let Some(c) = self
            .peek()
            .filter(|&c| c.is_alphabetic() || c.is_numeric() || c == '_')
        {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// `$…` at the current position.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.depth >= MAX_DEPTH {
            return Err(ExpandError::TooDeep(MAX_DEPTH));
        }
        self.depth += 1;
        let result = self.dollar_inner();
        self.depth -= 1;
        result
    }

    fn dollar_inner(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name, true) {
                Some(v) => v,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(op) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        match op {
            '}' => Ok(match self.get_env(&name, true) {
                Some(v) => v,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' => {
                let modifier = self.next();
                let word = self.braced_word()?;
                let value = self.get_env(&name, false);
                match modifier {
                    Some('+') => Ok(match value {
                        Some(v) if !v.is_empty() => word,
                        _ => String::new(),
                    }),
                    Some('-') => Ok(match value {
                        Some(v) if !v.is_empty() => v,
                        _ => word,
                    }),
                    Some('?') => match value {
                        None => Err(required(&name, word, "is not allowed to be unset")),
                        Some(v) if v.is_empty() => {
                            Err(required(&name, word, "is not allowed to be empty"))
                        }
                        Some(v) => Ok(v),
                    },
                    other => Err(ExpandError::UnsupportedModifier(
                        other.map(String::from).unwrap_or_default(),
                    )),
                }
            }
            '?' => {
                let word = self.braced_word()?;
                self.get_env(&name, false)
                    .ok_or_else(|| required(&name, word, "is not allowed to be unset"))
            }
            '-' => {
                let word = self.braced_word()?;
                Ok(self.get_env(&name, false).unwrap_or(word))
            }
            '+' => {
                let word = self.braced_word()?;
                Ok(match self.get_env(&name, false) {
                    Some(_) => word,
                    None => String::new(),
                })
            }
            '#' | '%' => {
                let longest = self.peek() == Some(op);
                if longest {
                    self.pos += 1;
                }
                let pattern = Pattern::new(&self.braced_pattern('}')?, self.lexer.escape);
                let value = self.get_env(&name, true).unwrap_or_default();
                Ok(if op == '#' {
                    pattern.remove_prefix(&value, longest)
                } else {
                    pattern.remove_suffix(&value, longest)
                })
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pattern_text = match self.stop_on(Some('/'), true) {
                    Ok((s, _, _)) => s,
                    Err(ExpandError::Unterminated(_)) if self.peek().is_none() => {
                        return Err(ExpandError::MissingSlash)
                    }
                    Err(e) => return Err(e),
                };
                let replacement = self.braced_word()?;
                let pattern = Pattern::new(&pattern_text, self.lexer.escape);
                let value = self.get_env(&name, true).unwrap_or_default();
                pattern
                    .replace(&value, &replacement, all, MAX_WORD_LEN)
                    .ok_or(ExpandError::TooLong(MAX_WORD_LEN))
            }
            other => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// The word of a `${V<op>word}` up to `}`.
    fn braced_word(&mut self) -> Result<String, ExpandError> {
        let raw = self.lexer.raw_escapes;
        self.braced(raw)
    }

    /// A pattern up to `stop`, escapes kept for the pattern matcher.
    fn braced_pattern(&mut self, stop: char) -> Result<String, ExpandError> {
        match self.stop_on(Some(stop), true) {
            Ok((s, _, _)) => Ok(s),
            Err(e) => Err(self.brace_error(e)),
        }
    }

    fn braced(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        match self.stop_on(Some('}'), raw_escapes) {
            Ok((s, _, _)) => Ok(s),
            Err(e) => Err(self.brace_error(e)),
        }
    }

    fn brace_error(&self, e: ExpandError) -> ExpandError {
        if self.peek().is_none() && matches!(e, ExpandError::Unterminated(_)) {
            ExpandError::MissingBrace
        } else {
            e
        }
    }
}

fn required(name: &str, word: String, default: &str) -> ExpandError {
    ExpandError::Required {
        name: name.to_string(),
        message: if word.is_empty() {
            default.to_string()
        } else {
            word
        },
    }
}
