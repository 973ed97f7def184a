//! Mounting snapshots in a private mount namespace owned by a dedicated thread, so
//! nothing stays mounted once the thread is done (even if the caller panics or dies).

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::random::random_hex128;

/// Prefix of the temporary mount directories under the snapshotter's `tmp/`.
pub(crate) const MOUNT_PREFIX: &str = "mnt-";
/// Prefix of the overlay probe's directories under the snapshotter's `tmp/`.
pub(crate) const PROBE_PREFIX: &str = "probe-";

/// Overlay option strings must fit in one page; stay well below it.
const MAX_OPTIONS_LEN: usize = 3900;

/// What to mount at the temporary mount point.
#[derive(Debug, Clone)]
pub(crate) enum MountSpec {
    /// An overlay: `lowers` top first (never empty), plus `(upper, work)` when writable.
    /// Paths under `base` (or its parent) are passed relative to it, which keeps the
    /// option string short and free of the `,`/`:` a root path might contain.
    Overlay {
        base: PathBuf,
        lowers: Vec<PathBuf>,
        upper: Option<(PathBuf, PathBuf)>,
        extra_options: String,
    },
    /// A bind mount of `src`, read-only if `readonly`.
    Bind { src: PathBuf, readonly: bool },
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains NUL"))
}

fn sys_mount(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let src = src.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype
        .map(|s| CString::new(s).map_err(|_| io::Error::other("NUL in fstype")))
        .transpose()?;
    let data = data
        .map(|s| CString::new(s).map_err(|_| io::Error::other("NUL in mount options")))
        .transpose()?;
    // SAFETY: all pointers are valid NUL-terminated strings or null.
    let r = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            data.as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr().cast::<libc::c_void>()),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn umount(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: valid C string.
    let r = unsafe { libc::umount2(t.as_ptr(), 0) };
    if r == 0 {
        return Ok(());
    }
    // Busy (a process `f` started still uses it): detach lazily.
    // SAFETY: valid C string.
    let r = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Move the calling thread into a new private mount namespace (its own cwd too).
fn enter_private_namespace() -> Result<()> {
    // SAFETY: unshare only affects the calling thread's namespaces / fs struct.
    let r = unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) };
    if r < 0 {
        return Err(Error::Mount {
            what: "unshare(CLONE_NEWNS)".into(),
            source: io::Error::last_os_error(),
        });
    }
    sys_mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
    .map_err(|source| Error::Mount {
        what: "make / rprivate".into(),
        source,
    })
}

/// Unmounts on drop (also when the closure panics).
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = umount(self.0);
    }
}

/// Build the overlay option string and the directory to chdir to before mounting. Paths
/// under `base` are given relative to it; when that is still too long, `linkdir` gets
/// short symlinks to every layer (and to upper/work) and the paths are relative to it.
fn overlay_options(
    base: &Path,
    lowers: &[PathBuf],
    upper: Option<&(PathBuf, PathBuf)>,
    extra: &str,
    linkdir: &Path,
) -> Result<(String, PathBuf)> {
    let rel = |p: &Path| -> String {
        if let Ok(r) = p.strip_prefix(base) {
            if !r.as_os_str().is_empty() {
                return r.to_string_lossy().into_owned();
            }
        }
        if let Some(Ok(r)) = base.parent().map(|b| p.strip_prefix(b)) {
            if !r.as_os_str().is_empty() {
                return format!("../{}", r.to_string_lossy());
            }
        }
        p.to_string_lossy().into_owned()
    };
    let tail = |lower: String, upper: Option<(String, String)>| -> String {
        let mut o = format!("lowerdir={lower}");
        if let Some((u, w)) = upper {
            o.push_str(&format!(",upperdir={u},workdir={w}"));
        }
        if !extra.is_empty() {
            o.push(',');
            o.push_str(extra);
        }
        o
    };
    let opts = tail(
        lowers.iter().map(|l| rel(l)).collect::<Vec<_>>().join(":"),
        upper.map(|(u, w)| (rel(u), rel(w))),
    );
    if opts.len() <= MAX_OPTIONS_LEN {
        return Ok((opts, base.to_path_buf()));
    }
    fs::create_dir_all(linkdir).ctx("create directory", linkdir)?;
    let link = |target: &Path, name: String| -> Result<String> {
        let link = linkdir.join(&name);
        std::os::unix::fs::symlink(target, &link).ctx("create symlink", &link)?;
        Ok(name)
    };
    let mut names = Vec::with_capacity(lowers.len());
    for (i, l) in lowers.iter().enumerate() {
        names.push(link(l, format!("{i:x}"))?);
    }
    let upper = match upper {
        Some((u, w)) => Some((link(u, "u".into())?, link(w, "w".into())?)),
        None => None,
    };
    let opts = tail(names.join(":"), upper);
    if opts.len() > MAX_OPTIONS_LEN {
        return Err(Error::Mount {
            what: format!("overlay with {} layers", lowers.len()),
            source: io::Error::other("mount options exceed one page even with short names"),
        });
    }
    Ok((opts, linkdir.to_path_buf()))
}

