//! Typed instructions: each [`ast::Node`](crate::ast::Node) checked (flags, argument counts,
//! ONBUILD rules…) and turned into an [`Instruction`]. Nothing is expanded here: words keep
//! their `$VAR`s and quotes; lowering expands them in the scope of their stage.

mod chmod;
mod convert;
mod duration;
mod error;
mod flags;
mod healthcheck;
mod mount;
pub mod suggest;

pub use chmod::parse_chmod;
pub use convert::{from_node, is_heredoc_word, KNOWN_INSTRUCTIONS};
pub use duration::{format_duration, parse_duration};
pub use error::FrontendError;
pub use flags::{FlagKind, Flags};
pub use mount::{parse_mount, validate_mount, MountType, RunMount};

use crate::ast::Heredoc;
use kiln_solver::{NetworkMode, SecurityMode};

/// A command line: shell form (one string, run through the SHELL) or exec form (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

/// One instruction with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub instruction: Instruction,
    /// The instruction's text (continuations joined, keyword included).
    pub original: String,
    /// 1-based lines (inclusive) and keyword column.
    pub start_line: usize,
    pub end_line: usize,
    pub column: usize,
}

/// A typed Dockerfile instruction. Strings are raw (unexpanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        platform: Option<String>,
        stage_name: Option<String>,
    },
    Run(RunInstruction),
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Shell(Vec<String>),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Maintainer(String),
    Expose(Vec<String>),
    User(String),
    Workdir(String),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// `ONBUILD <trigger>`; `expression` is the trigger's text as stored in the image config
    /// (heredoc bodies included).
    Onbuild {
        trigger: Box<Instruction>,
        expression: String,
    },
    Copy(CopyInstruction),
    Add(AddInstruction),
}

/// `RUN [--mount=…] [--network=…] [--security=…] cmd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstruction {
    pub cmd: ShellOrExec,
    pub heredocs: Vec<Heredoc>,
    /// Raw `--mount` specs, keys already validated; parse with [`parse_mount`] once the
    /// stage's variables are known.
    pub mounts: Vec<String>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [opts] CMD …`. Durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        /// `["CMD", args…]` (exec form) or `["CMD-SHELL", cmd]`.
        test: Vec<String>,
        interval: Option<i64>,
        timeout: Option<i64>,
        start_period: Option<i64>,
        start_interval: Option<i64>,
        retries: Option<i64>,
    },
}

/// A COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path (or glob, or for ADD a URL / git reference), raw.
    Path(String),
    /// An inline file from a heredoc: written as `name` with this body.
    Heredoc(Heredoc),
}

/// `COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude]… src… dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInstruction {
    pub srcs: Vec<CopySource>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub parents: bool,
}

/// `ADD [--chown] [--chmod] [--link] [--exclude]… [--checksum] [--keep-git-dir] [--unpack] src… dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddInstruction {
    pub srcs: Vec<CopySource>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    /// `--unpack`: `None` = default (local archives unpacked, remote ones not).
    pub unpack: Option<bool>,
}

/// Convert every node of a parsed Dockerfile.
pub fn from_dockerfile(
    df: &crate::ast::Dockerfile,
    file: &str,
) -> Result<Vec<Command>, FrontendError> {
    df.instructions.iter().map(|n| from_node(n, file)).collect()
}
