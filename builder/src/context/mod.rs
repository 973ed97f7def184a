//! The build context: `.dockerignore`, walking, wildcard resolution and content digests.

pub mod digest;
pub mod dockerignore;
pub mod parwalk;
pub mod pattern;
pub mod resolve;
pub mod statcache;
pub mod stdin;
pub mod walk;

pub use dockerignore::{DockerIgnore, DockerIgnoreError};

use statcache::{StatCache, StatKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Errors of the build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A source path names nothing (or only ignored files). BuildKit's wording.
    #[error("{path:?}: not found")]
    NotFound {
        /// The source path as given.
        path: String,
    },
    /// The `.dockerignore` (or an `--exclude` list) is invalid.
    #[error(transparent)]
    Ignore(#[from] DockerIgnoreError),
    /// A wildcard is malformed.
    #[error(transparent)]
    Resolve(#[from] resolve::ResolveError),
    /// A context tar from stdin (`kiln build -`) could not be unpacked.
    #[error("cannot unpack the build context from stdin: {source}")]
    Unpack {
        /// The extractor's (or decompressor's) error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading the context failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl ContextError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> ContextError {
        ContextError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// What kind of entry a [`ContextEntry`] is (after `lstat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A device, fifo or socket.
    Other,
}

/// One source matched in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Path relative to the context root, `/`-separated, no leading `/`; `""` is the root.
    pub rel_path: String,
    /// Host path (intermediate symlinks resolved inside the context).
    pub path: PathBuf,
    pub kind: EntryKind,
}

/// What was read of each context file whose content entered a cache key: its real path in
/// the context → the stat key of the file that was hashed and its content's sha256 (hex). A
/// COPY checks that what it opens is what was hashed, so a file swapped during the build cannot
/// reach an image under a key made from other content.
pub type HashedFiles = Arc<Mutex<HashMap<String, (StatKey, String)>>>;

/// A local build context: a directory plus its `.dockerignore`.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    /// The context directory, opened once: every read goes through it.
    dir: inroot::Root,
    ignore: Option<Arc<DockerIgnore>>,
    /// Read by every hashing thread at once; written only for files hashed anew.
    stat_cache: Option<RwLock<StatCache>>,
    hashed: AtomicU64,
    hashed_files: HashedFiles,
}

impl Context {
    /// Opens the context at `dir` with the given ignore rules (none: nothing is ignored).
    pub fn open(dir: &Path, dockerignore: Option<DockerIgnore>) -> Result<Context, ContextError> {
        let meta = std::fs::metadata(dir).map_err(|e| ContextError::io(dir, e))?;
        if !meta.is_dir() {
            return Err(ContextError::io(
                dir,
                std::io::Error::other("not a directory"),
            ));
        }
        Ok(Context {
            root: dir.to_path_buf(),
            dir: inroot::Root::open(dir).map_err(|e| ContextError::io(dir, e.into()))?,
            ignore: dockerignore.filter(|d| !d.is_empty()).map(Arc::new),
            stat_cache: None,
            hashed: AtomicU64::new(0),
            hashed_files: HashedFiles::default(),
        })
    }

    /// Opens the context at `dir` reading its ignore file like BuildKit: `<dockerfile>.dockerignore`
    /// next to the Dockerfile if it exists, else `<dir>/.dockerignore`, else nothing.
    pub fn open_default(dir: &Path, dockerfile: Option<&Path>) -> Result<Context, ContextError> {
        let mut candidates = Vec::new();
        if let Some(df) = dockerfile {
            if let Some(name) = df.file_name() {
                let mut n = name.to_os_string();
                n.push(".dockerignore");
                candidates.push(df.with_file_name(n));
            }
        }
        candidates.push(dir.join(".dockerignore"));
        for c in candidates {
            match std::fs::read(&c) {
                Ok(bytes) => {
                    let ig = DockerIgnore::parse(&String::from_utf8_lossy(&bytes))?;
                    return Context::open(dir, Some(ig));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ContextError::io(&c, e)),
            }
        }
        Context::open(dir, None)
    }

    /// Uses (and updates) a persistent stat cache at `cache_file`. A corrupt file is ignored.
    pub fn with_stat_cache(mut self, cache_file: PathBuf) -> Context {
        self.stat_cache = Some(RwLock::new(StatCache::load(cache_file)));
        self
    }

    /// The context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore rules, if any.
    pub fn ignore(&self) -> Option<&Arc<DockerIgnore>> {
        self.ignore.as_ref()
    }

    /// How many files were read and hashed so far (stat-cache hits do not count).
    pub fn hashed_files(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }

    /// The context as a COPY source: ignore rules applied, files owned by 0:0 (BuildKit), and
    /// every file checked against what was hashed for the cache key.
    pub fn source_root(&self) -> crate::fileop::SourceRoot {
        crate::fileop::SourceRoot {
            root: self.root.clone(),
            ignore: self.ignore.clone(),
            force_owner: Some((0, 0)),
            hashed: Some(self.hashed_files.clone()),
        }
    }

    /// Remember that each file `rel` was hashed as it was at its key, giving its sha256 (for
    /// the copy, which checks it copies what was hashed); one lock for them all.
    pub(crate) fn note_all_hashed<'a>(
        &self,
        files: impl Iterator<Item = (&'a str, &'a (String, StatKey))>,
    ) {
        if let Ok(mut m) = self.hashed_files.lock() {
            for (rel, (sha256, key)) in files {
                m.insert(rel.to_string(), (*key, sha256.clone()));
            }
        }
    }

    /// An error reading `rel` in the context.
    pub(crate) fn err(&self, rel: &str, e: inroot::Error) -> ContextError {
        if e.is_not_found() {
            return ContextError::NotFound {
                path: format!("/{rel}"),
            };
        }
        ContextError::io(self.dir.shown_host_path(rel), e.into())
    }

    /// What a bind mount of `path` shows: the path (absolute inside the context, no symlink left
    /// on it) that every symlink on `path` leads to, as `fileop::context_bind_source` resolves
    /// it. Its content digest is the mount's cache key part.
    pub fn mount_target(&self, path: &str) -> Result<String, ContextError> {
        let rel = resolve::rel_of(path);
        let not_found = || ContextError::NotFound {
            path: format!("/{rel}"),
        };
        let found = match self.dir.resolve(rel.as_str(), true) {
            Ok(f) => f,
            Err(e) if e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(not_found())
            }
            Err(e) => return Err(self.err(&rel, e)),
        };
        found.meta.ok_or_else(not_found)?;
        Ok(format!("/{}", found.rel()))
    }

    /// Expands COPY source paths (absolute inside the context, Go `filepath.Match` wildcards per
    /// segment) against the context minus ignored files. A path without wildcards that matches
    /// nothing is an error (`"/foo": not found`); a wildcard matching nothing adds nothing.
    pub fn resolve_sources(&self, patterns: &[String]) -> Result<Vec<ContextEntry>, ContextError> {
        let mut out = Vec::new();
        for p in patterns {
            let matches = resolve::resolve_matches(&self.dir, p, true, self.ignore.as_deref())?;
            if matches.is_empty() && !pattern::has_wildcard(p) {
                return Err(ContextError::NotFound { path: p.clone() });
            }
            for m in matches {
                let found = self.dir.resolve(&m, false).map_err(|e| self.err(&m, e))?;
                let meta = found.meta.ok_or_else(|| ContextError::NotFound {
                    path: format!("/{m}"),
                })?;
                let path = self.root.join(found.rel());
                let kind = match meta.kind {
                    inroot::Kind::Dir => EntryKind::Dir,
                    inroot::Kind::Symlink => EntryKind::Symlink,
                    inroot::Kind::File => EntryKind::File,
                    _ => EntryKind::Other,
                };
                out.push(ContextEntry {
                    rel_path: m,
                    path,
                    kind,
                });
            }
        }
        Ok(out)
    }

    /// A digest (`sha256:...`) over exactly the entries the selectors (COPY source paths) pick,
    /// minus ignored files and `excludes` (`--exclude` patterns, relative to each matched
    /// source): paths, types, modes, uid/gid, symlink targets and contents. Independent of
    /// directory walk order; mtimes do not count.
    pub fn content_digest(
        &self,
        selectors: &[String],
        excludes: &[String],
    ) -> Result<String, ContextError> {
        digest::content_digest(self, selectors, excludes, true)
    }

    /// [`Context::content_digest`], with wildcards in the selectors expanded only if
    /// `allow_wildcard` (a mount's or a cache seed's path is literal).
    pub fn content_digest_with(
        &self,
        selectors: &[String],
        excludes: &[String],
        allow_wildcard: bool,
    ) -> Result<String, ContextError> {
        digest::content_digest(self, selectors, excludes, allow_wildcard)
    }

    /// The entries [`Context::content_digest_with`] covers, with their paths, so that a cache
    /// miss can name the files that changed.
    pub fn content_entries_with(
        &self,
        selectors: &[String],
        excludes: &[String],
        allow_wildcard: bool,
    ) -> Result<Vec<kiln_solver::SummaryEntry>, ContextError> {
        digest::content_entries(self, selectors, excludes, allow_wildcard)
    }

    /// Lists the context as BuildKit would send it: (relative path, is_dir) of every entry
    /// that survives the ignore rules, depth-first in name order.
    pub fn list(&self) -> Result<Vec<(String, bool)>, ContextError> {
        let mut out = Vec::new();
        let filter = walk::WalkFilter {
            exclude: self.ignore.as_deref(),
            include: None,
        };
        let top = self
            .dir
            .dir()
            .map_err(|e| ContextError::io(&self.root, e.into()))?;
        walk::walk_dir(&top, "", filter, &mut |e| {
            out.push((e.rel.clone(), e.meta.is_dir()));
            Ok(walk::WalkControl::Continue)
        })
        .map_err(|e| ContextError::io(&self.root, e))?;
        Ok(out)
    }
}
