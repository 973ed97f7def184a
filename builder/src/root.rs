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
//! ```

use crate::error::{Result, ResultExt};
use crate::store::ImageStore;
use kiln_snapshot::Snapshotter;
use kiln_solver::Cache;
use std::path::{Path, PathBuf};

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

/// An opened kiln root.
#[derive(Clone)]
pub struct Kiln {
    pub root: PathBuf,
    pub images: ImageStore,
    pub snapshots: Snapshotter,
    pub cache: Cache,
}

impl Kiln {
    /// Open (creating if needed) the root at `root`.
    pub fn open(root: &Path) -> Result<Kiln> {
        std::fs::create_dir_all(root)
            .ctx(format_args!("cannot create kiln root {}", root.display()))?;
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
        for d in ["chains", "cache-mounts", "contexts", "tmp"] {
            std::fs::create_dir_all(root.join(d))
                .ctx(format_args!("cannot create {}", root.join(d).display()))?;
        }
        Ok(Kiln {
            root: root.to_path_buf(),
            images,
            snapshots,
            cache,
        })
    }

    /// A directory for temporary files on the same filesystem as the store.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}
