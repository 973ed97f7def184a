//! Writing a snapshot's changes as an OCI layer tar (deterministic bytes).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::{EntryType, Header};

use crate::changes::Change;
use crate::error::{stream_err, IoContext, Result};
use crate::fsmeta;
use crate::snapshotter::{SnapshotId, Snapshotter};
use crate::whiteout::{is_overlay_private_xattr, OPAQUE_MARKER, WHITEOUT_PREFIX};

impl Snapshotter {
    /// Write the changes of `id` against its parent as an OCI layer tar (whiteouts
    /// `.wh.x`, opaque dirs `.wh..wh..opq`), entries sorted, uid/gid/mode/mtime/xattrs/
    /// symlinks/hardlinks kept. `mtime_clamp`: SOURCE_DATE_EPOCH clamp. The same tree
    /// always gives the same bytes (no atime/ctime, no user/group names).
    pub fn write_diff(
        &self,
        id: &SnapshotId,
        w: &mut dyn Write,
        mtime_clamp: Option<i64>,
    ) -> Result<()> {
        let changes = self.changes(id)?;
        let root = self.fs_dir(id)?;
        let mut tw = TarWriter {
            builder: tar::Builder::new(w),
            links: HashMap::new(),
            clamp: mtime_clamp,
            buf: Vec::new(),
        };
        for c in &changes {
            match c {
                Change::Entry(rel) => tw.entry(&root, rel)?,
                Change::Whiteout(rel) => {
                    let parent = rel.parent().unwrap_or(Path::new(""));
                    let mut name = WHITEOUT_PREFIX.as_bytes().to_vec();
                    name.extend_from_slice(
                        rel.file_name().map(|n| n.as_bytes()).unwrap_or_default(),
                    );
                    tw.marker(&join_name(parent, &name))?;
                }
                Change::Opaque(rel) => tw.marker(&join_name(rel, OPAQUE_MARKER.as_bytes()))?,
            }
        }
        tw.builder
            .into_inner()
            .map_err(stream_err("finishing layer tar"))?
            .flush()
            .map_err(stream_err("flushing layer tar"))
    }
}

fn join_name(parent: &Path, name: &[u8]) -> Vec<u8> {
    let mut out = parent.as_os_str().as_bytes().to_vec();
    if !out.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

pub(crate) struct TarWriter<'w> {
    pub(crate) builder: tar::Builder<&'w mut dyn Write>,
    /// First name written for each multiply-linked inode.
    pub(crate) links: HashMap<(u64, u64), Vec<u8>>,
    pub(crate) clamp: Option<i64>,
    /// Copy buffer for file contents (allocated on first use).
    pub(crate) buf: Vec<u8>,
}

