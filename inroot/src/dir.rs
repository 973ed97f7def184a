//! [`Dir`]: an open directory inside a root, and the operations on one name in it. None of them
//! follows a symbolic link: a name that is a symlink is acted on as the link itself, or refused.

use crate::error::{Error, Result};
use crate::meta::{Kind, Meta};
use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What every [`Dir`] of one [`crate::Root`] shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The root directory.
    pub root: OwnedFd,
    /// The root's host path, for messages only.
    pub host: std::path::PathBuf,
    /// Bumped by every operation that removes or renames an entry: cached resolutions made
    /// before it may be stale.
    pub generation: AtomicU64,
}

/// An open directory inside a root. Operations take one plain name (no `/`, `.` or `..`); the
/// empty name means the directory itself where that makes sense.
#[derive(Debug)]
pub struct Dir {
    pub(crate) fd: OwnedFd,
    pub(crate) shared: Arc<Shared>,
    /// The in-root path it was reached by, for messages.
    pub(crate) shown: String,
}

/// The kind of node [`Dir::mknod`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A named pipe.
    Fifo,
}

/// Check that `name` is one plain file name.
pub(crate) fn plain_name(name: &OsStr) -> Result<CString> {
    let b = name.as_bytes();
    let reason = if b.is_empty() {
        Some("empty")
    } else if b == b"." || b == b".." {
        Some("a directory reference")
    } else if b.contains(&b'/') {
        Some("contains a '/'")
    } else if b.contains(&0) {
        Some("contains a NUL byte")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(Error::InvalidName {
            name: name.to_string_lossy().into_owned(),
            reason,
        });
    }
    CString::new(b).map_err(|_| Error::InvalidName {
        name: name.to_string_lossy().into_owned(),
        reason: "contains a NUL byte",
    })
}

/// An xattr key as a C string.
fn xattr_key(key: &OsStr) -> Result<CString> {
    CString::new(key.as_bytes()).map_err(|_| Error::InvalidName {
        name: key.to_string_lossy().into_owned(),
        reason: "xattr name contains a NUL byte",
    })
}

/// `fchmodat2(2)` (Linux 6.6), which can refuse to follow a final symlink.
fn fchmodat2_nofollow(dir: BorrowedFd<'_>, name: &CString, mode: u32) -> std::io::Result<()> {
    // SAFETY: a valid descriptor, a NUL-terminated name, integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            mode as libc::c_uint,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn timespec((sec, nsec): (i64, u32)) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec.min(999_999_999) as _,
    }
}

impl Dir {
    pub(crate) fn new(fd: OwnedFd, shared: Arc<Shared>, shown: String) -> Dir {
        Dir { fd, shared, shown }
    }

    fn shown(&self, name: &OsStr) -> String {
        if name.is_empty() {
            return self.shown.clone();
        }
        let mut s = self.shown.clone();
        if !s.ends_with('/') {
            s.push('/');
        }
        s.push_str(&name.to_string_lossy());
        s
    }

