//! Content digests (`sha256:<hex>`): the one parser and validator of the workspace, and the
//! hashing of exactly the bytes that are sent or received.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::io::{self, Read, Write};

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `algorithm:` prefix.
    #[error("invalid digest {0:?}: missing algorithm")]
    MissingAlgorithm(String),
    /// An algorithm other than sha256 and sha512.
    #[error("invalid digest {0:?}: unsupported digest algorithm")]
    UnsupportedAlgorithm(String),
    /// The hex part has the wrong length for the algorithm.
    #[error("invalid digest {0:?}: invalid checksum digest length")]
    Length(String),
    /// The hex part is not lowercase hexadecimal.
    #[error("invalid digest {0:?}: invalid checksum digest format")]
    Format(String),
}

/// The algorithms a digest may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256: what kiln writes, and what nearly every registry uses.
    Sha256,
    /// SHA-512: accepted from others.
    Sha512,
}

impl Algorithm {
    /// The prefix without the colon.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest: `sha256:` and 64 lowercase hex digits (or `sha512:` and 128).
/// It dereferences to its text, so it can be passed wherever a `&str` digest is taken.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parse and validate.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::MissingAlgorithm(s.to_string()))?;
        let alg = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::UnsupportedAlgorithm(s.to_string())),
        };
        if hex.len() != alg.hex_len() {
            return Err(DigestError::Length(s.to_string()));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Format(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// A sha256 digest from its 64 hex digits (validated).
    pub fn from_sha256_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    /// The whole digest, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        if self.0.starts_with("sha512:") {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }

    /// The hex digits (a safe file name: lowercase hex only).
    pub fn hex(&self) -> &str {
        &self.0[self.algorithm().name().len() + 1..]
    }

    /// Does `bytes` hash to this digest?
    pub fn verifies(&self, bytes: &[u8]) -> bool {
        let mut h = Hasher::new(self.algorithm());
        h.update(bytes);
        h.finish() == *self
    }
}

impl std::ops::Deref for Digest {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl PartialEq<Digest> for str {
    fn eq(&self, other: &Digest) -> bool {
        self == other.0
    }
}

impl PartialEq<Digest> for &str {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A running hash of one algorithm.
pub struct Hasher(HasherInner);

enum HasherInner {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// A new hash.
    pub fn new(alg: Algorithm) -> Hasher {
        Hasher(match alg {
            Algorithm::Sha256 => HasherInner::Sha256(Sha256::new()),
            Algorithm::Sha512 => HasherInner::Sha512(Sha512::new()),
        })
    }

    /// Add bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Digest {
        match self.0 {
            HasherInner::Sha256(h) => Digest(format!("sha256:{}", hex::encode(h.finalize()))),
            HasherInner::Sha512(h) => Digest(format!("sha512:{}", hex::encode(h.finalize()))),
        }
    }
}

/// A reader that hashes and counts exactly the bytes read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    /// Hash what is read from `inner` with `alg`.
    pub fn new(inner: R, alg: Algorithm) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(alg),
            size: 0,
        }
    }

    /// Bytes read so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest and size of what was read.
    pub fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.size)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts exactly the bytes written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Hash what is written to `inner` with `alg`.
    pub fn new(inner: W, alg: Algorithm) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::new(alg),
            size: 0,
        }
    }

    /// The writer, the digest and the size of what was written.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finish(), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_validates() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&ok).unwrap().hex(), "a".repeat(64));
        for bad in [
            "sha256".to_string(),
            format!("md5:{}", "a".repeat(32)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}/../x", "a".repeat(58)),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
        let d512 = format!("sha512:{}", "0".repeat(128));
        assert_eq!(Digest::parse(&d512).unwrap().algorithm(), Algorithm::Sha512);
    }

    #[test]
    fn hashing_reader_and_writer_agree() {
        let data = b"layer bytes";
        let mut r = HashingReader::new(&data[..], Algorithm::Sha256);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        let (dr, n) = r.finish();
        let mut w = HashingWriter::new(Vec::new(), Algorithm::Sha256);
        w.write_all(data).unwrap();
        let (_, dw, m) = w.finish();
        assert_eq!((dr.clone(), n), (dw, m));
        assert_eq!(dr, Digest::sha256(data));
        assert!(dr.verifies(data));
        assert!(!dr.verifies(b"other"));
    }

    #[test]
    fn serde_refuses_bad_digests() {
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
        let d = Digest::sha256(b"x");
        let s = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&s).unwrap(), d);
    }
}
