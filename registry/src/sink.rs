//! Where a fetched blob goes: a [`BlobSink`] that may already hold the start of it (an
//! interrupted fetch), is told to drop it when the registry ignores the range, and is told the
//! blob is complete only once every byte hashed to the descriptor's digest.

use std::io::{self, Read};

use oci::Digest;

/// The receiving end of a blob fetch.
pub trait BlobSink {
    /// How many bytes of the blob it already holds (0 for a fresh one); the fetch asks for the
    /// rest with a `Range` request.
    fn held(&mut self) -> io::Result<u64>;

    /// Read back the bytes it holds (from the first), so that the whole blob is verified.
    fn read_held(&mut self) -> io::Result<Box<dyn Read + '_>>;

    /// Append bytes.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Drop everything it holds: the fetch starts again from the first byte.
    fn reset(&mut self) -> io::Result<()>;

    /// All `size` bytes are written and hash to `digest`: make the blob visible. (An empty
    /// blob is committed without any `write`.)
    fn commit(&mut self, digest: &Digest, size: u64) -> io::Result<()>;

    /// The bytes did not verify: throw all of them away (nothing of a tampered blob is kept).
    fn discard(&mut self);
}

/// A sink in memory, for small blobs (image configs) and tests: the bytes are available once
/// committed.
#[derive(Debug, Default)]
pub struct MemorySink {
    data: Vec<u8>,
    committed: bool,
    limit: Option<u64>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// An empty sink that refuses to hold more than `limit` bytes.
    pub fn with_limit(limit: u64) -> MemorySink {
        MemorySink {
            limit: Some(limit),
            ..MemorySink::default()
        }
    }

    /// The verified blob, once committed.
    pub fn committed(&self) -> Option<&[u8]> {
        self.committed.then_some(&self.data[..])
    }

    /// The verified blob, once committed.
    pub fn into_committed(self) -> Option<Vec<u8>> {
        self.committed.then_some(self.data)
    }
}

impl BlobSink for MemorySink {
    fn held(&mut self) -> io::Result<u64> {
        Ok(self.data.len() as u64)
    }
    fn read_held(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(&self.data[..]))
    }
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self
            .limit
            .is_some_and(|l| self.data.len() as u64 + bytes.len() as u64 > l)
        {
            return Err(io::Error::other("blob larger than this memory sink allows"));
        }
        self.data.extend_from_slice(bytes);
        Ok(())
    }
    fn reset(&mut self) -> io::Result<()> {
        self.data.clear();
        self.committed = false;
        Ok(())
    }
    fn commit(&mut self, _: &Digest, _: u64) -> io::Result<()> {
        self.committed = true;
        Ok(())
    }
    fn discard(&mut self) {
        self.data = Vec::new();
        self.committed = false;
    }
}
