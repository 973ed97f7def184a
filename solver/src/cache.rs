//! The persistent cache: cache key → the bytes a worker saved for a result, plus metadata.
//!
//! Layout under the cache directory:
//! - `records/<hex of key>`: one file per record, a one-line JSON header then the raw data.
//!   Written atomically (temporary file, fsync, rename). Its modification time is the record's
//!   last use.
//! - `locks/<hex of key>.lock`: empty files locked (`flock`) while a process executes that key,
//!   so that concurrent builds do the work once.
//! - `tmp/`: temporary files being written.

use crate::digest::Digest;
use crate::error::CacheError;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// A handle to a cache directory. Cheap to clone; several handles and several processes may use
/// the same directory at once.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// What is known about one record without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecordInfo {
    /// The cache key.
    pub key: Digest,
    /// Display name of the vertex that produced it.
    pub name: String,
    /// When the record was written.
    pub created: SystemTime,
    /// When it was last written or read by a solve.
    pub last_used: SystemTime,
    /// Length of the record's data (the bytes from `Worker::save`).
    pub data_len: u64,
    /// Size of the result's storage as reported by `Worker::result_size`, if it did.
    pub size: Option<u64>,
}

impl CacheRecordInfo {
    /// The size used for `keep_storage` accounting: the worker's figure, else the data length.
    pub fn storage_size(&self) -> u64 {
        self.size.unwrap_or(self.data_len)
    }
}

/// A record with its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub info: CacheRecordInfo,
    /// The bytes `Worker::save` returned; given back to `Worker::load`.
    pub data: Vec<u8>,
}

/// The JSON header line of a record file.
#[derive(Serialize, Deserialize)]
struct Header {
    key: Digest,
    name: String,
    created: SystemTime,
    #[serde(default)]
    size: Option<u64>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// Open (creating if needed) the cache at `dir`.
    pub fn open(dir: &Path) -> Result<Cache, CacheError> {
        for sub in ["records", "locks", "tmp"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(|e| CacheError::io("creating directory", &p, e))?;
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record_path(&self, key: &Digest) -> Result<PathBuf, CacheError> {
        Ok(self.dir.join("records").join(checked_hex(key)?))
    }

    pub(crate) fn lock_path(&self, key: &Digest) -> Result<PathBuf, CacheError> {
        Ok(self
            .dir
            .join("locks")
            .join(format!("{}.lock", checked_hex(key)?)))
    }

    /// Look `key` up. A hit counts as a use: the record's `last_used` becomes now.
    pub fn get(&self, key: &Digest) -> Result<Option<CacheRecord>, CacheError> {
        self.read(key, true)
    }

    /// Read the record for `key` without counting it as a use (for prune, reports and checks,
    /// which must not make every record look fresh).
    pub fn peek(&self, key: &Digest) -> Result<Option<CacheRecord>, CacheError> {
        self.read(key, false)
    }

    fn read(&self, key: &Digest, touch: bool) -> Result<Option<CacheRecord>, CacheError> {
        let path = self.record_path(key)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io("opening record", &path, e)),
        };
        let mut reader = BufReader::new(&file);
        let (header, _) = read_header(&mut reader, &path)?;
        let mut data = Vec::new();
        reader
            .read_to_end(&mut data)
            .map_err(|e| CacheError::io("reading record", &path, e))?;
        if header.key != *key {
            return Err(CacheError::Corrupt {
                path,
                reason: format!("holds key {}, expected {key}", header.key),
            });
        }
        let last_used = if touch {
            let now = SystemTime::now();
            // Best effort: a read-only cache still serves hits.
            let _ = file.set_modified(now);
            now
        } else {
            file.metadata()
                .and_then(|m| m.modified())
                .map_err(|e| CacheError::io("reading mtime of", &path, e))?
        };
        let data_len = data.len() as u64;
        Ok(Some(CacheRecord {
            info: CacheRecordInfo {
                key: header.key,
                name: header.name,
                created: header.created,
                last_used,
                data_len,
                size: header.size,
            },
            data,
        }))
    }

    /// Store (or replace) the record for `key`, atomically.
    pub fn put(
        &self,
        key: &Digest,
        name: &str,
        size: Option<u64>,
        data: &[u8],
    ) -> Result<(), CacheError> {
        let path = self.record_path(key)?;
        let header = Header {
            key: key.clone(),
            name: name.to_string(),
            created: SystemTime::now(),
            size,
        };
        let mut bytes = serde_json::to_vec(&header).map_err(|e| CacheError::Corrupt {
            path: path.clone(),
            reason: format!("cannot encode header: {e}"),
        })?;
        bytes.push(b'\n');
        bytes.extend_from_slice(data);
        self.write_atomic(&path, &bytes, true)
    }

    /// Whether a record for `key` exists (without reading it).
    pub fn record_exists(&self, key: &Digest) -> bool {
        self.record_path(key)
            .is_ok_and(|p| fs::symlink_metadata(p).is_ok())
    }

