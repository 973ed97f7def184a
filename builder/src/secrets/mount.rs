//! A step's secret and ssh mounts, from the op's mount and the build's [`Secrets`].

use super::{SecretError, Secrets, SshProxy};
use kiln_runtime::{MemData, MountSpec};
use kiln_solver::{Mount, MountKind};
use std::path::{Path, PathBuf};

/// For a `type=secret` mount: the file to mount (none for an env-only secret, or an absent
/// one that is not required), and the secret put in `env` when the mount has `env=`.
pub fn secret_mount(
    secrets: &Secrets,
    m: &Mount,
    env: &mut Vec<String>,
) -> Result<Option<MountSpec>, SecretError> {
    let MountKind::Secret {
        id,
        required,
        mode,
        uid,
        gid,
        env: var,
    } = &m.kind
    else {
        return Ok(None);
    };
    let Some(value) = secrets.get(id) else {
        return if *required {
            Err(SecretError::NotFound { id: id.clone() })
        } else {
            Ok(None)
        };
    };
    if let Some(var) = var {
        let prefix = format!("{var}=");
        env.retain(|e| !e.starts_with(&prefix));
        let mut entry = prefix.into_bytes();
        entry.extend_from_slice(value.bytes());
        env.push(String::from_utf8_lossy(&entry).into_owned());
    }
    if m.dest.is_empty() {
        return Ok(None);
    }
    Ok(Some(MountSpec {
        source: PathBuf::new(),
        dest: m.dest.clone(),
        kind: kiln_runtime::MountKind::MemFile {
            data: MemData(value.bytes().to_vec()),
            mode: *mode,
            uid: *uid,
            gid: *gid,
        },
    }))
}

/// For a `type=ssh` mount: the socket to mount and the relay behind it (to keep until the
/// step is over); `None` for an id the build was not given and the mount does not require.
pub fn ssh_mount(
    secrets: &Secrets,
    m: &Mount,
    tmp: &Path,
) -> Result<Option<(MountSpec, SshProxy)>, SecretError> {
    let MountKind::Ssh {
        id,
        required,
        mode,
        uid,
        gid,
    } = &m.kind
    else {
        return Ok(None);
    };
    let Some(agent) = secrets.agent(id) else {
        return if *required {
            Err(SecretError::SshNotFound { id: id.clone() })
        } else {
            Ok(None)
        };
    };
    let proxy = SshProxy::start(agent.socket(), tmp, *mode, *uid, *gid).map_err(|source| {
        SecretError::Proxy {
            id: id.clone(),
            source,
        }
    })?;
    let spec = MountSpec {
        source: proxy.path().to_path_buf(),
        dest: m.dest.clone(),
        kind: kiln_runtime::MountKind::Bind { readonly: true },
    };
    Ok(Some((spec, proxy)))
}
