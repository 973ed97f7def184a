//! The builder's error type: every failure a user can meet, with its cause named.

use std::fmt;

/// A builder error. The message is complete and shown to the user as is.
#[derive(Debug)]
pub struct Error {
    pub message: String,
    /// Shown before the message: e.g. the failing step's output and Dockerfile excerpt.
    pub detail: Option<String>,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            detail: None,
        }
    }

    /// Prefix the message with what was being done.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            message: format!("{what}: {}", self.message),
            detail: self.detail,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turn any displayable error into an [`Error`].
pub trait ResultExt<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> ResultExt<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(format!("{what}: {e}")))
    }
}

macro_rules! from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::new(e.to_string()) }
        }
    )*};
}

from_display!(
    std::io::Error,
    serde_json::Error,
    kiln_snapshot::Error,
    kiln_solver::WorkerError,
    crate::store::StoreError
);
