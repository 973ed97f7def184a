//! What kiln says about itself on stderr: errors, warnings and library logs, each passed
//! through one escaper ([`escape`]) so that bytes from an image, a tar, a context or the command
//! line can never act on the user's terminal; and usage errors with docker's exit statuses.

pub mod escape;
pub mod logger;
pub mod usage;

pub use escape::escape;

/// `ERROR: message`.
pub fn error(message: impl std::fmt::Display) {
    logger::print_line(&format!("ERROR: {}", escape(&message.to_string())));
}

/// `WARNING: message`.
pub fn warning(message: impl std::fmt::Display) {
    logger::print_line(&format!("WARNING: {}", escape(&message.to_string())));
}

/// One line, as given (e.g. docker's `Error response: …`).
pub fn line(text: impl std::fmt::Display) {
    logger::print_line(&escape(&text.to_string()));
}

/// A block of text that already ends its own lines (an error's Dockerfile excerpt).
pub fn block(text: &str) {
    eprint!("{}", escape(text));
}
