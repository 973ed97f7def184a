//! "did you mean …?" suggestions by edit distance.

/// Levenshtein distance between two strings (by chars).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word` if it is close enough to be a plausible typo
/// (distance ≤ 2, or ≤ a third of the word's length). `ignore_case` compares case-insensitively;
/// the candidate is returned as written.
pub fn suggest<'a, I>(word: &str, candidates: I, ignore_case: bool) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let norm = |s: &str| {
        if ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let w = norm(word);
    let limit = 2.max(w.chars().count() / 3);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&w, &norm(c));
        if d == 0 || d > limit {
            continue;
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// `" (did you mean X?)"` or the empty string.
pub fn did_you_mean<'a, I>(word: &str, candidates: I, ignore_case: bool) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match suggest(word, candidates, ignore_case) {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}
