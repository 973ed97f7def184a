//! Where explain records live, beside the cache records they describe:
//!
//! - `explain/keys/<hex of key>`: the components of one cache key ([`KeyRecord`]), written when
//!   the key's result is recorded and removed with its cache record;
//! - `explain/scopes/<hex>`: per build scope, the key each step had last ([`ScopeRecord`]),
//!   changed under `explain/scopes/<hex>.lock` so that concurrent builds do not lose each
//!   other's steps.
//!
//! Every file is written whole and renamed into place, so a concurrent reader sees the old
//! record or the new one, never a torn one; a record that does not decode is ignored.

use super::record::KeyRecord;
use super::steps::ScopeRecord;
use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::CacheError;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Records larger than this are not read (a key record is at most ~800 KiB).
const MAX_RECORD: u64 = 4 << 20;

/// The explain records of a cache directory.
#[derive(Debug, Clone)]
pub(crate) struct ExplainStore {
    cache: Cache,
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let f = File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_RECORD + 1).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 <= MAX_RECORD).then_some(buf)
}

impl ExplainStore {
    pub fn new(cache: &Cache) -> ExplainStore {
        ExplainStore {
            cache: cache.clone(),
        }
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.cache.dir().join("explain").join(sub)
    }

    fn key_path(&self, key: &Digest) -> Option<PathBuf> {
        Digest::parse(key.as_str())
            .ok()
            .map(|k| self.dir("keys").join(k.hex()))
    }

    fn scope_path(&self, scope: &str) -> PathBuf {
        self.dir("scopes")
            .join(Digest::sha256(scope.as_bytes()).hex())
    }

    fn ensure(&self, sub: &str) -> Result<PathBuf, CacheError> {
        let d = self.dir(sub);
        fs::create_dir_all(&d).map_err(|e| CacheError::io("creating directory", &d, e))?;
        Ok(d)
    }

    /// The record of `key`, if one is kept and decodes.
    pub fn key_record(&self, key: &Digest) -> Option<KeyRecord> {
        let r = KeyRecord::decode(&read_bounded(&self.key_path(key)?)?)?;
        (r.header.key == *key).then_some(r)
    }

    pub fn put_key_record(&self, r: &KeyRecord) -> Result<(), CacheError> {
        self.ensure("keys")?;
        let path = self
            .key_path(&r.header.key)
            .ok_or_else(|| CacheError::InvalidKey(r.header.key.to_string()))?;
        self.cache.write_atomic(&path, &r.encode(), false)
    }

    /// Remove the record of `key` (with its cache record).
    pub fn remove_key_record(&self, key: &Digest) {
        if let Some(p) = self.key_path(key) {
            let _ = fs::remove_file(p);
        }
    }

    /// The steps of `scope` as last recorded (empty when none).
    pub fn scope(&self, scope: &str) -> ScopeRecord {
        read_bounded(&self.scope_path(scope))
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Change the steps of `scope` with `f` under the scope's lock, re-reading them first;
    /// written only when `f` says something changed.
    pub fn update_scope(
        &self,
        scope: &str,
        f: impl FnOnce(&mut ScopeRecord) -> bool,
    ) -> Result<(), CacheError> {
        self.ensure("scopes")?;
        self.update_at(&self.scope_path(scope), f)
    }

    fn update_at(
        &self,
        path: &Path,
        f: impl FnOnce(&mut ScopeRecord) -> bool,
    ) -> Result<(), CacheError> {
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| CacheError::io("opening lock file", &lock_path, e))?;
        lock.lock()
            .map_err(|e| CacheError::io("locking", &lock_path, e))?;
        let bytes = read_bounded(path);
        let decoded = bytes.as_ref().and_then(|b| serde_json::from_slice(b).ok());
        // A file there that does not decode is replaced.
        let corrupt = path.exists() && decoded.is_none();
        let mut record: ScopeRecord = decoded.unwrap_or_default();
        if !f(&mut record) && !corrupt {
            return Ok(());
        }
        if record.steps.is_empty() {
            return match fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(CacheError::io("removing", path, e))
                }
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec(&record).map_err(|e| CacheError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("cannot encode: {e}"),
        })?;
        self.cache.write_atomic(path, &bytes, false)
    }

    /// After a prune: drop key records whose cache record is gone, scope entries whose key
    /// record is gone, and scopes left empty. Returns the bytes freed.
    pub fn sweep(&self) -> Result<u64, CacheError> {
        let mut freed = 0;
        let keys = self.dir("keys");
        for e in fs::read_dir(&keys).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let live = Digest::parse(&format!("sha256:{name}"))
                .ok()
                .is_some_and(|k| self.cache.record_exists(&k));
            if !live {
                freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = fs::remove_file(e.path());
            }
        }
        let scopes = self.dir("scopes");
        for e in fs::read_dir(&scopes).into_iter().flatten().flatten() {
            let path = e.path();
            if path.extension().is_some() {
                continue;
            }
            let before = e.metadata().map(|m| m.len()).unwrap_or(0);
            self.update_at(&path, |record| {
                let n = record.steps.len();
                record.steps.retain(|s| {
                    self.key_path(&s.key)
                        .is_some_and(|p| fs::symlink_metadata(p).is_ok())
                });
                record.steps.len() != n
            })?;
            let after = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            freed += before.saturating_sub(after);
        }
        Ok(freed)
    }

    /// Bytes the explain records take.
    pub fn size(&self) -> u64 {
        let mut n = 0;
        for sub in ["keys", "scopes"] {
            for e in fs::read_dir(self.dir(sub)).into_iter().flatten().flatten() {
                n += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        n
    }
}
