//! The content store: blobs addressed by sha256 digest under `ROOT/blobs/sha256/<hex>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::{parse_digest, Digest, HashingWriter};
use crate::error::{stream_err, Error, IoContext, Result};
use crate::lease::{Lease, Resource};
use crate::random::random_hex128;

/// Blobs by digest. Writers stream into `ROOT/ingest`, fsync, verify and rename into place,
/// so readers never see partial blobs and concurrent writers of one blob are harmless.
///
/// A handle made by [`ContentStore::with_lease`] attaches to its lease every partial blob it
/// starts and every blob it commits (before the blob becomes visible), and [`ContentStore::hold`]
/// attaches an existing blob before checking it is there; see [`crate::Leases`].
#[derive(Clone, Debug)]
pub struct ContentStore {
    root: Arc<PathBuf>,
    lease: Option<Lease>,
}

impl ContentStore {
    /// Open (creating if needed) a content store rooted at `root` (mode 0700).
    pub fn open(root: &Path) -> Result<ContentStore> {
        crate::perms::private_dir(root)?;
        for d in [root.join("blobs/sha256"), root.join("ingest")] {
            fs::create_dir_all(&d).ctx("create directory", &d)?;
        }
        Ok(ContentStore {
            root: Arc::new(root.to_path_buf()),
            lease: None,
        })
    }

    /// The same store, attaching what this handle writes or holds to `lease`.
    pub fn with_lease(&self, lease: &Lease) -> ContentStore {
        ContentStore {
            root: self.root.clone(),
            lease: Some(lease.clone()),
        }
    }

    /// The same store without a lease (for collectors and reports, which must not hold what
    /// they look at).
    pub fn unleased(&self) -> ContentStore {
        ContentStore {
            root: self.root.clone(),
            lease: None,
        }
    }

    /// The lease of this handle, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Attach a blob to this handle's lease (if any), then tell whether it is stored: once
    /// this returns true the blob stays until the lease ends, whatever a concurrent
    /// collector does.
    pub fn hold(&self, digest: &str) -> Result<bool> {
        if parse_digest(digest).is_err() {
            return Ok(false);
        }
        if let Some(l) = &self.lease {
            l.attach(&[Resource::Blob(digest)])?;
        }
        Ok(self.has(digest))
    }

    /// The store's root directory.
    pub(crate) fn root_dir(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    pub(crate) fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Stream `r` into a temp file, fsync, check `expected` if given, rename into place.
    /// Returns `(digest "sha256:<hex>", size)`. Idempotent when the blob exists.
    pub fn write(&self, r: &mut dyn Read, expected: Option<&str>) -> Result<(Digest, u64)> {
        if let Some(e) = expected {
            parse_digest(e)?;
        }
        let mut w = self.begin_write()?;
        io::copy(r, &mut w).map_err(stream_err("copying blob into the content store"))?;
        w.commit(expected)
    }

    /// Store a byte slice; returns `(digest, size)`.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        self.write(&mut &bytes[..], None)
    }

    /// Start a streaming write: write into the returned [`BlobWriter`], then call
    /// [`BlobWriter::commit`]. Dropping it without committing removes the temp file.
    pub fn begin_write(&self) -> Result<BlobWriter> {
        let name = match &self.lease {
            Some(l) => {
                let name = format!("{}-{}", l.id(), random_hex128());
                l.attach(&[Resource::Ingest(&name)])?;
                name
            }
            None => random_hex128(),
        };
        let path = self.ingest_dir().join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        Ok(BlobWriter {
            store: self.clone(),
            inner: Some(HashingWriter::new(io::BufWriter::with_capacity(
                1 << 20,
                Writeback::new(file),
            ))),
            temp: path,
        })
    }

    /// Is a blob with this digest stored? (False for malformed digests.)
    pub fn has(&self, digest: &str) -> bool {
        parse_digest(digest).is_ok() && self.path(digest).is_file()
    }

    /// Where the blob is (it may not exist). A malformed digest yields a path inside the
    /// store that never exists (`blobs/sha256/invalid`), never a path outside it.
    pub fn path(&self, digest: &str) -> PathBuf {
        match parse_digest(digest) {
            Ok(hex) => self.blobs_dir().join(hex),
            Err(_) => self.blobs_dir().join("invalid"),
        }
    }

