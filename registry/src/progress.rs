//! Byte progress per blob, for the caller's renderer to draw.

use oci::Digest;

/// Told how far a blob's transfer is. Called often (every few hundred KiB): keep it cheap.
pub trait Progress: Send + Sync {
    /// `done` of `total` bytes of blob `digest` are transferred (a resumed fetch starts at the
    /// bytes already held; a blob the registry already has is reported done at once).
    fn update(&self, digest: &Digest, done: u64, total: u64);
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: &Digest, _: u64, _: u64) {}
}

impl<F: Fn(&Digest, u64, u64) + Send + Sync> Progress for F {
    fn update(&self, digest: &Digest, done: u64, total: u64) {
        self(digest, done, total)
    }
}
