//! The registry client as the builder uses it: one blocking client per process (docker's
//! credentials, `/etc/docker/certs.d`, `kiln.toml`), blob sinks on the content store's
//! resumable ingests, and what a transfer reports.

use kiln_snapshot::{ContentStore, ResumableIngest};
use oci::Digest;
use std::io;
use std::sync::OnceLock;

/// The process's client, made on first use from the environment (`KILN_CONFIG`,
/// `DOCKER_CONFIG`, `HOME`). A failure to make it is returned each time it is asked for.
pub fn client() -> Result<registry::blocking::Client, registry::Error> {
    static CLIENT: OnceLock<registry::blocking::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = registry::blocking::Client::from_env()?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

/// A blob fetched into the content store: a resumable ingest (a fetch killed half-way is
/// continued by the next one), committed only once the client verified every byte.
pub struct StoreSink(ResumableIngest);

impl StoreSink {
    /// The sink for blob `digest` in `content`.
    pub fn new(content: &ContentStore, digest: &Digest) -> kiln_snapshot::Result<StoreSink> {
        Ok(StoreSink(content.resumable(digest)?))
    }
}

impl registry::BlobSink for StoreSink {
    fn held(&mut self) -> io::Result<u64> {
        self.0.held()
    }

    fn read_held(&mut self) -> io::Result<Box<dyn io::Read + '_>> {
        self.0.read_held()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write(bytes)
    }

    fn reset(&mut self) -> io::Result<()> {
        self.0.reset()
    }

    fn commit(&mut self, digest: &Digest, size: u64) -> io::Result<()> {
        self.0
            .commit(digest, size)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    fn discard(&mut self) {
        self.0.discard()
    }
}

pub use registry::blocking::Client;
pub use registry::{BlobPush, CredentialError, Credentials, Error};

/// The name credentials are filed under for a `kiln login` argument: the registry host as
/// references name it (`docker.io` for Docker Hub and its aliases).
pub fn login_server(server: Option<&str>) -> String {
    let s = server.unwrap_or(registry::hosts::DOCKER_HUB);
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    registry::hosts::config_name(s.split('/').next().unwrap_or(s))
}

/// Why `kiln login` failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The registry refused the credentials or could not be reached.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// They could not be stored.
    #[error(transparent)]
    Store(#[from] CredentialError),
}

/// `kiln login`: check `credentials` with `server`, then store them where docker keeps them
/// (`config.json`, or its credential helper).
pub fn login(server: &str, credentials: &Credentials) -> Result<(), LoginError> {
    let c = client()?;
    c.check_login(server, credentials)?;
    c.asynchronous()
        .options()
        .credentials
        .store(server, credentials)?;
    Ok(())
}

/// `kiln logout`: forget the credentials of `server`; whether there were any.
pub fn logout(server: &str) -> Result<bool, LoginError> {
    Ok(client()?
        .asynchronous()
        .options()
        .credentials
        .erase(server)?)
}