/// Put `name` in the ustar name/prefix fields if it fits; otherwise return false.
fn set_ustar_name(h: &mut Header, name: &[u8]) -> bool {
    let Some(u) = h.as_ustar_mut() else {
        return false;
    };
    if name.len() <= 100 {
        u.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // Split at a '/' so that prefix <= 155 and name <= 100.
    for (i, b) in name.iter().enumerate() {
        if *b == b'/' && i <= 155 && name.len() - i - 1 <= 100 && name.len() - i - 1 > 0 {
            u.prefix[..i].copy_from_slice(&name[..i]);
            u.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
            return true;
        }
    }
    false
}

impl TarWriter<'_> {
    fn mtime(&self, t: i64) -> u64 {
        let t = match self.clamp {
            Some(c) => t.min(c),
            None => t,
        };
        t.max(0) as u64
    }

    fn append(
        &mut self,
        mut h: Header,
        name: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(std::ffi::OsString, Vec<u8>)],
        data: &mut dyn Read,
    ) -> Result<()> {
        let name_str = String::from_utf8_lossy(name).into_owned();
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if !set_ustar_name(&mut h, name) {
            pax.push(("path".into(), name.to_vec()));
            let cut = &name[name.len().saturating_sub(100)..];
            if let Some(u) = h.as_ustar_mut() {
                u.name[..cut.len()].copy_from_slice(cut);
            }
        }
        if let Some(l) = link {
            if l.len() <= 100 {
                if let Some(u) = h.as_ustar_mut() {
                    u.linkname[..l.len()].copy_from_slice(l);
                }
            } else {
                pax.push(("linkpath".into(), l.to_vec()));
            }
        }
        for (k, v) in xattrs {
            if is_overlay_private_xattr(k.as_bytes()) {
                continue;
            }
            if let Some(k) = k.to_str() {
                pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
            }
        }
        let ctx = || format!("writing layer entry {name_str}");
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(stream_err(ctx()))?;
        }
        h.set_cksum();
        write_entry(self.builder.get_mut(), &mut self.buf, &h, data).map_err(stream_err(ctx()))
    }

    /// An empty marker entry (whiteout or opaque marker).
    fn marker(&mut self, name: &[u8]) -> Result<()> {
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        self.append(h, name, None, &[], &mut std::io::empty())
    }

    pub(crate) fn entry(&mut self, root: &Path, rel: &Path) -> Result<()> {
        let abs = root.join(rel);
        let md = fs::symlink_metadata(&abs).ctx("stat", &abs)?;
        let ft = md.file_type();
        let mut name = rel.as_os_str().as_bytes().to_vec();
        let mut h = Header::new_ustar();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mtime(self.mtime(md.mtime()));
        h.set_size(0);
        // A regular file is opened once, for its xattrs and its bytes (one path lookup less).
        let (file, xattrs) = if ft.is_file() {
            let f = open_nofollow(&abs).ctx("open", &abs)?;
            let x = fsmeta::list_xattrs_fd(&f).ctx("list xattrs", &abs)?;
            (Some(f), x)
        } else {
            (None, fsmeta::list_xattrs(&abs).ctx("list xattrs", &abs)?)
        };
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())).cloned() {
                h.set_entry_type(EntryType::Link);
                return self.append(h, &name, Some(&first), &[], &mut std::io::empty());
            }
            self.links.insert((md.dev(), md.ino()), name.clone());
        }
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            name.push(b'/');
            self.append(h, &name, None, &xattrs, &mut std::io::empty())
        } else if let Some(f) = file {
            h.set_entry_type(EntryType::Regular);
            h.set_size(md.len());
            let mut data = ExactReader {
                inner: f.take(md.len()),
                left: md.len(),
                path: &abs,
            };
            self.append(h, &name, None, &xattrs, &mut data)
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(&abs).ctx("read link", &abs)?;
            let target = target.as_os_str().as_bytes().to_vec();
            self.append(h, &name, Some(&target), &xattrs, &mut std::io::empty())
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            });
            let (maj, min) = fsmeta::dev_major_minor(md.rdev());
            h.set_device_major(maj)
                .map_err(stream_err("device header"))?;
            h.set_device_minor(min)
                .map_err(stream_err("device header"))?;
            self.append(h, &name, None, &xattrs, &mut std::io::empty())
        } else {
            // Sockets have no place in a layer.
            Ok(())
        }
    }
}

/// Open a regular file of a layer for reading, never through a symlink put in its place.
fn open_nofollow(p: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(p)
}

/// What `tar::Builder::append` writes (header, data, zero padding to 512 bytes), with the data
/// copied in large reads: `io::copy` through the builder's `dyn Read` goes 8 KiB at a time.
fn write_entry(
    w: &mut dyn Write,
    buf: &mut Vec<u8>,
    h: &Header,
    data: &mut dyn Read,
) -> std::io::Result<()> {
    w.write_all(h.as_bytes())?;
    if h.size()? > 0 && buf.is_empty() {
        buf.resize(256 << 10, 0);
    }
    let mut len: u64 = 0;
    loop {
        if buf.is_empty() {
            break;
        }
        let n = match data.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        len += n as u64;
    }
    let pad = (512 - len % 512) % 512;
    w.write_all(&[0u8; 512][..pad as usize])
}

/// Reads exactly `left` bytes or fails (a file that shrank while being archived would
/// otherwise corrupt the tar).
struct ExactReader<'a, R> {
    inner: R,
    left: u64,
    path: &'a Path,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(std::io::Error::other(format!(
                "{} shrank while being archived",
                self.path.display()
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
