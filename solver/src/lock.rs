//! Per-key file locks, so that concurrent builds on one cache execute a key once.

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::CacheError;
use std::fs::{File, OpenOptions, TryLockError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// An exclusive lock on one cache key, released on drop.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
}

impl Cache {
    /// Take the exclusive lock of `key`, waiting while another process (or another handle in
    /// this process) holds it. Returns `None` if `cancel` is set while waiting.
    pub fn lock_key(
        &self,
        key: &Digest,
        cancel: &AtomicBool,
    ) -> Result<Option<KeyLock>, CacheError> {
        let path = self.lock_path(key)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CacheError::io("opening lock file", &path, e))?;
        let mut delay = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(KeyLock { _file: file })),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(CacheError::io("locking", &path, e)),
            }
            if cancel.load(Ordering::SeqCst) {
                return Ok(None);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }
}
