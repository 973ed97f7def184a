//! `kiln build -`: what docker accepts on stdin instead of a context directory. A tar (plain,
//! gzip, bzip2 or xz) is the context, unpacked with the one extractor
//! ([`kiln_snapshot::extract::extract_archive`]: no entry may leave the directory, symlinks
//! resolve inside it); anything else is a Dockerfile, built with an empty context.

use super::ContextError;
use kiln_snapshot::extract::{extract_archive, ExtractOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The largest bare Dockerfile read from stdin (docker reads it whole, too).
const MAX_DOCKERFILE: u64 = 64 << 20;

/// What stdin held.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinContext {
    /// A tar, unpacked into the directory given.
    Archive,
    /// Not an archive: the Dockerfile's bytes (the context is empty).
    Dockerfile(Vec<u8>),
}

/// A compression docker detects by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
}

fn compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::None
    }
}

/// Is `block` (the first 512 bytes) a tar header with a valid checksum?
fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let Some(stored) = stored else { return false };
    let sum: u32 = block[..512]
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

/// Read stdin's `input` (copied to the private file `spool` first) and, if it is an archive,
/// unpack it into the directory `dir` (which must exist and be empty).
pub fn read_stdin_context(
    input: &mut dyn Read,
    spool: &mut std::fs::File,
    dir: &Path,
) -> Result<StdinContext, ContextError> {
    let io = |e| ContextError::io("stdin", e);
    std::io::copy(input, spool).map_err(io)?;
    spool.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut head = Vec::new();
    spool
        .by_ref()
        .take(512)
        .read_to_end(&mut head)
        .map_err(io)?;
    spool.seek(SeekFrom::Start(0)).map_err(io)?;
    let c = compression(&head);
    if c == Compression::None && !is_tar_header(&head) {
        let mut text = Vec::new();
        spool
            .take(MAX_DOCKERFILE + 1)
            .read_to_end(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_DOCKERFILE {
            return Err(io(std::io::Error::other(format!(
                "the Dockerfile on stdin is larger than {MAX_DOCKERFILE} bytes"
            ))));
        }
        return Ok(StdinContext::Dockerfile(text));
    }
    let unpack = |e: Box<dyn std::error::Error + Send + Sync>| ContextError::Unpack { source: e };
    let root = inroot::Root::open(dir).map_err(|e| unpack(Box::new(e)))?;
    let r = BufReader::new(spool);
    let mut tar: Box<dyn Read> = match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => {
            // lzma-rs decodes xz into a writer: into a second private file, then read back.
            let mut plain = tempfile::tempfile_in(dir.parent().unwrap_or(dir)).map_err(io)?;
            let mut r = r;
            lzma_rs::xz_decompress(&mut r, &mut plain).map_err(|e| unpack(Box::new(e)))?;
            plain.seek(SeekFrom::Start(0)).map_err(io)?;
            Box::new(BufReader::new(plain))
        }
    };
    extract_archive(&root, ".", &mut tar, &ExtractOptions::default())
        .map_err(|e| unpack(Box::new(e)))?;
    Ok(StdinContext::Archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn read(bytes: &[u8]) -> (Result<StdinContext, ContextError>, tempfile::TempDir) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("ctx");
        std::fs::create_dir(&dir).unwrap();
        let mut spool = tempfile::tempfile_in(t.path()).unwrap();
        let r = read_stdin_context(&mut &bytes[..], &mut spool, &dir);
        (r, t)
    }

    #[test]
    fn plain_and_compressed_tars_are_contexts() {
        let tar = tar_of(&[("Dockerfile", "FROM scratch\n"), ("sub/a", "x")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut bz, &tar).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
        for bytes in [&tar, &gz, &bz, &xz] {
            let (r, t) = read(bytes);
            assert_eq!(r.unwrap(), StdinContext::Archive);
            let got = std::fs::read_to_string(t.path().join("ctx/sub/a")).unwrap();
            assert_eq!(got, "x");
        }
    }

    #[test]
    fn anything_else_is_a_dockerfile() {
        let (r, _t) = read(b"FROM busybox\nRUN true\n");
        assert_eq!(
            r.unwrap(),
            StdinContext::Dockerfile(b"FROM busybox\nRUN true\n".to_vec())
        );
    }

    #[test]
    fn entries_cannot_leave_the_context() {
        let mut h = tar::Header::new_gnu();
        let mut b = tar::Builder::new(Vec::new());
        h.set_size(1);
        h.set_mode(0o644);
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let (r, t) = read(&b.into_inner().unwrap());
        assert!(r.is_err());
        assert!(!t.path().join("escape").exists());
    }
}
