//! The runtime's error type.

use std::path::PathBuf;

/// Why running a container failed (the command's own nonzero exit is not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The helper binary could not be started.
    #[error("cannot start the runtime helper {}: {source}", helper.display())]
    Spawn {
        /// The helper binary.
        helper: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An I/O or system call failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A path inside the root filesystem could not be resolved or created there.
    #[error("{context}: {source}")]
    InRoot {
        /// What was being done.
        context: String,
        /// inroot's error (it names the in-root path).
        #[source]
        source: inroot::Error,
    },
    /// The container's init failed before the command started (bad user, missing executable, mount failure...).
    #[error("{0}")]
    Init(String),
    /// A feature the runtime does not have yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The spec is not usable.
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    /// A user name that is not in the rootfs's /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    /// A group name that is not in the rootfs's /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] with a context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Attach a context to an `io::Result`.
pub(crate) trait IoContext<T> {
    /// Turn the error into an [`Error::Io`] whose context is computed lazily.
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}
