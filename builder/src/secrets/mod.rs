//! The build's secrets and ssh agents (BuildKit's `session/secrets` and `sshforward`).
//!
//! `kiln build --secret` values are read once, when the build starts, and live only in memory
//! ([`SecretValue`]: never shown by `Debug`, zeroed when dropped). A `RUN --mount=type=secret`
//! gets them as a file on the container's private tmpfs (`kiln_runtime::MountKind::MemFile`) or
//! as an environment variable of the process: never in an op, a cache key, a log or a layer.
//! `--ssh` agents are reached from a step through a socket kiln listens on for that step alone
//! and relays to the agent ([`proxy`]).

mod error;
mod mount;
mod proxy;
mod spec;
mod ssh;

pub use error::SecretError;
pub use mount::{secret_mount, ssh_mount};
pub use proxy::SshProxy;
pub use ssh::SshAgent;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

/// BuildKit's limit on a secret's size.
pub const MAX_SECRET_SIZE: usize = 500 * 1024;

/// A secret's bytes: `Debug` prints only the length, and the memory is zeroed when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wrap `bytes`.
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(bytes)
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue({} bytes)", self.0.len())
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: `b` is a valid, exclusive reference; a volatile write is not elided.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// The secrets and ssh agents a build was given.
#[derive(Debug, Default)]
pub struct Secrets {
    values: BTreeMap<String, SecretValue>,
    agents: BTreeMap<String, SshAgent>,
}

impl Secrets {
    /// No secret, no agent.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// Read `--secret` specs (docker's forms: `id=ID[,src=PATH|,env=VAR][,type=file|env]`, and
    /// `id=ID` alone: the variable `ID` if set, else the file `ID`) and set up `--ssh` specs
    /// (`default|ID[=SOCKET|KEY[,KEY…]]`; keys are loaded into an ssh-agent kiln starts in
    /// `tmp`). `env` reads the environment.
    pub fn load(
        secret_specs: &[String],
        ssh_specs: &[String],
        env: &dyn Fn(&str) -> Option<OsString>,
        tmp: &Path,
    ) -> Result<Secrets, SecretError> {
        let mut s = Secrets::none();
        for spec in secret_specs {
            let (id, value) = spec::load(spec, env)?;
            match value {
                Some(v) => {
                    s.values.insert(id, v);
                }
                // An env secret whose variable is unset is absent (BuildKit: not found on use).
                None => {
                    s.values.remove(&id);
                }
            }
        }
        for spec in ssh_specs {
            let (id, agent) = ssh::load(spec, env, tmp)?;
            s.agents.insert(id, agent);
        }
        Ok(s)
    }

    /// The value of secret `id`.
    pub fn get(&self, id: &str) -> Option<&SecretValue> {
        self.values.get(id)
    }

    /// The agent of ssh id `id`.
    pub fn agent(&self, id: &str) -> Option<&SshAgent> {
        self.agents.get(id)
    }

    /// Add secret `id` (for callers that have the value already).
    pub fn insert(&mut self, id: impl Into<String>, value: SecretValue) {
        self.values.insert(id.into(), value);
    }
}
