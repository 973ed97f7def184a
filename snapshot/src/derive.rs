//! Lazy layer compression: a layer is kept locally in whatever form it arrived (the
//! uncompressed tar of a built layer, the original blob of a pulled one), and a blob in another
//! compression is derived from it only when the layer leaves the machine (push, export, save).
//!
//! A derived blob is memoised per (diff ID, compression, level) in `ROOT/derived/<hex>.json`
//! (replaced atomically; concurrent writers write the same bytes, since compression output
//! does not depend on the machine or the thread count), so a second export or push finds it.
//! The memo also records the uncompressed size of the diff, for `images` and `history`.
//! A memo entry is trusted only after its blob is read again and found to be what the entry
//! says (digest and size): one whose blob was collected or damaged is made again, and
//! [`ContentStore::sweep_memos`] drops the entries of collected blobs.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::compress::{decompressed, Compression, Encoder};
use crate::content::ContentStore;
use crate::digest::{parse_digest, HashingWriter};
use crate::error::{stream_err, Error, IoContext, Result};
use crate::export::LayerInfo;
use crate::random::random_hex128;

/// What is remembered about one diff ID.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct DiffRecord {
    /// Bytes of the uncompressed tar, once known.
    #[serde(default)]
    pub(crate) size: Option<u64>,
    /// Blobs of this diff, keyed by `compression-level` (`none` for the plain tar).
    #[serde(default)]
    pub(crate) blobs: BTreeMap<String, LayerInfo>,
    /// For each blob (by digest) read again and found intact: its file as it was then. A blob
    /// whose file is still that one (same inode, size, mtime and ctime: any write changes the
    /// ctime, which no user can set) is trusted without reading it again.
    #[serde(default)]
    pub(crate) verified: BTreeMap<String, FileStamp>,
}

/// What identifies one state of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileStamp {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
        Some(FileStamp {
            ino: m.ino(),
            size: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        })
    }
}

/// How a layer should leave the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The compression wanted.
    pub compression: Compression,
    /// The level (gzip 0–9, zstd 1–22); `None` is the kind's default
    /// ([`crate::GZIP_LEVEL`], [`crate::ZSTD_LEVEL`]).
    pub level: Option<i32>,
}

impl Target {
    /// A target of `compression` at its default level.
    pub fn new(compression: Compression) -> Target {
        Target {
            compression,
            level: None,
        }
    }

    /// The level actually used.
    pub fn effective_level(&self) -> i32 {
        match (self.compression, self.level) {
            (_, Some(l)) => l,
            (Compression::Gzip, None) => crate::GZIP_LEVEL as i32,
            (Compression::Zstd, None) => crate::ZSTD_LEVEL,
            (Compression::None, None) => 0,
        }
    }

    fn key(&self) -> String {
        match self.compression {
            Compression::None => "none".into(),
            c => format!("{}-{}", c.name(), self.effective_level()),
        }
    }

    /// Check the level is one the compression accepts.
    pub fn validate(&self) -> Result<()> {
        let ok = match (self.compression, self.level) {
            (_, None) => true,
            (Compression::Gzip, Some(l)) => (0..=9).contains(&l),
            (Compression::Zstd, Some(l)) => (1..=22).contains(&l),
            (Compression::None, Some(_)) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Unsupported(format!(
                "compression level {} for {} (gzip takes 0-9, zstd 1-22)",
                self.level.unwrap_or_default(),
                self.compression.name()
            )))
        }
    }
}

impl ContentStore {
    pub(crate) fn derived_dir(&self) -> PathBuf {
        self.root_dir().join("derived")
    }

