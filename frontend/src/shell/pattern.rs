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

    /// Whether the whole of `s` matches (the tests' independent reference matcher).
    #[cfg(test)]
    fn matches(&self, s: &[char]) -> bool {
        match_from(&self.toks, s)
    }

    /// `${V#p}` (shortest) / `${V##p}` (longest): removes a matching prefix.
    pub(crate) fn remove_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let ends = prefix_matches(&self.toks, &chars);
        match pick(&ends, longest) {
            Some(end) => chars[end..].iter().collect(),
            None => value.to_string(),
        }
    }

    /// `${V%p}` (shortest) / `${V%%p}` (longest): removes a matching suffix.
    pub(crate) fn remove_suffix(&self, value: &str, longest: bool) -> String {
        let mut reversed: Vec<char> = value.chars().collect();
        reversed.reverse();
        // Every token but `*` is one character, so the reversed pattern matches the reversed
        // suffixes.
        let toks: Vec<Tok> = self.toks.iter().rev().cloned().collect();
        let lens = prefix_matches(&toks, &reversed);
        match pick(&lens, longest) {
            Some(len) => reversed[len..].iter().rev().collect(),
            None => value.to_string(),
        }
    }

    /// `${V/p/r}` (first) / `${V//p/r}` (all): replaces leftmost-longest matches.
    /// Characters are copied until the output would exceed `limit` bytes; `None` then.
    pub(crate) fn replace(
        &self,
        value: &str,
        replacement: &str,
        all: bool,
        limit: usize,
    ) -> Option<String> {
        if self.toks.is_empty() {
            return Some(value.to_string());
        }
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        let mut search = Search::new(self.toks.len());
        while pos <= chars.len() {
            let Some((start, end)) = search.leftmost_longest(&self.toks, &chars, pos) else {
                break;
            };
            out.extend(&chars[pos..start]);
            out.push_str(replacement);
            if out.len() > limit {
                return None;
            }
            pos = end;
            if end == start {
                if let Some(&c) = chars.get(pos) {
                    out.push(c);
                }
                pos += 1;
            }
            if !all {
                break;
            }
        }
        if pos < chars.len() {
            out.extend(&chars[pos..]);
        }
        (out.len() <= limit).then_some(out)
    }
}

/// The first (`longest` false) or last index whose flag is set.
fn pick(flags: &[bool], longest: bool) -> Option<usize> {
    if longest {
        flags.iter().rposition(|&f| f)
    } else {
        flags.iter().position(|&f| f)
    }
}

/// NFA simulation: `out[k]` tells whether `s[..k]` matches the whole pattern. Linear in
/// `s.len() * toks.len()`. State `t` means "the first `t` tokens are matched"; a `*` state
/// consumes any character and stays.
fn prefix_matches(toks: &[Tok], s: &[char]) -> Vec<bool> {
    let m = toks.len();
    let mut out = vec![false; s.len() + 1];
    let mut cur = vec![false; m + 1];
    let mut next = vec![false; m + 1];
    enter(toks, &mut cur, 0);
    for (k, &c) in s.iter().enumerate() {
        out[k] = cur[m];
        next.iter_mut().for_each(|x| *x = false);
        let mut alive = false;
        for t in 0..m {
            if !cur[t] {
                continue;
            }
            match &toks[t] {
                Tok::Star => enter(toks, &mut next, t),
                tok if single_matches(tok, c) => enter(toks, &mut next, t + 1),
                _ => continue,
            }
            alive = true;
        }
        std::mem::swap(&mut cur, &mut next);
        if !alive {
            return out;
        }
    }
    out[s.len()] = cur[m];
    out
}

/// Marks state `t` and the states reachable from it without input (past `*`).
fn enter(toks: &[Tok], set: &mut [bool], mut t: usize) {
    loop {
        set[t] = true;
        if toks.get(t) != Some(&Tok::Star) {
            return;
        }
        t += 1;
    }
}

/// Reusable state sets for [`Search::leftmost_longest`]: per NFA state, the smallest start
/// of a partial match in that state (a smaller start dominates: the future is the same).
struct Search {
    cur: Vec<Option<usize>>,
    next: Vec<Option<usize>>,
}

impl Search {
    fn new(m: usize) -> Self {
        Search {
            cur: vec![None; m + 1],
            next: vec![None; m + 1],
        }
    }

    /// The leftmost match in `s[from..]`, and the longest one starting there, in one pass.
    fn leftmost_longest(
        &mut self,
        toks: &[Tok],
        s: &[char],
        from: usize,
    ) -> Option<(usize, usize)> {
        let m = toks.len();
        self.cur.iter_mut().for_each(|x| *x = None);
        let mut best: Option<(usize, usize)> = None;
        let mut i = from;
        loop {
            if best.is_none() {
                enter_from(toks, &mut self.cur, 0, i);
            }
            if let Some(start) = self.cur[m] {
                match best {
                    Some((b, _)) if b < start => {}
                    _ => best = Some((start, i)),
                }
            }
            let Some(&c) = s.get(i) else { break };
            if let Some((b, _)) = best {
                // Only partial matches starting at or before the best start can still matter.
                if !self.cur[..m].iter().flatten().any(|&st| st <= b) {
                    break;
                }
            }
            self.next.iter_mut().for_each(|x| *x = None);
            for t in 0..m {
                let Some(start) = self.cur[t] else { continue };
                match &toks[t] {
                    Tok::Star => enter_from(toks, &mut self.next, t, start),
                    tok if single_matches(tok, c) => enter_from(toks, &mut self.next, t + 1, start),
                    _ => {}
                }
            }
            std::mem::swap(&mut self.cur, &mut self.next);
            i += 1;
        }
        best
    }
}

