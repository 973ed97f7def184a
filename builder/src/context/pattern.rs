//! Path patterns: Go's `filepath.Match` (used for COPY wildcards and to validate
//! `.dockerignore` patterns) and Docker's pattern compiler (moby/patternmatcher semantics:
//! `**` spans directories, patterns are anchored, exact/prefix/suffix fast paths).
//!
//! Character classes follow Go: `[abc]`, `[a-z]`, `[^a-z]` (negated), `\x` escapes. `[!a]` is
//! **not** a negation (Go treats `!` as a literal inside a class, and so does Docker).

use regex::Regex;

/// A pattern is syntactically invalid (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {pattern:?}")]
pub struct BadPattern {
    /// The offending pattern.
    pub pattern: String,
}

/// Internal marker for a syntax error while scanning.
struct Bad;

/// Go `filepath.Match` on Unix: does `name` match the shell pattern `pattern`?
/// `*` and `?` never match `/`. Returns an error for malformed patterns.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    go_match_inner(pattern, name).map_err(|Bad| BadPattern {
        pattern: pattern.to_string(),
    })
}

/// True if `s` contains a character that makes it a wildcard pattern for `filepath.Match`.
pub fn has_wildcard(s: &str) -> bool {
    s.chars().any(|c| matches!(c, '*' | '?' | '[' | '\\'))
}

fn go_match_inner(mut pattern: &str, mut name: &str) -> Result<bool, Bad> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains('/'));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(Bad);
        }
        if star {
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                let next = &name[i + c.len_utf8()..];
                let (t, ok, err) = match_chunk(chunk, next);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(Bad);
                }
            }
        }
        // Validate the rest of the pattern before answering "no".
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            let (_, _, err) = match_chunk(chunk, "");
            if err {
                return Err(Bad);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off the leading stars and the chunk up to the next unbracketed `*`.
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let trimmed = pattern.trim_start_matches('*');
    let star = trimmed.len() != pattern.len();
    let b = trimmed.as_bytes();
    let mut inrange = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => i += 1,
            b'[' => inrange = true,
            b']' => inrange = false,
            b'*' if !inrange => break,
            _ => {}
        }
        i += 1;
    }
    (star, &trimmed[..i], &trimmed[i..])
}

/// Matches one chunk at the start of `s`: (rest, matched, syntax error).
fn match_chunk<'a>(mut chunk: &str, mut s: &'a str) -> (&'a str, bool, bool) {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        let first = chunk.as_bytes()[0];
        match first {
            b'[' => {
                let mut r = None;
                if !failed {
                    let c = s.chars().next();
                    if let Some(c) = c {
                        s = &s[c.len_utf8()..];
                    }
                    r = c;
                }
                chunk = &chunk[1..];
                let class = match parse_class_body(chunk) {
                    Ok(v) => v,
                    Err(Bad) => return ("", false, true),
                };
                chunk = &chunk[class.consumed..];
                if let Some(r) = r {
                    let hit = class.ranges.iter().any(|&(lo, hi)| lo <= r && r <= hi);
                    if hit == class.negated {
                        failed = true;
                    }
                }
            }
            b'?' => {
                if !failed {
                    if s.starts_with('/') {
                        failed = true;
                    }
                    if let Some(c) = s.chars().next() {
                        s = &s[c.len_utf8()..];
                    }
                }
                chunk = &chunk[1..];
            }
            _ => {
                if first == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return ("", false, true);
                    }
                }
                let c = chunk.chars().next().unwrap_or('\0');
                if !failed {
                    if !s.starts_with(c) {
                        failed = true;
                    } else {
                        s = &s[c.len_utf8()..];
                    }
                }
                chunk = &chunk[c.len_utf8()..];
            }
        }
    }
    if failed {
        ("", false, false)
    } else {
        (s, true, false)
    }
}

/// A parsed character class (after the opening `[`).
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
    /// Bytes consumed after the `[`, including the closing `]`.
    consumed: usize,
}

/// Parses `^?range+]` per Go's rules.
fn parse_class_body(body: &str) -> Result<Class, Bad> {
    let mut rest = body;
    let mut negated = false;
    if rest.starts_with('^') {
        negated = true;
        rest = &rest[1..];
    }
    let mut ranges = Vec::new();
    loop {
        if rest.starts_with(']') && !ranges.is_empty() {
            rest = &rest[1..];
            break;
        }
        let (lo, r) = get_esc(rest)?;
        rest = r;
        let mut hi = lo;
        if rest.starts_with('-') {
            let (h, r) = get_esc(&rest[1..])?;
            hi = h;
            rest = r;
        }
        ranges.push((lo, hi));
    }
    Ok(Class {
        negated,
        ranges,
        consumed: body.len() - rest.len(),
    })
}

fn get_esc(chunk: &str) -> Result<(char, &str), Bad> {
    if chunk.is_empty() || chunk.starts_with('-') || chunk.starts_with(']') {
        return Err(Bad);
    }
    let mut c = chunk;
    if c.starts_with('\\') {
        c = &c[1..];
        if c.is_empty() {
            return Err(Bad);
        }
    }
    let ch = c.chars().next().ok_or(Bad)?;
    let rest = &c[ch.len_utf8()..];
    if rest.is_empty() {
        return Err(Bad);
    }
    Ok((ch, rest))
}

