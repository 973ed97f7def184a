//! sha256 digests: validation, hashing of bytes, and hashing readers/writers for streams.

use std::io::{self, Read, Write};

use super::error::{Result, StoreError};

pub use kiln_snapshot::{sha256_digest, HashingReader, HashingWriter};

/// Check that `digest` is a sha256 digest (the workspace's one validator, [`oci::Digest`]);
/// return the hex part.
pub fn validate_digest(digest: &str) -> Result<&str> {
    kiln_snapshot::parse_digest(digest).map_err(|_| StoreError::InvalidDigest {
        digest: digest.to_string(),
        why: "expected sha256: and 64 lower-case hex digits",
    })
}

/// `digest` as an [`oci::Digest`], validated.
pub fn to_digest(digest: &str) -> Result<oci::Digest> {
    validate_digest(digest)?;
    oci::Digest::parse(digest).map_err(|_| StoreError::InvalidDigest {
        digest: digest.to_string(),
        why: "expected sha256: and 64 lower-case hex digits",
    })
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
