//! The containers `kiln run` keeps, under `ROOT/containers/`:
//!
//! - `<id>.json`: one record per container, written (atomically) before its command starts and
//!   rewritten with its exit code when it ends; while it runs, the record names the lease of the
//!   `kiln run` process, so a container is running exactly while that lease is live (a crashed
//!   `kiln run` leaves a container that is no longer running, which `kiln rm` removes);
//! - `names/<name>`: the container id, hard-linked into place so that two `kiln run --name N`
//!   can never both take the name (docker's "Conflict. The container name … is already in use").

use crate::error::{Error, Result, ResultExt};
use crate::root::Kiln;
use crate::store::ImageUser;
use kiln_snapshot::{Active, SnapshotId};
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long `kiln rm -f` waits for a killed `kiln run` to let go of its container.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// A container kept by `kiln run` (all of them while they run; after, those run without
/// `--rm`), as `kiln ps` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image as it was named to `kiln run` (`kiln ps` shows it while it still names that
    /// image, as docker does).
    pub image: String,
    /// The image's manifest digest: what `kiln rmi` checks (empty in records of older kilns).
    #[serde(default)]
    pub image_manifest: String,
    /// The image ID (config digest), for `rmi`'s messages.
    #[serde(default)]
    pub image_id: String,
    pub command: Vec<String>,
    pub created: String,
    pub exit_code: Option<i32>,
    /// When its command ended (empty in records of older kilns).
    #[serde(default)]
    pub finished: Option<String>,
    pub snapshot: String,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub lowers: Vec<PathBuf>,
    /// The lease of the `kiln run` process while the command runs.
    #[serde(default)]
    pub lease: Option<String>,
    /// The pid of that process (for `kiln rm -f`; trusted only while the lease is live).
    #[serde(default)]
    pub pid: Option<u32>,
}

impl ContainerRecord {
    /// Is its command running (its `kiln run` alive)?
    pub fn is_running(&self, kiln: &Kiln) -> bool {
        self.exit_code.is_none()
            && self
                .lease
                .as_deref()
                .is_some_and(|l| kiln.leases.is_live(l))
    }

    pub(crate) fn active(&self) -> Active {
        Active {
            id: SnapshotId(self.snapshot.clone()),
            upper: self.upper.clone(),
            work: self.work.clone(),
            lowers: self.lowers.clone(),
        }
    }
}

/// Why a container could not be named or removed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// `--name` is taken (docker's message, word for word).
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    /// `--name` is not one docker accepts.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// No container has this name or ID prefix.
    #[error("No such container: {0}")]
    NoSuch(String),
    /// An ID prefix matches several containers.
    #[error("container name or ID {0:?} is ambiguous")]
    Ambiguous(String),
    /// `kiln rm` without `-f` of a running container (docker's message).
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    Running(String),
    /// Anything else (I/O, the snapshot store).
    #[error(transparent)]
    Kiln(#[from] Error),
}

pub(crate) fn containers_dir(kiln: &Kiln) -> PathBuf {
    kiln.root.join("containers")
}

fn names_dir(kiln: &Kiln) -> PathBuf {
    containers_dir(kiln).join("names")
}

fn record_path(kiln: &Kiln, id: &str) -> PathBuf {
    containers_dir(kiln).join(format!("{id}.json"))
}

/// docker's rule for container names (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, a leading `/` allowed);
/// returns the name without the slash. Also what makes a name safe as a file name.
pub fn valid_name(name: &str) -> std::result::Result<&str, ContainerError> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = n.bytes();
    let ok = n.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(n)
    } else {
        Err(ContainerError::InvalidName(name.to_string()))
    }
}

