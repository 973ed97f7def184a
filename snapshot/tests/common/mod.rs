//! Shared test helpers: tar building, tree descriptions, both snapshot modes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use kiln_snapshot::{Mode, Snapshotter};
use tar::{EntryType, Header};

/// Open a snapshotter in `mode` under `dir`; returns None when overlay is unavailable.
pub fn open(dir: &Path, mode: Mode) -> Snapshotter {
    let s = Snapshotter::open_with_mode(dir, mode).expect("open snapshotter");
    assert_eq!(s.mode(), mode);
    s
}

/// Both modes, for tests that must hold in each.
pub const MODES: [Mode; 2] = [Mode::Overlay, Mode::Copy];

/// Builds layer tars, including malformed/hostile ones (names written raw).
pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: EntryType, mode: u32, size: u64, link: Option<&str>) -> Header {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                old.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        mut self,
        name: &str,
        kind: EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&str>,
        owner: (u64, u64),
        mtime: u64,
    ) -> Self {
        let mut h = Self::header(name, kind, mode, data.len() as u64, link);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).expect("append");
        self
    }

    pub fn dir(self, name: &str) -> Self {
        self.raw(
            name,
            EntryType::Directory,
            0o755,
            b"",
            None,
            (0, 0),
            1_600_000_000,
        )
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(
            name,
            EntryType::Regular,
            0o644,
            data,
            None,
            (0, 0),
            1_600_000_000,
        )
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name,
            EntryType::Symlink,
            0o777,
            b"",
            Some(target),
            (0, 0),
            1_600_000_000,
        )
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name,
            EntryType::Link,
            0o644,
            b"",
            Some(target),
            (0, 0),
            1_600_000_000,
        )
    }

    pub fn file_with_xattr(mut self, name: &str, data: &[u8], key: &str, value: &[u8]) -> Self {
        let k = format!("SCHILY.xattr.{key}");
        self.b
            .append_pax_extensions([(k.as_str(), value)])
            .expect("pax");
        self.file(name, data)
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("finish tar")
    }
}

/// A description of every entry under `root` (excluding the root itself):
/// type, mode, owner, mtime (non-dirs), content or link target, user/security xattrs.
pub fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.expect("walk");
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        let md = fs::symlink_metadata(p).expect("lstat");
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            format!(
                "file:{}",
                String::from_utf8_lossy(&fs::read(p).expect("read"))
            )
        } else if ft.is_symlink() {
            format!("link:{}", fs::read_link(p).expect("readlink").display())
        } else if ft.is_char_device() {
            format!("chr:{}", md.rdev())
        } else if ft.is_fifo() {
            "fifo".into()
        } else {
            "other".into()
        };
        let mode = if ft.is_symlink() {
            0
        } else {
            md.mode() & 0o7777
        };
        let mtime = if ft.is_dir() { 0 } else { md.mtime() };
        let mut xattrs = Vec::new();
        if !ft.is_symlink() {
            if let Ok(names) = xattr_names(p) {
                for n in names {
                    if n.starts_with("user.") {
                        xattrs.push(n);
                    }
                }
            }
        }
        out.insert(
            rel,
            format!(
                "{kind} mode={mode:o} owner={}:{} mtime={mtime} xattrs={xattrs:?}",
                md.uid(),
                md.gid()
            ),
        );
    }
    out
}

fn xattr_names(p: &Path) -> std::io::Result<Vec<String>> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("cstr");
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid buffer.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    let mut v: Vec<String> = buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// Entries of a layer tar as (name, type, uid, gid, mode, mtime, link, data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub name: String,
    pub kind: EntryType,
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
    pub mtime: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

pub fn read_tar(bytes: &[u8]) -> Vec<TarEntry> {
    let mut a = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let h = e.header().clone();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("data");
        out.push(TarEntry {
            name,
            kind: h.entry_type(),
            uid: h.uid().expect("uid"),
            gid: h.gid().expect("gid"),
            mode: h.mode().expect("mode"),
            mtime: h.mtime().expect("mtime"),
            link,
            data,
        });
    }
    out
}

/// Does the process's mount table mention `path`?
pub fn mounted_under(path: &Path) -> Vec<String> {
    let s = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let needle = path.to_string_lossy().into_owned();
    s.lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}

/// Does `p` carry the xattr `name` (not following symlinks)?
pub fn has_xattr(p: &Path, name: &str) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("cstr");
    let n = std::ffi::CString::new(name).expect("cstr");
    // SAFETY: valid C strings; a null buffer of size 0 only queries the size.
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    r >= 0
}

/// Set xattr `name` on `p` (not following symlinks).
pub fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("cstr");
    let n = std::ffi::CString::new(name).expect("cstr");
    // SAFETY: valid C strings and value slice.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setxattr {name} on {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}
