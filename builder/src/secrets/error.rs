//! What can go wrong with `--secret`, `--ssh` and the mounts that use them. The messages are
//! docker's (20.10 with BuildKit), so scripts that match on them keep working.

use std::path::PathBuf;

/// An error of the secret and ssh providers.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A `--secret` field without `=`.
    #[error("could not parse secrets: [{spec}]: invalid field '{field}' must be a key=value pair")]
    NotKeyValue { spec: String, field: String },
    /// `type=` other than `file` or `env`.
    #[error("could not parse secrets: [{spec}]: unsupported secret type {kind:?}")]
    UnknownType { spec: String, kind: String },
    /// A key docker does not know.
    #[error("could not parse secrets: [{spec}]: unexpected key '{key}' in '{field}'")]
    UnknownKey {
        spec: String,
        key: String,
        field: String,
    },
    /// No `id=`.
    #[error("could not parse secrets: [{spec}]: secret missing ID")]
    MissingId { spec: String },
    /// The secret's file cannot be read.
    #[error("could not parse secrets: [{spec}]: failed to stat {p}: stat {p}: {}", go_io(source), p = path.display())]
    File {
        spec: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Over BuildKit's limit (500 KiB).
    #[error("could not parse secrets: [{spec}]: secret {id} too big. max size 500KB")]
    TooBig { spec: String, id: String },
    /// `--ssh` with an empty id.
    #[error("could not parse ssh: [{spec}]: the ssh id is empty")]
    EmptySshId { spec: String },
    /// `--ssh ID` without paths and no `SSH_AUTH_SOCK`.
    #[error("could not parse ssh: [{spec}]: invalid empty ssh agent socket, make sure SSH_AUTH_SOCK is set")]
    NoAgent { spec: String },
    /// A socket or key path that cannot be read.
    #[error("could not parse ssh: [{spec}]: stat {}: {}", path.display(), go_io(source))]
    SshPath {
        spec: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file that is not a private key, or one ssh-add refused (passphrase, format).
    #[error("could not parse ssh: [{spec}]: failed to parse {}: {reason}", path.display())]
    BadKey {
        spec: String,
        path: PathBuf,
        reason: String,
    },
    /// Keys given, but kiln could not start the agent that holds them.
    #[error("could not parse ssh: [{spec}]: cannot start ssh-agent to hold the keys (install OpenSSH's ssh-agent and ssh-add): {}", go_io(source))]
    AgentStart {
        spec: String,
        #[source]
        source: std::io::Error,
    },
    /// `required=true` and no such secret.
    #[error("secret {id} not found: not found")]
    NotFound { id: String },
    /// `required=true` and no such ssh id.
    #[error("unset ssh forward key {id}")]
    SshNotFound { id: String },
    /// The per-step socket that relays to the agent could not be made.
    #[error(
        "ssh {id}: cannot make the agent socket for the step: {}",
        go_io(source)
    )]
    Proxy {
        id: String,
        #[source]
        source: std::io::Error,
    },
}

/// An I/O error as Go prints it (docker's messages): `no such file or directory`, without
/// Rust's `(os error 2)`.
fn go_io(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
