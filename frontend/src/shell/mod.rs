//! Shell-word processing like BuildKit's `shell` lexer: quote removal, escapes and `$VAR`
//! expansion (with `${V:-x}`-style modifiers and `#`/`%`/`/` pattern operations), used for
//! instruction arguments that Docker expands itself (FROM, ENV, COPY, WORKDIR, …).

mod env;
mod error;
mod lexer;
mod pattern;
mod words;

pub use env::Env;
pub use error::ExpandError;
pub use lexer::{Lexer, WordInfo, MAX_WORD_LEN};

#[cfg(test)]
mod tests;
