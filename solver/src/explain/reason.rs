//! Why a step ran instead of coming from the cache, as progress shows it under the step.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The first input of a step's cache key that differs from the last build of the same step
/// (or why there is nothing to compare with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissReason {
    /// No earlier build of this step is recorded.
    NeverBuilt,
    /// The step was asked to skip the cache (`--no-cache`, `--no-cache-filter`).
    NoCache,
    /// An input step (progress index `step`) ran without the cache, so this one runs again.
    ParentRanUncached { step: usize },
    /// The result of an input step (progress index `step`) differs.
    ParentChanged { step: usize },
    /// The instruction itself differs (its text, flags, or what it expands to).
    InstructionChanged,
    /// The base image's name now resolves to another manifest.
    BaseImageChanged {
        image: String,
        from: String,
        to: String,
    },
    /// A build argument visible to the step has another value (`None`: unset). A value is
    /// `None` too when the name looks like a secret's: it is then never recorded.
    BuildArgChanged {
        name: String,
        from: Option<String>,
        to: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hidden: bool,
    },
    /// An environment variable of the step has another value.
    EnvChanged {
        name: String,
        from: Option<String>,
        to: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        hidden: bool,
    },
    /// Files the step reads changed: the first ones by name, then how many more.
    FileChanged { paths: Vec<String>, more: usize },
    /// The key is the one built last time, but its result is no longer in the cache (pruned).
    ResultRemoved,
    /// The key differs in a way no recorded component shows (e.g. a record from another kiln).
    KeyChanged,
}

/// Longest value shown in a reason; longer ones are cut with `…`.
const SHOWN_VALUE: usize = 48;

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn value(v: &Option<String>) -> String {
    match v {
        Some(v) => cut(v, SHOWN_VALUE),
        None => "unset".to_string(),
    }
}

/// `sha256:0123456789ab…`.
fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => d.to_string(),
    }
}

fn change(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    name: &str,
    from: &Option<String>,
    to: &Option<String>,
    hidden: bool,
) -> fmt::Result {
    if hidden {
        write!(f, "{what} changed: {name} (value not shown)")
    } else {
        write!(
            f,
            "{what} changed: {name} ({} → {})",
            value(from),
            value(to)
        )
    }
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissReason::NeverBuilt => f.write_str("never built"),
            MissReason::NoCache => f.write_str("--no-cache"),
            MissReason::ParentRanUncached { step } => {
                write!(f, "parent step ran uncached: #{step}")
            }
            MissReason::ParentChanged { step } => write!(f, "parent step changed: #{step}"),
            MissReason::InstructionChanged => f.write_str("instruction changed"),
            MissReason::BaseImageChanged { image, from, to } => write!(
                f,
                "base image changed: {image} ({} → {})",
                short_digest(from),
                short_digest(to)
            ),
            MissReason::BuildArgChanged {
                name,
                from,
                to,
                hidden,
            } => change(f, "build arg", name, from, to, *hidden),
            MissReason::EnvChanged {
                name,
                from,
                to,
                hidden,
            } => change(f, "env", name, from, to, *hidden),
            MissReason::FileChanged { paths, more } => {
                match paths.first() {
                    Some(p) => write!(f, "file changed: {p}")?,
                    None => f.write_str("files changed")?,
                }
                if *more > 0 {
                    write!(f, " … and {more} more")?;
                }
                Ok(())
            }
            MissReason::ResultRemoved => f.write_str("cached result was removed"),
            MissReason::KeyChanged => f.write_str("cache key changed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_progress_shows_them() {
        assert_eq!(
            MissReason::FileChanged {
                paths: vec!["src/main.rs".into(), "b".into()],
                more: 3
            }
            .to_string(),
            "file changed: src/main.rs … and 3 more"
        );
        assert_eq!(
            MissReason::BuildArgChanged {
                name: "VERSION".into(),
                from: Some("1.2".into()),
                to: Some("1.3".into()),
                hidden: false,
            }
            .to_string(),
            "build arg changed: VERSION (1.2 → 1.3)"
        );
        assert_eq!(
            MissReason::EnvChanged {
                name: "X".into(),
                from: None,
                to: Some("x".repeat(100)),
                hidden: false,
            }
            .to_string(),
            format!("env changed: X (unset → {}…)", "x".repeat(47))
        );
        assert_eq!(
            MissReason::BuildArgChanged {
                name: "API_TOKEN".into(),
                from: None,
                to: None,
                hidden: true,
            }
            .to_string(),
            "build arg changed: API_TOKEN (value not shown)"
        );
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            MissReason::BaseImageChanged {
                image: "busybox:1".into(),
                from: a,
                to: b
            }
            .to_string(),
            "base image changed: busybox:1 (sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb…)"
        );
        assert_eq!(
            MissReason::ParentChanged { step: 4 }.to_string(),
            "parent step changed: #4"
        );
    }

    #[test]
    fn serialises_with_a_kind() {
        let j = serde_json::to_value(MissReason::ParentChanged { step: 4 }).unwrap();
        assert_eq!(j, serde_json::json!({"kind": "parent_changed", "step": 4}));
    }
}