    fn record_path(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self
            .derived_dir()
            .join(format!("{}.json", parse_digest(diff_id)?)))
    }

    pub(crate) fn read_record(&self, diff_id: &str) -> Result<DiffRecord> {
        let p = self.record_path(diff_id)?;
        match fs::read(&p) {
            // A damaged memo is only a lost memo: the blob is derived again.
            Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DiffRecord::default()),
            Err(e) => Err(Error::Io {
                op: "read",
                path: p,
                source: e,
            }),
        }
    }

    /// Held while a memo is read, changed and written back (by any process), so that two
    /// writers, or a writer and [`ContentStore::sweep_memos`], do not lose each other's entries.
    pub(crate) fn lock_memos(&self) -> Result<fs::File> {
        let dir = self.derived_dir();
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let p = dir.join(".lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .ctx("open", &p)?;
        f.lock().ctx("lock", &p)?;
        Ok(f)
    }

    fn update_record(&self, diff_id: &str, f: impl FnOnce(&mut DiffRecord)) -> Result<()> {
        let _lock = self.lock_memos()?;
        let mut rec = self.read_record(diff_id)?;
        f(&mut rec);
        self.write_record(diff_id, &rec)
    }

    /// Replace the memo of `diff_id` by `rec` (atomically); the caller holds the memo lock.
    pub(crate) fn write_record(&self, diff_id: &str, rec: &DiffRecord) -> Result<()> {
        let p = self.record_path(diff_id)?;
        let dir = self.derived_dir();
        let bytes = serde_json::to_vec(rec).map_err(|source| Error::Metadata {
            path: p.clone(),
            source,
        })?;
        let tmp = dir.join(format!(".{}.tmp", random_hex128()));
        let res = fs::write(&tmp, &bytes)
            .ctx("write", &tmp)
            .and_then(|_| fs::rename(&tmp, &p).ctx("rename", &p));
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// Remember that `layer` (a blob of this store) holds the diff `layer.diff_id`, and the
    /// diff's uncompressed size if known: a pulled layer's original blob, or a built layer's tar.
    pub fn remember_layer(&self, layer: &LayerInfo, uncompressed_size: Option<u64>) -> Result<()> {
        let Some(c) = Compression::from_media_type(&layer.media_type) else {
            return Ok(());
        };
        let key = match c {
            Compression::None => "none".to_string(),
            // The level of a blob made elsewhere is unknown: it answers any gzip/zstd request
            // that does not force its own level (see `derive_layer`).
            c => format!("{}-original", c.name()),
        };
        let layer = layer.clone();
        let size = uncompressed_size.or((c == Compression::None).then_some(layer.size));
        let diff_id = layer.diff_id.to_string();
        self.update_record(&diff_id, move |r| {
            r.size = r.size.or(size);
            r.blobs.insert(key, layer);
        })
    }

    /// The uncompressed size of the diff `diff_id`, if known.
    pub fn diff_size(&self, diff_id: &str) -> Option<u64> {
        self.read_record(diff_id).ok()?.size
    }

    /// Every blob remembered for the diff `diff_id` (those still stored, at the size
    /// remembered).
    pub fn derived_blobs(&self, diff_id: &str) -> Vec<LayerInfo> {
        let Ok(rec) = self.read_record(diff_id) else {
            return Vec::new();
        };
        rec.blobs
            .into_values()
            .filter(|l| self.blob_is(l.digest.as_ref(), l.size))
            .collect()
    }

    /// Whether the blob `digest` is stored with `size` bytes (its content is not read).
    pub(crate) fn blob_is(&self, digest: &str, size: u64) -> bool {
        self.has(digest)
            && fs::symlink_metadata(self.path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Whether the remembered blob `l` may stand for its diff: stored (and held by this
    /// store's lease), its content read again matches its digest, and it is the size
    /// remembered. A stored blob whose content does not match its digest is removed: it is
    /// not what its name says, and it would stop the right blob from being stored again. A
    /// blob read and found intact before is not read again while its file is unchanged.
    fn trust_memo(&self, l: &LayerInfo, stamp_seen: &BTreeMap<String, FileStamp>) -> Result<bool> {
        let digest = l.digest.as_ref();
        if !self.hold(digest)? {
            return Ok(false);
        }
        let stamp = FileStamp::of(&self.path(digest));
        if stamp.is_some() && stamp.as_ref() == stamp_seen.get(digest) {
            return Ok(self.blob_is(digest, l.size));
        }
        let Some(actual) = self.verify(digest)? else {
            // Intact; a memo naming another size is wrong about it.
            if let Some(stamp) = stamp {
                let diff_id = l.diff_id.to_string();
                let key = digest.to_string();
                // Losing this only costs reading the blob again next time.
                let _ = self.update_record(&diff_id, move |r| {
                    r.verified.insert(key, stamp);
                });
            }
            return Ok(self.blob_is(digest, l.size));
        };
        log::warn!(
            "blob {digest} in the content store holds {actual}: removing it and making the layer again"
        );
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).ctx("remove", &p),
        }
    }

    /// The blob of `source`'s diff in the `target` form: `source` itself when it already is,
    /// a remembered blob when one was made before (or came from a registry), else derived now
    /// from `source` (decompressed if needed, then compressed) and remembered. `exact_level`
    /// refuses an original blob of unknown level when a level was asked (`force-compression`).
    /// The derived stream's diff ID is checked against `source.diff_id`.
    pub fn derive_layer(
        &self,
        source: &LayerInfo,
        target: Target,
        exact_level: bool,
    ) -> Result<LayerInfo> {
        target.validate()?;
        let diff_id = source.diff_id.to_string();
        let rec = self.read_record(&diff_id)?;
        let mut keys = vec![target.key()];
        if target.compression != Compression::None && !(exact_level && target.level.is_some()) {
            keys.push(format!("{}-original", target.compression.name()));
        }
        for k in &keys {
            if let Some(l) = rec.blobs.get(k) {
                if self.trust_memo(l, &rec.verified)? {
                    return Ok(l.clone());
                }
            }
        }
        let (info, size) = self.compress_from(source, target)?;
        let stored = info.clone();
        let key = target.key();
        self.update_record(&diff_id, move |r| {
            r.size = r.size.or(Some(size));
            r.blobs.insert(key, stored);
        })?;
        Ok(info)
    }

    /// Compress the diff of `source` into a new blob; returns it and the diff's size.
    fn compress_from(&self, source: &LayerInfo, target: Target) -> Result<(LayerInfo, u64)> {
        let src = source.digest.to_string();
        let mut file = self.open_blob(&src)?;
        let mut plain = decompressed(&mut file)?;
        let blob = self.begin_write()?;
        let level = target.level.unwrap_or(target.effective_level());
        let mut tee = HashingWriter::new(Encoder::with_level(target.compression, level, blob)?);
        copy_large(&mut plain, &mut tee).map_err(stream_err(format!("compressing {src}")))?;
        let (enc, diff_id, size) = tee.finish();
        if diff_id != source.diff_id {
            return Err(Error::DigestMismatch {
                expected: source.diff_id.to_string(),
                actual: diff_id.to_string(),
            });
        }
        let (digest, blob_size) = enc.finish()?.commit(None)?;
        Ok((
            LayerInfo {
                digest,
                size: blob_size,
                diff_id,
                media_type: target.compression.media_type().to_string(),
            },
            size,
        ))
    }
}

/// `io::copy` with a 1 MiB buffer (compression wants large writes).
fn copy_large(r: &mut dyn Read, w: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

/// Derive several layers at once (up to `jobs` at a time, each compressed on several threads
/// itself), in order. The first failure is returned.
pub fn derive_layers(
    store: &ContentStore,
    sources: &[LayerInfo],
    target: Target,
    exact_level: bool,
    jobs: usize,
) -> Result<Vec<LayerInfo>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let results: Vec<Mutex<Option<Result<LayerInfo>>>> =
        sources.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, sources.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(src) = sources.get(i) else { break };
                let r = store.derive_layer(src, target, exact_level);
                let failed = r.is_err();
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
                if failed {
                    // Stop handing out work: the export fails anyway.
                    next.store(sources.len(), Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    let mut out = Vec::with_capacity(sources.len());
    let mut first_err = None;
    for r in results {
        match r.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(l)) => out.push(l),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None if out.len() == sources.len() => Ok(out),
        None => Err(Error::Panicked),
    }
}