/// How a compiled Docker pattern is matched.
#[derive(Debug, Clone)]
enum Kind {
    Exact(String),
    /// Pattern minus its trailing `**`.
    Prefix(String),
    /// Pattern minus its leading `**`.
    Suffix(String),
    Regex(Regex),
}

/// One compiled `.dockerignore` pattern (without its `!`).
#[derive(Debug, Clone)]
pub struct DockerPattern {
    text: String,
    kind: Kind,
}

impl DockerPattern {
    /// Compiles a cleaned pattern (as produced by `.dockerignore` reading).
    pub fn compile(text: &str) -> Result<DockerPattern, BadPattern> {
        let bad = || BadPattern {
            pattern: text.to_string(),
        };
        // Docker validates with filepath.Match(pattern, ".") first.
        go_match(text, ".")?;
        let chars: Vec<char> = text.chars().collect();
        let mut re = String::from("^");
        #[derive(PartialEq, Clone, Copy)]
        enum T {
            Exact,
            Prefix,
            Suffix,
            Regex,
        }
        let mut t = T::Exact;
        let mut i = 0;
        while i < chars.len() {
            let ch = chars[i];
            let first = i == 0;
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if t == T::Exact {
                            t = T::Prefix;
                        } else {
                            re.push_str(".*");
                            t = T::Regex;
                        }
                    } else {
                        re.push_str("(.*/)?");
                        t = T::Regex;
                    }
                    if first {
                        t = T::Suffix;
                    }
                }
                '*' => {
                    re.push_str("[^/]*");
                    t = T::Regex;
                }
                '?' => {
                    re.push_str("[^/]");
                    t = T::Regex;
                }
                '\\' => {
                    if let Some(&n) = chars.get(i) {
                        i += 1;
                        re.push_str(&regex::escape(&n.to_string()));
                        t = T::Regex;
                    } else {
                        re.push_str("\\\\");
                    }
                }
                '[' => {
                    let rest: String = chars[i..].iter().collect();
                    let class = parse_class_body(&rest).map_err(|Bad| bad())?;
                    re.push('[');
                    if class.negated {
                        re.push('^');
                    }
                    for (lo, hi) in &class.ranges {
                        if lo > hi {
                            return Err(bad());
                        }
                        re.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", *lo as u32, *hi as u32));
                    }
                    re.push(']');
                    i += rest[..class.consumed].chars().count();
                    t = T::Regex;
                }
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        let kind = match t {
            T::Exact => Kind::Exact(text.to_string()),
            T::Prefix => Kind::Prefix(text[..text.len() - 2].to_string()),
            T::Suffix => Kind::Suffix(text[2..].to_string()),
            T::Regex => Kind::Regex(Regex::new(&re).map_err(|_| bad())?),
        };
        Ok(DockerPattern {
            text: text.to_string(),
            kind,
        })
    }

    /// Docker's name for how this pattern is matched: `exactMatch`, `prefixMatch`,
    /// `suffixMatch` or `regexpMatch`.
    pub fn match_type(&self) -> &'static str {
        match self.kind {
            Kind::Exact(_) => "exactMatch",
            Kind::Prefix(_) => "prefixMatch",
            Kind::Suffix(_) => "suffixMatch",
            Kind::Regex(_) => "regexpMatch",
        }
    }

    /// The anchored regular expression, for `regexpMatch` patterns.
    pub fn regex_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Regex(r) => Some(r.as_str()),
            _ => None,
        }
    }

    /// The cleaned pattern text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Does this pattern match exactly `path` (no parent rule)?
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact(p) => path == p,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..])
            }
            Kind::Regex(r) => r.is_match(path),
        }
    }

    /// The literal text before the first wildcard, or `None` if the pattern starts with one.
    /// Used to decide whether anything below a directory could match.
    pub fn literal_prefix(&self) -> &str {
        let end = self
            .text
            .find(['*', '?', '[', '\\'])
            .unwrap_or(self.text.len());
        &self.text[..end]
    }

    /// True if the pattern contains no wildcard at all.
    pub fn is_literal(&self) -> bool {
        matches!(self.kind, Kind::Exact(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_basics() {
        assert_eq!(go_match("*.go", "a.go"), Ok(true));
        assert_eq!(go_match("*", "a/b"), Ok(false));
        assert_eq!(go_match("a[^b]c", "axc"), Ok(true));
        assert_eq!(go_match("a[!b]c", "a!c"), Ok(true));
        assert!(go_match("[", "a").is_err());
        assert!(go_match("a\\", "a").is_err());
    }

    #[test]
    fn docker_pattern_kinds() {
        let p = DockerPattern::compile("**/foo").unwrap();
        assert!(p.matches("foo") && p.matches("a/b/foo") && !p.matches("a/foox"));
        let p = DockerPattern::compile("dir/**").unwrap();
        assert!(p.matches("dir/x") && !p.matches("dir"));
        assert!(DockerPattern::compile("[l-O]").is_err());
    }
}
