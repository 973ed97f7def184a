//! Leases: what a live process holds in the store, so that garbage collection never removes it.
//!
//! Modelled on containerd's `leases` package, with the lifetime tied to a process instead of an
//! expiry time. Under `DIR` (`ROOT/leases` in a kiln root):
//!
//! - `DIR/<id>`: one file per lease, created under a temporary name, locked with an exclusive
//!   `flock` and only then renamed into place; its owner keeps it locked for the lease's whole
//!   life. A lease whose lock can be taken belongs to a dead process (or is being collected).
//!   The file lists the lease's resources, one per line: `snapshot <id>`, `blob <digest>` or
//!   `ingest <name>`, appended with one `write` per batch.
//! - `DIR/gc.lock`: held shared while a resource is attached and exclusive by a collector while
//!   it marks and sweeps. A resource attached before the collector took the lock is seen by it;
//!   one attached after it finds the resource already gone, and its user falls back (re-runs a
//!   step, unpacks a layer again) instead of failing.
//!
//! Callers attach a resource *before* they create it or rely on its existence, then check that
//! it exists: [`crate::Snapshotter::with_lease`] and [`crate::ContentStore::with_lease`] make
//! handles that do this on every snapshot they prepare or read and every blob they write.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::error::{IoContext, Result};
use crate::random::random_hex128;

/// File name of the collector's lock under the leases directory.
const GC_LOCK: &str = "gc.lock";
/// Prefix of lease files not yet locked and renamed into place.
const NEW_PREFIX: &str = ".new-";
/// A `.new-` file older than this was left by a process that died while creating its lease.
const NEW_GRACE: Duration = Duration::from_secs(60);

/// The leases directory of a store.
#[derive(Clone, Debug)]
pub struct Leases {
    dir: Arc<PathBuf>,
}

/// Something a lease holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource<'a> {
    /// A snapshot (committed or active) by id.
    Snapshot(&'a str),
    /// A committed blob by digest.
    Blob(&'a str),
    /// A partial blob in `ingest/` by file name.
    Ingest(&'a str),
}

impl Resource<'_> {
    fn line(&self) -> String {
        match self {
            Resource::Snapshot(s) => format!("snapshot {s}\n"),
            Resource::Blob(d) => format!("blob {d}\n"),
            Resource::Ingest(n) => format!("ingest {n}\n"),
        }
    }
}

impl Leases {
    /// Open (creating if needed, mode 0700) the leases directory `dir`.
    pub fn open(dir: &Path) -> Result<Leases> {
        crate::perms::private_dir(dir)?;
        Ok(Leases {
            dir: Arc::new(dir.to_path_buf()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new lease of this process. Nothing is written until a resource is attached; it ends
    /// when the last clone of it is dropped (or when the process dies).
    pub fn create(&self) -> Lease {
        Lease {
            inner: Arc::new(LeaseInner {
                leases: self.clone(),
                id: random_hex128(),
                state: Mutex::new(LeaseState::default()),
            }),
        }
    }

    fn gc_lock_file(&self) -> Result<File> {
        let p = self.dir.join(GC_LOCK);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&p)
            .ctx("open", &p)
    }

    /// Take the collector's lock: no resource is attached to any lease while it is held.
    /// Blocks while another collector holds it or a resource is being attached.
    pub fn lock_gc(&self) -> Result<GcLock> {
        let file = self.gc_lock_file()?;
        file.lock().ctx("lock", &self.dir.join(GC_LOCK))?;
        Ok(GcLock { _file: file })
    }

    /// What the live leases hold, read under the collector's lock: nothing can be attached
    /// meanwhile, so this is exact until the lock is released. Dead leases found on the way
    /// are kept locked in the result until [`Held::remove_dead`].
    pub fn held(&self, _lock: &GcLock) -> Result<Held> {
        self.read_all()
    }

    /// What the live leases hold, read without the lock (for reports: a resource attached
    /// meanwhile may be missing).
    pub fn held_unlocked(&self) -> Result<Held> {
        self.read_all()
    }

    fn read_all(&self) -> Result<Held> {
        let mut held = Held::default();
        for e in fs::read_dir(self.dir.as_path()).ctx("read directory", &self.dir)? {
            let e = e.ctx("read directory", &self.dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            match self.probe(&name, true)? {
                Probe::Live(id, text) => {
                    held.add_text(&text);
                    held.live.insert(id);
                }
                Probe::Dead(dead) => held.dead.push(dead),
                Probe::Skip => {}
            }
        }
        Ok(held)
    }

    /// Is the lease file `name` live (with its text if `read_live`), dead (then locked by us)
    /// or not a lease?
    fn probe(&self, name: &str, read_live: bool) -> Result<Probe> {
        if name == GC_LOCK || !valid_name(name) {
            return Ok(Probe::Skip);
        }
        let path = self.dir.join(name);
        if let Some(id) = name.strip_prefix(NEW_PREFIX) {
            // Being created: it is locked and renamed within microseconds.
            let young = match fs::symlink_metadata(&path).and_then(|m| m.modified()) {
                Ok(t) => t.elapsed().unwrap_or_default() < NEW_GRACE,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Skip),
                Err(_) => true,
            };
            if young {
                return Ok(Probe::Live(id.to_string(), String::new()));
            }
        }
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Skip),
            Err(e) => return Err(e).ctx("open", &path),
        };
        let id = name.trim_start_matches(NEW_PREFIX).to_string();
        match file.try_lock() {
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                if read_live {
                    file.read_to_string(&mut text).ctx("read", &path)?;
                }
                Ok(Probe::Live(id, text))
            }
            Err(TryLockError::Error(e)) => Err(e).ctx("lock", &path),
            Ok(()) => {
                let mut text = String::new();
                file.read_to_string(&mut text).ctx("read", &path)?;
                Ok(Probe::Dead(DeadLease {
                    id,
                    path,
                    text,
                    _file: file,
                }))
            }
        }
    }

    /// Up to `limit` leases of dead processes, each locked by the caller until dropped or
    /// removed (another collector sees them as live meanwhile).
    pub(crate) fn dead(&self, limit: usize) -> Result<Vec<DeadLease>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(self.dir.as_path()) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).ctx("read directory", &self.dir),
        };
        for e in rd {
            if out.len() >= limit {
                break;
            }
            let e = e.ctx("read directory", &self.dir)?;
            if let Probe::Dead(d) = self.probe(&e.file_name().to_string_lossy(), false)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Is the lease `id` held by a live process? (One `open` and one `flock`.)
    pub fn is_live(&self, id: &str) -> bool {
        if !valid_name(id) {
            return false;
        }
        match File::open(self.dir.join(id)) {
            Ok(f) => matches!(f.try_lock(), Err(TryLockError::WouldBlock)),
            Err(_) => {
                // Not renamed into place yet?
                matches!(
                    self.probe(&format!("{NEW_PREFIX}{id}"), false),
                    Ok(Probe::Live(..))
                )
            }
        }
    }
}

