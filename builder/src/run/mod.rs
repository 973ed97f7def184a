//! `kiln run`: a container from an image in the store, run in the foreground.

mod containers;

use crate::error::{Error, Result};
use crate::root::Kiln;
use crate::unpack;
pub use containers::{
    container_snapshots, find_container, image_users, list_containers, remove_container,
    remove_container_forced, remove_image, valid_name, ContainerError, ContainerRecord,
};
use kiln_frontend::image::ImageConfig;
pub use kiln_runtime::SignalProxy;
pub use kiln_runtime::{nat_helper, Network};
use kiln_runtime::{ContainerSpec, MountSpec, Output, Rootfs, Runtime, Stdio};
use kiln_snapshot::Mode;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Why `kiln run` did not run its command to the end, sorted the way docker's exit status
/// sorts it (see [`RunError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The command is not in the container (docker exits 127).
    #[error("{0}")]
    CommandNotFound(String),
    /// The command is there but cannot be executed: a directory, no permission (126).
    #[error("{0}")]
    CommandNotExecutable(String),
    /// The container could not be named (a name in use, a bad name) (125).
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// kiln itself failed: no such image, a mount, the runtime (125).
    #[error(transparent)]
    Kiln(#[from] Error),
}

impl RunError {
    /// docker's exit status for this failure: 127, 126, or 125 for kiln's own.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::CommandNotFound(_) => 127,
            RunError::CommandNotExecutable(_) => 126,
            RunError::Container(_) | RunError::Kiln(_) => 125,
        }
    }

    /// Sort a runtime failure. The container's init reports a command it cannot start as
    /// `exec: "CMD": why` (text from inside the container); the why is sorted with docker's own
    /// rule (docker/cli `runStartContainerErr`): not found → 127, permission denied or a
    /// directory → 126, anything else → 125.
    fn from_runtime(e: kiln_runtime::Error) -> RunError {
        let text = e.to_string();
        if let kiln_runtime::Error::Init(msg) = &e {
            if msg.starts_with("exec: \"") {
                if msg.contains("executable file not found")
                    || msg.contains("no such file or directory")
                {
                    return RunError::CommandNotFound(text);
                }
                if msg.contains("permission denied") || msg.contains("is a directory") {
                    return RunError::CommandNotExecutable(text);
                }
            }
        }
        RunError::Kiln(Error::new(text))
    }
}

/// What `kiln run` was asked.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub image: String,
    /// `--platform`: the image for this platform (from an index); `None`: the host's, else
    /// what there is.
    pub platform: Option<oci::Platform>,
    /// Arguments after the image: replace the image's CMD.
    pub args: Vec<String>,
    /// `-e K=V` (or `-e K`: taken from kiln's environment by the CLI).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `--entrypoint`: replaces the image's ENTRYPOINT and drops its CMD.
    pub entrypoint: Option<String>,
    pub rm: bool,
    pub name: Option<String>,
    /// `--network`: the default (own namespace, outbound NAT), `host` or `none`.
    pub network: Network,
    pub interactive: bool,
    pub hostname: Option<String>,
    /// `-v HOST:CONTAINER[:ro]`.
    pub volumes: Vec<(PathBuf, String, bool)>,
}

/// The argv docker would run: ENTRYPOINT + CMD, with `args` replacing CMD and `--entrypoint`
/// replacing ENTRYPOINT (and dropping the image's CMD).
pub fn command_line(
    config: &ImageConfig,
    entrypoint: Option<&str>,
    args: &[String],
) -> Result<Vec<String>> {
    let ep: Vec<String> = match entrypoint {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => config.config.entrypoint.clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !args.is_empty() {
        args.to_vec()
    } else if entrypoint.is_some() {
        Vec::new()
    } else {
        config.config.cmd.clone().unwrap_or_default()
    };
    let argv: Vec<String> = ep.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(Error::new(
            "no command specified: the image has no ENTRYPOINT or CMD and none was given",
        ));
    }
    Ok(argv)
}

/// Merge `-e` values over the image's env (same key replaced).
pub fn merge_env(image: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = image.to_vec();
    for e in extra {
        let key = e.split('=').next().unwrap_or(e);
        out.retain(|x| x.split('=').next() != Some(key));
        out.push(e.clone());
    }
    out
}

