//! Preparing and executing the container's command: user, environment, working directory,
//! executable lookup, capabilities and the final `execve`.

use crate::error::{Error, IoContext, Result};
use crate::paths::{env_value, find_executable, DEFAULT_PATH};
use crate::security::capabilities as caps;
use crate::security::seccomp::{self, Filters, Profile};
use crate::spec::ContainerSpec;
use crate::spec::Security;
use crate::sys::{self, cstr};
use crate::user::resolve_exec_user_in;
use std::ffi::CString;
use std::os::unix::fs::{chown, DirBuilderExt};
use std::path::Path;

/// Everything prepared before forking the command.
pub(crate) struct Exec {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    uid: u32,
    gid: u32,
    groups: Vec<libc::gid_t>,
    /// The capabilities root keeps (bounding set for everyone).
    caps: u64,
    /// The seccomp filters to install (none when privileged).
    filters: Option<Filters>,
}

/// Resolve the user, environment, working directory and executable (inside the new root).
pub(crate) fn prepare_exec(spec: &ContainerSpec) -> Result<Exec> {
    if spec.args.is_empty() {
        return Err(Error::InvalidSpec("no command specified".to_string()));
    }
    let user = resolve_exec_user_in(Path::new("/"), &spec.user)?;
    let mut env = spec.env.clone();
    if env_value(&env, "PATH").is_none() {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if env_value(&env, "HOME").is_none() {
        env.push(format!("HOME={}", user.home));
    }
    let cwd = if spec.cwd.is_empty() {
        "/".to_string()
    } else {
        spec.cwd.clone()
    };
    let cwd = if cwd.starts_with('/') {
        cwd
    } else {
        format!("/{cwd}")
    };
    create_cwd(Path::new(&cwd), user.uid, user.gid)?;
    std::env::set_current_dir(&cwd)
        .map_err(|e| Error::Init(format!("chdir to cwd ({cwd:?}) set in config: {e}")))?;
    let path_var = env_value(&env, "PATH").unwrap_or(DEFAULT_PATH).to_string();
    let exe = find_executable(&spec.args[0], &path_var).map_err(Error::Init)?;
    let (caps, filters) = match spec.security {
        Security::Sandbox => {
            let caps = caps::default_mask();
            let filters = Profile::docker_default()
                .compile(caps, seccomp::kernel_version())
                .map_err(|e| Error::Init(e.to_string()))?;
            (caps, Some(filters))
        }
        Security::Privileged => (caps::all_mask(), None),
    };
    Ok(Exec {
        caps,
        filters,
        path: sys::cpath(&exe)?,
        argv: spec.args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|e| cstr(e)).collect::<Result<_>>()?,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups,
    })
}

/// Create `cwd` and its missing parents, owned by the user.
fn create_cwd(cwd: &Path, uid: u32, gid: u32) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = cwd;
    while std::fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    for dir in missing.iter().rev() {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(dir)
            .ctx(|| format!("create working directory {}", dir.display()))?;
        chown(dir, Some(uid), Some(gid))
            .ctx(|| format!("chown working directory {}", dir.display()))?;
    }
    Ok(())
}

/// In the forked command: drop privileges, restore signal dispositions, exec. Returns the error.
pub(crate) fn exec_command(exec: &Exec) -> std::io::Error {
    // SAFETY: all calls get valid pointers; this process is single-threaded.
    unsafe {
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    // The filter goes on first, while the process still has CAP_SYS_ADMIN (so without
    // no_new_privs, as docker); what follows is all allowed by it.
    if let Some(filters) = &exec.filters {
        if let Err(e) = seccomp::install(filters) {
            return std::io::Error::new(e.kind(), format!("install the seccomp filter: {e}"));
        }
    }
    if let Err(e) = caps::limit_bounding_set(exec.caps) {
        return std::io::Error::new(e.kind(), format!("limit capabilities: {e}"));
    }
    // SAFETY: groups points to groups.len() gids; the id calls take plain integers.
    let switched = unsafe {
        libc::setgroups(exec.groups.len(), exec.groups.as_ptr()) == 0
            && libc::setgid(exec.gid) == 0
            && libc::setuid(exec.uid) == 0
    };
    if !switched {
        let e = std::io::Error::last_os_error();
        return std::io::Error::new(
            e.kind(),
            format!("switch to user {}:{}: {e}", exec.uid, exec.gid),
        );
    }
    // A non-root user lost every capability in setuid; root keeps docker's default set.
    if exec.uid == 0 {
        if let Err(e) = caps::set_caps(exec.caps) {
            return std::io::Error::new(e.kind(), format!("set capabilities: {e}"));
        }
    }
    // Only stdin, stdout and stderr cross into the command (the exec status pipe is already
    // close-on-exec).
    if let Err(e) = crate::sys::cloexec_from(3) {
        return std::io::Error::new(e.kind(), format!("close inherited descriptors: {e}"));
    }
    let mut argv: Vec<*const libc::c_char> = exec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = exec.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: path, argv and envp are NUL-terminated strings and NULL-terminated arrays that
    // outlive the call.
    unsafe { libc::execve(exec.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    std::io::Error::last_os_error()
}
