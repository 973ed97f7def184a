//! `kiln pull`, `kiln push`, `kiln login`, `kiln logout`: docker's commands and output.

use crate::progress::layers::{short_id, LayerLines};
use anyhow::{anyhow, bail, Context as _};
use kiln_builder::frontend::image::Platform;
use kiln_builder::pull::{self, RemoteImage};
use kiln_builder::push::Pushed;
use kiln_builder::registry::{self as reg, Credentials};
use kiln_builder::store::Reference;
use kiln_builder::Kiln;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG]
    name: String,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// The registry (Docker Hub when none)
    server: Option<String>,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when none)
    server: Option<String>,
}

pub fn parse_ref(name: &str) -> anyhow::Result<Reference> {
    Reference::parse(name).map_err(|e| anyhow!("invalid reference format: {name:?}: {e}"))
}

/// Whether `name` as typed names a tag or a digest (parsing adds `latest` when it names
/// neither, and docker says so).
fn names_version(name: &str) -> bool {
    name.contains('@')
        || name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

pub fn pull(root: &Path, a: PullArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let platform = match &a.platform {
        Some(p) => Platform::parse(p).map_err(|e| anyhow!(e))?,
        None => Platform::host(),
    };
    let lines = LayerLines::new(a.quiet);
    let r = parse_ref(&a.name)?;
    let client = reg::client()?;
    let refs = if a.all_tags {
        if names_version(&a.name) {
            bail!("tag can't be used with --all-tags/-a");
        }
        let mut tags = client.list_tags(&r)?;
        tags.sort();
        tags.into_iter().map(|t| r.with_tag(&t)).collect()
    } else {
        if !names_version(&a.name) {
            lines.line("Using default tag: latest");
        }
        vec![r.clone()]
    };
    if a.all_tags {
        lines.line(&format!("Pulling all tags of {}", r.name()));
    }
    for r in &refs {
        pull_one(&kiln, &client, r, &platform, &lines)?;
        if !a.all_tags {
            println!("{r}");
        }
    }
    lines.finish();
    if a.all_tags {
        println!("{}", r.name());
    }
    Ok(ExitCode::SUCCESS)
}

fn pull_one(
    kiln: &Kiln,
    client: &kiln_builder::registry::Client,
    r: &Reference,
    platform: &Platform,
    lines: &LayerLines,
) -> anyhow::Result<()> {
    let what = r
        .tag
        .clone()
        .unwrap_or_else(|| r.digest.as_ref().map(|d| d.to_string()).unwrap_or_default());
    lines.line(&format!("{what}: Pulling from {}", r.repository));
    let before = kiln
        .images
        .resolve(&r.to_string())
        .ok()
        .flatten()
        .map(|rec| rec.manifest_digest);
    let image: RemoteImage = pull::fetch_metadata(kiln, client, r, platform)?;
    let content = kiln.images.content();
    let held: Vec<bool> = image
        .manifest
        .layers
        .iter()
        .map(|l| content.hold(&l.digest))
        .collect::<Result<_, _>>()?;
    let mut fetching = std::collections::HashSet::new();
    for (l, held) in image.manifest.layers.iter().zip(&held) {
        let id = short_id(&l.digest);
        if *held {
            lines.state(&id, "Already exists");
        } else {
            lines.state(&id, "Pulling fs layer");
            fetching.insert(l.digest.to_string());
        }
    }
    let report = |d: &kiln_builder::oci::Digest, done: u64, total: u64| {
        if !fetching.contains(d.as_str()) {
            return;
        }
        let id = short_id(d);
        if done >= total {
            lines.state(&id, "Download complete");
        } else {
            lines.bytes(&id, "Downloading", done, total);
        }
    };
    let transferred = pull::fetch_layers(kiln, client, r, &image.manifest, &report)?;
    pull::register(kiln, &image)?;
    for (l, held) in image.manifest.layers.iter().zip(held) {
        if !held {
            lines.state(&short_id(&l.digest), "Pull complete");
        }
    }
    lines.line(&format!("Digest: {}", image.repo_digest));
    let up_to_date = before.as_deref() == Some(image.manifest_digest.as_str()) && transferred == 0;
    let familiar = r.familiar_string();
    if up_to_date {
        lines.line(&format!("Status: Image is up to date for {familiar}"));
    } else {
        lines.line(&format!("Status: Downloaded newer image for {familiar}"));
    }
    Ok(())
}

pub fn push(root: &Path, a: PushArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let lines = LayerLines::new(a.quiet);
    let r = parse_ref(&a.name)?;
    if r.digest.is_some() {
        bail!("cannot push a digest reference: {}", a.name);
    }
    let targets: Vec<Reference> = if a.all_tags {
        if names_version(&a.name) {
            bail!("tag can't be used with --all-tags/-a");
        }
        let mut tags: Vec<Reference> = kiln
            .images
            .list()?
            .into_iter()
            .flat_map(|s| s.tags)
            .filter(|t| t.registry == r.registry && t.repository == r.repository)
            .collect();
        tags.sort_by_key(|t| t.to_string());
        tags.dedup();
        if tags.is_empty() {
            bail!(
                "An image does not exist locally with the tag: {}",
                r.familiar()
            );
        }
        tags
    } else {
        if !names_version(&a.name) {
            lines.line("Using default tag: latest");
        }
        vec![r.clone()]
    };
    let client = reg::client()?;
    lines.line(&format!("The push refers to repository [{}]", r.name()));
    for t in &targets {
        let pushed = push_one(&kiln, &client, t, &lines)?;
        lines.line(&format!(
            "{}: digest: {} size: {}",
            t.tag.as_deref().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        ));
    }
    lines.finish();
    if a.quiet {
        for t in &targets {
            println!("{t}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Push one tag, with docker's per-layer lines (layers named by their diff ID), its layers
/// gzip-compressed where the store keeps them uncompressed; a multi-platform image goes as
/// its images by digest, then the index under the tag.
pub fn push_one(
    kiln: &Kiln,
    client: &kiln_builder::registry::Client,
    target: &Reference,
    lines: &LayerLines,
) -> anyhow::Result<Pushed> {
    let layers = kiln_builder::export::LayerOptions::default();
    let how = kiln_builder::export::registry::Push {
        layers: &layers,
        by_digest: false,
    };
    Ok(kiln_builder::export::registry::push_reference(
        kiln, client, target, &how, lines,
    )?)
}

pub fn login(a: LoginArgs) -> anyhow::Result<ExitCode> {
    let server = reg::login_server(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if a.password.is_some() {
        crate::diag::warning(format_args!(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        ));
    }
    let password = if a.password_stdin {
        if a.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .context("cannot read the password from stdin")?;
        Some(s.trim_end_matches(['\n', '\r']).to_string())
    } else {
        a.password
    };
    let username = match a.username {
        Some(u) => u,
        None => prompt("Username: ", true)?,
    };
    let password = match password {
        Some(p) => p,
        None => prompt("Password: ", false)?,
    };
    if username.is_empty() {
        bail!("Username is required");
    }
    if password.is_empty() {
        bail!("Password is required");
    }
    reg::login(&server, &Credentials::Basic { username, password })?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(a: LogoutArgs) -> anyhow::Result<ExitCode> {
    let server = reg::login_server(a.server.as_deref());
    if reg::logout(&server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Ask on the terminal (the password without echo), as docker does; a non-terminal stdin
/// cannot be asked.
fn prompt(label: &str, echo: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("Cannot perform an interactive login from a non TTY device");
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{label}");
    let _ = err.flush();
    // SAFETY: tcgetattr/tcsetattr on stdin with a termios struct we own.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } == 0;
    if !echo && have {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
    }
    let mut s = String::new();
    let got = stdin.lock().read_line(&mut s);
    if !echo && have {
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved) };
        let _ = writeln!(err);
    }
    got.context("cannot read from the terminal")?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}