/// Run a container to completion; returns its exit code. The container is recorded (and its
/// name taken) before its command starts; with `req.rm` everything goes when it ends.
pub fn run(
    kiln: &Kiln,
    req: &RunRequest,
    cancel: &AtomicBool,
    proxy: &SignalProxy,
) -> std::result::Result<i32, RunError> {
    if let Some(n) = &req.name {
        containers::valid_name(n)?;
    }
    let record = kiln
        .images
        .resolve_platform(&req.image, req.platform.as_ref())
        .map_err(Error::from)?
        .ok_or_else(|| Error::new(format!("Unable to find image '{}' locally", req.image)))?;
    let config = record.config.clone();
    if !config.os.is_empty() && !config.architecture.is_empty() {
        // A foreign image runs through its emulator, or not at all (said before anything is
        // made).
        let p = oci::Platform::new(&config.os, &config.architecture, config.variant.as_deref());
        crate::emulation::runner(&p).map_err(|e| Error::new(e.to_string()))?;
    }
    let argv = command_line(&config, req.entrypoint.as_deref(), &req.args)?;
    let top = unpack::image_snapshot(kiln, &record.manifest_digest)?;
    let active = kiln.snapshots.prepare(top.as_ref()).map_err(Error::from)?;
    let id = active.id.0.clone();
    let mut rec = ContainerRecord {
        name: req
            .name
            .as_deref()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| format!("kiln_{}", &id.chars().take(8).collect::<String>())),
        id: id.clone(),
        image: req.image.clone(),
        image_manifest: record.manifest_digest.clone(),
        image_id: record.id.clone(),
        command: argv.clone(),
        created: crate::export::timestamp(None),
        exit_code: None,
        finished: None,
        snapshot: id.clone(),
        upper: active.upper.clone(),
        work: active.work.clone(),
        lowers: active.lowers.clone(),
        lease: Some(kiln.lease.id().to_string()),
        pid: Some(std::process::id()),
    };
    let lease = kiln.lease.id().to_string();
    kiln.lease.keep_alive().map_err(Error::from)?;
    if let Err(e) = containers::reserve_name(kiln, &rec.name, &id, &lease) {
        let _ = kiln.snapshots.abort(active);
        return Err(e.into());
    }
    if let Err(e) = containers::write_record(kiln, &rec) {
        containers::release_name(kiln, &rec.name, &id);
        let _ = kiln.snapshots.abort(active);
        return Err(e.into());
    }
    let spec = container_spec(req, &config, &active, kiln.snapshots.mode(), argv);
    let result = Runtime::new().run_proxied(&spec, Output::Inherit, cancel, proxy);
    if req.rm {
        containers::discard(kiln, &rec)?;
    } else {
        rec.exit_code = result.as_ref().ok().copied();
        rec.finished = Some(crate::export::timestamp(None));
        rec.lease = None;
        rec.pid = None;
        containers::write_record(kiln, &rec)?;
    }
    result.map_err(RunError::from_runtime)
}

/// The runtime's spec of the container `req` asks for.
fn container_spec(
    req: &RunRequest,
    config: &ImageConfig,
    active: &kiln_snapshot::Active,
    mode: Mode,
    argv: Vec<String>,
) -> ContainerSpec {
    let rootfs = match mode {
        Mode::Overlay => Rootfs::Overlay {
            lowers: active.lowers.clone(),
            upper: active.upper.clone(),
            work: active.work.clone(),
        },
        Mode::Copy => Rootfs::Dir(active.upper.clone()),
    };
    let image_env = config.config.env.clone().unwrap_or_default();
    ContainerSpec {
        rootfs,
        args: argv,
        env: merge_env(&image_env, &req.env),
        cwd: req
            .workdir
            .clone()
            .or_else(|| config.config.working_dir.clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into()),
        user: req
            .user
            .clone()
            .or_else(|| config.config.user.clone())
            .unwrap_or_default(),
        hostname: req
            .hostname
            .clone()
            .unwrap_or_else(|| active.id.0.chars().take(12).collect()),
        mounts: req
            .volumes
            .iter()
            .map(|(src, dest, ro)| MountSpec {
                source: src.clone(),
                dest: dest.clone(),
                kind: kiln_runtime::MountKind::Bind { readonly: *ro },
            })
            .collect(),
        network: req.network,
        security: kiln_runtime::Security::Sandbox,
        extra_hosts: Vec::new(),
        stdin: if req.interactive {
            Stdio::Inherit
        } else {
            Stdio::Null
        },
        tty: false,
    }
}
