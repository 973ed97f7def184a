//! `kiln`: build OCI images from Dockerfiles and run them, with docker's flags and output.

// First: its print macros replace std's in every module below.
#[macro_use]
mod out;

mod cancel;
mod commands;
mod diag;
mod flags;
mod format;
mod progress;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Build OCI images from Dockerfiles, without a daemon, and run them.
#[derive(Parser)]
#[command(name = "kiln", version, about, disable_help_subcommand = true)]
struct Cli {
    /// Where kiln keeps images, snapshots and the build cache.
    #[arg(long, global = true, env = "KILN_ROOT")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Run a command in a new container
    Run(commands::run::RunArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::images::TagArgs),
    /// Remove one or more images
    Rmi(commands::images::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(commands::images::InspectArgs),
    /// Show the history of an image
    History(commands::images::HistoryArgs),
    /// Import the contents from a tarball or directory to create a filesystem image
    Import(commands::transfer::ImportArgs),
    /// Load an image from a tar archive (docker save or OCI layout)
    Load(commands::transfer::LoadArgs),
    /// Save one or more images to a tar archive
    Save(commands::transfer::SaveArgs),
    /// Download an image from a registry
    Pull(commands::registry::PullArgs),
    /// Upload an image to a registry
    Push(commands::registry::PushArgs),
    /// Manage manifest lists (OCI indexes) in a registry
    #[command(subcommand)]
    Manifest(commands::manifest::ManifestCommand),
    /// Commands to work on images in registry (buildx imagetools)
    #[command(subcommand)]
    Imagetools(commands::manifest::ImagetoolsCommand),
    /// Log in to a registry
    Login(commands::registry::LoginArgs),
    /// Log out from a registry
    Logout(commands::registry::LogoutArgs),
    /// List containers kept by `kiln run` without --rm
    Ps(commands::containers::PsArgs),
    /// Remove one or more containers
    Rm(commands::containers::RmArgs),
    /// Remove build cache
    #[command(alias = "builder-prune")]
    Prune(commands::system::PruneArgs),
    /// Show the kiln version information
    Version(commands::about::VersionArgs),
    /// Display system-wide information
    Info(commands::about::InfoArgs),
    /// Manage kiln (disk usage)
    #[command(subcommand)]
    System(commands::system::SystemCommand),
    /// Inspect how kiln reads a Dockerfile
    #[command(subcommand)]
    Debug(commands::debug::DebugCommand),
}

fn main() -> ExitCode {
    // The runtime re-executes this binary as the container's init: that must come first.
    kiln_builder::maybe_run_init();
    diag::logger::install();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return diag::usage::report(e),
    };
    let root = cli.root.clone().unwrap_or_else(kiln_builder::default_root);
    let result = match cli.command {
        Command::Build(a) => commands::build::run(&root, a),
        Command::Run(a) => commands::run::run(&root, a),
        Command::Images(a) => commands::images::images(&root, a),
        Command::Tag(a) => commands::images::tag(&root, a),
        Command::Rmi(a) => commands::images::rmi(&root, a),
        Command::Inspect(a) => commands::images::inspect(&root, a),
        Command::History(a) => commands::images::history(&root, a),
        Command::Import(a) => commands::transfer::import(&root, a),
        Command::Load(a) => commands::transfer::load(&root, a),
        Command::Save(a) => commands::transfer::save(&root, a),
        Command::Pull(a) => commands::registry::pull(&root, a),
        Command::Push(a) => commands::registry::push(&root, a),
        Command::Manifest(c) => commands::manifest::manifest(c),
        Command::Imagetools(c) => commands::manifest::imagetools(c),
        Command::Login(a) => commands::registry::login(a),
        Command::Logout(a) => commands::registry::logout(a),
        Command::Ps(a) => commands::containers::ps(&root, a),
        Command::Rm(a) => commands::containers::rm(&root, a),
        Command::Prune(a) => commands::system::prune(&root, a),
        Command::System(c) => commands::system::system(&root, c),
        Command::Version(a) => commands::about::version(a),
        Command::Info(a) => commands::about::info(&root, a),
        Command::Debug(commands::debug::DebugCommand::Ast { file }) => commands::debug::ast(&file),
        Command::Debug(commands::debug::DebugCommand::Graph(a)) => commands::debug::graph(&root, a),
    };
    match result {
        Ok(code) => code,
        Err(e) if out::is_broken_pipe(&e) => out::broken_pipe(),
        Err(e) => {
            diag::error(format_args!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

/// The command line, parsed; `kiln` or a command group (`kiln system`) alone shows its help,
/// as docker does.
fn parse() -> Result<Cli, clap::Error> {
    // No styling: it would be escaped along with what the user typed (docker has none).
    let mut cmd = Cli::command()
        .arg_required_else_help(true)
        .styles(clap::builder::Styles::plain());
    let groups: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| c.has_subcommands())
        .map(|c| c.get_name().to_string())
        .collect();
    for g in groups {
        cmd = cmd.mut_subcommand(g, |c| c.arg_required_else_help(true));
    }
    // Help is shown as declared (`--rm`, not the `--rm[=<RM>]` that docker's boolean forms
    // add to it).
    let plain = cmd.clone();
    let cmd = flags::docker_bools(cmd);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parse = |args: &[std::ffi::OsString]| match cmd.clone().try_get_matches_from(args) {
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            Err(match plain.clone().try_get_matches_from(args) {
                Err(h) if h.kind() == clap::error::ErrorKind::DisplayHelp => h,
                _ => e,
            })
        }
        m => m,
    };
    let matches = match parse(&args) {
        // With `KILN_ROOT` set, clap counts an argument and asks for the command instead of
        // showing the help: show it (asking for it gives `DisplayHelp`).
        Err(e) if e.kind() == clap::error::ErrorKind::MissingSubcommand => {
            let mut with_help = args.clone();
            with_help.push("--help".into());
            parse(&with_help)?
        }
        m => m?,
    };
    Cli::from_arg_matches(&matches)
}
