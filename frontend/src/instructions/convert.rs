//! `ast::Node` → [`Instruction`], with docker's validation messages.

use super::flags::{FlagKind, Flags};
use super::suggest::did_you_mean;
use super::*;
use crate::ast::Node;

/// Every instruction keyword, upper-case.
pub const KNOWN_INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Is `word` a heredoc marker (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`)?
pub fn is_heredoc_word(word: &str) -> bool {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name = rest.trim_matches(|c| c == '"' || c == '\'');
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Convert one node. `file` is the Dockerfile name used in errors; messages read
/// `dockerfile parse error on line N: <what>` like BuildKit's.
pub fn from_node(node: &Node, file: &str) -> Result<Command, FrontendError> {
    // Worded like BuildKit's instruction errors, which docker users grep for.
    let err = |msg: String| {
        let msg = format!("dockerfile parse error on line {}: {msg}", node.start_line);
        FrontendError::new(file, node.start_line, node.column, msg)
    };
    let instruction = convert(node).map_err(err)?;
    Ok(Command {
        instruction,
        original: node.original.clone(),
        start_line: node.start_line,
        end_line: node.end_line,
        column: node.column,
    })
}

fn convert(node: &Node) -> Result<Instruction, String> {
    let upper = node.keyword.to_ascii_uppercase();
    if !KNOWN_INSTRUCTIONS.contains(&upper.as_str()) {
        let hint = did_you_mean(&node.keyword, KNOWN_INSTRUCTIONS.iter().copied(), true);
        return Err(format!("unknown instruction: {}{hint}", node.keyword));
    }
    let no_flags = || Flags::parse(&node.flags, &[]);
    let args = &node.args;
    match upper.as_str() {
        "FROM" => {
            let flags = Flags::parse(&node.flags, &[("platform", FlagKind::String)])?;
            let stage_name = match args.len() {
                1 => None,
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(format!(
                            "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                            args[2]
                        ));
                    }
                    Some(name)
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Ok(Instruction::From {
                image: args[0].clone(),
                platform: flags.string("platform"),
                stage_name,
            })
        }
        "RUN" => {
            let flags = Flags::parse(
                &node.flags,
                &[
                    ("mount", FlagKind::Repeated),
                    ("network", FlagKind::String),
                    ("security", FlagKind::String),
                ],
            )?;
            let mounts = flags.strings("mount");
            for m in &mounts {
                validate_mount(m)?;
            }
            let network = match flags.string("network").as_deref() {
                None => None,
                Some("default") => Some(NetworkMode::Default),
                Some("none") => Some(NetworkMode::None),
                Some("host") => Some(NetworkMode::Host),
                Some(other) => return Err(format!("unsupported network mode {other:?}")),
            };
            let security = match flags.string("security").as_deref() {
                None => None,
                Some("sandbox") => Some(SecurityMode::Sandbox),
                Some("insecure") => Some(SecurityMode::Insecure),
                Some(other) => return Err(format!("unsupported security mode {other:?}")),
            };
            if args.is_empty() && !node.json {
                return Err("RUN requires at least one argument".into());
            }
            Ok(Instruction::Run(RunInstruction {
                cmd: shell_or_exec(node),
                heredocs: node.heredocs.clone(),
                mounts,
                network,
                security,
            }))
        }
        "CMD" => {
            no_flags()?;
            Ok(Instruction::Cmd(shell_or_exec(node)))
        }
        "ENTRYPOINT" => {
            no_flags()?;
            Ok(Instruction::Entrypoint(shell_or_exec(node)))
        }
        "SHELL" => {
            no_flags()?;
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            if args.is_empty() {
                return Err("SHELL requires at least one argument".into());
            }
            Ok(Instruction::Shell(args.clone()))
        }
        "ENV" | "LABEL" => {
            no_flags()?;
            let pairs = key_values(&upper, args)?;
            Ok(if upper == "ENV" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            })
        }
        "ARG" => {
            no_flags()?;
            if args.is_empty() {
                return Err("ARG requires at least one argument".into());
            }
            let mut out = Vec::new();
            for w in args {
                let (name, value) = match w.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                if name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                out.push((name, value));
            }
            Ok(Instruction::Arg(out))
        }
        "MAINTAINER" => {
            no_flags()?;
            Ok(Instruction::Maintainer(exactly_one(&upper, args)?))
        }
        "USER" => {
            no_flags()?;
            Ok(Instruction::User(exactly_one(&upper, args)?))
        }
        "WORKDIR" => {
            no_flags()?;
            Ok(Instruction::Workdir(exactly_one(&upper, args)?))
        }
        "STOPSIGNAL" => {
            no_flags()?;
            Ok(Instruction::StopSignal(exactly_one(&upper, args)?))
        }
        "EXPOSE" => {
            no_flags()?;
            at_least_one(&upper, args)?;
            Ok(Instruction::Expose(args.clone()))
        }
        "VOLUME" => {
            no_flags()?;
            at_least_one(&upper, args)?;
            Ok(Instruction::Volume(args.clone()))
        }
        "HEALTHCHECK" => super::healthcheck::healthcheck(node),
        "ONBUILD" => {
            no_flags()?;
            let next = node
                .next
                .as_ref()
                .ok_or("ONBUILD requires at least one argument")?;
            match next.keyword.to_ascii_uppercase().as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" => return Err("FROM isn't allowed as an ONBUILD trigger".into()),
                "MAINTAINER" => return Err("MAINTAINER isn't allowed as an ONBUILD trigger".into()),
                _ => {}
            }
            let trigger = convert(next)?;
            Ok(Instruction::Onbuild {
                trigger: Box::new(trigger),
                expression: onbuild_expression(node, next),
            })
        }
        "COPY" => {
            let flags = Flags::parse(
                &node.flags,
                &[
                    ("from", FlagKind::String),
                    ("chown", FlagKind::String),
                    ("chmod", FlagKind::String),
                    ("link", FlagKind::Bool),
                    ("parents", FlagKind::Bool),
                    ("exclude", FlagKind::Repeated),
                ],
            )?;
            let (srcs, dest) = sources_and_dest(&upper, node)?;
            let from = flags.string("from");
            if from.as_deref().is_some_and(|f| f.contains('$')) {
                return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into());
            }
            for s in &srcs {
                if let CopySource::Path(p) = s {
                    if p.starts_with("http://") || p.starts_with("https://") {
                        return Err("source can't be a URL for COPY".into());
                    }
                }
            }
            let chmod = checked_chmod(flags.string("chmod"))?;
            Ok(Instruction::Copy(CopyInstruction {
                srcs,
                dest,
                from,
                chown: flags.string("chown"),
                chmod,
                link: flags.bool("link").unwrap_or(false),
                exclude: flags.strings("exclude"),
                parents: flags.bool("parents").unwrap_or(false),
            }))
        }
        "ADD" => {
            let flags = Flags::parse(
                &node.flags,
                &[
                    ("chown", FlagKind::String),
                    ("chmod", FlagKind::String),
                    ("link", FlagKind::Bool),
                    ("exclude", FlagKind::Repeated),
                    ("checksum", FlagKind::String),
                    ("keep-git-dir", FlagKind::Bool),
                    ("unpack", FlagKind::Bool),
                ],
            )?;
            let (srcs, dest) = sources_and_dest(&upper, node)?;
            let checksum = flags.string("checksum");
            if checksum.is_some() && srcs.len() != 1 {
                return Err("checksum can't be specified for multiple sources".into());
            }
            let chmod = checked_chmod(flags.string("chmod"))?;
            Ok(Instruction::Add(AddInstruction {
                srcs,
                dest,
                chown: flags.string("chown"),
                chmod,
                link: flags.bool("link").unwrap_or(false),
                exclude: flags.strings("exclude"),
                checksum,
                keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
                unpack: flags.bool("unpack"),
            }))
        }
        _ => Err(format!("unknown instruction: {}", node.keyword)),
    }
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn shell_or_exec(node: &Node) -> ShellOrExec {
    if node.json {
        ShellOrExec::Exec(node.args.clone())
    } else {
        ShellOrExec::Shell(node.args.join(" "))
    }
}

fn exactly_one(name: &str, args: &[String]) -> Result<String, String> {
    match args {
        [one] if !one.is_empty() => Ok(one.clone()),
        _ => Err(format!("{name} requires exactly one argument")),
    }
}

fn at_least_one(name: &str, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Err(format!("{name} requires at least one argument"));
    }
    Ok(())
}

fn key_values(name: &str, args: &[String]) -> Result<Vec<(String, String)>, String> {
    at_least_one(name, args)?;
    if !args.len().is_multiple_of(3) {
        return Err(format!(
            "{name}: bad number of arguments: key/value pairs expected"
        ));
    }
    let mut out = Vec::new();
    for t in args.chunks(3) {
        if t[0].is_empty() {
            return Err(format!("{name} names can not be blank"));
        }
        out.push((t[0].clone(), t[1].clone()));
    }
    Ok(out)
}

fn checked_chmod(chmod: Option<String>) -> Result<Option<String>, String> {
    if let Some(c) = &chmod {
        if !c.contains('$') {
            parse_chmod(c)?;
        }
    }
    Ok(chmod)
}

fn sources_and_dest(name: &str, node: &Node) -> Result<(Vec<CopySource>, String), String> {
    let args = &node.args;
    match args.len() {
        0 => return Err(format!("{name} requires at least two arguments")),
        1 => {
            return Err(format!(
                "{name} requires at least two arguments, but only one was provided. Destination could not be determined."
            ))
        }
        _ => {}
    }
    let (dest, srcs) = args
        .split_last()
        .ok_or_else(|| format!("{name} requires at least two arguments"))?;
    if !node.json && is_heredoc_word(dest) {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut heredocs = node.heredocs.iter();
    let mut out = Vec::new();
    for s in srcs {
        if !node.json && is_heredoc_word(s) {
            let h = heredocs
                .next()
                .ok_or_else(|| format!("{name}: missing body for heredoc {s}"))?;
            out.push(CopySource::Heredoc(h.clone()));
        } else {
            out.push(CopySource::Path(s.clone()));
        }
    }
    Ok((out, dest.clone()))
}

/// The trigger text stored in the image config: the instruction after `ONBUILD`, with heredoc
/// bodies appended so that parsing it again yields the same instruction.
fn onbuild_expression(node: &Node, next: &Node) -> String {
    let orig = node.original.trim_start();
    let mut expr = match orig.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => orig[7..].trim().to_string(),
        _ => next.original.trim().to_string(),
    };
    if expr.is_empty() {
        expr = next.original.trim().to_string();
    }
    for h in next.heredocs.iter().chain(node.heredocs.iter()) {
        if !expr.contains('\n') || !expr.contains(&format!("\n{}", h.name)) {
            expr.push('\n');
            expr.push_str(&h.content);
            expr.push_str(&h.name);
        }
    }
    expr
}
