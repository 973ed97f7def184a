//! `.dockerignore` files with Docker's exact semantics (moby/patternmatcher + ignorefile), not
//! gitignore's: patterns are cleaned like Go's `filepath.Clean`, anchored at the context root,
//! `**` spans directories, the last matching pattern wins, and a pattern that matches a parent
//! directory matches everything below it.

use super::pattern::{BadPattern, DockerPattern};

/// Errors reading a `.dockerignore` file.
#[derive(Debug, thiserror::Error)]
pub enum DockerIgnoreError {
    /// A lone `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// A pattern with a syntax error (e.g. an unclosed `[`).
    #[error("invalid .dockerignore pattern {pattern:?}: {source}")]
    BadPattern {
        /// The pattern as written (after cleaning).
        pattern: String,
        /// The syntax error.
        source: BadPattern,
    },
}

/// One rule of a `.dockerignore` file.
#[derive(Debug, Clone)]
struct Rule {
    exclusion: bool,
    pattern: DockerPattern,
}

/// A parsed `.dockerignore`: an ordered list of patterns, `!` ones re-including.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
    /// True if some exception pattern starts with a wildcard (then no excluded dir can ever be
    /// skipped).
    any_wild_exception: bool,
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Reads the lines of a `.dockerignore` into the cleaned pattern list (Docker's `ReadAll`):
/// BOM stripped, `#` in column 0 is a comment, lines trimmed, `!` split and re-trimmed, then
/// cleaned and one leading `/` removed.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        if line.starts_with('#') {
            continue;
        }
        let mut pat = line.trim();
        if pat.is_empty() {
            continue;
        }
        let mut invert = false;
        if let Some(rest) = pat.strip_prefix('!') {
            invert = true;
            pat = rest.trim();
        }
        let mut cleaned = String::new();
        if !pat.is_empty() {
            cleaned = clean_path(pat);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push(cleaned);
    }
    out
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<DockerIgnore, DockerIgnoreError> {
        DockerIgnore::from_patterns(&read_patterns(text))
    }

    /// Builds a matcher from a pattern list (each may start with `!`), like Docker's
    /// `patternmatcher.New`: trimmed, empty ones skipped, cleaned.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<DockerIgnore, DockerIgnoreError> {
        let mut rules = Vec::new();
        let mut any_wild_exception = false;
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut text = clean_path(p);
            let mut exclusion = false;
            if let Some(rest) = text.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(DockerIgnoreError::IllegalExclusion);
                }
                exclusion = true;
                text = rest.to_string();
            }
            let pattern =
                DockerPattern::compile(&text).map_err(|source| DockerIgnoreError::BadPattern {
                    pattern: p.to_string(),
                    source,
                })?;
            if exclusion && pattern.literal_prefix().is_empty() {
                any_wild_exception = true;
            }
            rules.push(Rule { exclusion, pattern });
        }
        Ok(DockerIgnore {
            rules,
            any_wild_exception,
        })
    }

    /// True if there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True if any pattern is a `!` exception.
    pub fn has_exclusions(&self) -> bool {
        self.rules.iter().any(|r| r.exclusion)
    }

    /// The cleaned patterns, `!` ones prefixed with `!`, in order.
    pub fn patterns(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| {
                if r.exclusion {
                    format!("!{}", r.pattern.as_str())
                } else {
                    r.pattern.as_str().to_string()
                }
            })
            .collect()
    }

    /// Is `rel_path` (relative to the context root, `/`-separated) excluded? The path is
    /// cleaned first (`./a/`, `/a` ≡ `a`); the context root itself is never excluded.
    pub fn matches(&self, rel_path: &str) -> bool {
        let cleaned = clean_path(rel_path);
        let p = cleaned.trim_start_matches('/');
        if p.is_empty() || p == "." {
            return false;
        }
        self.matches_verbatim(p)
    }

    /// Docker's `MatchesOrParentMatches` on the path exactly as given (no cleaning).
    pub fn matches_verbatim(&self, path: &str) -> bool {
        let parent = go_dir(path);
        // Every leading run of the parent's segments: `a`, `a/b`, ... (slices, no allocation).
        let prefixes = || {
            parent
                .match_indices('/')
                .map(|(i, _)| &parent[..i])
                .chain(std::iter::once(parent.as_str()))
        };
        let mut matched = false;
        for rule in &self.rules {
            if rule.exclusion != matched {
                continue;
            }
            let mut hit = rule.pattern.matches(path);
            if !hit && parent != "." {
                hit = prefixes().any(|p| rule.pattern.matches(p));
            }
            if hit {
                matched = !rule.exclusion;
            }
        }
        matched
    }

    /// Used when the patterns are an allow-list: could a (non-`!`) pattern match some path
    /// strictly below the directory `rel_dir`?
    pub fn could_match_below(&self, rel_dir: &str) -> bool {
        let cleaned = clean_path(rel_dir);
        let dir = format!("{}/", cleaned.trim_start_matches('/'));
        self.rules.iter().filter(|r| !r.exclusion).any(|r| {
            let pre = r.pattern.literal_prefix();
            pre.starts_with(&dir) || (!r.pattern.is_literal() && dir.starts_with(pre))
        })
    }

    /// True if the directory `rel_dir` is excluded and no exception could re-include anything
    /// below it, so a walk may skip it entirely.
    pub fn can_skip_dir(&self, rel_dir: &str) -> bool {
        if !self.matches(rel_dir) {
            return false;
        }
        if self.any_wild_exception {
            return false;
        }
        let cleaned = clean_path(rel_dir);
        let dir = format!("{}/", cleaned.trim_start_matches('/'));
        !self.rules.iter().filter(|r| r.exclusion).any(|r| {
            let pre = r.pattern.literal_prefix();
            pre.starts_with(&dir) || (!r.pattern.is_literal() && dir.starts_with(pre))
        })
    }
}

/// Go's `filepath.Dir` for `/`-separated paths.
fn go_dir(path: &str) -> String {
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    clean_path(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        assert_eq!(clean_path("/foo/../../bar"), "/bar");
        assert_eq!(clean_path("../foo"), "../foo");
        assert_eq!(clean_path("foo/"), "foo");
        assert_eq!(clean_path("./"), ".");
    }

    #[test]
    fn skip_dirs() {
        let d = DockerIgnore::parse("node_modules\nbuild\n!build/keep.txt\n").unwrap();
        assert!(d.can_skip_dir("node_modules"));
        assert!(!d.can_skip_dir("build"));
        assert!(!d.can_skip_dir("src"));
        let d = DockerIgnore::parse("*\n!**/*.rs\n").unwrap();
        assert!(!d.can_skip_dir("x"));
        let d = DockerIgnore::parse("a\n!b/*.rs\n").unwrap();
        assert!(d.can_skip_dir("a"));
    }
}
