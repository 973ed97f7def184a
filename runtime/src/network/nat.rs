//! The user-space NAT helpers of the default network: `slirp4netns` or `pasta` (Debian's
//! `passt`). The parent starts one for the container's new network namespace while the
//! container sets itself up, and the command runs once it is ready; it is stopped when the
//! container is gone (and dies with kiln: parent-death signal, exit pipe).
//!
//! Both are configured so that only outbound connections leave: no port forwarding either way
//! and no mapping of the gateway or of a special address to the host's loopback, so a service
//! bound to the host's 127.0.0.1 cannot be reached from the container (its 127.0.0.1 is its own).

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The NAT helpers the runtime knows. slirp4netns is preferred when both are there: it is
/// ready in a few milliseconds where pasta takes 25-40 ms here, which a container that starts
/// in 15 ms would otherwise wait for (see `bench/sandbox.sh`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum NatHelper {
    /// `pasta`, from Debian's `passt` package.
    Pasta,
    /// `slirp4netns`.
    Slirp4netns,
}

/// How long a helper gets to make the namespace's network ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// The interface the container sees.
const IFNAME: &str = "eth0";

impl NatHelper {
    /// The program's name.
    pub fn program(self) -> &'static str {
        match self {
            NatHelper::Pasta => "pasta",
            NatHelper::Slirp4netns => "slirp4netns",
        }
    }

    /// The address inside the namespace where the helper answers DNS queries for the host's
    /// resolvers.
    pub fn dns_forwarder(self) -> &'static str {
        match self {
            NatHelper::Pasta => "169.254.1.1",
            NatHelper::Slirp4netns => "10.0.2.3",
        }
    }

    /// Start the helper for the network namespace of process `pid` (the container's helper,
    /// already in its new namespace). `work` is a private directory for its readiness FIFO and
    /// log; `dns_forward`: the container's resolv.conf names [`Self::dns_forwarder`].
    pub fn start(self, pid: u32, work: &Path, dns_forward: bool) -> Result<RunningNat> {
        let program = helper_path(self).ok_or_else(|| {
            Error::Init(format!(
                "the NAT helper {} is not installed",
                self.program()
            ))
        })?;
        let log_path = work.join("nat.log");
        let log = File::create(&log_path).ctx(|| format!("create {}", log_path.display()))?;
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .ctx(|| "duplicate the NAT log".to_string())?,
            )
            .stderr(log);
        let (ready, exit_w, keep) = match self {
            NatHelper::Pasta => self.pasta_args(&mut cmd, pid, work, dns_forward)?,
            NatHelper::Slirp4netns => self.slirp_args(&mut cmd, pid)?,
        };
        let keep_fds: Vec<i32> = keep.iter().map(|f| f.as_raw_fd()).collect();
        // SAFETY: only async-signal-safe calls (fcntl, prctl) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &keep_fds {
                    crate::sys::set_cloexec(*fd, false)?;
                }
                crate::sys::cvt(libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                ))?;
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("start the NAT helper {}", self.program()), e))?;
        drop(keep);
        Ok(RunningNat {
            kind: self,
            child: Some(child),
            ready,
            _exit: exit_w,
            log: log_path,
        })
    }

    /// pasta: the namespace by descriptor (pasta cannot open another process's namespace files
    /// once it has dropped its capabilities), readiness through its PID file made a FIFO.
    fn pasta_args(
        self,
        cmd: &mut Command,
        pid: u32,
        work: &Path,
        dns_forward: bool,
    ) -> Result<(File, Option<OwnedFd>, Vec<OwnedFd>)> {
        let ns_path = format!("/proc/{pid}/ns/net");
        let ns = File::open(&ns_path).ctx(|| format!("open {ns_path}"))?;
        let fifo = work.join("pasta.pid");
        let c = crate::sys::cpath(&fifo)?;
        // SAFETY: a valid C string.
        crate::sys::cvt(unsafe { libc::mkfifo(c.as_ptr(), 0o600) })
            .ctx(|| format!("create {}", fifo.display()))?;
        let ready = rustix::fs::open(
            &fifo,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io(format!("open {}", fifo.display()), e.into()))?;
        let ns: OwnedFd = ns.into();
        cmd.arg("--runas")
            .arg("0")
            .arg("--config-net")
            .arg("--netns")
            .arg(format!("/proc/self/fd/{}", ns.as_raw_fd()))
            .args(["-t", "none", "-u", "none", "-T", "none", "-U", "none"])
            .arg("--no-map-gw")
            .args(["-q", "-f", "-P"])
            .arg(&fifo);
        if dns_forward {
            cmd.arg("--dns-forward").arg(self.dns_forwarder());
        }
        Ok((File::from(ready), None, vec![ns]))
    }

    /// slirp4netns: readiness on a pipe, and a second pipe whose closing makes it exit.
    fn slirp_args(
        self,
        cmd: &mut Command,
        pid: u32,
    ) -> Result<(File, Option<OwnedFd>, Vec<OwnedFd>)> {
        let (ready_r, ready_w) = crate::sys::pipe_cloexec().ctx(|| "create a pipe".to_string())?;
        let (exit_r, exit_w) = crate::sys::pipe_cloexec().ctx(|| "create a pipe".to_string())?;
        cmd.arg("--configure")
            .arg("--mtu=65520")
            .arg("--disable-host-loopback")
            // Its own system call filter, as podman runs it (podman's --enable-sandbox, a
            // mount namespace of its own, costs ~40 ms a container here).
            .arg("--enable-seccomp")
            .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
            .arg(format!("--exit-fd={}", exit_r.as_raw_fd()))
            .arg(pid.to_string())
            .arg(IFNAME);
        Ok((
            ready_r,
            Some(exit_w.into()),
            vec![ready_w.into(), exit_r.into()],
        ))
    }
}

