//! `kiln run`.

use anyhow::bail;
use kiln_builder::run::{nat_helper, run as run_container, Network, RunError, RunRequest};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(override_usage = "kiln run [OPTIONS] <IMAGE> [COMMAND] [ARG...]")]
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
    /// Set platform if server is multi-platform capable (an index's image for it)
    #[arg(long)]
    platform: Option<String>,
    /// The image to run, then the command and its arguments (they replace the image's CMD).
    /// Everything after the image belongs to the container, as in docker: `kiln run IMG -e x`
    /// passes `-e x` to the command.
    #[arg(value_name = "IMAGE", required = true, trailing_var_arg = true, num_args = 1..)]
    command: Vec<String>,
}

/// `kiln run`: the container's exit status, or docker's for a failure: 125 when kiln itself
/// fails (no such image, a bad flag value, a bad mount), 126 when the command cannot be
/// executed, 127 when it is not found.
pub fn run(root: &Path, a: RunArgs) -> anyhow::Result<ExitCode> {
    match start(root, a) {
        Ok(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        Err(Failure::Run(e)) => {
            crate::diag::error(&e);
            Ok(ExitCode::from(e.exit_code()))
        }
        Err(Failure::Kiln(e)) => {
            crate::diag::error(format_args!("{e:#}"));
            Ok(ExitCode::from(crate::diag::usage::FLAG_ERROR))
        }
    }
}

enum Failure {
    Run(RunError),
    Kiln(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Kiln(e)
    }
}

fn start(root: &Path, a: RunArgs) -> Result<i32, Failure> {
    let req = request(a)?;
    let kiln = super::open(root)?;
    signals::proxy();
    run_container(&kiln, &req, signals::cancel(), signals::PROXY).map_err(Failure::Run)
}

/// What the flags ask for, checked.
fn request(a: RunArgs) -> anyhow::Result<RunRequest> {
    if a.tty {
        bail!("-t/--tty is not supported yet");
    }
    if let Some(w) = a.workdir.as_deref().filter(|w| !w.starts_with('/')) {
        // docker's words.
        bail!("the working directory '{w}' is invalid, it needs to be an absolute path");
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
        volumes.push(volume(v)?);
    }
    let platform = a
        .platform
        .as_deref()
        .map(kiln_builder::oci::Platform::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut command = a.command.into_iter();
    let image = command.next().unwrap_or_default();
    Ok(RunRequest {
        image,
        platform,
        args: command.collect(),
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
    })
}

/// `-v HOST:CONTAINER[:ro|rw]`, the host path made absolute.
fn volume(v: &str) -> anyhow::Result<(std::path::PathBuf, String, bool)> {
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
    Ok((src, dest.to_string(), ro))
}

/// docker run's signal proxy (`--sig-proxy`, on by default): the signals kiln gets are passed
/// on to the container's command; a second SIGINT kills the container.
mod signals {
    use kiln_builder::run::SignalProxy;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    pub static PROXY: &SignalProxy = &SIGNAL_PROXY;
    static SIGNAL_PROXY: SignalProxy = SignalProxy::new();
    static CANCEL: AtomicBool = AtomicBool::new(false);
    static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

    /// The flag a second SIGINT sets.
    pub fn cancel() -> &'static AtomicBool {
        &CANCEL
    }

    extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
        if sig == libc::SIGINT && INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
            CANCEL.store(true, Ordering::SeqCst);
            return;
        }
        // A signal from the terminal (Ctrl-C, Ctrl-\, a hangup) went to kiln's whole process
        // group, the runtime's helper included, which passes it on itself.
        // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
        let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
        if !from_terminal {
            PROXY.raise(sig);
        }
    }

    /// Install the proxy's handlers.
    pub fn proxy() {
        for sig in SignalProxy::SIGNALS {
            // SAFETY: a zeroed sigaction is valid; the handler only touches atomics.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal
                    as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                    as libc::sighandler_t;
                act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
    }
}
