//! Building the container's filesystem inside the init's private mount namespace: the rootfs, `/proc`,
//! a minimal `/dev`, `/sys`, the generated `/etc` files, the extra mounts, then `pivot_root`.
//!
//! Everything the runtime creates for itself (mount-point stubs, generated files, scratch overlay
//! dirs) lives on a tmpfs mounted over the state directory, so nothing is written into the rootfs's
//! upper layer except what is unavoidable (mount points missing in a `Dir` rootfs, or below a symlink).

use crate::error::{Error, IoContext, Result};
use crate::mounts::Prepared;
use crate::overlay::{mount_overlay, UpperWork};
use crate::spec::{ContainerSpec, MountKind, MountSpec, Rootfs};
use crate::{kernelfs, mounts, network, sys, target};
use std::fs;
use std::path::{Path, PathBuf};

/// Files generated per container and bind-mounted over the rootfs's.
const ETC_FILES: &[&str] = &["hosts", "hostname", "resolv.conf"];

/// The kernel filesystems' mount points, at the root.
const KERNEL_DIRS: &[&str] = &["proc", "sys", "dev"];

/// The default hostname when the spec has none.
pub const DEFAULT_HOSTNAME: &str = "kiln";

/// The state tmpfs layout.
struct State {
    /// Mount point of the container's root.
    root: PathBuf,
    /// A directory tree of mount-point stubs, the lowest overlay layer.
    stubs: PathBuf,
    /// `/proc`, `/sys` and `/dev` as directories, the highest read-only layer (docker's init
    /// layer): they replace whatever the image has there (a symlink to elsewhere, a file).
    top: PathBuf,
    /// Generated `/etc` files.
    files: PathBuf,
    /// Upper/work dirs of scratch overlays.
    scratch: PathBuf,
}

/// Set up every mount for `spec` and `pivot_root` into it. Must run in a private mount namespace,
/// in the new PID namespace (for `/proc`), as root.
pub fn setup(spec: &ContainerSpec, state_dir: &Path, network: network::Plan) -> Result<()> {
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )?;
    let state = mount_state(state_dir)?;
    let scratch = |i: usize| state.scratch.join(i.to_string());
    let prepared = spec
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| mounts::prepare(m, &scratch(i)))
        .collect::<Result<Vec<_>>>()?;
    write_etc_files(spec, &state.files, network)?;
    mount_rootfs(spec, &state, &prepared)?;
    let root = &state.root;
    if matches!(spec.rootfs, Rootfs::Dir(_)) {
        // No layer can go over a directory rootfs: create what is missing (a symlink or a
        // file in the way is refused by the mounting below).
        for d in KERNEL_DIRS {
            let p = root.join(d);
            if fs::symlink_metadata(&p).is_err() {
                fs::create_dir(&p).ctx(|| format!("create mount point /{d}"))?;
            }
        }
    }
    kernelfs::mount_all(root, spec.security)?;
    for name in ETC_FILES {
        let target = target::ensure(root, &format!("/etc/{name}"), true)?;
        sys::mount(
            Some(&state.files.join(name)),
            &target.path(),
            None,
            libc::MS_BIND,
            None,
        )?;
    }
    for (i, (m, p)) in spec.mounts.iter().zip(&prepared).enumerate() {
        mounts::mount_extra(root, m, p, &scratch(i))?;
    }
    pivot(root)
}

/// Mount a private tmpfs over `state_dir` and lay it out.
fn mount_state(state_dir: &Path) -> Result<State> {
    sys::mount(
        Some(Path::new("tmpfs")),
        state_dir,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=0700"),
    )?;
    let state = State {
        root: state_dir.join("root"),
        stubs: state_dir.join("stubs"),
        top: state_dir.join("top"),
        files: state_dir.join("files"),
        scratch: state_dir.join("scratch"),
    };
    for d in [
        &state.root,
        &state.stubs,
        &state.top,
        &state.files,
        &state.scratch,
    ] {
        fs::create_dir(d).ctx(|| format!("create {}", d.display()))?;
    }
    for d in KERNEL_DIRS {
        let p = state.top.join(d);
        fs::create_dir(&p).ctx(|| format!("create {}", p.display()))?;
    }
    Ok(state)
}

