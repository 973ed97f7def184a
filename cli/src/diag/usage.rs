//! Command-line usage errors, answered as docker answers its own: a bad flag (unknown, missing
//! or invalid value) exits 125, a wrong number of arguments or an unknown command exits 1, and
//! `--help`, `--version` or a command group given alone print and exit 0.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::process::ExitCode;

/// docker's status for a usage error of its own flags.
pub const FLAG_ERROR: u8 = 125;

/// Does the error name a flag (`--x`, `-x`) rather than a positional argument?
fn about_a_flag(e: &clap::Error) -> bool {
    let is_flag = |s: &str| s.starts_with('-');
    match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => is_flag(s),
        Some(ContextValue::Strings(v)) => v.iter().all(|s| is_flag(s)),
        _ => true,
    }
}

/// The exit status for `e`.
pub fn status(e: &clap::Error) -> u8 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 1,
        ErrorKind::UnknownArgument
        | ErrorKind::MissingRequiredArgument
        | ErrorKind::InvalidValue
            if !about_a_flag(e) =>
        {
            1
        }
        ErrorKind::Io | ErrorKind::Format => 1,
        _ => FLAG_ERROR,
    }
}

/// Print `e` as clap renders it (help and version as they are, errors escaped: they quote
/// what was typed) and give the status to exit with.
pub fn report(e: clap::Error) -> ExitCode {
    let code = status(&e);
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // docker prints a group's usage to stdout and succeeds.
        print!("{}", e.render().ansi());
    } else if code == 0 {
        let _ = e.print();
    } else {
        // `ansi()` keeps what was typed byte for byte (colours are off), for the escaper to
        // show; `to_string()` would silently drop escape sequences from it.
        let text = e.render().ansi().to_string();
        eprint!("{}", super::escape::escape(&text));
    }
    ExitCode::from(code)
}
