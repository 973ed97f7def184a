//! Expansion errors, worded like BuildKit's.

use thiserror::Error;

/// Why a word could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// `'…` without the closing quote.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// `"…` without the closing quote.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// `${…` without `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:…}`, `${{…}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${V:?msg}` / `${V?msg}` with `V` unset (or empty, for `:?`).
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The user's message, or BuildKit's default text.
        message: String,
    },
    /// `${V/pattern}` without the `/` before the replacement.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${V<c>…}` with an operator kiln does not know (`:=`, `:x`, …).
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${…${…}…}` nested deeper than kiln accepts.
    #[error("variable substitutions nested more than {0} deep")]
    TooDeep(usize),
    /// The result would be longer than the limit (bytes).
    #[error("expansion result longer than {0} bytes")]
    TooLong(usize),
    /// A nested word ran to the end of input before `stop`.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
}
