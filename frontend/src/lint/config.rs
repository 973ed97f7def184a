//! The `check` options: `# check=skip=<rules|all>;error=<bool>;experimental=<rules|all>`, from
//! the parser directive, the `BUILDKIT_DOCKERFILE_CHECK` build arg (which replaces it), or a
//! `# check=skip=…` comment directly above one instruction (which applies to it alone).

use super::rules::Rule;
use crate::ast::Dockerfile;
use std::collections::{BTreeMap, BTreeSet};

/// The build arg that overrides the `check` directive.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// Parsed `check` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    /// `skip=all`.
    pub skip_all: bool,
    /// `skip=A,B`.
    pub skip: BTreeSet<String>,
    /// `experimental=all`.
    pub experimental_all: bool,
    /// `experimental=A,B`.
    pub experimental: BTreeSet<String>,
    /// `error=true`: warnings fail the build.
    pub error: bool,
}

impl CheckConfig {
    /// Parses an options string (`skip=…;error=…;experimental=…`); empty means defaults.
    /// Errors are worded like BuildKit's (`invalid check option "x"`).
    pub fn parse(s: &str) -> Result<CheckConfig, String> {
        let s = s.trim();
        let mut c = CheckConfig::default();
        if s.is_empty() {
            return Ok(c);
        }
        for part in s.splitn(3, ';') {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!("invalid check option {part:?}"));
            };
            let v = v.trim();
            match k.trim() {
                "skip" if v == "all" => c.skip_all = true,
                "skip" => c.skip = v.split(',').map(|r| r.trim().to_string()).collect(),
                "experimental" if v == "all" => c.experimental_all = true,
                "experimental" => {
                    c.experimental = v.split(',').map(|r| r.trim().to_string()).collect()
                }
                "error" => {
                    c.error = parse_bool(v).ok_or_else(|| {
                        format!(
                            "failed to parse check option {part:?}: strconv.ParseBool: parsing {v:?}: invalid syntax"
                        )
                    })?
                }
                other => return Err(format!("invalid check option {other:?}")),
            }
        }
        Ok(c)
    }

    /// Whether a finding of `rule` is reported under these options.
    pub fn enabled(&self, rule: &Rule) -> bool {
        if rule.experimental {
            self.experimental_all || self.experimental.contains(rule.name)
        } else {
            !(self.skip_all || self.skip.contains(rule.name))
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A directive value as BuildKit reads it: its first blank-separated word (`skip=all // why`
/// is `skip=all`).
pub fn directive_word(value: &str) -> &str {
    value.split_whitespace().next().unwrap_or("")
}

/// The options in force: the build arg if set, else the file's `check` directive.
pub fn effective(
    df: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Result<CheckConfig, String> {
    let text = match build_args.get(CHECK_BUILD_ARG) {
        Some(v) => v.as_str(),
        None => df
            .directives
            .iter()
            .find(|d| d.name == "check")
            .map(|d| directive_word(&d.value))
            .unwrap_or(""),
    };
    CheckConfig::parse(text).map_err(|e| format!("failed to parse check options: {e}"))
}

/// Rules skipped for single instructions by `# check=skip=…` comments right above them:
/// start line of the instruction → the skipped rule names (`all` included as is).
pub fn local_skips(text: &str, df: &Dockerfile) -> BTreeMap<usize, BTreeSet<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let directives_end = df.directives.iter().map(|d| d.line).max().unwrap_or(0);
    let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for node in &df.instructions {
        let mut n = node.start_line;
        while n > 1 && n - 1 > directives_end {
            n -= 1;
            let Some(line) = lines.get(n - 1) else { break };
            let Some(comment) = line.trim().strip_prefix('#') else {
                break;
            };
            let Some((key, value)) = comment.split_once('=') else {
                continue;
            };
            if !key.trim().eq_ignore_ascii_case("check") {
                continue;
            }
            if let Ok(c) = CheckConfig::parse(directive_word(value.trim())) {
                let set = out.entry(node.start_line).or_default();
                if c.skip_all {
                    set.insert("all".into());
                }
                set.extend(c.skip);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::rules;

    #[test]
    fn parses_options() {
        let c = CheckConfig::parse("skip=A, B;error=true").unwrap();
        assert!(c.error && !c.skip_all);
        assert_eq!(c.skip.iter().cloned().collect::<Vec<_>>(), ["A", "B"]);
        assert!(CheckConfig::parse("skip=all").unwrap().skip_all);
        let e = CheckConfig::parse("error=maybe").unwrap_err();
        assert!(
            e.contains("failed to parse check option \"error=maybe\""),
            "{e}"
        );
        assert_eq!(
            CheckConfig::parse("foo=bar").unwrap_err(),
            "invalid check option \"foo\""
        );
        assert_eq!(
            CheckConfig::parse("skip").unwrap_err(),
            "invalid check option \"skip\""
        );
    }

    #[test]
    fn experimental_rules_need_opt_in() {
        let mut r = rules::FROM_AS_CASING;
        r.experimental = true;
        assert!(!CheckConfig::default().enabled(&r));
        let c = CheckConfig::parse("experimental=FromAsCasing;skip=all").unwrap();
        assert!(c.enabled(&r));
        assert!(!c.enabled(&rules::STAGE_NAME_CASING));
    }
}