/// A started NAT helper; stopped when dropped.
#[derive(Debug)]
pub struct RunningNat {
    kind: NatHelper,
    child: Option<Child>,
    ready: File,
    /// slirp4netns exits when this is closed.
    _exit: Option<OwnedFd>,
    log: PathBuf,
}

impl RunningNat {
    /// Wait until the helper has configured the namespace; an error says why it did not.
    pub fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let child = self.child.as_mut().expect("running");
        let pidfd = rustix::process::Pid::from_raw(child.id() as i32).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
        });
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.failure("did not get ready in time"));
            }
            let timeout = rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as i64,
            };
            let ready_in = rustix::event::PollFlags::IN;
            let mut fds = vec![rustix::event::PollFd::new(&self.ready, ready_in)];
            if let Some(fd) = &pidfd {
                fds.push(rustix::event::PollFd::new(fd, ready_in));
            }
            let _ = rustix::event::poll(&mut fds, Some(&timeout));
            let exited = fds.get(1).is_some_and(|f| !f.revents().is_empty());
            let mut buf = [0u8; 64];
            match (&self.ready).read(&mut buf) {
                Ok(0) if !exited && self.kind == NatHelper::Pasta && got.is_empty() => {
                    // No writer yet (pasta has not opened its PID file): keep waiting.
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(0) => return Err(self.failure("exited before the network was ready")),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    let done = match self.kind {
                        NatHelper::Pasta => got.contains(&b'\n'),
                        NatHelper::Slirp4netns => got.contains(&b'1'),
                    };
                    if done {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("wait for the NAT helper", e)),
            }
            if exited && got.is_empty() {
                return Err(self.failure("exited before the network was ready"));
            }
        }
    }

    fn failure(&mut self, what: &str) -> Error {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let log: Vec<&str> = log
            .lines()
            .filter(|l| !l.starts_with("Failed to send") && !l.trim().is_empty())
            .collect();
        Error::Init(format!(
            "network: {} {what}{}{}",
            self.kind.program(),
            if log.is_empty() { "" } else { ": " },
            log.join("; ")
        ))
    }
}

impl Drop for RunningNat {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            // Its exit tears the tap device down, which waits for the kernel (RCU grace
            // periods, tens of milliseconds): reap it off the caller's path.
            let reaped = std::thread::Builder::new()
                .name("kiln-nat-reaper".into())
                .spawn(move || {
                    let _ = c.wait();
                });
            if let Err(e) = reaped {
                // Reaped by init once kiln exits.
                log::warn!("cannot start a thread to reap the NAT helper: {e}");
            }
        }
    }
}

/// The NAT helper the default network uses: `KILN_NAT_HELPER` (`pasta`, `slirp4netns` or
/// `none`) when set, else the first of slirp4netns and pasta found in `PATH`. `None`: the
/// default network falls back to the host's.
pub fn nat_helper() -> Option<NatHelper> {
    found().as_ref().map(|(h, _)| *h)
}

fn helper_path(h: NatHelper) -> Option<PathBuf> {
    match found() {
        Some((k, p)) if *k == h => Some(p.clone()),
        _ => find_in_path(h.program()),
    }
}

fn found() -> &'static Option<(NatHelper, PathBuf)> {
    static FOUND: OnceLock<Option<(NatHelper, PathBuf)>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let wanted: &[NatHelper] = match std::env::var("KILN_NAT_HELPER").as_deref() {
            Ok("pasta") => &[NatHelper::Pasta],
            Ok("slirp4netns") => &[NatHelper::Slirp4netns],
            Ok("none") => &[],
            _ => &[NatHelper::Slirp4netns, NatHelper::Pasta],
        };
        wanted
            .iter()
            .find_map(|h| find_in_path(h.program()).map(|p| (*h, p)))
    })
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}