/// Write `rec` in place of its record, atomically (a reader sees the old or the new one).
pub(crate) fn write_record(kiln: &Kiln, rec: &ContainerRecord) -> Result<()> {
    let dir = containers_dir(kiln);
    std::fs::create_dir_all(&dir).ctx(format_args!("cannot create {}", dir.display()))?;
    let path = record_path(kiln, &rec.id);
    let mut tmp = tempfile::Builder::new()
        .prefix(".record-")
        .tempfile_in(&dir)
        .ctx(format_args!("cannot create a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, &serde_json::to_vec_pretty(rec)?)
        .ctx(format_args!("cannot write {}", path.display()))?;
    tmp.persist(&path)
        .map_err(|e| e.error)
        .ctx(format_args!("cannot write {}", path.display()))?;
    Ok(())
}

/// Take `name` for container `id` (made by the process holding `lease`), or say who has it.
/// The name is taken before the container's record is written, so of concurrent runs asking
/// for one name exactly one gets it. A name whose container has no record and whose process
/// is gone (a `kiln run` or `kiln rm` killed halfway) is taken over.
pub(crate) fn reserve_name(
    kiln: &Kiln,
    name: &str,
    id: &str,
    lease: &str,
) -> std::result::Result<(), ContainerError> {
    let name = valid_name(name)?;
    let dir = names_dir(kiln);
    std::fs::create_dir_all(&dir).ctx(format_args!("cannot create {}", dir.display()))?;
    let target = dir.join(name);
    let tmp = tempfile::Builder::new()
        .prefix(".name-")
        .tempfile_in(&dir)
        .ctx(format_args!("cannot create a file in {}", dir.display()))?;
    std::fs::write(tmp.path(), format!("{id}\n{lease}\n"))
        .ctx(format_args!("cannot write {}", tmp.path().display()))?;
    let mut taken = false;
    for _ in 0..2 {
        match std::fs::hard_link(tmp.path(), &target) {
            Ok(()) => {
                taken = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                let mut lines = text.lines();
                let (holder, holder_lease) = (lines.next().unwrap_or(""), lines.next());
                let alive = holder_lease.is_some_and(|l| kiln.leases.is_live(l));
                if alive || record_path(kiln, holder).exists() {
                    return Err(ContainerError::NameInUse {
                        name: name.into(),
                        id: holder.to_string(),
                    });
                }
                let _ = std::fs::remove_file(&target);
            }
            Err(e) => {
                return Err(Error::new(format!("cannot reserve {}: {e}", target.display())).into())
            }
        }
    }
    if !taken {
        return Err(ContainerError::NameInUse {
            name: name.into(),
            id: String::new(),
        });
    }
    // Records of kilns that kept no name files.
    if let Some(other) = list_containers(kiln)?
        .into_iter()
        .find(|c| c.name == name && c.id != id)
    {
        release_name(kiln, name, id);
        return Err(ContainerError::NameInUse {
            name: name.into(),
            id: other.id,
        });
    }
    Ok(())
}

/// Give `name` back, if container `id` holds it.
pub(crate) fn release_name(kiln: &Kiln, name: &str, id: &str) {
    let Ok(name) = valid_name(name) else { return };
    let path = names_dir(kiln).join(name);
    if std::fs::read_to_string(&path).is_ok_and(|text| text.lines().next() == Some(id)) {
        let _ = std::fs::remove_file(path);
    }
}

/// Every container record (running or not), newest first.
pub fn list_containers(kiln: &Kiln) -> Result<Vec<ContainerRecord>> {
    let dir = containers_dir(kiln);
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        if !e.file_name().to_string_lossy().ends_with(".json") {
            continue;
        }
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
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Some(out)),
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

/// The images containers use, for `kiln rmi`'s conflicts.
pub fn image_users(kiln: &Kiln) -> Result<Vec<ImageUser>> {
    Ok(list_containers(kiln)?
        .into_iter()
        .filter(|c| !c.image_manifest.is_empty())
        .map(|c| ImageUser {
            running: c.is_running(kiln),
            manifest: c.image_manifest,
            container: c.id,
        })
        .collect())
}

/// `kiln rmi`: remove an image or a tag (see [`crate::store::ImageStore::remove_unused`]),
/// refusing, as docker, to take an image away from the containers made from it.
pub fn remove_image(kiln: &Kiln, name: &str, force: bool) -> Result<Vec<String>> {
    let users = image_users(kiln)?;
    Ok(kiln.images.remove_unused(name, force, &users)?)
}

/// The container named `which` (a name, or an ID prefix).
pub fn find_container(
    kiln: &Kiln,
    which: &str,
) -> std::result::Result<ContainerRecord, ContainerError> {
    let all = list_containers(kiln)?;
    let name = which.strip_prefix('/').unwrap_or(which);
    if let Some(c) = all.iter().find(|c| c.name == name || c.id == which) {
        return Ok(c.clone());
    }
    let mut found = all.into_iter().filter(|c| c.id.starts_with(which));
    match (found.next(), found.next()) {
        (Some(c), None) if !which.is_empty() => Ok(c),
        (Some(_), Some(_)) => Err(ContainerError::Ambiguous(which.to_string())),
        _ => Err(ContainerError::NoSuch(which.to_string())),
    }
}

/// Remove a container by ID prefix or name; a running one only with `force`, which kills
/// its `kiln run` first (as `docker rm -f` kills the container).
pub fn remove_container_forced(
    kiln: &Kiln,
    which: &str,
    force: bool,
) -> std::result::Result<String, ContainerError> {
    let c = find_container(kiln, which)?;
    if c.is_running(kiln) {
        if !force {
            return Err(ContainerError::Running(c.id));
        }
        kill(kiln, &c)?;
    }
    discard(kiln, &c)?;
    Ok(which.to_string())
}

/// Remove a stopped container by ID prefix or name.
pub fn remove_container(kiln: &Kiln, which: &str) -> Result<String> {
    remove_container_forced(kiln, which, false).map_err(|e| match e {
        ContainerError::Kiln(e) => e,
        other => Error::new(other.to_string()),
    })
}

/// SIGKILL the `kiln run` of a running container and wait until its lease is released.
fn kill(kiln: &Kiln, c: &ContainerRecord) -> Result<()> {
    let (Some(pid), Some(lease)) = (c.pid, c.lease.as_deref()) else {
        return Ok(());
    };
    // The pid is the lease holder's: the lease is live, so that process is still the one.
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let start = Instant::now();
    while kiln.leases.is_live(lease) {
        if start.elapsed() > KILL_WAIT {
            return Err(Error::new(format!(
                "container {}: its kiln run (pid {pid}) did not stop",
                c.id
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Delete a container's snapshot, record and name.
pub(crate) fn discard(kiln: &Kiln, c: &ContainerRecord) -> Result<()> {
    match kiln.snapshots.abort(c.active()) {
        Ok(()) => {}
        // Its snapshot is already gone (a damaged store): the record goes all the same.
        Err(kiln_snapshot::Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let path = record_path(kiln, &c.id);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::new(format!("cannot remove {}: {e}", path.display()))),
    }
    release_name(kiln, &c.name, &c.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker() {
        assert_eq!(valid_name("web").unwrap(), "web");
        assert_eq!(valid_name("/web-1.a_b").unwrap(), "web-1.a_b");
        for bad in ["a", "", "bad name", "-x", "../x", "x/y", "_ab", "é1"] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
    }
}
