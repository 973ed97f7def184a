//! The snapshotter: layered directories under `ROOT/snapshots/<id>/{fs,work,meta.json}`.
//!
//! In [`Mode::Overlay`] a snapshot's `fs` holds only its own changes in overlayfs "upper"
//! form. In [`Mode::Copy`] (when the kernel refuses overlay mounts) each snapshot's `fs`
//! holds its whole merged tree; diffs are computed by comparing it with the parent's tree.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::copytree::copy_tree;
use crate::error::{Error, IoContext, Result};
use crate::lease::{Lease, Resource};
use crate::meta::{read_meta, write_meta, SnapshotMeta, META_FILE};
use crate::mount::{probe_overlay, with_mount, MountSpec};
use crate::random::random_hex128;
use crate::trash::{purge, TRASH_PREFIX};

/// Identifier of a snapshot (32 lowercase hex digits for snapshots made here).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub struct SnapshotId(pub String);

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A writable snapshot being prepared.
#[derive(Clone, Debug)]
pub struct Active {
    /// Its id (valid once committed).
    pub id: SnapshotId,
    /// The writable directory (overlay upperdir; in Copy mode the whole tree).
    pub upper: PathBuf,
    /// Overlay workdir (unused in Copy mode).
    pub work: PathBuf,
    /// Read-only layers below `upper`, top first (empty in Copy mode and without parent).
    pub lowers: Vec<PathBuf>,
}

/// How snapshots are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each snapshot holds its own diff; views are overlay mounts.
    Overlay,
    /// Each snapshot holds a full copy of its tree (no overlayfs available).
    Copy,
}

