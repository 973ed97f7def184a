//! `kiln run`: a container from an image in the store, run in the foreground.

use crate::error::{Error, Result, ResultExt};
use crate::root::Kiln;
use crate::unpack;
use kiln_frontend::image::ImageConfig;
use kiln_runtime::{ContainerSpec, MountSpec, Network, Output, Rootfs, Runtime, Stdio};
use kiln_snapshot::{Active, Mode, SnapshotId};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// What `kiln run` was asked.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub image: String,
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
    pub network_none: bool,
    pub interactive: bool,
    pub hostname: Option<String>,
    /// `-v HOST:CONTAINER[:ro]`.
    pub volumes: Vec<(PathBuf, String, bool)>,
}

/// A container kept after it ran (without `--rm`), as `kiln ps -a` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub created: String,
    pub exit_code: Option<i32>,
    pub snapshot: String,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub lowers: Vec<PathBuf>,
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

fn containers_dir(kiln: &Kiln) -> PathBuf {
    kiln.root.join("containers")
}

/// Run a container to completion; returns its exit code.
pub fn run(kiln: &Kiln, req: &RunRequest, cancel: &AtomicBool) -> Result<i32> {
    let record = kiln
        .images
        .resolve(&req.image)?
        .ok_or_else(|| Error::new(format!("Unable to find image '{}' locally", req.image)))?;
    let config = record.config.clone();
    let image_name = record
        .tags
        .first()
        .map(|t| t.familiar_string())
        .unwrap_or_else(|| req.image.clone());
    let argv = command_line(&config, req.entrypoint.as_deref(), &req.args)?;
    let top = unpack::image_snapshot(kiln, &record.manifest_digest)?;
    let active = kiln.snapshots.prepare(top.as_ref())?;
    let rootfs = match kiln.snapshots.mode() {
        Mode::Overlay => Rootfs::Overlay {
            lowers: active.lowers.clone(),
            upper: active.upper.clone(),
            work: active.work.clone(),
        },
        Mode::Copy => Rootfs::Dir(active.upper.clone()),
    };
    let image_env = config.config.env.clone().unwrap_or_default();
    let spec = ContainerSpec {
        rootfs,
        args: argv.clone(),
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
        network: if req.network_none {
            Network::None
        } else {
            Network::Host
        },
        extra_hosts: Vec::new(),
        stdin: if req.interactive {
            Stdio::Inherit
        } else {
            Stdio::Null
        },
        tty: false,
    };
    let result = Runtime::new().run(&spec, Output::Inherit, cancel);
    if req.rm {
        let _ = kiln.snapshots.abort(active);
        return result.map_err(|e| Error::new(e.to_string()));
    }
    let code = result.as_ref().ok().copied();
    keep_container(kiln, req, &image_name, argv, active, code)?;
    result.map_err(|e| Error::new(e.to_string()))
}

fn keep_container(
    kiln: &Kiln,
    req: &RunRequest,
    image: &str,
    argv: Vec<String>,
    active: Active,
    code: Option<i32>,
) -> Result<()> {
    let dir = containers_dir(kiln);
    std::fs::create_dir_all(&dir).ctx(format_args!("cannot create {}", dir.display()))?;
    let id = active.id.0.clone();
    let rec = ContainerRecord {
        name: req
            .name
            .clone()
            .unwrap_or_else(|| format!("kiln_{}", &id.chars().take(8).collect::<String>())),
        id: id.clone(),
        image: image.to_string(),
        command: argv,
        created: crate::export::timestamp(None),
        exit_code: code,
        snapshot: id.clone(),
        upper: active.upper.clone(),
        work: active.work.clone(),
        lowers: active.lowers.clone(),
    };
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&rec)?)
        .ctx(format_args!("cannot write {}", path.display()))?;
    Ok(())
}

/// Containers kept by `kiln run` without `--rm`.
pub fn list_containers(kiln: &Kiln) -> Result<Vec<ContainerRecord>> {
    let dir = containers_dir(kiln);
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        if let Ok(bytes) = std::fs::read(e.path()) {
            if let Ok(r) = serde_json::from_slice::<ContainerRecord>(&bytes) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(out)
}

/// The snapshots of the kept containers, read strictly: `None` when a record cannot be read
/// (then nobody can tell which uncommitted snapshots are containers').
pub fn container_snapshots(kiln: &Kiln) -> Result<Option<std::collections::HashSet<String>>> {
    let dir = containers_dir(kiln);
    let mut out = std::collections::HashSet::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(out)),
        Err(_) => return Ok(None),
    };
    for e in rd {
        let Ok(e) = e else { return Ok(None) };
        if !e.file_name().to_string_lossy().ends_with(".json") {
            continue;
        }
        match std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<ContainerRecord>(&b).ok())
        {
            Some(r) => {
                out.insert(r.snapshot);
            }
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Remove a kept container by ID prefix or name.
pub fn remove_container(kiln: &Kiln, which: &str) -> Result<String> {
    let all = list_containers(kiln)?;
    let found: Vec<&ContainerRecord> = all
        .iter()
        .filter(|c| c.name == which || c.id.starts_with(which))
        .collect();
    let c = match found.as_slice() {
        [c] => *c,
        [] => return Err(Error::new(format!("No such container: {which}"))),
        _ => {
            return Err(Error::new(format!(
                "container name or ID {which:?} is ambiguous"
            )))
        }
    };
    let active = Active {
        id: SnapshotId(c.snapshot.clone()),
        upper: c.upper.clone(),
        work: c.work.clone(),
        lowers: c.lowers.clone(),
    };
    match kiln.snapshots.abort(active) {
        Ok(()) => {}
        // Its snapshot is already gone (a damaged store): the record goes all the same.
        Err(kiln_snapshot::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let path = containers_dir(kiln).join(format!("{}.json", c.id));
    std::fs::remove_file(&path).ctx(format_args!("cannot remove {}", path.display()))?;
    Ok(which.to_string())
}
