//! What a tar entry says about the file it carries: its path, owner, mode, times and xattrs with
//! the PAX overrides applied, and the layout of sparse files (old GNU sparse entries are
//! expanded by the `tar` crate; PAX sparse formats 0.0, 0.1 and 1.0 are expanded here).

use std::ffi::OsString;
use std::io::{self, Read};

use crate::error::{Error, Result};
use crate::whiteout::is_overlay_private_xattr;

/// Metadata from a tar header, with PAX overrides applied.
pub(crate) struct EntryMeta {
    /// The entry's path as the tar names it (PAX `path`, GNU long names and the real name of a
    /// PAX sparse file applied).
    pub name: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nanos: u32,
    /// Extended attributes to set (overlayfs-private ones dropped).
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    /// For a PAX sparse file: its real size and where its data blocks go.
    pub sparse: Option<Sparse>,
}

/// The map of a sparse file: (offset, length) of each data block, and the file's size.
pub(crate) struct Sparse {
    pub real_size: u64,
    pub blocks: Vec<(u64, u64)>,
    /// Format 1.0 keeps the map at the start of the data (it must be read first).
    pub map_in_data: bool,
}

pub(crate) fn bad(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::BadTar {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// A numeric header field left blank (NULs or spaces) reads as 0, as Go's `archive/tar`
/// (docker's) reads it; anything else that is not a number is an error.
fn blank_is_zero<T: Default>(parsed: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        other => other,
    }
}

/// Read an entry's metadata.
pub(crate) fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<EntryMeta> {
    let mut name = entry.path_bytes().into_owned();
    let shown = String::from_utf8_lossy(&name).into_owned();
    let h = entry.header();
    let old = h.as_old();
    let mode = blank_is_zero(h.mode(), &old.mode).map_err(|e| bad(&shown, e))?;
    let mut uid = blank_is_zero(h.uid(), &old.uid).map_err(|e| bad(&shown, e))?;
    let mut gid = blank_is_zero(h.gid(), &old.gid).map_err(|e| bad(&shown, e))?;
    let mut mtime = blank_is_zero(h.mtime(), &old.mtime).map_err(|e| bad(&shown, e))? as i64;
    let mut mtime_nanos = 0u32;
    let mut xattrs = Vec::new();
    let mut sparse = SparseKeys::default();
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad(&shown, e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad(&shown, e))?;
            let Ok(key) = ext.key() else { continue };
            let val = ext.value_bytes();
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                if !is_overlay_private_xattr(x.as_bytes()) {
                    xattrs.push((OsString::from(x), val.to_vec()));
                }
                continue;
            }
            let text = String::from_utf8_lossy(val);
            match key {
                "uid" => uid = text.parse().map_err(|_| bad(&shown, "bad PAX uid"))?,
                "gid" => gid = text.parse().map_err(|_| bad(&shown, "bad PAX gid"))?,
                "mtime" => {
                    let (s, frac) = text.split_once('.').unwrap_or((&text, ""));
                    mtime = s.parse().map_err(|_| bad(&shown, "bad PAX mtime"))?;
                    let digits: String = frac.chars().take(9).collect();
                    if !digits.is_empty() {
                        let scale = 10u32.pow(9 - digits.len() as u32);
                        mtime_nanos = digits.parse::<u32>().unwrap_or(0) * scale;
                    }
                }
                _ => sparse.take(key, &text, val, &shown)?,
            }
        }
    }
    let sparse = sparse.finish(&shown)?;
    if let Some((real_name, _)) = &sparse {
        name = real_name.clone();
    }
    let uid = u32::try_from(uid).map_err(|_| bad(&shown, "uid out of range"))?;
    let gid = u32::try_from(gid).map_err(|_| bad(&shown, "gid out of range"))?;
    Ok(EntryMeta {
        name,
        mode: mode & 0o7777,
        uid,
        gid,
        mtime,
        mtime_nanos,
        xattrs,
        sparse: sparse.map(|(_, s)| s),
    })
}

