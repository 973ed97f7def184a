//! ADD of a local archive: detect a (gzip-compressed or plain) tar and extract it with the
//! shared extractor ([`kiln_snapshot::extract`]): no entry may climb out of the destination,
//! and every path is resolved inside the destination root, so symlinks in the archive (or
//! already in the image) cannot lead writes out of it.

use super::FileOpError;
use inroot::Root;
use kiln_snapshot::extract::{extract_archive, ExtractOptions};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

/// Compression of an archive.
enum Compression {
    None,
    Gzip,
}

fn detect(f: &mut File) -> std::io::Result<Compression> {
    let mut head = [0u8; 2];
    let n = f.read(&mut head)?;
    f.seek(SeekFrom::Start(0))?;
    Ok(if n == 2 && head == [0x1f, 0x8b] {
        Compression::Gzip
    } else {
        Compression::None
    })
}

fn reader<'a>(f: &'a mut File, c: &Compression) -> std::io::Result<Box<dyn Read + 'a>> {
    f.seek(SeekFrom::Start(0))?;
    let r = BufReader::new(f);
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
    })
}

/// Is the first 512-byte block a tar header with a valid checksum?
fn looks_like_tar(r: &mut dyn Read) -> bool {
    let mut block = [0u8; 512];
    if r.read_exact(&mut block).is_err() {
        return false;
    }
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let Some(stored) = stored else { return false };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
}

/// Extracts the open `archive` into the directory `dest_rel` of `dest` if it is a tar (plain
/// or gzip). Returns `Ok(false)` when it is not an archive (the caller copies it as a file).
pub(super) fn try_unpack(
    archive: &mut File,
    source: &str,
    dest: &Root,
    dest_rel: &str,
    chown: Option<(u32, u32)>,
    mtime: Option<i64>,
) -> Result<bool, FileOpError> {
    let io = |e| FileOpError::Io {
        op: "read archive",
        path: source.into(),
        source: e,
    };
    let c = detect(archive).map_err(io)?;
    if !looks_like_tar(&mut *reader(archive, &c).map_err(io)?) {
        return Ok(false);
    }
    let mut r = reader(archive, &c).map_err(io)?;
    let opts = ExtractOptions {
        owner: chown,
        mtime,
    };
    match extract_archive(dest, dest_rel, &mut r, &opts) {
        Ok(()) => Ok(true),
        Err(kiln_snapshot::Error::UnsafeEntry { path, .. }) => Err(FileOpError::UnsafeArchive {
            archive: source.into(),
            entry: path,
        }),
        Err(e) => Err(e.into()),
    }
}
