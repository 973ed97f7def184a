//! The helper process: [`crate::Runtime::run`] starts it (already unshared into new namespaces)
//! with the spec on a pipe. Being single-threaded it may fork: its child becomes PID 1 of the new PID
//! namespace (see [`crate::init`]), and the helper waits for it, mirroring its exit status. A SIGTERM
//! from the parent means "cancel": the helper SIGKILLs PID 1, which takes the namespace with it.
//! SIGINT, SIGQUIT, SIGHUP, SIGUSR1 and SIGUSR2 are passed on to PID 1 (which passes them on to
//! the command), and so is SIGTERM when the parent sends [`forward_term_signal`] instead.

use crate::error::{Error, IoContext, Result};
use crate::init::init_main;
use crate::spec::ContainerSpec;
use crate::sys;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

/// The `argv[1]` marking a process as the runtime's init helper.
pub const RUNTIME_INIT_ARG: &str = "__kiln-runtime-init";

/// Exit code of the helper or init when it failed before the command started.
pub(crate) const SETUP_FAILED: i32 = 126;
/// Written to the status pipe once the command has been executed.
pub(crate) const STARTED: &[u8] = b"\0";
/// What the parent sends the helper over the spec pipe.
#[derive(Serialize, Deserialize)]
pub(crate) struct InitConfig {
    /// The container.
    pub spec: ContainerSpec,
    /// An empty host directory for the init's private tmpfs (mount points of the rootfs and stubs).
    pub state_dir: PathBuf,
    /// What the network is (the spec's choice, resolved by the parent).
    pub network: crate::network::Plan,
    /// A pipe on which the parent writes one byte once the network is ready (the NAT helper
    /// has configured it); the command is not started before. `None`: nothing to wait for.
    pub net_ready_fd: Option<libc::c_int>,
}

/// Signals the helper passes on to PID 1 as they are.
const FORWARDED: [libc::c_int; 5] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The signal the parent sends the helper for "deliver SIGTERM to the command" (SIGTERM itself
/// means cancel): the first real-time signal after the two the C library keeps.
pub(crate) fn forward_term_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

/// In the helper: the pid of PID 1 (host view), for the SIGTERM handler.
static INIT_PID: AtomicI32 = AtomicI32::new(0);
/// If `argv[1]` is [`RUNTIME_INIT_ARG`], run the container init and exit; otherwise return.
/// Call it first thing in `main`, before any thread is started.
pub fn maybe_run_init() {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() != Some(OsStr::new(RUNTIME_INIT_ARG)) {
        return;
    }
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    std::process::exit(helper_main(&rest));
}

/// Parse a descriptor number argument.
fn fd_arg(args: &[String], i: usize) -> Option<libc::c_int> {
    args.get(i)?.parse().ok().filter(|fd| *fd > 2)
}

/// The helper: `__kiln-runtime-init SPEC_FD STATUS_FD`.
fn helper_main(args: &[String]) -> i32 {
    let (Some(spec_fd), Some(status_fd)) = (fd_arg(args, 0), fd_arg(args, 1)) else {
        eprintln!("kiln runtime helper: usage: {RUNTIME_INIT_ARG} SPEC_FD STATUS_FD");
        return 2;
    };
    let fail = |msg: String| {
        sys::write_all_fd(status_fd, msg.as_bytes());
        SETUP_FAILED
    };
    if let Err(e) = sys::set_cloexec(status_fd, true).and_then(|_| sys::set_cloexec(spec_fd, true))
    {
        return fail(format!("runtime helper: bad descriptors: {e}"));
    }
    let config = match read_config(spec_fd) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    if let Some(fd) = config.net_ready_fd {
        if let Err(e) = sys::set_cloexec(fd, true) {
            return fail(format!("runtime helper: bad descriptors: {e}"));
        }
    }
    if let Some(n) = thread_count().filter(|n| *n > 1) {
        return fail(format!(
            "runtime helper has {n} threads: maybe_run_init must run before any thread starts"
        ));
    }
    // Ctrl-C reaches the whole process group: until PID 1 exists the helper ignores it (kiln
    // decides), then forwards it (below); likewise the signals the parent proxies.
    for sig in FORWARDED.into_iter().chain([forward_term_signal()]) {
        let _ = sys::set_signal_handler(sig, libc::SIG_IGN);
    }
    // Hold SIGTERM (the parent's cancel) until PID 1 has its death signal and the helper its
    // handler, so the helper cannot die in between and leave PID 1 orphaned. (getppid cannot tell:
    // PID 1's parent is outside its PID namespace, so it reads 0.)
    block_sigterm(true);
    // SAFETY: the helper is single-threaded (checked above), so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return fail(format!(
            "runtime helper: fork: {}",
            std::io::Error::last_os_error()
        ));
    }
    if pid == 0 {
        // SAFETY: prctl has no memory effects.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
        block_sigterm(false);
        let msg = match init_main(&config, status_fd) {
            Ok(never) => match never {},
            Err(e) => e.to_string(),
        };
        sys::write_all_fd(status_fd, msg.as_bytes());
        // SAFETY: leaving without running destructors or atexit handlers is what we want here.
        unsafe { libc::_exit(SETUP_FAILED) };
    }
    INIT_PID.store(pid, Ordering::SeqCst);
    let _ = sys::set_signal_handler(
        libc::SIGTERM,
        kill_init as extern "C" fn(libc::c_int) as libc::sighandler_t,
    );
    // The container has a session of its own: Ctrl-C, Ctrl-\ and a hangup at the caller's
    // terminal reach the helper (in the caller's process group), which passes them on, as
    // docker run's signal proxy does; so does what the parent proxies (see `Runtime::run_proxied`).
    for sig in FORWARDED.into_iter().chain([forward_term_signal()]) {
        let _ = sys::set_signal_handler(
            sig,
            forward_to_init as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    block_sigterm(false);
    // SAFETY: we own status_fd; PID 1 has its own copy.
    unsafe { libc::close(status_fd) };
    match sys::wait_pid(pid) {
        Ok(status) => sys::exit_code(status),
        Err(_) => SETUP_FAILED,
    }
}

/// Block or unblock SIGTERM for this (single-threaded) process.
fn block_sigterm(block: bool) {
    // SAFETY: a zeroed sigset_t is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::sigprocmask(how, &set, std::ptr::null_mut());
    }
}

/// SIGTERM in the helper means "cancel": kill PID 1, which takes the whole PID namespace with it.
extern "C" fn kill_init(_sig: libc::c_int) {
    let pid = INIT_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// In the helper: pass a signal on to PID 1, which passes it on to the command.
extern "C" fn forward_to_init(sig: libc::c_int) {
    let pid = INIT_PID.load(Ordering::SeqCst);
    let sig = if sig == forward_term_signal() {
        libc::SIGTERM
    } else {
        sig
    };
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Read the JSON config from the spec pipe.
fn read_config(fd: libc::c_int) -> Result<InitConfig> {
    // SAFETY: the parent passed us this descriptor; we take ownership and close it when done.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)
        .ctx(|| "runtime helper: read the container spec".to_string())?;
    serde_json::from_slice(&buf)
        .map_err(|e| Error::InvalidSpec(format!("runtime helper: bad spec JSON: {e}")))
}

/// The number of threads of this process, from /proc.
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}