fn valid_name(name: &str) -> bool {
    let id = name.strip_prefix(NEW_PREFIX).unwrap_or(name);
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

enum Probe {
    Live(String, String),
    Dead(DeadLease),
    Skip,
}

/// The lease file of a dead process, locked by the collector that found it.
#[derive(Debug)]
pub(crate) struct DeadLease {
    pub(crate) id: String,
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    _file: File,
}

impl DeadLease {
    /// Its resources.
    pub(crate) fn held(&self) -> Held {
        let mut h = Held::default();
        h.add_text(&self.text);
        h
    }

    /// Delete the lease file (its resources are collected or kept by other roots).
    pub(crate) fn remove(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The collector's exclusive lock; see [`Leases::lock_gc`].
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

/// The resources held by live leases.
#[derive(Debug, Default)]
pub struct Held {
    /// Snapshot ids.
    pub snapshots: HashSet<String>,
    /// Blob digests.
    pub blobs: HashSet<String>,
    /// Partial blobs (file names in `ingest/`).
    pub ingests: HashSet<String>,
    /// Ids of the live leases.
    pub live: HashSet<String>,
    dead: Vec<DeadLease>,
}

impl Held {
    fn add_text(&mut self, text: &str) {
        // A last line without its newline is being written: it is ignored, which is safe
        // under the collector's lock (no attachment is in progress then).
        for line in text.split_inclusive('\n') {
            let Some(line) = line.strip_suffix('\n') else {
                continue;
            };
            match line.split_once(' ') {
                Some(("snapshot", s)) => {
                    self.snapshots.insert(s.to_string());
                }
                Some(("blob", d)) => {
                    self.blobs.insert(d.to_string());
                }
                Some(("ingest", n)) => {
                    self.ingests.insert(n.to_string());
                }
                _ => {}
            }
        }
    }

    /// Is the lease `id` among the live ones?
    pub fn is_live(&self, id: &str) -> bool {
        self.live.contains(id)
    }

    /// Was the lease `id` found dead (and is it locked by this collector)?
    pub fn is_dead(&self, id: &str) -> bool {
        self.dead.iter().any(|d| d.id == id)
    }

    /// How many dead leases were found.
    pub fn dead_count(&self) -> usize {
        self.dead.len()
    }

    /// Delete the files of the dead leases found (after their resources were collected).
    pub fn remove_dead(&mut self) {
        for d in self.dead.drain(..) {
            d.remove();
        }
    }
}

/// A lease of this process: see the [module documentation](self). Cheap to clone; released
/// when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Lease {
    inner: Arc<LeaseInner>,
}

#[derive(Debug)]
struct LeaseInner {
    leases: Leases,
    id: String,
    state: Mutex<LeaseState>,
}

#[derive(Debug, Default)]
struct LeaseState {
    /// The lease file, locked, once something is attached.
    file: Option<File>,
    /// Lines already written.
    attached: HashSet<String>,
    /// Directories removed when the lease ends (see [`Lease::own_dir`]).
    dirs: Vec<PathBuf>,
    /// The collector's lock file, opened once (attachments are serialised by the state's
    /// mutex, so one open file description per lease is enough).
    gc: Option<File>,
}

impl Lease {
    /// The lease id (the file name under the leases directory).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The leases directory this lease lives in.
    pub fn leases(&self) -> &Leases {
        &self.inner.leases
    }

    /// Make sure the lease file exists and is locked, so that names carrying this lease's id
    /// (`<id>-…`, or a directory named `<id>`) are recognised as owned by a live process.
    pub fn keep_alive(&self) -> Result<()> {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        self.ensure_file(&mut st).map(|_| ())
    }

    fn ensure_file<'a>(&self, st: &'a mut LeaseState) -> Result<&'a mut File> {
        if st.file.is_none() {
            let dir = self.inner.leases.dir();
            let tmp = dir.join(format!("{NEW_PREFIX}{}", self.inner.id));
            let path = dir.join(&self.inner.id);
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&tmp)
                .ctx("create", &tmp)?;
            file.lock().ctx("lock", &tmp)?;
            // A collector that locked the young file before us would have deleted it: then the
            // rename fails and nothing was attached yet.
            fs::rename(&tmp, &path).ctx("rename", &path)?;
            st.file = Some(file);
        }
        Ok(st.file.as_mut().expect("just set"))
    }

    /// Make `dir` (created 0700 if missing) belong to this lease: it is removed when the
    /// lease ends, and a collector removes it if the process dies. Its name must be the lease
    /// id (as `ROOT/tmp/<id>`), which is how collectors know its owner.
    pub fn own_dir(&self, dir: &Path) -> Result<()> {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        self.ensure_file(&mut st)?;
        if !st.dirs.iter().any(|d| d == dir) {
            crate::perms::private_dir(dir)?;
            st.dirs.push(dir.to_path_buf());
        }
        Ok(())
    }

    /// Attach `items` (those not attached yet) under the shared collector lock.
    pub(crate) fn attach(&self, items: &[Resource<'_>]) -> Result<()> {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::new();
        let mut lines = Vec::new();
        for r in items {
            let l = r.line();
            if !st.attached.contains(&l) && !lines.contains(&l) {
                text.push_str(&l);
                lines.push(l);
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        if st.gc.is_none() {
            st.gc = Some(self.inner.leases.gc_lock_file()?);
        }
        let gc_path = self.inner.leases.dir().join(GC_LOCK);
        let gc = st.gc.take().expect("just set");
        gc.lock_shared().ctx("lock", &gc_path)?;
        let path = self.inner.leases.dir().join(&self.inner.id);
        let written = self
            .ensure_file(&mut st)
            .and_then(|file| file.write_all(text.as_bytes()).ctx("write", &path));
        let unlocked = gc.unlock().ctx("unlock", &gc_path);
        st.gc = Some(gc);
        written?;
        unlocked?;
        st.attached.extend(lines);
        Ok(())
    }
}

impl Drop for LeaseInner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        // Its directories first: if the process dies meanwhile, the lease is found dead and a
        // collector finishes.
        for d in st.dirs.drain(..) {
            let _ = crate::trash::purge(&d);
        }
        if st.file.take().is_some() {
            // Unlink while still locked, then the lock goes with the file.
            let _ = fs::remove_file(self.leases.dir().join(&self.id));
        }
    }
}

/// Owner tag of temporary names (`<lease id>-<random>`), or `None` for names without one.
pub(crate) fn owner_of(name: &str) -> Option<&str> {
    let (owner, rest) = name.split_once('-')?;
    (owner.len() == 32 && valid_name(owner) && !rest.is_empty()).then_some(owner)
}

/// Is an unowned temporary older than `age`? (Unowned temporaries come from kiln versions
/// without leases or from handles used without one.)
pub(crate) fn older_than(path: &Path, age: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() >= age)
        .unwrap_or(false)
}
