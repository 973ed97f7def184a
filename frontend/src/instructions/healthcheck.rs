//! `HEALTHCHECK NONE` / `HEALTHCHECK [--interval …] CMD …`.

use super::flags::{FlagKind, Flags};
use super::*;
use crate::ast::Node;

/// Convert a HEALTHCHECK node.
pub(super) fn healthcheck(node: &Node) -> Result<Instruction, String> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", FlagKind::String),
            ("timeout", FlagKind::String),
            ("start-period", FlagKind::String),
            ("start-interval", FlagKind::String),
            ("retries", FlagKind::String),
        ],
    )?;
    let args = &node.args;
    let Some(kind) = args.first() else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if args.len() > 1 {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            Ok(Instruction::Healthcheck(Healthcheck::None))
        }
        "CMD" => {
            let rest = &args[1..];
            let test = if node.json {
                std::iter::once("CMD".to_string())
                    .chain(rest.iter().cloned())
                    .collect()
            } else {
                vec!["CMD-SHELL".to_string(), rest.join(" ")]
            };
            let dur = |flag: &str| -> Result<Option<i64>, String> {
                let Some(v) = flags.string(flag) else {
                    return Ok(None);
                };
                let ns = parse_duration(&v)?;
                if ns != 0 && ns < 1_000_000 {
                    return Err(format!("Interval {flag:?} cannot be less than 1ms"));
                }
                if ns < 0 {
                    return Err(format!("Interval {flag:?} cannot be negative"));
                }
                Ok(Some(ns))
            };
            let retries = match flags.string("retries") {
                None => None,
                Some(v) => {
                    let n: i64 = v.parse().map_err(|_| {
                        format!("invalid --retries value {v:?}: expected an integer")
                    })?;
                    if n < 0 {
                        return Err("--retries cannot be negative".into());
                    }
                    Some(n)
                }
            };
            Ok(Instruction::Healthcheck(Healthcheck::Cmd {
                test,
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            }))
        }
        other => Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)")),
    }
}
