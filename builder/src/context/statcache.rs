//! A persistent stat cache: (relative path, size, mtime, inode, ctime) → content sha256, so an
//! unchanged context is not re-read. A missing or corrupt cache file is treated as empty.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The stat fields that must all be unchanged for a cached digest to be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatKey {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub ctime_ns: i64,
}

impl StatKey {
    /// The key of a file's `lstat`.
    pub fn of(meta: &Metadata) -> StatKey {
        StatKey {
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ino: meta.ino(),
            ctime_ns: meta
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    key: StatKey,
    sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    entries: HashMap<String, Entry>,
}

const VERSION: u32 = 1;

/// The in-memory cache bound to its file.
#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    data: OnDisk,
    dirty: bool,
}

impl StatCache {
    /// Loads `file`; anything unreadable or malformed gives an empty cache.
    pub fn load(file: PathBuf) -> StatCache {
        let data = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<OnDisk>(&b).ok())
            .filter(|d| d.version == VERSION)
            .unwrap_or(OnDisk {
                version: VERSION,
                entries: HashMap::new(),
            });
        StatCache {
            file,
            data,
            dirty: false,
        }
    }

    /// The cached sha256 (hex) of `rel` if its stat key is unchanged.
    pub fn get(&self, rel: &str, key: &StatKey) -> Option<String> {
        self.data
            .entries
            .get(rel)
            .filter(|e| e.key == *key)
            .map(|e| e.sha256.clone())
    }

    /// Records a freshly computed digest.
    pub fn put(&mut self, rel: &str, key: StatKey, sha256: String) {
        self.data
            .entries
            .insert(rel.to_string(), Entry { key, sha256 });
        self.dirty = true;
    }

    /// Writes the cache back (atomically) if it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(parent) = self.file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bytes = serde_json::to_vec(&self.data).map_err(std::io::Error::other)?;
        let tmp = tmp_name(&self.file);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.file)?;
        self.dirty = false;
        Ok(())
    }
}

fn tmp_name(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    file.with_file_name(name)
}