/// Like [`enter`], recording `start` where it is smaller than what a state holds.
fn enter_from(toks: &[Tok], set: &mut [Option<usize>], mut t: usize, start: usize) {
    loop {
        if set[t].is_some_and(|s| s <= start) {
            return;
        }
        set[t] = Some(start);
        if toks.get(t) != Some(&Tok::Star) {
            return;
        }
        t += 1;
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

#[cfg(test)]
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
        let replace = |p: &Pattern, v: &str, r: &str, all: bool| {
            p.replace(v, r, all, usize::MAX).expect("within the limit")
        };
        assert_eq!(replace(&p, "foo boo", "0", false), "f0o boo");
        assert_eq!(replace(&p, "foo boo", "0", true), "f00 b00");
        let p = Pattern::new("*a*a*a*a*a*a*a*a*b", '\\');
        assert!(!p.matches(&['a'; 200]));
        let p = Pattern::new("[a-c]?", '\\');
        assert_eq!(replace(&p, "xaxbyz", "_", true), "x__z");
    }

    /// The straightforward (cubic) algorithms the linear ones replaced.
    fn slow_prefix(p: &Pattern, v: &[char], longest: bool) -> String {
        let mut ends: Vec<usize> = (0..=v.len()).collect();
        if longest {
            ends.reverse();
        }
        match ends.into_iter().find(|&e| p.matches(&v[..e])) {
            Some(e) => v[e..].iter().collect(),
            None => v.iter().collect(),
        }
    }

    fn slow_suffix(p: &Pattern, v: &[char], longest: bool) -> String {
        let mut starts: Vec<usize> = (0..=v.len()).rev().collect();
        if longest {
            starts.reverse();
        }
        match starts.into_iter().find(|&s| p.matches(&v[s..])) {
            Some(s) => v[..s].iter().collect(),
            None => v.iter().collect(),
        }
    }

    fn slow_replace(p: &Pattern, v: &[char], r: &str, all: bool) -> String {
        let (mut out, mut pos, mut replaced) = (String::new(), 0, false);
        while pos <= v.len() {
            let hit = if replaced && !all {
                None
            } else {
                (pos..=v.len()).rev().find(|&e| p.matches(&v[pos..e]))
            };
            match hit {
                Some(end) if !(end == pos && p.toks.is_empty()) => {
                    out.push_str(r);
                    replaced = true;
                    if end == pos {
                        out.extend(v.get(pos));
                        pos += 1;
                    } else {
                        pos = end;
                    }
                }
                _ => {
                    out.extend(v.get(pos));
                    pos += 1;
                }
            }
        }
        out
    }

    /// Every string over `alphabet` of length up to `max`.
    fn strings(alphabet: &[&str], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn linear_algorithms_agree_with_brute_force() {
        let patterns = strings(&["a", "b", "?", "*", "[ab]", "[!a]"], 3);
        let values = strings(&["a", "b", "c"], 4);
        for pt in &patterns {
            let p = Pattern::new(pt, '\\');
            for v in &values {
                let chars: Vec<char> = v.chars().collect();
                for longest in [false, true] {
                    assert_eq!(
                        p.remove_prefix(v, longest),
                        slow_prefix(&p, &chars, longest),
                        "{pt:?} # {v:?} longest={longest}"
                    );
                    assert_eq!(
                        p.remove_suffix(v, longest),
                        slow_suffix(&p, &chars, longest),
                        "{pt:?} % {v:?} longest={longest}"
                    );
                    assert_eq!(
                        p.replace(v, "R", longest, usize::MAX).as_deref(),
                        Some(slow_replace(&p, &chars, "R", longest).as_str()),
                        "{pt:?} / {v:?} all={longest}"
                    );
                }
            }
        }
    }

    /// Fuzzing work (hand-made `expand` input): `${V//*x/}` on 2000 characters took minutes.
    #[test]
    fn long_values_are_fast() {
        let v = format!("{}x{}", "a".repeat(50_000), "a".repeat(50_000));
        let start = std::time::Instant::now();
        let p = Pattern::new("*x", '\\');
        assert_eq!(p.replace(&v, "", true, usize::MAX).unwrap().len(), 50_000);
        assert_eq!(p.remove_prefix(&v, true).len(), 50_000);
        let p = Pattern::new("x*", '\\');
        assert_eq!(p.remove_suffix(&v, true).len(), 50_000);
        let p = Pattern::new("a*b", '\\');
        assert_eq!(p.replace(&v, "", true, usize::MAX).unwrap(), v);
        let p = Pattern::new("?", '\\');
        assert_eq!(
            p.replace(&v, "yy", true, usize::MAX).unwrap().len(),
            200_002
        );
        assert_eq!(p.replace(&v, "yy", true, 1000), None);
        assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
    }
}