/// The `GNU.sparse.*` PAX keys of one entry.
#[derive(Default)]
struct SparseKeys {
    major: Option<u32>,
    minor: Option<u32>,
    name: Option<Vec<u8>>,
    real_size: Option<u64>,
    /// Format 0.1: `GNU.sparse.map`; format 0.0: repeated offset/numbytes pairs.
    map: Vec<u64>,
    any: bool,
}

impl SparseKeys {
    fn take(&mut self, key: &str, text: &str, raw: &[u8], shown: &str) -> Result<()> {
        let Some(k) = key.strip_prefix("GNU.sparse.") else {
            return Ok(());
        };
        self.any = true;
        let num = |t: &str| -> Result<u64> {
            t.trim()
                .parse()
                .map_err(|_| bad(shown, format!("bad PAX GNU.sparse.{k}")))
        };
        match k {
            "major" => self.major = Some(num(text)? as u32),
            "minor" => self.minor = Some(num(text)? as u32),
            "name" => self.name = Some(raw.to_vec()),
            "realsize" | "size" => self.real_size = Some(num(text)?),
            "map" => {
                for n in text.split(',').filter(|s| !s.is_empty()) {
                    self.map.push(num(n)?);
                }
            }
            "offset" | "numbytes" => self.map.push(num(text)?),
            "numblocks" => {}
            _ => {}
        }
        Ok(())
    }

    /// The real name and sparse layout, when this entry is a PAX sparse file.
    fn finish(self, shown: &str) -> Result<Option<(Vec<u8>, Sparse)>> {
        if !self.any {
            return Ok(None);
        }
        let real_size = self
            .real_size
            .ok_or_else(|| bad(shown, "sparse file without GNU.sparse.realsize"))?;
        let name = self
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(shown, "sparse file without GNU.sparse.name"))?;
        let map_in_data = matches!((self.major, self.minor), (Some(1), Some(0)));
        if !map_in_data && !self.map.len().is_multiple_of(2) {
            return Err(bad(shown, "odd number of values in the sparse map"));
        }
        if let (Some(major), Some(minor)) = (self.major, self.minor) {
            if !matches!((major, minor), (0, 0) | (0, 1) | (1, 0)) {
                return Err(bad(
                    shown,
                    format!("unknown GNU sparse format {major}.{minor}"),
                ));
            }
        }
        let blocks = self.map.chunks(2).map(|c| (c[0], c[1])).collect();
        Ok(Some((
            name,
            Sparse {
                real_size,
                blocks,
                map_in_data,
            },
        )))
    }
}

/// Read a format 1.0 sparse map from the start of the entry's data (decimal numbers, one per
/// line, padded to a 512-byte block).
fn read_map_in_data(r: &mut dyn Read, shown: &str) -> Result<Vec<(u64, u64)>> {
    let mut consumed = 0usize;
    let mut line = Vec::new();
    let mut next_number = |r: &mut dyn Read, consumed: &mut usize| -> Result<u64> {
        line.clear();
        loop {
            let mut b = [0u8; 1];
            r.read_exact(&mut b)
                .map_err(|e| bad(shown, format!("truncated sparse map: {e}")))?;
            *consumed += 1;
            if b[0] == b'\n' {
                break;
            }
            if line.len() > 20 {
                return Err(bad(shown, "sparse map number too long"));
            }
            line.push(b[0]);
        }
        std::str::from_utf8(&line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(shown, "bad number in the sparse map"))
    };
    let n = next_number(r, &mut consumed)?;
    if n > 1 << 20 {
        return Err(bad(shown, "sparse map too large"));
    }
    let mut blocks = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let off = next_number(r, &mut consumed)?;
        let len = next_number(r, &mut consumed)?;
        blocks.push((off, len));
    }
    let pad = (512 - consumed % 512) % 512;
    io::copy(&mut r.take(pad as u64), &mut io::sink())
        .map_err(|e| bad(shown, format!("truncated sparse map: {e}")))?;
    Ok(blocks)
}

