//! `kiln ps` and `kiln rm`.

use kiln_builder::run::{list_containers, remove_container};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (kiln keeps only exited ones)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Containers to remove (ID prefix or name)
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn ps(root: &Path, a: PsArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let all = list_containers(&kiln)?;
    if a.quiet {
        for c in all.iter().filter(|_| a.all) {
            println!("{}", &c.id.chars().take(12).collect::<String>());
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14}{:<24}{:<30}{:<22}NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "STATUS"
    );
    for c in all.iter().filter(|_| a.all) {
        let cmd: String = format!("\"{}\"", c.command.join(" "))
            .chars()
            .take(28)
            .collect();
        let status = match c.exit_code {
            Some(code) => format!("Exited ({code})"),
            None => "Created".into(),
        };
        println!(
            "{:<14}{:<24}{:<30}{:<22}{}",
            &c.id.chars().take(12).collect::<String>(),
            c.image,
            cmd,
            status,
            c.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rm(root: &Path, a: RmArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let mut failed = false;
    for c in &a.containers {
        match remove_container(&kiln, c) {
            Ok(name) => println!("{name}"),
            Err(e) => {
                crate::diag::line(format_args!("Error response: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
