//! Digests in the content store: the workspace's one [`oci::Digest`] (sha256 only here), and
//! hashing adapters over exactly the bytes that pass.

use std::io::{self, Read, Write};

use oci::Algorithm;
pub use oci::Digest;

use crate::error::{Error, Result};

/// Check that `digest` is a valid sha256 digest and return its hex part (a safe file name).
pub fn parse_digest(digest: &str) -> Result<&str> {
    match Digest::parse(digest) {
        Ok(d) if d.algorithm() == Algorithm::Sha256 => Ok(&digest["sha256:".len()..]),
        _ => Err(Error::InvalidDigest(digest.to_string())),
    }
}

/// The sha256 digest of a byte slice.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::sha256(bytes)
}

/// A reader that hashes (sha256) and counts what passes through it.
pub struct HashingReader<R>(oci::HashingReader<R>);

impl<R: Read> HashingReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader(oci::HashingReader::new(inner, Algorithm::Sha256))
    }

    /// Read the rest of the stream (so the digest covers all of it) and return
    /// `(digest, bytes)`.
    pub fn drain_and_finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.finish())
    }

    /// `(digest, bytes)` of what was read so far.
    pub fn finish(self) -> (Digest, u64) {
        self.0.finish()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// A writer that hashes (sha256) and counts what passes through it.
pub struct HashingWriter<W>(oci::HashingWriter<W>);

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter(oci::HashingWriter::new(inner, Algorithm::Sha256))
    }

    /// Return the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        self.0.finish()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_digests() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(parse_digest(&good).is_ok());
        for bad in [
            "sha256:../../etc/passwd",
            "sha256:",
            "sha512:aa",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}/", "a".repeat(63)),
            &format!("sha256:{}", "a".repeat(65)),
        ] {
            assert!(parse_digest(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn hashes_empty_input() {
        assert_eq!(
            sha256_digest(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
