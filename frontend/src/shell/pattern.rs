//! Shell glob patterns for `${V#p}`, `${V%p}` and `${V/p/r}`: `*`, `?`, `[…]`, escapes.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Compiles `text`; `escape` makes the next character literal. An unclosed `[` is literal.
    pub(crate) fn new(text: &str, escape: char) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                c if c == escape => match chars.get(i) {
                    Some(&n) => {
                        toks.push(Tok::Lit(n));
                        i += 1;
                    }
                    None => toks.push(Tok::Lit(c)),
                },
                '*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' => toks.push(Tok::Any),
                '[' => match parse_class(&chars[i..]) {
                    Some((tok, used)) => {
                        toks.push(tok);
                        i += used;
                    }
                    None => toks.push(Tok::Lit('[')),
                },
                c => toks.push(Tok::Lit(c)),
            }
        }
        Pattern { toks }
    }

    /// Whether the whole of `s` matches.
    fn matches(&self, s: &[char]) -> bool {
        match_from(&self.toks, s)
    }

    /// `${V#p}` (shortest) / `${V##p}` (longest): removes a matching prefix.
    pub(crate) fn remove_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut ends: Vec<usize> = (0..=chars.len()).collect();
        if longest {
            ends.reverse();
        }
        for end in ends {
            if self.matches(&chars[..end]) {
                return chars[end..].iter().collect();
            }
        }
        value.to_string()
    }

    /// `${V%p}` (shortest) / `${V%%p}` (longest): removes a matching suffix.
    pub(crate) fn remove_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut starts: Vec<usize> = (0..=chars.len()).rev().collect();
        if longest {
            starts.reverse();
        }
        for start in starts {
            if self.matches(&chars[start..]) {
                return chars[..start].iter().collect();
            }
        }
        value.to_string()
    }

    /// `${V/p/r}` (first) / `${V//p/r}` (all): replaces leftmost-longest matches.
    pub(crate) fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        let mut replaced = false;
        while pos <= chars.len() {
            let hit = if replaced && !all {
                None
            } else {
                (pos..=chars.len())
                    .rev()
                    .find(|&end| self.matches(&chars[pos..end]))
            };
            match hit {
                Some(end) if !(end == pos && self.toks.is_empty()) => {
                    out.push_str(replacement);
                    replaced = true;
                    if end == pos {
                        if let Some(&c) = chars.get(pos) {
                            out.push(c);
                        }
                        pos += 1;
                    } else {
                        pos = end;
                    }
                }
                _ => {
                    if let Some(&c) = chars.get(pos) {
                        out.push(c);
                    }
                    pos += 1;
                }
            }
        }
        out
    }
}

/// Parses the inside of `[…]` (after `[`): returns the token and characters consumed.
fn parse_class(chars: &[char]) -> Option<(Tok, usize)> {
    let mut i = 0;
    let negated = matches!(chars.first(), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((Tok::Class { negated, items }, i + 1));
        }
        first = false;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            items.push((c, chars[i + 2]));
            i += 3;
        } else {
            items.push((c, c));
            i += 1;
        }
    }
    None
}

/// Whole-string glob match, iterative (no recursion, no exponential backtracking): on a
/// mismatch, the last `*` absorbs one more character.
fn match_from(toks: &[Tok], s: &[char]) -> bool {
    let (mut t, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(t) {
            Some(Tok::Star) => {
                star = Some((t, i));
                t += 1;
                continue;
            }
            Some(tok) if single_matches(tok, s[i]) => {
                t += 1;
                i += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((st, si)) => {
                t = st + 1;
                i = si + 1;
                star = Some((st, si + 1));
            }
            None => return false,
        }
    }
    toks[t.min(toks.len())..]
        .iter()
        .all(|tok| *tok == Tok::Star)
}

/// Whether a one-character token matches `c`.
fn single_matches(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Lit(l) => *l == c,
        Tok::Any => true,
        Tok::Class { negated, items } => {
            items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        Tok::Star => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn prefix_suffix() {
        let p = Pattern::new("*/", '\\');
        assert_eq!(p.remove_prefix("a/b/c", false), "b/c");
        assert_eq!(p.remove_prefix("a/b/c", true), "c");
        let p = Pattern::new(".*", '\\');
        assert_eq!(p.remove_suffix("f.tar.gz", false), "f.tar");
        assert_eq!(p.remove_suffix("f.tar.gz", true), "f");
        let p = Pattern::new("\\*", '\\');
        assert_eq!(p.remove_prefix("*x", false), "x");
        assert_eq!(p.remove_prefix("ax", false), "ax");
    }

    #[test]
    fn replace_first_and_all() {
        let p = Pattern::new("o", '\\');
        assert_eq!(p.replace("foo boo", "0", false), "f0o boo");
        assert_eq!(p.replace("foo boo", "0", true), "f00 b00");
        let p = Pattern::new("*a*a*a*a*a*a*a*a*b", '\\');
        assert!(!p.matches(&['a'; 200]));
        let p = Pattern::new("[a-c]?", '\\');
        assert_eq!(p.replace("xaxbyz", "_", true), "x__z");
    }
}