    fn existing_path(&self, digest: &str) -> Result<PathBuf> {
        let p = self.blobs_dir().join(parse_digest(digest)?);
        if !p.is_file() {
            return Err(Error::BlobNotFound(digest.to_string()));
        }
        Ok(p)
    }

    /// Open a stored blob for reading.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let p = self.existing_path(digest)?;
        File::open(&p).ctx("open", &p)
    }

    /// Read a whole blob (for small blobs such as manifests and configs).
    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.existing_path(digest)?;
        fs::read(&p).ctx("read", &p)
    }

    /// Size in bytes of a stored blob.
    pub fn size(&self, digest: &str) -> Result<u64> {
        let p = self.existing_path(digest)?;
        Ok(fs::metadata(&p).ctx("stat", &p)?.len())
    }

    /// Hash a stored blob again: `None` when its content matches its digest, else the digest
    /// its content has.
    pub fn verify(&self, digest: &str) -> Result<Option<Digest>> {
        let mut f = self.open_blob(digest)?;
        let mut w = HashingWriter::new(io::sink());
        io::copy(&mut f, &mut w).ctx("read", &self.path(digest))?;
        let (_, actual, _) = w.finish();
        Ok((actual != digest).then_some(actual))
    }

    /// Delete a blob; deleting a missing blob is an error.
    pub fn delete(&self, digest: &str) -> Result<()> {
        let p = self.existing_path(digest)?;
        fs::remove_file(&p).ctx("remove", &p)
    }

    /// All stored blobs as `(digest, size)`, sorted by digest.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let e = e.ctx("read directory", &dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(digest) = Digest::from_sha256_hex(&name) else {
                continue;
            };
            let md = e.metadata().ctx("stat", &e.path())?;
            if md.is_file() {
                out.push((digest, md.len()));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A blob being written; see [`ContentStore::begin_write`].
pub struct BlobWriter {
    store: ContentStore,
    inner: Option<HashingWriter<io::BufWriter<Writeback>>>,
    temp: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("blob writer already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Fsync, verify against `expected` (if given) and move the blob into place.
    /// On a mismatch the temp file is removed and nothing is stored.
    pub fn commit(mut self, expected: Option<&str>) -> Result<(Digest, u64)> {
        let Some(w) = self.inner.take() else {
            return Err(Error::Unsupported("blob writer committed twice".into()));
        };
        let (buf, digest, size) = w.finish();
        let file = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("write", &self.temp)?
            .file;
        if let Some(exp) = expected {
            parse_digest(exp)?;
            if digest != exp {
                return Err(Error::DigestMismatch {
                    expected: exp.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        if let Some(l) = &self.store.lease {
            // Before the blob is visible (or relied on when it already is).
            l.attach(&[Resource::Blob(&digest)])?;
        }
        let dest = self.store.path(&digest);
        if dest.is_file() {
            return Ok((digest, size));
        }
        file.sync_all().ctx("fsync", &self.temp)?;
        drop(file);
        // The directory is not synced: the rename is durable with the journal's next commit,
        // in order with what refers to the blob later (see `meta::write_meta`).
        fs::rename(&self.temp, &dest).ctx("rename into place", &dest)?;
        Ok((digest, size))
    }
}

/// A blob file that asks the kernel to start writing its pages out every [`Writeback::STEP`]
/// bytes (without waiting), so the fsync at commit finds little left to write: the disk works
/// while the blob is still being produced instead of after.
struct Writeback {
    file: File,
    written: u64,
    kicked: u64,
}

impl Writeback {
    const STEP: u64 = 8 << 20;

    fn new(file: File) -> Writeback {
        Writeback {
            file,
            written: 0,
            kicked: 0,
        }
    }
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.kicked >= Self::STEP {
            use std::os::fd::AsRawFd;
            // SAFETY: sync_file_range(2) on an open descriptor; SYNC_FILE_RANGE_WRITE only
            // starts writeback of the range. A failure is harmless (the fsync still runs).
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.kicked as libc::off64_t,
                    (self.written - self.kicked) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            self.kicked = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Removes the temp file after a failed or abandoned write; after a successful
        // rename this fails harmlessly with ENOENT.
        let _ = fs::remove_file(&self.temp);
    }
}
