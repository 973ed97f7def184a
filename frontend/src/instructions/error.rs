//! The error type of the frontend after parsing: a message anchored to a Dockerfile position,
//! shown docker-style with the offending line and a caret.

use std::fmt;

/// An error in a Dockerfile, with where it is. `line == 0` means "no particular line" (e.g. an
/// unknown `--target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendError {
    /// Dockerfile name, e.g. `Dockerfile`.
    pub file: String,
    /// 1-based line, 0 when the error is not tied to a line.
    pub line: usize,
    /// 1-based column on `line`.
    pub column: usize,
    pub message: String,
    /// The text of `line`, when known, shown under the message with a caret.
    pub source_line: Option<String>,
}

impl FrontendError {
    /// An error at `file:line:column`, without its source line yet.
    pub fn new(file: &str, line: usize, column: usize, message: impl Into<String>) -> Self {
        FrontendError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            source_line: None,
        }
    }

    /// An error that is not tied to a position.
    pub fn general(file: &str, message: impl Into<String>) -> Self {
        FrontendError::new(file, 0, 0, message)
    }

    /// Fill `source_line` from the full Dockerfile text (no-op when the line does not exist).
    pub fn with_source(mut self, text: &str) -> Self {
        if self.source_line.is_none() && self.line > 0 {
            self.source_line = text
                .lines()
                .nth(self.line - 1)
                .map(|l| l.trim_end_matches('\r').to_string());
        }
        self
    }
}

impl fmt::Display for FrontendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(src) = &self.source_line {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            // Keep tabs in the caret line so it lines up under tab-indented source.
            let lead: String = src
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {num} | {src}\n {pad} | {lead}^")?;
        }
        Ok(())
    }
}

impl std::error::Error for FrontendError {}