/// Generate `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` into `files`.
fn write_etc_files(spec: &ContainerSpec, files: &Path, network: network::Plan) -> Result<()> {
    let hostname = if spec.hostname.is_empty() {
        DEFAULT_HOSTNAME
    } else {
        spec.hostname.as_str()
    };
    let host_resolv = fs::read_to_string("/etc/resolv.conf").ok();
    let contents = [
        ("hosts", network::hosts_file(hostname, &spec.extra_hosts)),
        ("hostname", format!("{hostname}\n")),
        (
            "resolv.conf",
            network::resolv_conf(host_resolv.as_deref(), network),
        ),
    ];
    for (name, text) in contents {
        let p = files.join(name);
        fs::write(&p, text).ctx(|| format!("write {}", p.display()))?;
    }
    Ok(())
}

/// Mount the root filesystem on `state.root`.
fn mount_rootfs(spec: &ContainerSpec, state: &State, prepared: &[Prepared]) -> Result<()> {
    match &spec.rootfs {
        Rootfs::Dir(dir) => {
            sys::mount(
                Some(dir),
                &state.root,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
        }
        Rootfs::Overlay {
            lowers,
            upper,
            work,
        } => {
            make_stubs(spec, prepared, &state.stubs)?;
            let mut layers = vec![state.top.clone()];
            layers.extend(lowers.iter().cloned());
            layers.push(state.stubs.clone());
            let rw = UpperWork { upper, work };
            mount_overlay(&layers, Some(&rw), &state.root, false)?;
        }
    }
    Ok(())
}

/// Create, in the stub layer, every mount point the runtime will need, so that the overlay shows
/// them without anything being written to the upper dir.
fn make_stubs(spec: &ContainerSpec, prepared: &[Prepared], stubs: &Path) -> Result<()> {
    let tree = inroot::Root::open(stubs).map_err(|source| Error::InRoot {
        context: "open the stub layer".to_string(),
        source,
    })?;
    let fail = |what: &str| {
        let what = what.to_string();
        move |source| Error::InRoot {
            context: format!("create the mount point stub {what}"),
            source,
        }
    };
    let mut dirs: Vec<String> = vec!["/etc".into()];
    let mut files: Vec<String> = ETC_FILES.iter().map(|f| format!("/etc/{f}")).collect();
    for (m, p) in spec.mounts.iter().zip(prepared) {
        if p.is_file {
            files.push(m.dest.clone());
        } else {
            dirs.push(m.dest.clone());
        }
    }
    for d in dirs {
        tree.mkdir_all(&d, 0o755, &mut |_, _| Ok(()))
            .map_err(fail(&d))?;
    }
    for f in files {
        let (dir, name) = tree
            .create_parent(&f, 0o755, &mut |_, _| Ok(()))
            .map_err(fail(&f))?;
        if dir.stat(&name).map_err(fail(&f))?.is_none() {
            dir.create_file(&name, 0o644).map_err(fail(&f))?;
        }
    }
    Ok(())
}

/// True for a file in memory, or a bind mount whose source is not a directory (the mount
/// point must be a file).
pub(crate) fn source_is_file(m: &MountSpec) -> bool {
    if matches!(m.kind, MountKind::MemFile { .. }) {
        return true;
    }
    matches!(m.kind, MountKind::Bind { .. })
        && fs::metadata(&m.source)
            .map(|md| !md.is_dir())
            .unwrap_or(false)
}

/// `pivot_root` into `root` and detach the old root.
fn pivot(root: &Path) -> Result<()> {
    std::env::set_current_dir(root).ctx(|| format!("chdir to {}", root.display()))?;
    let here = Path::new(".");
    sys::pivot_root(here, here)?;
    // The old root is now stacked under "."; keep its unmount from propagating, then detach it.
    sys::mount(None, here, None, libc::MS_SLAVE | libc::MS_REC, None)?;
    sys::umount2(here, libc::MNT_DETACH)?;
    std::env::set_current_dir("/").ctx(|| "chdir to / after pivot_root".to_string())
}
