//! docker's flag forms on top of clap: every boolean flag also takes `--flag=true|false`
//! (`--rm=false`, `-q=1`, `--no-cache=False`), as Go's `pflag` does, with `strconv.ParseBool`'s
//! spellings and its error text.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, Command};

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The value parser of a boolean flag: Go's spellings, pflag's message on anything else.
#[derive(Clone)]
pub struct GoBool;

impl TypedValueParser for GoBool {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<bool, clap::Error> {
        let text = value.to_string_lossy();
        parse_go_bool(&text).ok_or_else(|| {
            let flag = arg.map(flag_names).unwrap_or_default();
            let mut e = clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "invalid argument \"{text}\" for \"{flag}\" flag: strconv.ParseBool: parsing \"{text}\": invalid syntax\n"
                ),
            );
            // A flag's error: docker's 125 (see `diag::usage`).
            e.insert(
                clap::error::ContextKind::InvalidArg,
                clap::error::ContextValue::String(flag),
            );
            e.with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        None
    }
}

/// `-q, --quiet`, `--rm`: how pflag names a flag in its messages.
fn flag_names(arg: &Arg) -> String {
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, Some(l)) => format!("--{l}"),
        (None, None) => arg.get_id().to_string(),
    }
}

/// Make a `SetTrue` flag (what clap derives for a `bool` field) take docker's forms: bare
/// (`--rm`: true), or with `=` and a value (`--rm=false`). The value must be joined with `=`,
/// as in pflag: `--rm false` is the flag and then an argument.
fn docker_bool(arg: Arg) -> Arg {
    if !matches!(arg.get_action(), ArgAction::SetTrue) {
        return arg;
    }
    arg.action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .default_value("false")
        .value_parser(GoBool)
}

/// Apply [`docker_bool`] to every flag of `cmd` and of its subcommands, at any depth; and let
/// a flag given twice take its last value, as pflag does (`--rm --rm=false`).
pub fn docker_bools(cmd: Command) -> Command {
    let mut cmd = cmd.mut_args(docker_bool).args_override_self(true);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for n in names {
        cmd = cmd.mut_subcommand(n, docker_bools);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_spellings() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "tRue", "", "2"] {
            assert_eq!(parse_go_bool(bad), None, "{bad}");
        }
    }
}
