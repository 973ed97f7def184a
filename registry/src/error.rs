//! The registry client's errors: one enum whose variants the builder tells apart (retry, login
//! hint, fallback), each keeping its cause.

use std::fmt;
use std::path::PathBuf;

use oci::{Digest, Platform};

use crate::credentials::CredentialError;

/// A boxed cause (a TLS library's error, a parse error, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a registry did not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A manifest or index, by tag or digest (`repo:tag`, `repo@sha256:...`).
    Manifest(String),
    /// A blob in a repository.
    Blob {
        /// The repository asked.
        repository: String,
        /// The blob's digest.
        digest: Digest,
    },
    /// The repository itself (the registry said `NAME_UNKNOWN`).
    Repository(String),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Manifest(r) => write!(f, "manifest {r}"),
            Missing::Blob { repository, digest } => write!(f, "blob {digest} in {repository}"),
            Missing::Repository(r) => write!(f, "repository {r}"),
        }
    }
}

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry (or its token service) refused the credentials, or asked for some and
    /// there were none.
    #[error(
        "unauthorized: authentication required for {registry}{}: run `kiln login {registry}`",
        detail(message)
    )]
    Unauthorized {
        /// The registry's name as the user wrote it (`docker.io`, `host:port`).
        registry: String,
        /// What the registry said, if anything.
        message: Option<String>,
    },
    /// Authenticated, but not allowed (403).
    #[error(
        "denied: requested access to {what} on {registry} is denied{}",
        detail(message)
    )]
    Denied {
        /// The registry's name.
        registry: String,
        /// The resource (repository, manifest, blob) asked for.
        what: String,
        /// What the registry said, if anything.
        message: Option<String>,
    },
    /// 404: the manifest, blob or repository does not exist.
    #[error("{what} not found on {registry}")]
    NotFound {
        /// The registry's name.
        registry: String,
        /// What was missing.
        what: Missing,
    },
    /// Content whose digest is not the one asked for: nothing of it was kept.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched or pushed.
        what: String,
        /// The digest wanted.
        expected: Digest,
        /// The digest of the bytes received (or the registry's answer).
        actual: Digest,
    },
    /// Content whose size is not its descriptor's.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was fetched or pushed.
        what: String,
        /// The size its descriptor gives.
        expected: u64,
        /// The size received (at least this many bytes when it is too long).
        actual: u64,
    },
    /// A manifest whose media type is not its descriptor's (or not one kiln reads).
    #[error("media type mismatch for {what}: expected {expected:?}, got {actual:?}")]
    MediaTypeMismatch {
        /// What was fetched.
        what: String,
        /// The media type wanted.
        expected: String,
        /// The media type served or written in the document.
        actual: String,
    },
    /// The registry could not be reached (refused, unresolvable, timed out, connection
    /// broken) after bounded retries.
    #[error("cannot reach registry {registry} (after {attempts} attempt{}){}", plural(*attempts), hint.map(|h| format!("; {h}")).unwrap_or_default())]
    Transport {
        /// The registry's name.
        registry: String,
        /// How many attempts were made.
        attempts: u32,
        /// A hint for the user (docker.io: this machine may need a mirror).
        hint: Option<&'static str>,
        /// The last failure.
        #[source]
        source: BoxError,
    },
    /// TLS failed: an unknown certificate authority, a bad name, or a CA or client certificate
    /// file that cannot be used.
    #[error("TLS with {registry} failed{}", path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
    Tls {
        /// The registry's name.
        registry: String,
        /// The certificate or key file at fault, when it is a file.
        path: Option<PathBuf>,
        /// The TLS library's error.
        #[source]
        source: BoxError,
    },
    /// The registry answered something the protocol does not allow.
    #[error("invalid response from {registry} for {what}: {detail}")]
    InvalidResponse {
        /// The registry's name.
        registry: String,
        /// The request.
        what: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// The registry refused a request with an error of its own (4xx other than 401/403/404,
    /// after retries a 5xx).
    #[error("{registry} refused {what}: {status}{}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default() + &detail(message))]
    Registry {
        /// The registry's name.
        registry: String,
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The first error code of the body (`DIGEST_INVALID`, `UNSUPPORTED`, ...).
        code: Option<String>,
        /// Its message.
        message: Option<String>,
    },
    /// A manifest or index that does not parse.
    #[error("invalid manifest {what}")]
    Manifest {
        /// Which manifest.
        what: String,
        /// Why.
        #[source]
        source: oci::ManifestError,
    },
    /// No entry of an index is for the platform wanted.
    #[error(
        "no match for platform {wanted} in the manifest list of {reference} (it has: {})",
        list(available)
    )]
    PlatformNotFound {
        /// The image asked for.
        reference: String,
        /// The platform wanted.
        wanted: Box<Platform>,
        /// The platforms the index has.
        available: Vec<Platform>,
    },
    /// kiln's registry configuration (`kiln.toml`) cannot be read or is invalid.
    #[error("registry configuration {}: {detail}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// Credentials could not be read (config.json, a credential helper).
    #[error("credentials for {registry}")]
    Credentials {
        /// The registry's name.
        registry: String,
        /// Why.
        #[source]
        source: CredentialError,
    },
    /// Reading a blob to push, or writing one fetched, failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn detail(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(" ({m})"),
        _ => String::new(),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn list(p: &[Platform]) -> String {
    if p.is_empty() {
        return "no platforms".into();
    }
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// Is this worth trying again later (a dead host, a server error), as opposed to an
    /// answer that will not change (401, 404, a digest mismatch)?
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Registry { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Is this a 404 of any kind?
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// The registry client's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_registry_and_the_fix() {
        let e = Error::Unauthorized {
            registry: "127.0.0.1:5000".into(),
            message: None,
        };
        assert_eq!(
            e.to_string(),
            "unauthorized: authentication required for 127.0.0.1:5000: run `kiln login 127.0.0.1:5000`"
        );
        let e = Error::Transport {
            registry: "docker.io".into(),
            attempts: 4,
            hint: Some("this machine may need a registry mirror"),
            source: "refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach registry docker.io (after 4 attempts); this machine may need a registry mirror"
        );
        let e = Error::PlatformNotFound {
            reference: "x".into(),
            wanted: Box::new(Platform::parse("linux/s390x").unwrap()),
            available: vec![
                Platform::parse("linux/amd64").unwrap(),
                Platform::parse("linux/arm64").unwrap(),
            ],
        };
        assert!(e
            .to_string()
            .ends_with("(it has: linux/amd64, linux/arm64)"));
    }
}