/// Write a PAX sparse file's content (holes as gaps left to the file system) from the entry's
/// data to `out`. Blocks must be in order and inside the file.
pub(crate) fn write_sparse(
    data: &mut dyn Read,
    sparse: &Sparse,
    out: &mut std::fs::File,
    buf: &mut [u8],
    shown: &str,
) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let blocks = if sparse.map_in_data {
        read_map_in_data(data, shown)?
    } else {
        sparse.blocks.clone()
    };
    let mut end = 0u64;
    for (off, len) in blocks {
        if off < end || off.checked_add(len).is_none_or(|e| e > sparse.real_size) {
            return Err(bad(shown, "out of order or overlapping sparse blocks"));
        }
        out.seek(SeekFrom::Start(off))
            .map_err(|e| bad(shown, format!("write sparse file: {e}")))?;
        let mut left = len;
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let n = data
                .read(&mut buf[..want])
                .map_err(|e| bad(shown, format!("read sparse data: {e}")))?;
            if n == 0 {
                return Err(bad(shown, "sparse data shorter than its map"));
            }
            out.write_all(&buf[..n])
                .map_err(|e| bad(shown, format!("write sparse file: {e}")))?;
            left -= n as u64;
        }
        end = off + len;
    }
    out.set_len(sparse.real_size)
        .map_err(|e| bad(shown, format!("write sparse file: {e}")))?;
    Ok(())
}

/// The largest PAX or GNU long-name record accepted, as Go's `archive/tar` (docker's) limits
/// them: such records are read into memory whole.
pub(crate) const MAX_SPECIAL: u64 = 1 << 20;

/// A tar stream watched block by block: a PAX header or GNU long name/link record larger than
/// [`MAX_SPECIAL`] is an error before any of it is read, so a hostile archive cannot make the
/// reader hold gigabytes in memory.
pub(crate) struct TarGuard<R> {
    inner: R,
    /// Bytes of entry data (and padding) before the next header block.
    skip: u64,
    header: [u8; 512],
    filled: usize,
    /// GNU sparse extension blocks follow the header.
    extension: bool,
    /// After the end-of-archive blocks nothing is checked.
    ended: bool,
}

impl<R: Read> TarGuard<R> {
    pub(crate) fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            skip: 0,
            header: [0; 512],
            filled: 0,
            extension: false,
            ended: false,
        }
    }

    /// Look at the bytes that just went by.
    fn watch(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.ended {
            if self.skip > 0 {
                let n = (self.skip as usize).min(data.len());
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = (512 - self.filled).min(data.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == 512 {
                self.filled = 0;
                self.block()?;
            }
        }
        Ok(())
    }

    fn block(&mut self) -> io::Result<()> {
        let b = &self.header;
        if self.extension {
            self.extension = b[504] != 0;
            return Ok(());
        }
        if b.iter().all(|x| *x == 0) {
            self.ended = true;
            return Ok(());
        }
        let Some(size) = header_size(&b[124..136]) else {
            // Not a header the reader will accept either: it says so itself.
            return Ok(());
        };
        let kind = b[156];
        if matches!(kind, b'x' | b'g' | b'L' | b'K') && size > MAX_SPECIAL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a tar {} record of {size} bytes is larger than the {MAX_SPECIAL} bytes allowed",
                    match kind {
                        b'x' | b'g' => "PAX header",
                        _ => "GNU long name",
                    }
                ),
            ));
        }
        self.extension = kind == b'S' && b[482] != 0;
        self.skip = size.div_ceil(512) * 512;
        Ok(())
    }
}

/// A header's size field: octal, or GNU base-256 when the top bit is set.
fn header_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.watch(&buf[..n])?;
        Ok(n)
    }
}
