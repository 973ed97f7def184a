//! Filesystem actions of file ops with docker/BuildKit COPY/ADD semantics: wildcards, directory
//! contents, destination rules, ownership, `--chmod`, `--exclude`, `--parents`, archive
//! unpacking, plus mkdir/mkfile/rm/symlink.
//!
//! **Input convention**: the destination is input 0 and is `dest_root` itself. A
//! `CopyAction::src_input` of `i >= 1` reads from `sources[i - 1]`; `src_input == 0` copies
//! within `dest_root`.

mod actions;
mod bindsource;
pub mod chmod;
mod copy;
mod doublestar;
pub mod owner;
mod reuse;
mod unpack;

use crate::context::{DockerIgnore, HashedFiles};
use std::path::PathBuf;
use std::sync::Arc;

/// A filesystem a COPY reads from.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    /// The directory that is `/` of this input.
    pub root: PathBuf,
    /// Entries this matches are invisible (the build context's `.dockerignore`).
    pub ignore: Option<Arc<DockerIgnore>>,
    /// Owner given to every copied entry when no `--chown` is set (`Some((0, 0))` for the
    /// local context, like BuildKit); `None` keeps the source's ownership (other stages).
    pub force_owner: Option<(u32, u32)>,
    /// What was hashed of its files for the cache key (the build context): a copied file must
    /// be the one that was hashed.
    pub hashed: Option<HashedFiles>,
}

impl SourceRoot {
    /// A plain source (another stage or image): nothing ignored, ownership kept.
    pub fn new(root: PathBuf) -> SourceRoot {
        SourceRoot {
            root,
            ignore: None,
            force_owner: None,
            hashed: None,
        }
    }
}

/// Knobs of [`apply_actions`].
#[derive(Debug, Clone, Default)]
pub struct FileOpOptions {
    /// Do not copy extended attributes (filesystems without xattr support are tolerated
    /// anyway: errors setting them are ignored).
    pub skip_xattrs: bool,
}

/// Errors of file actions.
#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    /// A COPY source (or rm path) matches nothing. BuildKit's wording.
    #[error("{0:?}: not found")]
    NotFound(String),
    /// `--chown` names a user missing from the destination's `/etc/passwd`.
    #[error("unable to find user {0}")]
    UnknownUser(String),
    /// `--chown` names a group missing from the destination's `/etc/group`.
    #[error("unable to find group {0}")]
    UnknownGroup(String),
    /// A bad `--chmod`.
    #[error(transparent)]
    BadMode(#[from] chmod::BadMode),
    /// A bad wildcard or `--exclude` pattern.
    #[error("invalid pattern: {0}")]
    BadPattern(String),
    /// `src_input` names no input.
    #[error("copy source input {0} does not exist (only {1} inputs)")]
    NoSuchInput(usize, usize),
    /// An archive entry would land outside the destination.
    #[error("archive {archive}: entry {entry:?} escapes the destination")]
    UnsafeArchive {
        /// The archive being unpacked.
        archive: PathBuf,
        /// The offending entry name.
        entry: String,
    },
    /// A context file is not the one whose content was hashed for the step's cache key: it
    /// changed (or was swapped) while the build ran.
    #[error("{0}: changed while the build was running (its content is not what the cache key was computed from); run the build again")]
    ChangedDuringBuild(String),
    /// A file operation inside a root failed.
    #[error(transparent)]
    InRoot(#[from] inroot::Error),
    /// Unpacking an archive failed.
    #[error(transparent)]
    Extract(#[from] kiln_snapshot::Error),
    /// A filesystem call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`copy`, `mkdir`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl FileOpError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> FileOpError {
        let path = path.into();
        move |source| FileOpError::Io { op, path, source }
    }
}

pub use actions::{apply_actions, apply_actions_reusing};
pub use bindsource::{context_bind_source, BindSource};
pub use doublestar::double_star_selectors;
pub use reuse::{Reuse, ReuseStats};
