//! Registry credentials behind one small trait: docker's `config.json` (with its credential
//! helpers) is the implementation kiln uses, so that `docker login` and `kiln login` share them.

mod docker_config;
mod helper;

use std::fmt;
use std::path::PathBuf;

pub use docker_config::DockerConfig;
pub use helper::CredentialHelper;

/// What a registry is told to prove who the user is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or a personal access token used as one).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth refresh token (`identitytoken` in `config.json`), traded for bearer tokens.
    IdentityToken {
        /// The user name it was issued to, when known.
        username: String,
        /// The refresh token.
        token: String,
    },
}

impl Credentials {
    /// The user name.
    pub fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } | Credentials::IdentityToken { username, .. } => {
                username
            }
        }
    }
}

impl fmt::Debug for Credentials {
    /// Never shows the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credentials::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
        }
    }
}

/// Why credentials could not be read, stored or erased.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// `config.json` could not be read or written.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON of the shape docker writes.
    #[error("{} is not a valid docker configuration: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A credential helper could not be run or failed.
    #[error("credential helper docker-credential-{helper} {action} failed: {message}")]
    Helper {
        /// The helper's name (`pass`, `desktop`, ...).
        helper: String,
        /// `get`, `store` or `erase`.
        action: &'static str,
        /// What it said (or why it could not be run).
        message: String,
    },
}

/// Where credentials come from and go to. `registry` is the registry's name as in references
/// (`docker.io`, `host:port`); the store maps it to its own key.
pub trait CredentialStore: Send + Sync {
    /// The credentials for `registry`, if any.
    fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialError>;
    /// Remember `credentials` for `registry` (`kiln login`).
    fn store(&self, registry: &str, credentials: &Credentials) -> Result<(), CredentialError>;
    /// Forget the credentials of `registry` (`kiln logout`); true when there were some.
    fn erase(&self, registry: &str) -> Result<bool, CredentialError>;
}

/// No credentials at all: every registry is asked anonymously.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl CredentialStore for Anonymous {
    fn get(&self, _: &str) -> Result<Option<Credentials>, CredentialError> {
        Ok(None)
    }
    fn store(&self, _: &str, _: &Credentials) -> Result<(), CredentialError> {
        Ok(())
    }
    fn erase(&self, _: &str) -> Result<bool, CredentialError> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Credentials::IdentityToken {
            username: "u".into(),
            token: "refresh-xyz".into(),
        };
        assert!(!format!("{c:?}").contains("refresh-xyz"));
    }
}