    /// Write `bytes` to `path` (inside the cache directory) whole: a temporary file, synced
    /// when `durable` (a record is only renamed into place once its bytes are on disk),
    /// renamed into place. The directory is not synced: the rename reaches the disk with the
    /// journal's next commit, in order with later writes (journaled ext4, xfs), so a crash loses at most
    /// the latest records — a cache miss, never a torn record. Not `durable`: what only
    /// explains (a torn file there does not decode and is ignored).
    pub(crate) fn write_atomic(
        &self,
        path: &Path,
        bytes: &[u8],
        durable: bool,
    ) -> Result<(), CacheError> {
        let tmp = self.dir.join("tmp").join(format!(
            "{}-{}-{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("record"),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = File::create(&tmp).map_err(|e| CacheError::io("creating", &tmp, e))?;
            f.write_all(bytes)
                .map_err(|e| CacheError::io("writing", &tmp, e))?;
            if durable {
                f.sync_all()
                    .map_err(|e| CacheError::io("syncing", &tmp, e))?;
            }
            fs::rename(&tmp, path).map_err(|e| CacheError::io("renaming into place", path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Remove the record for `key`; returns it if it existed (and could be decoded).
    pub fn remove(&self, key: &Digest) -> Result<Option<CacheRecord>, CacheError> {
        let path = self.record_path(key)?;
        // Its explanation goes with it (first: a record never outlives the key it explains).
        self.remove_explanation(key);
        let record = match self.peek(key) {
            Ok(r) => r,
            Err(CacheError::Corrupt { .. }) => None,
            Err(e) => return Err(e),
        };
        match fs::remove_file(&path) {
            Ok(()) => Ok(record),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CacheError::io("removing record", &path, e)),
        }
    }

    /// Files under `records/` that are not readable records (corrupt headers, wrong names),
    /// for checks.
    pub fn unreadable(&self) -> Result<Vec<PathBuf>, CacheError> {
        let dir = self.dir.join("records");
        let entries = fs::read_dir(&dir).map_err(|e| CacheError::io("listing", &dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CacheError::io("listing", &dir, e))?;
            if let Err(CacheError::Corrupt { path, .. }) = read_info(&entry.path()) {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Temporary files under `tmp/` (records being written, or left by a killed process).
    pub fn temporaries(&self) -> Result<Vec<PathBuf>, CacheError> {
        let dir = self.dir.join("tmp");
        let entries = fs::read_dir(&dir).map_err(|e| CacheError::io("listing", &dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CacheError::io("listing", &dir, e))?;
            out.push(entry.path());
        }
        out.sort();
        Ok(out)
    }

    /// Every readable record, sorted by key. Undecodable files are skipped.
    pub fn list(&self) -> Result<Vec<CacheRecordInfo>, CacheError> {
        let dir = self.dir.join("records");
        let entries = fs::read_dir(&dir).map_err(|e| CacheError::io("listing", &dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CacheError::io("listing", &dir, e))?;
            let path = entry.path();
            match read_info(&path) {
                Ok(Some(info)) => out.push(info),
                Ok(None) | Err(CacheError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// The hex of a key, checked so that it is safe as a file name.
fn checked_hex(key: &Digest) -> Result<&str, CacheError> {
    match Digest::parse(key.as_str()).ok() {
        Some(_) => Ok(&key.as_str()[7..]),
        None => Err(CacheError::InvalidKey(key.as_str().to_string())),
    }
}

fn read_header(reader: &mut impl BufRead, path: &Path) -> Result<(Header, usize), CacheError> {
    let mut line = Vec::new();
    reader
        .read_until(b'\n', &mut line)
        .map_err(|e| CacheError::io("reading record", path, e))?;
    if line.last() != Some(&b'\n') {
        return Err(CacheError::Corrupt {
            path: path.to_path_buf(),
            reason: "no header line".into(),
        });
    }
    let header: Header =
        serde_json::from_slice(&line[..line.len() - 1]).map_err(|e| CacheError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("bad header: {e}"),
        })?;
    Ok((header, line.len()))
}

/// Read a record file's metadata without its data; `None` if it vanished meanwhile.
fn read_info(path: &Path) -> Result<Option<CacheRecordInfo>, CacheError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::io("opening record", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| CacheError::io("reading metadata of", path, e))?;
    let (header, header_len) = read_header(&mut BufReader::new(&file), path)?;
    let expected_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if header.key.as_str().get(7..) != Some(expected_name) {
        return Err(CacheError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("holds key {}", header.key),
        });
    }
    let last_used = meta
        .modified()
        .map_err(|e| CacheError::io("reading mtime of", path, e))?;
    Ok(Some(CacheRecordInfo {
        key: header.key,
        name: header.name,
        created: header.created,
        last_used,
        data_len: meta.len().saturating_sub(header_len as u64),
        size: header.size,
    }))
}
