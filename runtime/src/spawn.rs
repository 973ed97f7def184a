//! The parent side: start the helper in new namespaces, send it the spec, collect output, wait
//! (cancellably) and turn the outcome into an exit code or an error.

use crate::error::{Error, IoContext, Result};
use crate::helper::{InitConfig, RUNTIME_INIT_ARG, STARTED};
use crate::network::{self, Plan};
use crate::output::{pump, Output};
use crate::security::devices::DeviceCgroup;
use crate::spec::{ContainerSpec, Security, Stdio};
use crate::sys;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the cancel flag is checked while the container runs.
const POLL: Duration = Duration::from_millis(50);
/// The exit code reported for a cancelled container (SIGKILL).
const CANCELLED: i32 = 128 + libc::SIGKILL;
/// How long the helper gets to tear the container down after a cancel before it is SIGKILLed.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Runs containers by re-executing a helper binary that embeds the runtime (see [`crate::maybe_run_init`]).
#[derive(Clone, Debug)]
pub struct Runtime {
    helper: PathBuf,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Runtime {
    /// A runtime whose helper is the current executable (`/proc/self/exe`), which must call
    /// [`crate::maybe_run_init`] first thing in `main`.
    pub fn new() -> Runtime {
        Runtime {
            helper: PathBuf::from("/proc/self/exe"),
        }
    }

    /// A runtime using another helper binary (one whose `main` calls [`crate::maybe_run_init`]).
    pub fn with_helper(path: PathBuf) -> Runtime {
        Runtime { helper: path }
    }

    /// The helper binary.
    pub fn helper(&self) -> &std::path::Path {
        &self.helper
    }

    /// Run `spec` to completion and return the command's exit code (128+signal when it was killed).
    /// When `cancel` becomes true the container's PID 1 is SIGKILLed and the result is 137 (also
    /// when `cancel` is already true: then nothing is started).
    /// Setup failures inside the container (bad user, missing executable, mount errors) are
    /// [`Error::Init`]. When this returns, no container process remains and nothing is mounted.
    pub fn run(&self, spec: &ContainerSpec, out: Output<'_>, cancel: &AtomicBool) -> Result<i32> {
        self.run_proxied(spec, out, cancel, &SignalProxy::new())
    }

    /// [`Runtime::run`], passing on to the command the signals [`SignalProxy::raise`]d while it
    /// runs (docker run's `--sig-proxy`).
    pub fn run_proxied(
        &self,
        spec: &ContainerSpec,
        out: Output<'_>,
        cancel: &AtomicBool,
        proxy: &SignalProxy,
    ) -> Result<i32> {
        if spec.tty {
            return Err(Error::Unsupported(
                "a terminal for the container (tty)".to_string(),
            ));
        }
        if spec.args.is_empty() {
            return Err(Error::InvalidSpec("no command specified".to_string()));
        }
        if cancel.load(Ordering::SeqCst) {
            return Ok(CANCELLED);
        }
        let state = tempfile::Builder::new()
            .prefix("kiln-container-")
            .tempdir()
            .ctx(|| {
                format!(
                    "create a state directory in {}",
                    std::env::temp_dir().display()
                )
            })?;
        let plan = network::plan(spec.network);
        let devices = match spec.security {
            Security::Sandbox => Some(DeviceCgroup::create()?.ok_or_else(|| {
                Error::Unsupported(
                    "docker's device policy needs a devices cgroup (v1) or a cgroup v2 \
                     hierarchy, and this machine has neither"
                        .to_string(),
                )
            })?),
            Security::Privileged => None,
        };
        let (spec_r, spec_w) = pipe_above_stdio()?;
        let (status_r, status_w) = pipe_above_stdio()?;
        let net_ready = match plan {
            Plan::Nat(_) => Some(pipe_above_stdio()?),
            _ => None,
        };
        let config = InitConfig {
            spec: spec.clone(),
            state_dir: state.path().to_path_buf(),
            network: plan,
            net_ready_fd: net_ready.as_ref().map(|(r, _)| r.as_raw_fd()),
        };
        let json = serde_json::to_vec(&config)
            .map_err(|e| Error::InvalidSpec(format!("cannot serialise the container spec: {e}")))?;

        let mut cmd = Command::new(&self.helper);
        cmd.arg(RUNTIME_INIT_ARG)
            .arg(spec_r.as_raw_fd().to_string())
            .arg(status_w.as_raw_fd().to_string());
        cmd.stdin(match spec.stdin {
            Stdio::Null => std::process::Stdio::null(),
            Stdio::Inherit => std::process::Stdio::inherit(),
        });
        let piped = matches!(out, Output::Sink(_));
        if piped {
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
        }
        let flags = namespace_flags(plan);
        let mut keep = vec![spec_r.as_raw_fd(), status_w.as_raw_fd()];
        keep.extend(net_ready.as_ref().map(|(r, _)| r.as_raw_fd()));
        // SAFETY: the closure only makes async-signal-safe system calls (close_range, fcntl,
        // prctl, unshare).
        unsafe {
            cmd.pre_exec(move || {
                // Only stdio and the runtime's own pipes reach the helper (and so the
                // container): whatever else the caller has open stays behind.
                sys::cloexec_from(3)?;
                for fd in &keep {
                    sys::set_cloexec(*fd, false)?;
                }
                sys::cvt(libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                ))?;
                sys::cvt(libc::unshare(flags))?;
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| Error::Spawn {
            helper: self.helper.clone(),
            source: e,
        })?;
        drop(spec_r);
        drop(status_w);
        drop(cmd);
        let started = devices
            .as_ref()
            .map_or(Ok(()), |cg| cg.add(child.id()))
            .map(|()| {
                let mut spec_w = File::from(spec_w);
                // A write error means the helper died early; its status pipe says why.
                let _ = spec_w.write_all(&json);
            })
            .and_then(|()| match (plan, net_ready) {
                (Plan::Nat(helper), Some((ready_r, ready_w))) => {
                    drop(ready_r);
                    start_network(helper, child.id(), state.path(), ready_w).map(Some)
                }
                _ => Ok(None),
            });
        let nat = match started {
            Ok(nat) => nat,
            Err(e) => {
                // Never leave the helper (and so the container) behind. If the container had
                // failed already (which may be why the network could not be set up), its own
                // reason is the one to report.
                let _ = child.kill();
                let _ = child.wait();
                let mut message = Vec::new();
                let _ = File::from(status_r).read_to_end(&mut message);
                if !message.is_empty() && message != STARTED {
                    return Err(Error::Init(
                        String::from_utf8_lossy(&message).trim_end().to_string(),
                    ));
                }
                return Err(e);
            }
        };

        let waited = std::thread::scope(|s| {
            if let Output::Sink(sink) = out {
                if let Some(stdout) = child.stdout.take() {
                    s.spawn(move || pump(stdout, 1, sink));
                }
                if let Some(stderr) = child.stderr.take() {
                    s.spawn(move || pump(stderr, 2, sink));
                }
            }
            let waited = wait(&mut child, cancel, proxy);
            if waited.is_err() {
                // Never leave the helper (and so the container) behind.
                let _ = child.kill();
                let _ = child.wait();
            }
            waited
        });
        let (status, killed) = waited?;
        drop(nat);
        drop(devices);
        let mut message = Vec::new();
        File::from(status_r)
            .read_to_end(&mut message)
            .ctx(|| "read the container's status pipe".to_string())?;
        drop(state);
        if killed {
            return Ok(CANCELLED);
        }
        let code = code_of(status);
        if message == STARTED {
            return Ok(code);
        }
        if message.is_empty() {
            return Err(Error::Init(format!(
                "the container init exited with code {code} before starting the command"
            )));
        }
        Err(Error::Init(
            String::from_utf8_lossy(&message).trim_end().to_string(),
        ))
    }
}

/// The namespaces the helper is unshared into.
fn namespace_flags(plan: Plan) -> libc::c_int {
    let base = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if plan.new_namespace() {
        base | libc::CLONE_NEWNET
    } else {
        base
    }
}

/// Start the NAT helper for the namespace of `pid` and, once it is ready, tell the container
/// (one byte on `ready`). The container's setup goes on meanwhile.
fn start_network(
    helper: network::NatHelper,
    pid: u32,
    work: &std::path::Path,
    ready: OwnedFd,
) -> Result<network::RunningNat> {
    let host = std::fs::read_to_string("/etc/resolv.conf").ok();
    let resolv = network::resolv_conf(host.as_deref(), Plan::Nat(helper));
    let dns_forward = resolv.contains(&format!("nameserver {}\n", helper.dns_forwarder()));
    let mut nat = helper.start(pid, work, dns_forward)?;
    nat.wait_ready()?;
    // A write error means the container's init is gone already; its status pipe says why.
    let _ = File::from(ready).write_all(b"\x01");
    Ok(nat)
}

/// A close-on-exec pipe whose descriptors are not 0-2 (they must survive the child's stdio setup).
fn pipe_above_stdio() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = sys::pipe_cloexec().ctx(|| "create a pipe to the runtime helper".to_string())?;
    let lift = |f: File| -> Result<OwnedFd> {
        let fd = OwnedFd::from(f);
        if fd.as_raw_fd() > 2 {
            return Ok(fd);
        }
        rustix::io::fcntl_dupfd_cloexec(fd.as_fd(), 3)
            .map_err(|e| Error::io("duplicate a pipe descriptor", e.into()))
    };
    Ok((lift(r)?, lift(w)?))
}

/// Wait for the helper, polling `cancel`; on cancel ask the helper to kill PID 1 (SIGTERM), and
/// SIGKILL the helper itself if it does not finish in time.
/// Returns the helper's status and whether it was killed because of `cancel`.
fn wait(child: &mut Child, cancel: &AtomicBool, proxy: &SignalProxy) -> Result<(ExitStatus, bool)> {
    let pidfd = rustix::process::Pid::from_raw(child.id() as i32).and_then(|pid| {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
    });
    let mut cancelled_at: Option<Instant> = None;
    loop {
        if let Some(status) = child
            .try_wait()
            .ctx(|| "wait for the runtime helper".to_string())?
        {
            return Ok((status, cancelled_at.is_some()));
        }
        for sig in proxy.take() {
            // SIGTERM to the helper means cancel: it is asked for with a signal of its own.
            let sig = if sig == libc::SIGTERM {
                crate::helper::forward_term_signal()
            } else {
                sig
            };
            // SAFETY: plain kill(2) of our own child, which has not been reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        }
        if cancel.load(Ordering::SeqCst) {
            match cancelled_at {
                None => {
                    // SAFETY: plain kill(2) of our own child, which has not been reaped.
                    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                    cancelled_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() > CANCEL_GRACE => {
                    let _ = child.kill();
                }
                Some(_) => {}
            }
        }
        match &pidfd {
            Some(fd) => {
                let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: POLL.as_nanos() as i64,
                };
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Signals to pass on to a running container's command, raised from anywhere (a signal handler
/// included: [`SignalProxy::raise`] only touches an atomic) and delivered within one poll
/// interval. Only SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGUSR1 and SIGUSR2 are passed on.
#[derive(Debug, Default)]
pub struct SignalProxy {
    pending: std::sync::atomic::AtomicU64,
}

impl SignalProxy {
    /// The signals a proxy passes on.
    pub const SIGNALS: [libc::c_int; 6] = [
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ];

    /// A proxy with nothing pending.
    pub const fn new() -> SignalProxy {
        SignalProxy {
            pending: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Ask for `sig` to be passed on (async-signal-safe); other signals are ignored.
    pub fn raise(&self, sig: libc::c_int) {
        if Self::SIGNALS.contains(&sig) {
            self.pending.fetch_or(1 << sig, Ordering::SeqCst);
        }
    }

    /// The pending signals, cleared.
    fn take(&self) -> Vec<libc::c_int> {
        let bits = self.pending.swap(0, Ordering::SeqCst);
        Self::SIGNALS
            .into_iter()
            .filter(|s| bits & (1 << s) != 0)
            .collect()
    }
}

/// Exit code of the helper (which mirrors PID 1's), 128+signal when it was killed.
fn code_of(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 255,
    }
}
