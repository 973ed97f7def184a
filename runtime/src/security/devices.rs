//! The device policy: a cgroup per container that allows exactly docker's default devices, so
//! that a node made with `mknod` (the container has `CAP_MKNOD`, as in docker) or found in an
//! image cannot be opened unless it is one of them. On cgroup v1 through the devices
//! controller; on v2 (no such controller) through an eBPF device program (`device_bpf`).
//! `KILN_DEVICE_CGROUP=v1|v2` chooses (the default: v1 when the machine has it).

use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// docker's default device rules (runc's `AllowedDevices`, as `devices.list` shows them in a
/// docker container here): any node may be created, only these may be read or written.
pub const ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",    // null
    "c 1:5 rwm",    // zero
    "c 1:7 rwm",    // full
    "c 1:8 rwm",    // random
    "c 1:9 rwm",    // urandom
    "c 5:0 rwm",    // tty
    "c 5:1 rwm",    // console
    "c 5:2 rwm",    // ptmx
    "c 10:200 rwm", // net/tun
    "c 136:* rwm",  // pts/*
];

/// Names of the cgroups the runtime makes: `kiln-<pid>-<n>`, under `kiln/` in the caller's
/// own devices cgroup.
const PARENT: &str = "kiln";

/// One container's devices cgroup; removed when dropped (it is empty by then: the container's
/// processes are gone once its init has been reaped).
#[derive(Debug)]
pub struct DeviceCgroup {
    path: PathBuf,
    /// v2: the attached program (detached when the cgroup goes).
    _program: Option<std::os::fd::OwnedFd>,
}

impl DeviceCgroup {
    /// Create the cgroup with docker's rules. `Ok(None)` when this machine has no v1 devices
    /// controller (the caller decides what that means).
    pub fn create() -> Result<Option<DeviceCgroup>> {
        let v1 = || {
            own_cgroup(
                |fstype, opts| fstype == "cgroup" && opts.contains("devices"),
                "devices",
            )
        };
        let v2 = || own_cgroup(|fstype, _| fstype == "cgroup2", "");
        match std::env::var("KILN_DEVICE_CGROUP").as_deref() {
            Ok("v2") => v2().map(Self::create_v2).transpose(),
            Ok("v1") => v1().map(Self::create_v1).transpose(),
            _ => match v1() {
                Some(base) => Self::create_v1(base).map(Some),
                None => v2().map(Self::create_v2).transpose(),
            },
        }
    }

    fn create_v1(base: PathBuf) -> Result<DeviceCgroup> {
        let cg = Self::make(&base)?;
        cg.write("devices.deny", "a")?;
        for rule in ALLOWED {
            cg.write("devices.allow", rule)?;
        }
        Ok(cg)
    }

    fn create_v2(base: PathBuf) -> Result<DeviceCgroup> {
        let mut cg = Self::make(&base)?;
        let rules: Vec<super::device_bpf::Rule> = ALLOWED
            .iter()
            .map(|r| super::device_bpf::Rule::parse(r).expect("the allow-list parses"))
            .collect();
        let dir = crate::fdmount::open_dir(&cg.path)?;
        let prog = super::device_bpf::attach(std::os::fd::AsFd::as_fd(&dir), &rules)
            .ctx(|| format!("attach the device program to {}", cg.path.display()))?;
        cg._program = Some(prog);
        Ok(cg)
    }

    /// Make `<base>/kiln/kiln-<pid>-<n>`.
    fn make(base: &Path) -> Result<DeviceCgroup> {
        let parent = base.join(PARENT);
        match std::fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(format!("create {}", parent.display()), e)),
        }
        sweep(&parent);
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "kiln-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = parent.join(name);
        std::fs::create_dir(&path).ctx(|| format!("create {}", path.display()))?;
        Ok(DeviceCgroup {
            path,
            _program: None,
        })
    }

    /// Move process `pid` (and so everything it forks from now on) into the cgroup.
    pub fn add(&self, pid: u32) -> Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let p = self.path.join(file);
        std::fs::write(&p, value).ctx(|| format!("write {value:?} to {}", p.display()))
    }
}

impl Drop for DeviceCgroup {
    fn drop(&mut self) {
        // The last processes may still be exiting for a moment after their parent saw them go.
        for _ in 0..200 {
            match std::fs::remove_dir(&self.path) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                _ => return,
            }
        }
    }
}

/// Remove the cgroups left by kiln processes that are gone (killed before they could clean up).
/// A cgroup that still has processes cannot be removed, so a live container is never touched.
fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kiln-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// The directory of this process's own cgroup in the hierarchy whose mount `matches`
/// (`fstype`, super options) and whose `/proc/self/cgroup` line names `controller` (empty: the
/// v2 line, `0::/path`).
fn own_cgroup(matches: impl Fn(&str, &str) -> bool, controller: &str) -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|line| {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let (left, right) = line.split_once(" - ")?;
        let mut r = right.split(' ');
        let (fstype, _source, superopts) = (r.next()?, r.next()?, r.next().unwrap_or(""));
        let opts: Vec<&str> = superopts.split(',').collect();
        if !matches(fstype, &opts.join(" ")) {
            return None;
        }
        if !controller.is_empty() && !opts.contains(&controller) {
            return None;
        }
        let f: Vec<&str> = left.split(' ').collect();
        Some((f.get(3)?.to_string(), PathBuf::from(f.get(4)?)))
    })?;
    let (mount_root, mount_point) = mount;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            id == "0" && controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })?;
    // The path is relative to the hierarchy's root; the mount shows `mount_root` of it.
    let rel = Path::new(&own).strip_prefix(&mount_root).ok()?;
    Some(mount_point.join(rel))
}
