//! Resumable ingests: a partial blob named by the digest it must have (`ingest/resume-<hex>`),
//! so that a fetch killed half-way is continued by the next process instead of started again.
//!
//! The partial is held with an exclusive `flock` while written: a second writer of the same
//! blob gets a private partial instead. It carries no lease id, so a collection keeps it while
//! it is younger than the grace period for unowned temporaries ([`crate::gc::UNOWNED_GRACE`]) and
//! collects it after. It is committed like any blob: verified, fsynced, attached to the
//! handle's lease, renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::content::ContentStore;
use crate::digest::{parse_digest, Digest};
use crate::error::{Error, IoContext, Result};
use crate::lease::Resource;
use crate::random::random_hex128;

/// A partial blob being written; see [`ContentStore::resumable`].
pub struct ResumableIngest {
    store: ContentStore,
    path: PathBuf,
    file: File,
    /// Named by its digest (resumable by a later process), or private to this writer.
    resumable: bool,
    done: bool,
}

impl ContentStore {
    /// A partial for the blob `digest`: the one an earlier, interrupted writer left (its bytes
    /// are kept: see [`ResumableIngest::held`]) or a new one. When another live writer holds
    /// it, a private partial is made instead.
    pub fn resumable(&self, digest: &Digest) -> Result<ResumableIngest> {
        let hex = parse_digest(digest)?;
        let path = self.ingest_dir().join(format!("resume-{hex}"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx("open", &path)?;
        match file.try_lock() {
            Ok(()) => Ok(ResumableIngest {
                store: self.clone(),
                path,
                file,
                resumable: true,
                done: false,
            }),
            Err(fs::TryLockError::WouldBlock) => {
                let name = match self.lease() {
                    Some(l) => {
                        let name = format!("{}-{}", l.id(), random_hex128());
                        l.attach(&[Resource::Ingest(&name)])?;
                        name
                    }
                    None => random_hex128(),
                };
                let path = self.ingest_dir().join(name);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .ctx("create", &path)?;
                Ok(ResumableIngest {
                    store: self.clone(),
                    path,
                    file,
                    resumable: false,
                    done: false,
                })
            }
            Err(fs::TryLockError::Error(e)) => Err(e).ctx("lock", &path),
        }
    }
}

impl ResumableIngest {
    /// Bytes already held (from an interrupted writer, or written so far).
    pub fn held(&mut self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Does this partial carry over to a later process if this one dies?
    pub fn is_resumable(&self) -> bool {
        self.resumable
    }

    /// The bytes held, from the first.
    pub fn read_held(&mut self) -> io::Result<Box<dyn Read + '_>> {
        self.file.seek(SeekFrom::Start(0))?;
        Ok(Box::new(&mut self.file))
    }

    /// Append bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(bytes)
    }

    /// Drop every byte held.
    pub fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)
    }

    /// The partial holds the whole blob, verified by the caller to hash to `digest` with
    /// `size` bytes: check once more, fsync, attach it to the handle's lease and move it into
    /// place.
    pub fn commit(&mut self, digest: &Digest, size: u64) -> Result<()> {
        parse_digest(digest)?;
        let held = self.held().ctx("stat", &self.path)?;
        if held != size {
            return Err(Error::Unsupported(format!(
                "blob {digest}: {held} bytes written, {size} expected"
            )));
        }
        self.file.sync_all().ctx("fsync", &self.path)?;
        if let Some(l) = self.store.lease() {
            l.attach(&[Resource::Blob(digest)])?;
        }
        let dest = self.store.path(digest);
        if !dest.is_file() {
            fs::rename(&self.path, &dest).ctx("rename into place", &dest)?;
            let dir = dest.parent().map(PathBuf::from).unwrap_or_default();
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .ctx("fsync", &dir)?;
        } else {
            let _ = fs::remove_file(&self.path);
        }
        self.done = true;
        Ok(())
    }

    /// Throw the partial away (its bytes did not verify).
    pub fn discard(&mut self) {
        let _ = fs::remove_file(&self.path);
        self.done = true;
    }
}

impl Drop for ResumableIngest {
    fn drop(&mut self) {
        // A private partial is of no use to anyone else; a resumable one stays for the next
        // writer (unlocked with the descriptor).
        if !self.done && !self.resumable {
            let _ = fs::remove_file(&self.path);
        }
    }
}