/// Mount `spec` at `target` in the calling thread's (private) namespace.
fn do_mount(spec: &MountSpec, target: &Path, scratch: &Path) -> Result<()> {
    match spec {
        MountSpec::Bind { src, readonly } => {
            sys_mount(Some(src), target, None, libc::MS_BIND | libc::MS_REC, None).map_err(
                |source| Error::Mount {
                    what: format!("bind {} on {}", src.display(), target.display()),
                    source,
                },
            )?;
            if *readonly {
                sys_mount(
                    None,
                    target,
                    None,
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                    None,
                )
                .map_err(|source| Error::Mount {
                    what: format!("remount {} read-only", target.display()),
                    source,
                })?;
            }
            Ok(())
        }
        MountSpec::Overlay {
            base,
            lowers,
            upper,
            extra_options,
        } => {
            let (opts, cwd) = overlay_options(
                base,
                lowers,
                upper.as_ref(),
                extra_options,
                &scratch.join("l"),
            )?;
            std::env::set_current_dir(&cwd).ctx("chdir", &cwd)?;
            let flags = if upper.is_some() { 0 } else { libc::MS_RDONLY };
            let res = sys_mount(
                Some(Path::new("overlay")),
                target,
                Some("overlay"),
                flags,
                Some(&opts),
            );
            let _ = std::env::set_current_dir("/");
            res.map_err(|source| Error::Mount {
                what: format!("overlay on {} ({opts})", target.display()),
                source,
            })
        }
    }
}

/// Run `f` with `spec` mounted at a fresh directory under `tmp`, in a private mount
/// namespace of a dedicated thread. The mount is removed before returning. The directory is
/// `mnt-<owner>-<random>` (`mnt-<random>` without an owner): a collector removes it only once
/// its owner lease is dead, since removing a directory another namespace mounts on detaches
/// that mount.
pub(crate) fn with_mount<T: Send>(
    tmp: &Path,
    owner: Option<&str>,
    spec: &MountSpec,
    f: impl FnOnce(&Path) -> T + Send,
) -> Result<T> {
    let scratch = match owner {
        Some(o) => tmp.join(format!("{MOUNT_PREFIX}{o}-{}", random_hex128())),
        None => tmp.join(format!("{MOUNT_PREFIX}{}", random_hex128())),
    };
    let target = scratch.join("m");
    fs::create_dir_all(&target).ctx("create directory", &target)?;
    let res = std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            enter_private_namespace()?;
            do_mount(spec, &target, &scratch)?;
            let _guard = Unmount(&target);
            Ok(f(&target))
        })
        .join()
        .unwrap_or(Err(Error::Panicked))
    });
    let _ = fs::remove_dir_all(&scratch);
    res
}

/// Run `f` in a private mount namespace of a dedicated thread without mounting anything
/// (used to probe what the kernel allows).
pub(crate) fn in_private_namespace<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_private_namespace()?;
            f()
        })
        .join()
        .unwrap_or(Err(Error::Panicked))
    })
}

/// Overlay options to try, most restrictive first: without index/redirect/metacopy the
/// upper directory stays a plain diff we can turn into a layer tar.
const OVERLAY_EXTRA_CANDIDATES: [&str; 2] = ["index=off,redirect_dir=off,metacopy=off", ""];

/// Try a writable overlay mount (and an opaque xattr) under `tmp`. Returns the extra
/// options that worked, or `None` when overlay cannot be used here.
pub(crate) fn probe_overlay(tmp: &Path) -> Option<String> {
    let dir = tmp.join(format!("{PROBE_PREFIX}{}", random_hex128()));
    let result = (|| -> Result<Option<String>> {
        for d in ["l1", "l2", "u", "w", "m"] {
            fs::create_dir_all(dir.join(d)).ctx("create directory", &dir)?;
        }
        if crate::whiteout::set_overlay_opaque(&dir.join("l1")).is_err() {
            return Ok(None);
        }
        in_private_namespace(|| {
            for extra in OVERLAY_EXTRA_CANDIDATES {
                let spec = MountSpec::Overlay {
                    base: dir.clone(),
                    lowers: vec![dir.join("l1"), dir.join("l2")],
                    upper: Some((dir.join("u"), dir.join("w"))),
                    extra_options: extra.to_string(),
                };
                let target = dir.join("m");
                if do_mount(&spec, &target, &dir).is_ok() {
                    let ok = fs::write(target.join("probe"), b"x").is_ok();
                    let _ = umount(&target);
                    if ok {
                        return Ok(Some(extra.to_string()));
                    }
                }
            }
            Ok(None)
        })
    })();
    let _ = fs::remove_dir_all(&dir);
    result.ok().flatten()
}
