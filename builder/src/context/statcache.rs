//! A persistent stat cache: (relative path, size, mtime, inode, ctime) → content sha256, so an
//! unchanged context is not re-read. A missing or corrupt cache file is treated as empty.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The stat fields that must all be unchanged for a cached digest to be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub ctime_ns: i64,
}

impl StatKey {
    /// The key of an entry's `lstat` as [`inroot`] reports it.
    pub fn of_meta(meta: &inroot::Meta) -> StatKey {
        let ns = |(s, n): (i64, u32)| s.saturating_mul(1_000_000_000).saturating_add(i64::from(n));
        StatKey {
            size: meta.size,
            mtime_ns: ns(meta.mtime),
            ino: meta.ino,
            ctime_ns: ns(meta.ctime),
        }
    }

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

/// How recently changed a file may be and still have its digest cached, in nanoseconds: more
/// than the coarsest timestamp granularity of the filesystems a context lives on (1 s on some).
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

impl StatKey {
    /// Did the file change (mtime or ctime) less than [`RACY_WINDOW_NS`] before `now_ns`, or in
    /// its future?
    pub fn is_recent(&self, now_ns: i64) -> bool {
        let limit = now_ns.saturating_sub(RACY_WINDOW_NS);
        self.mtime_ns > limit || self.ctime_ns > limit
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
struct Entry {
    key: StatKey,
    sha256: [u8; 32],
}

/// File layout: `MAGIC`, then per entry: path length (u32 LE), path bytes, size, mtime_ns,
/// ino, ctime_ns (8 bytes LE each), sha256 (32 bytes). Binary because a large context has tens
/// of thousands of entries and this file is read on every build.
const MAGIC: &[u8; 8] = b"KILNSC02";

/// The in-memory cache bound to its file.
#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    entries: HashMap<String, Entry>,
    dirty: bool,
}

/// Parse the file's bytes; `None` for anything malformed.
fn decode(bytes: &[u8]) -> Option<HashMap<String, Entry>> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let mut out = HashMap::new();
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Some(a)
    }
    fn u64_of(rest: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(rest, 8)?.try_into().ok()?))
    }
    while !rest.is_empty() {
        let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().ok()?) as usize;
        let path = std::str::from_utf8(take(&mut rest, len)?).ok()?.to_string();
        let key = StatKey {
            size: u64_of(&mut rest)?,
            mtime_ns: u64_of(&mut rest)? as i64,
            ino: u64_of(&mut rest)?,
            ctime_ns: u64_of(&mut rest)? as i64,
        };
        let sha256: [u8; 32] = take(&mut rest, 32)?.try_into().ok()?;
        out.insert(path, Entry { key, sha256 });
    }
    Some(out)
}

fn encode(entries: &HashMap<String, Entry>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + entries.len() * 96);
    out.extend_from_slice(MAGIC);
    for (path, e) in entries {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        for v in [
            e.key.size,
            e.key.mtime_ns as u64,
            e.key.ino,
            e.key.ctime_ns as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&e.sha256);
    }
    out
}

impl StatCache {
    /// Loads `file`; anything unreadable or malformed gives an empty cache.
    pub fn load(file: PathBuf) -> StatCache {
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|b| decode(&b))
            .unwrap_or_default();
        StatCache {
            file,
            entries,
            dirty: false,
        }
    }

    /// The cached sha256 (hex) of `rel` if its stat key is unchanged.
    pub fn get(&self, rel: &str, key: &StatKey) -> Option<String> {
        self.entries
            .get(rel)
            .filter(|e| e.key == *key)
            .map(|e| hex::encode(e.sha256))
    }

    /// Records a freshly computed digest (64 hex characters; anything else is not cached).
    ///
    /// A file changed within [`RACY_WINDOW_NS`] of now is not recorded: on a filesystem whose
    /// timestamps are coarse (a clock tick, or a second), a write just after it was hashed can
    /// leave size, mtime, ctime and inode all as they were, and a cached digest would then
    /// hide the new content (git's "racy clean" entries). Such a file is hashed again next time.
    pub fn put(&mut self, rel: &str, key: StatKey, sha256: String) {
        if key.is_recent(now_ns()) {
            return;
        }
        let mut raw = [0u8; 32];
        if hex::decode_to_slice(&sha256, &mut raw).is_ok() {
            self.entries
                .insert(rel.to_string(), Entry { key, sha256: raw });
            self.dirty = true;
        }
    }

    /// Writes the cache back (atomically) if it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(parent) = self.file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = tmp_name(&self.file);
        std::fs::write(&tmp, encode(&self.entries))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> StatKey {
        StatKey {
            size: n,
            mtime_ns: -(n as i64),
            ino: n * 7,
            ctime_ns: n as i64 * 3,
        }
    }

    #[test]
    fn round_trips_and_rejects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache");
        let mut c = StatCache::load(file.clone());
        let sha = "ab".repeat(32);
        c.put("a/b.txt", key(1), sha.clone());
        c.put("ünïcode", key(2), "cd".repeat(32));
        c.put("bad", key(3), "not hex".into());
        c.save().unwrap();
        let c = StatCache::load(file.clone());
        assert_eq!(c.get("a/b.txt", &key(1)), Some(sha));
        assert_eq!(c.get("ünïcode", &key(2)), Some("cd".repeat(32)));
        assert_eq!(c.get("a/b.txt", &key(9)), None, "a changed stat misses");
        assert_eq!(c.get("bad", &key(3)), None);
        // Truncated or foreign files load as empty.
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
        assert_eq!(StatCache::load(file.clone()).get("a/b.txt", &key(1)), None);
        std::fs::write(&file, b"{\"version\":1}").unwrap();
        assert_eq!(StatCache::load(file).get("a/b.txt", &key(1)), None);
    }

    #[test]
    fn a_file_changed_just_now_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = StatCache::load(dir.path().join("cache"));
        let now = now_ns();
        let fresh = StatKey {
            size: 3,
            mtime_ns: now - 1_000,
            ino: 9,
            ctime_ns: now - 1_000,
        };
        c.put("racy", fresh, "ab".repeat(32));
        assert_eq!(
            c.get("racy", &fresh),
            None,
            "its stat may not change with its content"
        );
        let old = StatKey {
            mtime_ns: now - 10 * RACY_WINDOW_NS,
            ctime_ns: now - 10 * RACY_WINDOW_NS,
            ..fresh
        };
        c.put("settled", old, "ab".repeat(32));
        assert_eq!(c.get("settled", &old), Some("ab".repeat(32)));
        // A recent ctime alone (chmod, or a write that restored the mtime) is enough.
        let touched = StatKey {
            ctime_ns: now,
            ..old
        };
        c.put("touched", touched, "ab".repeat(32));
        assert_eq!(c.get("touched", &touched), None);
    }
}
