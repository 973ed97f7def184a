//! [`Kiln`]: one opened kiln root directory (`--root`, `KILN_ROOT`) with everything in it.
//!
//! Layout:
//! ```text
//! ROOT/content/…        blobs and the image index (store::ImageStore)
//! ROOT/snapshots/…      unpacked layers and build results (kiln_snapshot::Snapshotter)
//! ROOT/cache/…          the build cache records (kiln_solver::Cache)
//! ROOT/chains/<hex>     chain ID of a base image's layer → its snapshot
//! ROOT/cache-mounts/…   RUN --mount=type=cache directories
//! ROOT/contexts/…       stat caches of build contexts
//! ROOT/containers/…     containers kept by `kiln run` without --rm
//! ROOT/leases/…         what live kiln processes hold (kiln_snapshot::Leases)
//! ROOT/tmp/<lease>/…    temporary files of the process holding that lease
//! ```
//!
//! The root is mode 0710 (0700 for a user's own root) and every directory in it 0700, like
//! `/var/lib/docker`: images' setuid binaries and device nodes are never reachable by another
//! user of the host. Roots made by older versions are tightened when opened.

use crate::error::{Result, ResultExt};
use crate::store::ImageStore;
use kiln_snapshot::{gc, Lease, Leases, Snapshotter};
use kiln_solver::Cache;
use std::path::{Path, PathBuf};

/// Directories directly under the root; each is made private (0700).
const SUBDIRS: [&str; 9] = [
    "content",
    "snapshots",
    "cache",
    "chains",
    "cache-mounts",
    "contexts",
    "containers",
    "leases",
    "tmp",
];

/// Most dead leases collected when a root is opened (the rest wait for the next command or
/// `kiln prune`), so that opening stays cheap.
const STARTUP_COLLECT_LIMIT: usize = 8;

/// The default root: `/var/lib/kiln` for root, `$XDG_DATA_HOME/kiln` (or
/// `~/.local/share/kiln`) otherwise.
pub fn default_root() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/kiln");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("kiln");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/share/kiln")
}

/// Mode of the root directory itself: docker's 0710 for the system root, 0700 for a user's.
fn root_mode() -> u32 {
    if rustix::process::geteuid().is_root() {
        0o710
    } else {
        0o700
    }
}

/// An opened kiln root. Its handles hold what they create or read under [`Kiln::lease`]
/// (this process's lease, made on first use, held until the last clone is dropped);
/// [`Kiln::with_lease`] gives handles that use another lease (a build's), [`Kiln::unleased`]
/// handles that hold nothing (collectors).
#[derive(Clone)]
pub struct Kiln {
    pub root: PathBuf,
    pub images: ImageStore,
    pub snapshots: Snapshotter,
    pub cache: Cache,
    pub leases: Leases,
    pub lease: Lease,
    /// What opening the root collected from dead processes.
    collected_at_open: gc::Collected,
}

impl Kiln {
    /// Open (creating if needed) the root at `root`, tighten its permissions, and collect
    /// what dead kiln processes left (a bounded amount).
    pub fn open(root: &Path) -> Result<Kiln> {
        kiln_snapshot::restrict_dir(root, root_mode())
            .ctx(format_args!("cannot create kiln root {}", root.display()))?;
        for d in SUBDIRS {
            kiln_snapshot::private_dir(&root.join(d))
                .ctx(format_args!("cannot create {}", root.join(d).display()))?;
        }
        let leases = Leases::open(&root.join("leases"))
            .ctx(format_args!("cannot open leases in {}", root.display()))?;
        let lease = leases.create();
        let images = ImageStore::open(root).ctx(format_args!(
            "cannot open the image store in {}",
            root.display()
        ))?;
        let snapshots = Snapshotter::open(&root.join("snapshots"))
            .ctx(format_args!("cannot open snapshots in {}", root.display()))?;
        let cache = Cache::open(&root.join("cache")).ctx(format_args!(
            "cannot open the build cache in {}",
            root.display()
        ))?;
        let mut kiln = Kiln {
            root: root.to_path_buf(),
            images: images.with_lease(&lease),
            snapshots: snapshots.with_lease(&lease),
            cache,
            leases,
            lease,
            collected_at_open: gc::Collected::default(),
        };
        kiln.collected_at_open = kiln.collect_dead(STARTUP_COLLECT_LIMIT)?;
        Ok(kiln)
    }

    /// The same root, holding what it creates or reads under `lease`.
    pub fn with_lease(&self, lease: &Lease) -> Kiln {
        Kiln {
            root: self.root.clone(),
            images: self.images.with_lease(lease),
            snapshots: self.snapshots.with_lease(lease),
            cache: self.cache.clone(),
            leases: self.leases.clone(),
            lease: lease.clone(),
            collected_at_open: self.collected_at_open.clone(),
        }
    }

    /// What opening the root collected from dead processes.
    pub fn collected_at_open(&self) -> &gc::Collected {
        &self.collected_at_open
    }

    /// Handles that hold nothing they look at (for prune, `system df`, `system check`).
    pub fn unleased(&self) -> (ImageStore, Snapshotter) {
        (self.images.unleased(), self.snapshots.unleased())
    }

    /// Remove what up to `limit` dead kiln processes left: partial blobs, uncommitted
    /// snapshots (not kept containers'), mount points and temporary files.
    pub fn collect_dead(&self, limit: usize) -> Result<gc::Collected> {
        let (images, snapshots) = self.unleased();
        let kiln = self.clone();
        // `None` (a container record is unreadable): keep every uncommitted snapshot.
        let mut keep = move || crate::run::container_snapshots(&kiln).ok().flatten();
        let collected =
            gc::collect_dead(&self.leases, &snapshots, images.content(), &mut keep, limit).ctx(
                format_args!(
                    "cannot collect what dead kiln processes left in {}",
                    self.root.display()
                ),
            )?;
        for id in &collected.dead {
            gc::remove_tree(&self.root.join("tmp").join(id)).ctx(format_args!(
                "cannot remove {}",
                self.root.join("tmp").join(id).display()
            ))?;
        }
        Ok(collected)
    }

    /// A directory for temporary files of this handle's lease on the same filesystem as the
    /// store (`ROOT/tmp/<lease id>`): removed when the lease ends, or by a collector when the
    /// process died.
    pub fn tmp_dir(&self) -> PathBuf {
        let shared = self.root.join("tmp");
        let own = shared.join(self.lease.id());
        // Without its own directory (the lease file cannot be written), the shared one still
        // works; its leftovers then wait for `kiln prune`'s age limit.
        match self.lease.own_dir(&own) {
            Ok(()) => own,
            Err(_) => shared,
        }
    }
}
