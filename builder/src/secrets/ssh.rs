//! `--ssh` specs: an agent socket to forward (`default` is `$SSH_AUTH_SOCK`), or private key
//! files, which kiln loads into an `ssh-agent` of its own for the build (BuildKit holds them in
//! an in-process agent; kiln lets OpenSSH's do that job).

use super::SecretError;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where a step's ssh mount relays to.
pub enum SshAgent {
    /// The user's agent, at this socket.
    Socket(PathBuf),
    /// An agent kiln started with the given keys; stopped when this is dropped.
    Spawned {
        socket: PathBuf,
        child: Mutex<Child>,
        _dir: tempfile::TempDir,
    },
}

impl std::fmt::Debug for SshAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshAgent::Socket(p) => write!(f, "SshAgent::Socket({})", p.display()),
            SshAgent::Spawned { socket, .. } => {
                write!(f, "SshAgent::Spawned({})", socket.display())
            }
        }
    }
}

impl SshAgent {
    /// The agent's socket.
    pub fn socket(&self) -> &Path {
        match self {
            SshAgent::Socket(p) => p,
            SshAgent::Spawned { socket, .. } => socket,
        }
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        if let SshAgent::Spawned { child, .. } = self {
            if let Ok(c) = child.get_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Parse `ID[=PATH[,PATH…]]` and make its agent ready.
pub(super) fn load(
    spec: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
    tmp: &Path,
) -> Result<(String, SshAgent), SecretError> {
    let (id, paths) = match spec.split_once('=') {
        Some((id, p)) => (id, p.split(',').map(PathBuf::from).collect::<Vec<_>>()),
        None => (spec, Vec::new()),
    };
    if id.is_empty() {
        return Err(SecretError::EmptySshId { spec: spec.into() });
    }
    let paths = if paths.is_empty() {
        match env("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
            Some(s) => vec![PathBuf::from(s)],
            None => return Err(SecretError::NoAgent { spec: spec.into() }),
        }
    } else {
        paths
    };
    let mut kinds = Vec::new();
    for p in &paths {
        let meta = std::fs::metadata(p).map_err(|source| SecretError::SshPath {
            spec: spec.into(),
            path: p.clone(),
            source,
        })?;
        kinds.push(meta.file_type().is_socket());
    }
    if paths.len() == 1 && kinds[0] {
        return Ok((id.to_string(), SshAgent::Socket(paths[0].clone())));
    }
    let mut keys = Vec::new();
    for p in &paths {
        let bad = |reason: &str| SecretError::BadKey {
            spec: spec.into(),
            path: p.clone(),
            reason: reason.into(),
        };
        let mut key = Vec::new();
        std::fs::File::open(p)
            .and_then(|f| f.take(1 << 20).read_to_end(&mut key))
            .map_err(|source| SecretError::SshPath {
                spec: spec.into(),
                path: p.clone(),
                source,
            })?;
        if !key.windows(16).any(|w| w == b"PRIVATE KEY-----") {
            return Err(bad("ssh: no key found"));
        }
        keys.push((p.clone(), super::SecretValue::new(key)));
    }
    let agent = spawn_agent(spec, tmp)?;
    for (path, key) in &keys {
        add_key(agent.socket(), key.bytes()).map_err(|reason| SecretError::BadKey {
            spec: spec.into(),
            path: path.clone(),
            reason,
        })?;
    }
    Ok((id.to_string(), agent))
}

/// Start `ssh-agent -D` on a socket in a private directory under `tmp`.
fn spawn_agent(spec: &str, tmp: &Path) -> Result<SshAgent, SecretError> {
    let fail = |source| SecretError::AgentStart {
        spec: spec.into(),
        source,
    };
    std::fs::create_dir_all(tmp).map_err(fail)?;
    let dir = tempfile::Builder::new()
        .prefix("ssh-agent-")
        .tempdir_in(tmp)
        .map_err(fail)?;
    let socket = dir.path().join("agent.sock");
    let mut cmd = Command::new("ssh-agent");
    cmd.arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe; the agent must not outlive kiln.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(fail)?;
    let start = Instant::now();
    while !socket.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            let mut said = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut said);
            }
            return Err(fail(std::io::Error::other(format!(
                "ssh-agent exited ({st}): {}",
                said.trim().escape_debug()
            ))));
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(std::io::Error::other(
                "ssh-agent made no socket in 10 s",
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(SshAgent::Spawned {
        socket,
        child: Mutex::new(child),
        _dir: dir,
    })
}

/// `ssh-add -` with the key on stdin (so its file's permissions do not matter and it is
/// copied nowhere); the reason when ssh-add refuses it.
fn add_key(socket: &Path, key: &[u8]) -> Result<(), String> {
    let mut child = Command::new("ssh-add")
        .args(["-q", "-"])
        .env("SSH_AUTH_SOCK", socket)
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env_remove("SSH_ASKPASS")
        .env_remove("DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ssh-add: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(key);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ssh-add: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said = said.trim();
    Err(if said.is_empty() {
        format!("ssh-add failed ({})", out.status)
    } else {
        said.escape_debug().to_string()
    })
}
