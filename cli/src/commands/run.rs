//! `kiln run`.

use anyhow::bail;
use kiln_builder::run::{nat_helper, run as run_container, Network, RunRequest};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY (not supported yet)
    #[arg(short = 't', long)]
    tty: bool,
    /// Connect a container to a network (default, host or none)
    #[arg(long, default_value = "default")]
    network: String,
    /// Container host name
    #[arg(long)]
    hostname: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro])
    #[arg(short = 'v', long = "volume")]
    volumes: Vec<String>,
    /// The image to run
    image: String,
    /// The command and its arguments (replace the image's CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(root: &Path, a: RunArgs) -> anyhow::Result<ExitCode> {
    if a.tty {
        bail!("-t/--tty is not supported yet");
    }
    let network = match a.network.as_str() {
        "default" | "bridge" => Network::Default,
        "host" => Network::Host,
        "none" => Network::None,
        other => bail!("invalid --network {other:?}: expected default, host or none"),
    };
    if network == Network::Default && nat_helper().is_none() {
        eprintln!(
            "WARNING: {}",
            kiln_builder::build::NO_NAT_HELPER.replace("RUN steps use", "the container uses")
        );
    }
    let env = a
        .env
        .iter()
        .filter_map(|e| match e.split_once('=') {
            Some(_) => Some(e.clone()),
            None => std::env::var(e).ok().map(|v| format!("{e}={v}")),
        })
        .collect();
    let mut volumes = Vec::new();
    for v in &a.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dest, ro) = match parts.as_slice() {
            [s, d] => (*s, *d, false),
            [s, d, "ro"] => (*s, *d, true),
            [s, d, "rw"] => (*s, *d, false),
            _ => bail!("invalid volume specification {v:?}: expected HOST:CONTAINER[:ro]"),
        };
        if !dest.starts_with('/') {
            bail!("invalid volume specification {v:?}: the container path must be absolute");
        }
        let src = std::fs::canonicalize(src)
            .map_err(|e| anyhow::anyhow!("invalid volume {v:?}: {src}: {e}"))?;
        volumes.push((src, dest.to_string(), ro));
    }
    let req = RunRequest {
        image: a.image,
        args: a.args,
        env,
        workdir: a.workdir,
        user: a.user,
        entrypoint: a.entrypoint,
        rm: a.rm,
        name: a.name,
        network,
        interactive: a.interactive,
        hostname: a.hostname,
        volumes,
    };
    let kiln = super::open(root)?;
    // Ctrl-C reaches the container's processes directly (same process group); kiln itself
    // ignores it and reports the container's exit code.
    // SAFETY: setting a signal disposition to SIG_IGN has no handler to run.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let cancel = AtomicBool::new(false);
    let code = run_container(&kiln, &req, &cancel)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
