//! sha256 digests: validation, hashing of bytes, and hashing readers/writers for streams.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use super::error::{Result, StoreError};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Check that `digest` is `sha256:<64 lower-case hex>`; return the hex part.
pub fn validate_digest(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or(StoreError::InvalidDigest {
            digest: digest.to_string(),
            why: "expected sha256:<hex>",
        })?;
    if !is_hex64(hex) {
        return Err(StoreError::InvalidDigest {
            digest: digest.to_string(),
            why: "expected 64 lower-case hex digits",
        });
    }
    Ok(hex)
}

/// Is `s` exactly 64 lower-case hex digits?
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

/// Is `s` non-empty and only lower-case hex digits?
pub fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// `(sha256:<hex>, bytes read)` so far.
    pub fn finish(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer and `(sha256:<hex>, bytes written)`.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Read everything copied through it into `tee` as well (used to hash/compress a tar while
/// the tar parser walks it).
pub struct TeeReader<R, W> {
    inner: R,
    tee: W,
}

impl<R: Read, W: Write> TeeReader<R, W> {
    /// Wrap `inner`, copying into `tee`.
    pub fn new(inner: R, tee: W) -> Self {
        TeeReader { inner, tee }
    }

    /// The tee writer.
    pub fn into_tee(self) -> W {
        self.tee
    }
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tee.write_all(&buf[..n])?;
        Ok(n)
    }
}
