//! PID 1 of the container: builds the filesystem, switches to the container's view, forks the
//! command and stays as a minimal init: it forwards signals, reaps zombies and exits with the
//! command's status. Failures before the command runs are returned as errors, which the helper
//! writes to the status pipe (close-on-exec) for the parent.

use crate::error::{Error, IoContext, Result};
use crate::exec::{exec_command, prepare_exec};
use crate::helper::{InitConfig, STARTED};
use crate::rootfs::{self, DEFAULT_HOSTNAME};
use crate::security::keyring;
use crate::sys;
use std::io::Read;
use std::sync::atomic::{AtomicI32, Ordering};

/// Exit code when the command could not be executed.
const EXEC_FAILED: i32 = 127;
/// Signals PID 1 passes on to the command.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// In PID 1: the pid of the command, for signal forwarding.
static COMMAND_PID: AtomicI32 = AtomicI32::new(0);

/// The set of [`FORWARDED`] signals.
fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset takes valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, *sig);
        }
        set
    }
}

/// In PID 1: pass a signal on to the command.
extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = COMMAND_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// PID 1 of the container. Returns only on a setup failure.
pub(crate) fn init_main(
    config: &InitConfig,
    status_fd: libc::c_int,
) -> Result<std::convert::Infallible> {
    let spec = &config.spec;
    // A session of its own, without a controlling terminal: the caller's terminal must not be
    // reachable through /dev/tty (TIOCSTI would type into the user's shell). Signals from the
    // terminal reach the command through the helper, which forwards them.
    // SAFETY: plain syscall; PID 1 is not a process group leader (forked by the helper).
    sys::cvt(unsafe { libc::setsid() }).ctx(|| "start a new session".to_string())?;
    // A mount namespace of its own, so pivot_root leaves the helper's root alone.
    // SAFETY: plain syscall.
    sys::cvt(unsafe { libc::unshare(libc::CLONE_NEWNS) })
        .ctx(|| "unshare the mount namespace".to_string())?;
    rootfs::setup(spec, &config.state_dir, config.network)?;
    let hostname = if spec.hostname.is_empty() {
        DEFAULT_HOSTNAME
    } else {
        spec.hostname.as_str()
    };
    // SAFETY: pointer and length describe a valid buffer.
    sys::cvt(unsafe { libc::sethostname(hostname.as_ptr().cast(), hostname.len()) })
        .ctx(|| format!("set hostname {hostname:?}"))?;
    if config.network.new_namespace() {
        crate::network::loopback_up()?;
    }
    // As runc, privileged or not: the caller's session keyring stays outside.
    keyring::join_private_session_keyring()
        .map_err(|e| Error::io("join a private session keyring", e))?;
    // PID 1 keeps its privileges to the end: the command must not be able to trace it or
    // read its memory and descriptors through /proc/1.
    // SAFETY: prctl with integer arguments.
    sys::cvt(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })
        .ctx(|| "make the container's init non-dumpable".to_string())?;
    // SAFETY: umask has no memory effects.
    unsafe { libc::umask(0o022) };
    let exec = prepare_exec(spec)?;
    if let Some(fd) = config.net_ready_fd {
        wait_for_network(fd)?;
    }
    let (exec_r, exec_w) = sys::pipe_cloexec().ctx(|| "create the exec status pipe".to_string())?;
    // Hold the forwarded signals until their handlers are in place: PID 1 drops a signal it has
    // no handler for, and a fast command may signal it before the handlers are installed.
    let forwarded = forwarded_set();
    // SAFETY: valid signal sets; PID 1 is single-threaded.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &forwarded, std::ptr::null_mut()) };
    // SAFETY: PID 1 is single-threaded (forked from the single-threaded helper).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io(
            "fork the command",
            std::io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        drop(exec_r);
        // SAFETY: as above; the command starts with no signal blocked.
        unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &forwarded, std::ptr::null_mut()) };
        let err = exec_command(&exec);
        let arg0 = spec.args.first().map(String::as_str).unwrap_or("");
        sys::write_all_fd(
            std::os::fd::AsRawFd::as_raw_fd(&exec_w),
            format!("exec: \"{arg0}\": {err}").as_bytes(),
        );
        // SAFETY: leave the forked child without running the parent's destructors.
        unsafe { libc::_exit(EXEC_FAILED) };
    }
    COMMAND_PID.store(pid, Ordering::SeqCst);
    for sig in FORWARDED {
        let _ = sys::set_signal_handler(
            *sig,
            forward_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    // Signals that arrived meanwhile are delivered now, to the handlers.
    // SAFETY: valid signal set.
    unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &forwarded, std::ptr::null_mut()) };
    drop(exec_w);
    let mut msg = Vec::new();
    let mut exec_r = exec_r;
    let _ = exec_r.read_to_end(&mut msg);
    if !msg.is_empty() {
        let _ = sys::wait_pid(pid);
        return Err(Error::Init(String::from_utf8_lossy(&msg).into_owned()));
    }
    // The command started: say so (a silent death of the init reads differently), then close.
    sys::write_all_fd(status_fd, STARTED);
    // SAFETY: nothing else is reported through the status pipe.
    unsafe { libc::close(status_fd) };
    reap(pid)
}

/// Block until the parent says the network is ready (one byte), or fail if it gave up.
fn wait_for_network(fd: libc::c_int) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: valid one-byte buffer.
        let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
        if n == 1 {
            // SAFETY: we own the descriptor; it is not used again.
            unsafe { libc::close(fd) };
            return Ok(());
        }
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return Err(Error::Init(
            "the container's network could not be set up".to_string(),
        ));
    }
}

/// The init loop: reap every child; exit with the command's status once it is gone.
fn reap(command: libc::pid_t) -> Result<std::convert::Infallible> {
    loop {
        let mut status = 0;
        // SAFETY: valid out pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == command {
            std::process::exit(sys::exit_code(status));
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io("wait for the command", e));
            }
        }
    }
}
