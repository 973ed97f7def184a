//! Helpers of the store tests (permissions, prune, crashes): looking inside a kiln root the way
//! an attacker or an operator would, and killing kiln mid-command.

#![allow(dead_code)]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every setuid/setgid file and device node under `root` (symlinks not followed).
pub fn dangerous_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_char_device()
                || ft.is_block_device()
                || (ft.is_file() && md.permissions().mode() & 0o6000 != 0)
            {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Run `args` as the unprivileged user nobody (65534:65534, no supplementary groups).
pub fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs")
}

/// Can nobody see `path` at all (`stat` succeeds)?
pub fn nobody_can_stat(path: &Path) -> bool {
    as_nobody(&["/bin/busybox", "stat", "-c", "%n", path.to_str().unwrap()])
        .status
        .success()
}

/// Mode bits of a path.
pub fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// A kiln command in its own process group, so that killing the group kills it and every
/// process it started.
pub fn spawn_group(mut cmd: Command) -> Child {
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// SIGKILL the whole process group of `child` and reap it.
pub fn kill_group(child: &mut Child) {
    // SAFETY: kill has no memory-safety preconditions; the group id is the child's pid.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
    // Processes of the group that were not its children (a container's init) die too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && group_alive(child.id() as i32) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Wait until `f` holds (polling), or panic after `secs` naming `what`.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ids of the uncommitted (active) snapshots of a kiln root.
pub fn active_snapshots(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root.join("snapshots/snapshots")) else {
        return out;
    };
    for e in rd.flatten() {
        let meta = e.path().join("meta.json");
        let committed = std::fs::read(&meta)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .map(|v| v["committed"] == true);
        if committed != Some(true) {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// Names of the partial blobs in `content/ingest` (with their sizes).
pub fn partial_blobs(root: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(root.join("content/ingest"))
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().map(|m| m.len()).unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The RECLAIMABLE column of the Build Cache row of `kiln system df`.
pub fn df_reclaimable(df: &str) -> String {
    df.lines()
        .find(|l| l.starts_with("Build Cache"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no Build Cache row in:\n{df}"))
        .to_string()
}

/// The figure of `Total reclaimed space: X` in `kiln prune`'s output.
pub fn prune_reclaimed(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("no reclaimed space in:\n{out}"))
        .trim()
        .to_string()
}

/// A root filesystem with what an attacker's image carries: a setuid-root copy of busybox at
/// `/bin/suid` and a world-writable character device (`/dev/null`'s numbers) at `/dev/rawnull`.
pub fn hostile_rootfs(dir: &Path) {
    let st = Command::new(super::common::repo().join("scripts/busybox-rootfs.sh"))
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success());
    let suid = dir.join("bin/suid");
    std::fs::copy(dir.join("bin/busybox"), &suid).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::create_dir_all(dir.join("dev")).unwrap();
    let dev = dir.join("dev/rawnull");
    let c = std::ffi::CString::new(dev.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mknod creates a node and touches no memory of ours.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o666)).unwrap();
}