/// Snapshots of file-system trees, layered on their parents.
///
/// A handle made by [`Snapshotter::with_lease`] attaches to its lease every snapshot it
/// prepares (before creating it) and every committed snapshot it reads (before reading it), so
/// a concurrent collector never removes what it uses; see [`crate::Leases`].
#[derive(Clone, Debug)]
pub struct Snapshotter {
    pub(crate) inner: Arc<Inner>,
    lease: Option<Lease>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) mode: Mode,
    /// Extra overlay mount options that the probe accepted.
    pub(crate) overlay_extra: String,
    /// Copy mode: can this process make private mount namespaces? (probed once)
    pub(crate) can_mount: std::sync::OnceLock<bool>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn valid_id(id: &SnapshotId) -> bool {
    !id.0.is_empty()
        && id.0.len() <= 64
        && id
            .0
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl Snapshotter {
    /// Open (creating if needed) a snapshotter at `root`; detects overlay support.
    pub fn open(root: &Path) -> Result<Snapshotter> {
        Self::create_dirs(root)?;
        let (mode, extra) = match probe_overlay_cached(root) {
            Some(extra) => (Mode::Overlay, extra),
            None => (Mode::Copy, String::new()),
        };
        Ok(Self::build(root, mode, extra))
    }

    /// Open with a forced mode (for tests, or to avoid overlayfs). Forcing
    /// [`Mode::Overlay`] still probes for the mount options the kernel accepts.
    pub fn open_with_mode(root: &Path, mode: Mode) -> Result<Snapshotter> {
        Self::create_dirs(root)?;
        let extra = match mode {
            Mode::Overlay => probe_overlay(&root.join("tmp")).unwrap_or_default(),
            Mode::Copy => String::new(),
        };
        Ok(Self::build(root, mode, extra))
    }

    fn create_dirs(root: &Path) -> Result<()> {
        crate::perms::private_dir(root)?;
        for d in ["snapshots", "tmp", "empty"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx("create directory", &p)?;
        }
        Ok(())
    }

    fn build(root: &Path, mode: Mode, overlay_extra: String) -> Snapshotter {
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        Snapshotter {
            inner: Arc::new(Inner {
                root,
                mode,
                overlay_extra,
                can_mount: std::sync::OnceLock::new(),
            }),
            lease: None,
        }
    }

    /// The same snapshotter, attaching what this handle prepares or reads to `lease`.
    pub fn with_lease(&self, lease: &Lease) -> Snapshotter {
        Snapshotter {
            inner: self.inner.clone(),
            lease: Some(lease.clone()),
        }
    }

    /// The same snapshotter without a lease (for collectors and reports, which must not hold
    /// what they look at).
    pub fn unleased(&self) -> Snapshotter {
        Snapshotter {
            inner: self.inner.clone(),
            lease: None,
        }
    }

    /// The lease of this handle, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Attach snapshots to this handle's lease (no-op without one).
    pub(crate) fn hold_ids(&self, ids: &[&str]) -> Result<()> {
        match &self.lease {
            Some(l) => {
                let items: Vec<Resource<'_>> = ids.iter().map(|i| Resource::Snapshot(i)).collect();
                l.attach(&items)
            }
            None => Ok(()),
        }
    }

    /// The storage mode in use.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// Extra overlay options (e.g. `index=off,redirect_dir=off,metacopy=off`) to pass when
    /// mounting an [`Active`] yourself, so its upper dir stays a plain diff. Empty in Copy
    /// mode or when the kernel rejected them.
    pub fn overlay_extra_options(&self) -> &str {
        &self.inner.overlay_extra
    }

    pub(crate) fn snapshots_dir(&self) -> PathBuf {
        self.inner.root.join("snapshots")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.inner.root.join("tmp")
    }

    pub(crate) fn empty_dir(&self) -> PathBuf {
        self.inner.root.join("empty")
    }

    /// Directory of a snapshot (validated id; may not exist).
    pub(crate) fn dir(&self, id: &SnapshotId) -> Result<PathBuf> {
        if !valid_id(id) {
            return Err(Error::InvalidSnapshotId(id.0.clone()));
        }
        Ok(self.snapshots_dir().join(&id.0))
    }

    /// The `fs` directory of a snapshot.
    pub(crate) fn fs_dir(&self, id: &SnapshotId) -> Result<PathBuf> {
        Ok(self.dir(id)?.join("fs"))
    }

    /// Metadata of an existing snapshot (committed or not).
    pub(crate) fn meta(&self, id: &SnapshotId) -> Result<SnapshotMeta> {
        let dir = self.dir(id)?;
        if !dir.join(META_FILE).exists() {
            return Err(Error::SnapshotNotFound(id.0.clone()));
        }
        read_meta(&dir)
    }

    /// Metadata of a committed snapshot, attached to the lease first.
    pub(crate) fn committed_meta(&self, id: &SnapshotId) -> Result<SnapshotMeta> {
        if valid_id(id) {
            self.hold_ids(&[&id.0])?;
        }
        let m = self.meta(id)?;
        if !m.committed {
            return Err(Error::SnapshotNotFound(id.0.clone()));
        }
        Ok(m)
    }

    pub(crate) fn update_meta(
        &self,
        id: &SnapshotId,
        f: impl FnOnce(&mut SnapshotMeta),
    ) -> Result<()> {
        let mut m = self.meta(id)?;
        f(&mut m);
        write_meta(&self.dir(id)?, &m, false)
    }

    /// A new writable snapshot over `parent` (None = empty).
    pub fn prepare(&self, parent: Option<&SnapshotId>) -> Result<Active> {
        if let Some(p) = parent {
            self.committed_meta(p)?;
        }
        let id = SnapshotId(random_hex128());
        // Owned by the lease before it exists: a collector never takes it for a dead
        // process's leftover.
        self.hold_ids(&[&id.0])?;
        let dir = self.dir(&id)?;
        let upper = dir.join("fs");
        let work = dir.join("work");
        let res = (|| -> Result<Active> {
            fs::create_dir(&dir).ctx("create directory", &dir)?;
            fs::create_dir(&upper).ctx("create directory", &upper)?;
            // The root of the tree: 0755 whatever the process umask is.
            fs::set_permissions(&upper, fs::Permissions::from_mode(0o755)).ctx("chmod", &upper)?;
            fs::create_dir(&work).ctx("create directory", &work)?;
            let mut meta = SnapshotMeta {
                parent: parent.map(|p| p.0.clone()),
                created: now_secs(),
                ..Default::default()
            };
            let lowers = match (self.inner.mode, parent) {
                (Mode::Overlay, Some(p)) => {
                    // overlayfs shows the topmost layer's root: inherit the parent's.
                    let proot = self.fs_dir(p)?;
                    let md = fs::symlink_metadata(&proot).ctx("stat", &proot)?;
                    crate::copytree::copy_metadata(&proot, &upper, &md)?;
                    self.lowers(p)?
                }
                (Mode::Overlay, None) => Vec::new(),
                (Mode::Copy, p) => {
                    if let Some(p) = p {
                        copy_tree(&self.fs_dir(p)?, &upper)?;
                    }
                    meta.copied_at = Some(copy_marker(&dir)?);
                    Vec::new()
                }
            };
            write_meta(&dir, &meta, false)?;
            Ok(Active {
                id: id.clone(),
                upper: upper.clone(),
                work: work.clone(),
                lowers,
            })
        })();
        if res.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        res
    }

    /// Make an active snapshot read-only and usable as a parent.
    pub fn commit(&self, active: Active) -> Result<SnapshotId> {
        let mut meta = self.meta(&active.id)?;
        // Overlay leaves an internal "work" directory behind; it is not part of the layer.
        if active.work.exists() {
            for e in fs::read_dir(&active.work).ctx("read directory", &active.work)? {
                let p = e.ctx("read directory", &active.work)?.path();
                fs::remove_dir_all(&p).ctx("remove", &p)?;
            }
        }
        meta.committed = true;
        write_meta(&self.dir(&active.id)?, &meta, true)?;
        Ok(active.id)
    }

    /// Throw an active snapshot away.
    pub fn abort(&self, active: Active) -> Result<()> {
        self.remove_dir(&active.id)
    }

    /// Remove a snapshot whatever its state or children (for repairing a store whose chain
    /// is broken; [`Self::remove`] refuses a snapshot that is a parent).
    pub fn remove_broken(&self, id: &SnapshotId) -> Result<()> {
        self.remove_dir(id)
    }

    fn remove_dir(&self, id: &SnapshotId) -> Result<()> {
        let trash = self.detach(id)?;
        purge(&trash)
    }

    /// Rename a snapshot's directory into `tmp/` (so a half-removed snapshot is never
    /// visible) and return where it went; [`purge`] deletes it.
    pub(crate) fn detach(&self, id: &SnapshotId) -> Result<PathBuf> {
        let dir = self.dir(id)?;
        let trash = self
            .tmp_dir()
            .join(format!("{TRASH_PREFIX}{}", random_hex128()));
        fs::rename(&dir, &trash).ctx("rename", &dir)?;
        Ok(trash)
    }

    /// Does a committed snapshot with this id exist?
    pub fn exists(&self, id: &SnapshotId) -> bool {
        self.committed_meta(id).is_ok()
    }

    /// When a committed snapshot was made (seconds since the epoch): the time a build step
    /// that produced it ran, reused as its history time by every rebuild that hits the cache.
    pub fn created(&self, id: &SnapshotId) -> Result<i64> {
        Ok(self.committed_meta(id)?.created)
    }

    /// The parent of a committed snapshot.
    pub fn parent(&self, id: &SnapshotId) -> Result<Option<SnapshotId>> {
        Ok(self.committed_meta(id)?.parent.map(SnapshotId))
    }

    /// Snapshots from the bottom layer up to `id`.
    pub fn chain(&self, id: &SnapshotId) -> Result<Vec<SnapshotId>> {
        // Walk unleased, attach the whole chain in one go, then check it is all still there:
        // the same guarantee as attaching each before reading it, for one lock round trip.
        let walk = self.unleased();
        let mut out = vec![id.clone()];
        let mut seen = HashSet::new();
        seen.insert(id.clone());
        let mut cur = walk.parent(id)?;
        while let Some(p) = cur {
            if !seen.insert(p.clone()) {
                return Err(Error::SnapshotNotFound(format!("{p} (parent cycle)")));
            }
            cur = walk.parent(&p)?;
            out.push(p);
        }
        out.reverse();
        if self.lease.is_some() {
            let ids: Vec<&str> = out.iter().map(|s| s.0.as_str()).collect();
            self.hold_ids(&ids)?;
            for s in &out {
                if !self.dir(s)?.join(META_FILE).exists() {
                    return Err(Error::SnapshotNotFound(s.0.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The layer directories of `id`'s chain, top first (overlay lowerdir order).
    /// In Copy mode this is just `id`'s own directory, which holds the whole tree.
    pub fn lowers(&self, id: &SnapshotId) -> Result<Vec<PathBuf>> {
        match self.inner.mode {
            Mode::Copy => {
                self.committed_meta(id)?;
                Ok(vec![self.fs_dir(id)?])
            }
            Mode::Overlay => {
                let chain = self.chain(id)?;
                chain.iter().rev().map(|s| self.fs_dir(s)).collect()
            }
        }
    }

    /// Run `f` with the merged read-only view of `id` (empty for `None`) mounted at a
    /// temporary path in a private mount namespace of a dedicated thread; nothing stays
    /// mounted afterwards. In Copy mode the tree is bind-mounted read-only (or, where mounts
    /// are not allowed at all, handed over directly).
    pub fn with_mounted<T: Send>(
        &self,
        id: Option<&SnapshotId>,
        f: impl FnOnce(&Path) -> T + Send,
    ) -> Result<T> {
        let spec = match (self.inner.mode, id) {
            (_, None) => MountSpec::Bind {
                src: self.empty_dir(),
                readonly: true,
            },
            (Mode::Copy, Some(id)) => {
                self.committed_meta(id)?;
                MountSpec::Bind {
                    src: self.fs_dir(id)?,
                    readonly: true,
                }
            }
            (Mode::Overlay, Some(id)) => {
                let mut lowers = self.lowers(id)?;
                if lowers.len() == 1 {
                    // A read-only overlay needs two lower layers.
                    lowers.push(self.empty_dir());
                }
                MountSpec::Overlay {
                    base: self.snapshots_dir(),
                    lowers,
                    upper: None,
                    extra_options: String::new(),
                }
            }
        };
        self.run_mounted(&spec, f)
    }

    /// Run `f` with the writable merged view of `active` mounted (see [`Self::with_mounted`]).
    pub fn with_active_mounted<T: Send>(
        &self,
        active: &Active,
        f: impl FnOnce(&Path) -> T + Send,
    ) -> Result<T> {
        let spec = match self.inner.mode {
            Mode::Copy => MountSpec::Bind {
                src: active.upper.clone(),
                readonly: false,
            },
            Mode::Overlay => {
                let mut lowers = active.lowers.clone();
                if lowers.is_empty() {
                    lowers.push(self.empty_dir());
                }
                MountSpec::Overlay {
                    base: self.snapshots_dir(),
                    lowers,
                    upper: Some((active.upper.clone(), active.work.clone())),
                    extra_options: self.inner.overlay_extra.clone(),
                }
            }
        };
        self.run_mounted(&spec, f)
    }

    fn run_mounted<T: Send>(
        &self,
        spec: &MountSpec,
        f: impl FnOnce(&Path) -> T + Send,
    ) -> Result<T> {
        if let (Mode::Copy, MountSpec::Bind { src, .. }) = (self.inner.mode, spec) {
            // Copy mode is used where mounting may be impossible: fall back to the path.
            let allowed = *self
                .inner
                .can_mount
                .get_or_init(|| crate::mount::in_private_namespace(|| Ok(())).is_ok());
            if !allowed {
                return Ok(f(src));
            }
        }
        let owner = match &self.lease {
            Some(l) => {
                l.keep_alive()?;
                Some(l.id())
            }
            None => None,
        };
        with_mount(&self.tmp_dir(), owner, spec, f)
    }

    /// Remove a committed snapshot; refuses while another snapshot has it as parent.
    pub fn remove(&self, id: &SnapshotId) -> Result<()> {
        self.meta(id)?;
        for other in self.all_ids()? {
            if let Ok(m) = self.meta(&other) {
                if m.parent.as_deref() == Some(id.0.as_str()) {
                    return Err(Error::HasChildren {
                        id: id.0.clone(),
                        child: other.0,
                    });
                }
            }
        }
        self.remove_dir(id)
    }

    pub(crate) fn all_ids(&self) -> Result<Vec<SnapshotId>> {
        let dir = self.snapshots_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let e = e.ctx("read directory", &dir)?;
            let id = SnapshotId(e.file_name().to_string_lossy().into_owned());
            if valid_id(&id) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Committed snapshots, sorted by id.
    pub fn list(&self) -> Result<Vec<SnapshotId>> {
        Ok(self
            .all_ids()?
            .into_iter()
            .filter(|id| self.exists(id))
            .collect())
    }

    /// Bytes of the snapshot's own layer directory (apparent sizes, hardlinks once).
    pub fn usage(&self, id: &SnapshotId) -> Result<u64> {
        self.meta(id)?;
        dir_usage(&self.fs_dir(id)?)
    }

    /// Bytes of the whole snapshot directory (its layer, work directory and metadata): what
    /// removing it frees. 0 when it does not exist.
    pub fn disk_usage(&self, id: &SnapshotId) -> Result<u64> {
        dir_usage(&self.dir(id)?)
    }

    /// Is the snapshot's own diff empty?
    pub fn is_empty_diff(&self, id: &SnapshotId) -> Result<bool> {
        Ok(self.changes(id)?.is_empty())
    }
}

/// Bytes under `root` (apparent sizes, hardlinks once; 0 when it does not exist).
pub(crate) fn dir_usage(root: &Path) -> Result<u64> {
    if fs::symlink_metadata(root).is_err() {
        return Ok(0);
    }
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for e in walkdir::WalkDir::new(root) {
        let e = match e {
            Ok(e) => e,
            // Removed meanwhile (a collector purging it).
            Err(e) if e.io_error().map(|i| i.kind()) == Some(std::io::ErrorKind::NotFound) => {
                continue
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "walk",
                    path: e.path().unwrap_or(root).to_path_buf(),
                    source: e.into(),
                })
            }
        };
        let md = match e.metadata() {
            Ok(md) => md,
            Err(err) if err.io_error().map(|i| i.kind()) == Some(std::io::ErrorKind::NotFound) => {
                continue
            }
            Err(err) => {
                return Err(Error::Io {
                    op: "stat",
                    path: e.path().to_path_buf(),
                    source: err.into(),
                })
            }
        };
        if seen.insert((md.dev(), md.ino())) {
            total += md.len();
        }
    }
    Ok(total)
}

/// Write a marker file after a Copy-mode tree copy and return its ctime: copied files
/// have a ctime no later than it, so anything newer was changed afterwards.
fn copy_marker(dir: &Path) -> Result<(i64, i64)> {
    let p = dir.join("copied");
    fs::write(&p, b"").ctx("write", &p)?;
    let md = fs::symlink_metadata(&p).ctx("stat", &p)?;
    Ok((md.ctime(), md.ctime_nsec()))
}

/// What the overlay probe found, remembered per boot in `ROOT/overlay-probe`: the probe mounts
/// in a private namespace and costs tens of milliseconds, too much for every command.
#[derive(Serialize, Deserialize)]
struct ProbeRecord {
    boot_id: String,
    overlay: Option<String>,
}

fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// [`probe_overlay`], answered from the record of an earlier probe made since the last boot.
fn probe_overlay_cached(root: &Path) -> Option<String> {
    let record = root.join("overlay-probe");
    let boot = boot_id();
    if let (Some(boot), Ok(bytes)) = (&boot, fs::read(&record)) {
        if let Ok(r) = serde_json::from_slice::<ProbeRecord>(&bytes) {
            if &r.boot_id == boot {
                return r.overlay;
            }
        }
    }
    let found = probe_overlay(&root.join("tmp"));
    if let Some(boot_id) = boot {
        let r = ProbeRecord {
            boot_id,
            overlay: found.clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&r) {
            let tmp = root.join(format!("overlay-probe.{}", crate::random::random_hex128()));
            if fs::write(&tmp, bytes).is_ok() && fs::rename(&tmp, &record).is_err() {
                let _ = fs::remove_file(&tmp);
            }
        }
    }
    found
}
