//! Leading `--flag[=value]` words of an instruction, checked against what it accepts.

use super::suggest::did_you_mean;
use std::collections::BTreeMap;

/// What kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--name=value`, at most once.
    String,
    /// `--name=value`, any number of times.
    Repeated,
    /// `--name` or `--name=true|false`.
    Bool,
}

/// The flags an instruction was given, by name.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    values: BTreeMap<String, Vec<String>>,
}

impl Flags {
    /// Parse `raw` (each `--name[=value]`) against `allowed`. Errors name the flag and suggest
    /// the closest allowed one.
    pub fn parse(raw: &[String], allowed: &[(&str, FlagKind)]) -> Result<Flags, String> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for word in raw {
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                let hint = did_you_mean(name, allowed.iter().map(|(n, _)| *n), false);
                return Err(format!("unknown flag: --{name}{hint}"));
            };
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_string(),
                (FlagKind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" | "1" | "t" => "true".to_string(),
                    "false" | "0" | "f" => "false".to_string(),
                    _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
                },
                (_, None) => return Err(format!("missing a value on flag: --{name}")),
                (_, Some(v)) => v.to_string(),
            };
            let slot = values.entry(name.to_string()).or_default();
            if *kind == FlagKind::String && !slot.is_empty() {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            slot.push(value);
        }
        Ok(Flags { values })
    }

    /// The value of a single-valued flag.
    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    /// All values of a repeatable flag, in order.
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// A boolean flag: `None` when absent.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}