    pub(crate) fn bump(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The in-root path this directory was reached by (for messages).
    pub fn shown_path(&self) -> &str {
        &self.shown
    }

    /// A second handle on the same directory.
    pub fn try_clone(&self) -> Result<Dir> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io("duplicate", self.shown.clone(), e))?;
        Ok(Dir::new(fd, self.shared.clone(), self.shown.clone()))
    }

    /// The root directory of the root this directory belongs to.
    pub fn root(&self) -> Result<Dir> {
        let fd = self
            .shared
            .root
            .try_clone()
            .map_err(|e| Error::io("duplicate", "/", e))?;
        Ok(Dir::new(fd, self.shared.clone(), "/".into()))
    }

    /// Open the subdirectory `name` (never through a symlink).
    pub fn open_dir(&self, name: &OsStr) -> Result<Dir> {
        let c = plain_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            c.as_c_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("open directory", self.shown(name), e))?;
        Ok(Dir::new(fd, self.shared.clone(), self.shown(name)))
    }

    /// Open the parent directory, checking that it is the directory `expect` (`(dev, ino)`,
    /// as [`Meta::id`] gives it): a walk that climbs back up must not be led elsewhere by a
    /// concurrent rename ([`Error::Moved`] then).
    pub fn open_parent_checked(&self, expect: (u64, u64)) -> Result<Dir> {
        let shown = match self.shown.rsplit_once('/') {
            Some(("", _)) | None => "/".to_string(),
            Some((p, _)) => p.to_string(),
        };
        let fd = rustix::fs::openat(
            &self.fd,
            c"..",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("open directory", shown.clone(), e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::errno("stat", shown.clone(), e))?;
        if (st.st_dev, st.st_ino) != expect {
            return Err(Error::Moved { path: shown });
        }
        Ok(Dir::new(fd, self.shared.clone(), shown))
    }

    /// Open the regular file `name` for reading (never through a symlink; a device, fifo or
    /// socket is refused without being opened for I/O).
    pub fn open_file(&self, name: &OsStr) -> Result<File> {
        let c = plain_name(name)?;
        let shown = self.shown(name);
        let probe = rustix::fs::openat(
            &self.fd,
            c.as_c_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("open", shown.clone(), e))?;
        let st = rustix::fs::fstat(&probe).map_err(|e| Error::errno("stat", shown.clone(), e))?;
        let meta = Meta::from_stat(&st);
        if meta.kind != Kind::File {
            let errno = if meta.kind == Kind::Dir {
                Errno::ISDIR
            } else if meta.kind == Kind::Symlink {
                Errno::LOOP
            } else {
                Errno::NXIO
            };
            return Err(Error::errno("open", shown, errno));
        }
        let fd = rustix::fs::openat(
            &self.fd,
            c.as_c_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("open", shown.clone(), e))?;
        let st2 = rustix::fs::fstat(&fd).map_err(|e| Error::errno("stat", shown.clone(), e))?;
        if (st2.st_dev, st2.st_ino) != meta.id() {
            return Err(Error::Moved { path: shown });
        }
        // Back to blocking reads (O_NONBLOCK only guarded the open).
        rustix::fs::fcntl_setfl(&fd, OFlags::empty())
            .map_err(|e| Error::errno("open", shown.clone(), e))?;
        Ok(File::from(fd))
    }

    /// Create the regular file `name` for writing; it must not exist (`O_EXCL`, so not even a
    /// dangling symlink is followed).
    pub fn create_file(&self, name: &OsStr, perm: u32) -> Result<File> {
        let c = plain_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            c.as_c_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(perm & 0o7777),
        )
        .map_err(|e| Error::errno("create", self.shown(name), e))?;
        Ok(File::from(fd))
    }

    /// Make the directory `name` (permissions still subject to the umask: set them after).
    pub fn mkdir(&self, name: &OsStr, perm: u32) -> Result<()> {
        let c = plain_name(name)?;
        rustix::fs::mkdirat(&self.fd, c.as_c_str(), Mode::from_raw_mode(perm & 0o7777))
            .map_err(|e| Error::errno("mkdir", self.shown(name), e))
    }

    /// Make the symbolic link `name` pointing at `target` (any text: it is never followed here).
    pub fn symlink(&self, name: &OsStr, target: &OsStr) -> Result<()> {
        let c = plain_name(name)?;
        let t = CString::new(target.as_bytes()).map_err(|_| Error::InvalidName {
            name: target.to_string_lossy().into_owned(),
            reason: "symlink target contains a NUL byte",
        })?;
        rustix::fs::symlinkat(t.as_c_str(), &self.fd, c.as_c_str())
            .map_err(|e| Error::errno("symlink", self.shown(name), e))
    }

    /// Make `name` a hard link to `src_name` in `src_dir` (a symlink there is linked as itself).
    pub fn hard_link(&self, name: &OsStr, src_dir: &Dir, src_name: &OsStr) -> Result<()> {
        let c = plain_name(name)?;
        let s = plain_name(src_name)?;
        rustix::fs::linkat(
            &src_dir.fd,
            s.as_c_str(),
            &self.fd,
            c.as_c_str(),
            AtFlags::empty(),
        )
        .map_err(|e| Error::errno("link", self.shown(name), e))
    }

    /// Make a device node or fifo `name`.
    pub fn mknod(&self, name: &OsStr, kind: NodeKind, perm: u32, rdev: u64) -> Result<()> {
        let c = plain_name(name)?;
        let ft = match kind {
            NodeKind::Char => rustix::fs::FileType::CharacterDevice,
            NodeKind::Block => rustix::fs::FileType::BlockDevice,
            NodeKind::Fifo => rustix::fs::FileType::Fifo,
        };
        rustix::fs::mknodat(
            &self.fd,
            c.as_c_str(),
            ft,
            Mode::from_raw_mode(perm & 0o7777),
            rdev,
        )
        .map_err(|e| Error::errno("mknod", self.shown(name), e))
    }

    /// `lstat` of `name` (the empty name: this directory); `None` when it does not exist.
    pub fn stat(&self, name: &OsStr) -> Result<Option<Meta>> {
        let r = if name.is_empty() {
            rustix::fs::fstat(&self.fd)
        } else {
            let c = plain_name(name)?;
            rustix::fs::statat(&self.fd, c.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
        };
        match r {
            Ok(st) => Ok(Some(Meta::from_stat(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::errno("stat", self.shown(name), e)),
        }
    }

    /// The target of the symlink `name`.
    pub fn readlink(&self, name: &OsStr) -> Result<OsString> {
        let c = plain_name(name)?;
        let t = rustix::fs::readlinkat(&self.fd, c.as_c_str(), Vec::new())
            .map_err(|e| Error::errno("readlink", self.shown(name), e))?;
        Ok(OsString::from(std::ffi::OsStr::from_bytes(t.as_bytes())))
    }

    /// Set the owner of `name` (a symlink itself, never its target; empty name: this directory).
    pub fn chown(&self, name: &OsStr, uid: u32, gid: u32) -> Result<()> {
        let owner = Some(rustix::fs::Uid::from_raw(uid));
        let group = Some(rustix::fs::Gid::from_raw(gid));
        let r = if name.is_empty() {
            rustix::fs::fchown(&self.fd, owner, group)
        } else {
            let c = plain_name(name)?;
            rustix::fs::chownat(
                &self.fd,
                c.as_c_str(),
                owner,
                group,
                AtFlags::SYMLINK_NOFOLLOW,
            )
        };
        r.map_err(|e| Error::errno("chown", self.shown(name), e))
    }

    /// Set the permission bits of `name` (empty name: this directory). A symlink is refused
    /// (`EOPNOTSUPP`), never followed.
    pub fn chmod(&self, name: &OsStr, perm: u32) -> Result<()> {
        let perm = perm & 0o7777;
        if name.is_empty() {
            return rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(perm))
                .map_err(|e| Error::errno("chmod", self.shown(name), e));
        }
        let c = plain_name(name)?;
        match fchmodat2_nofollow(self.fd.as_fd(), &c, perm) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                self.chmod_by_path_fd(name, &c, perm)
            }
            Err(e) => Err(Error::io("chmod", self.shown(name), e)),
        }
    }

    /// `chmod` for kernels without `fchmodat2`: an `O_PATH` handle on the entry itself, checked
    /// not to be a symlink, changed through its `/proc/self/fd` link (which names that inode).
    fn chmod_by_path_fd(&self, name: &OsStr, c: &CString, perm: u32) -> Result<()> {
        let shown = self.shown(name);
        let fd = rustix::fs::openat(
            &self.fd,
            c.as_c_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("chmod", shown.clone(), e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::errno("chmod", shown.clone(), e))?;
        if Meta::from_stat(&st).is_symlink() {
            return Err(Error::errno("chmod", shown, Errno::OPNOTSUPP));
        }
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(perm))
            .map_err(|e| Error::errno("chmod", shown, e))
    }

    /// Set the access and modification times of `name` (a symlink itself; empty name: this
    /// directory).
    pub fn set_times(&self, name: &OsStr, atime: (i64, u32), mtime: (i64, u32)) -> Result<()> {
        let ts = Timestamps {
            last_access: timespec(atime),
            last_modification: timespec(mtime),
        };
        let r = if name.is_empty() {
            rustix::fs::futimens(&self.fd, &ts)
        } else {
            let c = plain_name(name)?;
            rustix::fs::utimensat(&self.fd, c.as_c_str(), &ts, AtFlags::SYMLINK_NOFOLLOW)
        };
        r.map_err(|e| Error::errno("set times of", self.shown(name), e))
    }

    /// The path through this directory's `/proc/self/fd` link to `name`: the `l*xattr` calls
    /// on it act on `name` itself and cannot be redirected by a symlink.
    fn proc_path(&self, name: &OsStr) -> Result<CString> {
        plain_name(name)?;
        let mut p = format!("/proc/self/fd/{}/", self.fd.as_raw_fd()).into_bytes();
        p.extend_from_slice(name.as_bytes());
        CString::new(p).map_err(|_| Error::InvalidName {
            name: name.to_string_lossy().into_owned(),
            reason: "contains a NUL byte",
        })
    }

    /// Set the extended attribute `key` of `name` (never through a symlink).
    pub fn set_xattr(&self, name: &OsStr, key: &OsStr, value: &[u8]) -> Result<()> {
        let k = xattr_key(key)?;
        let flags = rustix::fs::XattrFlags::empty();
        let r = if name.is_empty() {
            rustix::fs::fsetxattr(&self.fd, k.as_c_str(), value, flags)
        } else {
            let p = self.proc_path(name)?;
            rustix::fs::lsetxattr(p.as_c_str(), k.as_c_str(), value, flags)
        };
        r.map_err(|e| Error::errno("set xattr of", self.shown(name), e))
    }

    /// The extended attribute `key` of `name`; `None` when it has none (or the file system
    /// has no xattrs).
    pub fn get_xattr(&self, name: &OsStr, key: &OsStr) -> Result<Option<Vec<u8>>> {
        let k = xattr_key(key)?;
        let p = (!name.is_empty())
            .then(|| self.proc_path(name))
            .transpose()?;
        let mut buf = vec![0u8; 256];
        loop {
            let r = match &p {
                Some(p) => rustix::fs::lgetxattr(p.as_c_str(), k.as_c_str(), &mut buf[..]),
                None => rustix::fs::fgetxattr(&self.fd, k.as_c_str(), &mut buf[..]),
            };
            match r {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
                Err(Errno::RANGE) => buf.resize(buf.len() * 4, 0),
                Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) => return Ok(None),
                Err(e) => return Err(Error::errno("read xattr of", self.shown(name), e)),
            }
        }
    }

    /// Every extended attribute of `name` (never through a symlink), sorted by key.
    pub fn list_xattrs(&self, name: &OsStr) -> Result<Vec<(OsString, Vec<u8>)>> {
        let p = (!name.is_empty())
            .then(|| self.proc_path(name))
            .transpose()?;
        let mut names = vec![0u8; 1024];
        let n = loop {
            let r = match &p {
                Some(p) => rustix::fs::llistxattr(p.as_c_str(), &mut names[..]),
                None => rustix::fs::flistxattr(&self.fd, &mut names[..]),
            };
            match r {
                Ok(n) => break n,
                Err(Errno::RANGE) => names.resize(names.len() * 4, 0),
                Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
                Err(e) => return Err(Error::errno("list xattrs of", self.shown(name), e)),
            }
        };
        let mut out = Vec::new();
        for key in names[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
            let key = OsStr::from_bytes(key);
            if let Some(v) = self.get_xattr(name, key)? {
                out.push((key.to_os_string(), v));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The names in this directory (without `.` and `..`), sorted bytewise.
    pub fn read_dir(&self) -> Result<Vec<OsString>> {
        let fd = rustix::fs::openat(
            &self.fd,
            c".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("read directory", self.shown.clone(), e))?;
        let mut dir = rustix::fs::Dir::read_from(&fd)
            .map_err(|e| Error::errno("read directory", self.shown.clone(), e))?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| Error::errno("read directory", self.shown.clone(), e))?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                out.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove the non-directory `name` (a symlink is removed, not its target).
    pub fn unlink(&self, name: &OsStr) -> Result<()> {
        let c = plain_name(name)?;
        self.bump();
        rustix::fs::unlinkat(&self.fd, c.as_c_str(), AtFlags::empty())
            .map_err(|e| Error::errno("remove", self.shown(name), e))
    }

    /// Remove the empty directory `name`.
    pub fn rmdir(&self, name: &OsStr) -> Result<()> {
        let c = plain_name(name)?;
        self.bump();
        rustix::fs::unlinkat(&self.fd, c.as_c_str(), AtFlags::REMOVEDIR)
            .map_err(|e| Error::errno("remove", self.shown(name), e))
    }

    /// Rename `name` to `to_name` in `to_dir` (replacing a file there, as rename(2) does).
    pub fn rename(&self, name: &OsStr, to_dir: &Dir, to_name: &OsStr) -> Result<()> {
        let a = plain_name(name)?;
        let b = plain_name(to_name)?;
        self.bump();
        rustix::fs::renameat(&self.fd, a.as_c_str(), &to_dir.fd, b.as_c_str())
            .map_err(|e| Error::errno("rename", self.shown(name), e))
    }

    /// Remove whatever `name` is, a directory with everything in it included, without
    /// following any symlink. Returns whether something was there.
    pub fn remove_all(&self, name: &OsStr) -> Result<bool> {
        crate::remove::remove_all(self, name)
    }

    /// The raw descriptor (for `fchdir`, `move_mount` and the like).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The host path of the root this directory belongs to (for messages only: never open it).
    pub fn root_host_path(&self) -> &std::path::Path {
        &self.shared.host
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
