//! The crate's error: what was being done, to which in-root path, and the kernel's answer.

use std::io;

/// An operation inside a root failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed. `path` is the in-root path (as `/a/b`) the operation was about.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `mkdir`, `chmod`, ...).
        op: &'static str,
        /// The in-root path, for messages.
        path: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// A single-name operation got something that is not one plain name (a `/`, `.`, `..` or a
    /// NUL byte).
    #[error("invalid file name {name:?}: {reason}")]
    InvalidName {
        /// The name as given (lossy).
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Resolving a path followed more symbolic links than allowed.
    #[error("too many levels of symbolic links resolving {path}")]
    TooManyLinks {
        /// The in-root path being resolved.
        path: String,
    },
    /// A directory changed under a walk that needed it to stay put (its parent is no longer
    /// the directory it was entered from).
    #[error("{path} was moved while being walked")]
    Moved {
        /// The in-root path of the directory.
        path: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn errno(op: &'static str, path: impl Into<String>, e: rustix::io::Errno) -> Error {
        Error::io(op, path, e.into())
    }

    /// The OS error code behind this error, if it is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::TooManyLinks { .. } => Some(libc::ELOOP),
            _ => None,
        }
    }

    /// The kind of I/O error behind this error (`Other` for the non-I/O variants).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Io { source, .. } => source.kind(),
            Error::InvalidName { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        }
    }

    /// Does this say that the path (or one of its parents) does not exist?
    pub fn is_not_found(&self) -> bool {
        self.kind() == io::ErrorKind::NotFound
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
