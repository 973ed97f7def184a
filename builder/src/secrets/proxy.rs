//! The socket a step's `RUN --mount=type=ssh` reaches: kiln listens on it (in a private
//! directory, owned and moded as the mount asks) for the step's lifetime, and relays each
//! connection to the build's agent. The step sees a socket and nothing else of the host: not
//! the agent's path, not its directory, and nothing once the step is over.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A listening relay to an agent; stops listening when dropped.
pub struct SshProxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl SshProxy {
    /// Listen on a new socket under `tmp` (mode `mode`, owned by `uid:gid`) relaying to the
    /// agent at `upstream`.
    pub fn start(
        upstream: &Path,
        tmp: &Path,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> std::io::Result<SshProxy> {
        std::fs::create_dir_all(tmp)?;
        let dir = tempfile::Builder::new().prefix("ssh-").tempdir_in(tmp)?;
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path)?;
        rustix::fs::chown(
            &path,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )?;
        rustix::fs::chmod(&path, rustix::fs::Mode::from_raw_mode(mode & 0o777))?;
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_path_buf();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ssh-proxy".into())
            .spawn(move || accept_loop(listener, &upstream, &flag))?;
        Ok(SshProxy {
            path,
            stop,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The socket to mount into the step.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SshProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: UnixListener, upstream: &Path, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        match UnixStream::connect(upstream) {
            Ok(agent) => relay(client, agent),
            Err(e) => {
                log::warn!(
                    "ssh forwarding: cannot reach the agent at {}: {e}",
                    upstream.display()
                );
            }
        }
    }
}

/// Copy both ways between `a` and `b` on two threads; each direction's end shuts the other
/// side's writing down.
fn relay(a: UnixStream, b: UnixStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let spawn = |from: UnixStream, to: UnixStream| {
        std::thread::Builder::new()
            .name("ssh-relay".into())
            .spawn(move || pump(from, to))
    };
    let _ = spawn(a, b2);
    let _ = spawn(b, a2);
}

fn pump(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
