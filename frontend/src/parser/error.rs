//! The parser's error type.

use thiserror::Error;

/// A fatal Dockerfile syntax error, located in the file.
///
/// Displays as `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ParseError {
    /// The Dockerfile's name as given to [`crate::parser::parse`].
    pub file: String,
    /// 1-based line of the offending instruction (or directive).
    pub line: usize,
    /// 1-based column of the offending instruction's keyword (1 when unknown).
    pub column: usize,
    /// What is wrong, in BuildKit's words where BuildKit has words for it.
    pub message: String,
}

/// An error without a location yet; [`crate::parser::parse`] adds file, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawError(pub String);

impl RawError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        RawError(message.into())
    }

    pub(crate) fn at(self, file: &str, line: usize, column: usize) -> ParseError {
        ParseError {
            file: file.to_string(),
            line,
            column,
            message: self.0,
        }
    }
}
