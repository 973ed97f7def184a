//! The asynchronous client: one per process, cheap to clone. It keeps per host the HTTP client
//! (TLS material read once), what the host's `/v2/` ping said (scheme, challenge) and the
//! credentials; and per (host, scope set) the bearer tokens.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::auth::token::TokenCache;
use crate::config::{Paths, RegistryConfig};
use crate::credentials::{Anonymous, CredentialStore, Credentials, DockerConfig};
use crate::error::{BoxError, Error, Result};
use crate::hosts;
use crate::ping::Ping;
use crate::retry::RetryPolicy;
use crate::transport::{self, Timeouts, Transport};

/// What a Docker Hub that cannot be reached is told.
const DOCKER_HUB_HINT: &str = "this machine may need a registry mirror: set `mirrors` under \
    [registry.\"docker.io\"] in /etc/kiln/kiln.toml (or the file $KILN_CONFIG names)";

/// How the client is set up.
#[derive(Clone)]
pub struct ClientOptions {
    /// The `[registry."<host>"]` settings (mirrors, http, insecure, ca, keypair).
    pub config: RegistryConfig,
    /// docker's certificate folders (`/etc/docker/certs.d`).
    pub certs_d: PathBuf,
    /// Where credentials come from.
    pub credentials: Arc<dyn CredentialStore>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Upload blobs in chunks of this size (raised to the registry's `OCI-Chunk-Min-Length`);
    /// `None`: one monolithic PUT.
    pub chunk_size: Option<u64>,
    /// The largest manifest or index accepted (containerd's limit: 4 MiB).
    pub max_manifest_size: u64,
    /// The `User-Agent`.
    pub user_agent: String,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for each read of an answer.
    pub read_timeout: Duration,
}

impl Default for ClientOptions {
    /// Anonymous, no configuration, docker's certificate folder.
    fn default() -> ClientOptions {
        ClientOptions {
            config: RegistryConfig::default(),
            certs_d: PathBuf::from("/etc/docker/certs.d"),
            credentials: Arc::new(Anonymous),
            retry: RetryPolicy::default(),
            chunk_size: None,
            max_manifest_size: 4 << 20,
            user_agent: format!("kiln/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
        }
    }
}

impl ClientOptions {
    /// Options from `paths`: kiln's configuration file, docker's certificate folders and
    /// docker's `config.json` for credentials.
    pub fn from_paths(paths: &Paths) -> Result<ClientOptions> {
        Ok(ClientOptions {
            config: RegistryConfig::load(paths)?,
            certs_d: paths.certs_d.clone(),
            credentials: Arc::new(DockerConfig::new(&paths.docker_config)),
            ..ClientOptions::default()
        })
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("config", &self.config)
            .field("certs_d", &self.certs_d)
            .field("retry", &self.retry)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

/// The asynchronous registry client.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub opts: ClientOptions,
    hosts: Mutex<HashMap<(String, bool), Arc<Host>>>,
    pub tokens: TokenCache,
}

/// One registry host (or a mirror, tried once before moving on).
pub(crate) struct Host {
    /// Its name as written in references and configuration.
    pub name: String,
    /// Where its API is (`registry-1.docker.io` for `docker.io`).
    pub api: String,
    pub mirror: bool,
    pub transport: Transport,
    pub(crate) ping: OnceCell<Ping>,
    pub(crate) creds: OnceCell<Option<Credentials>>,
}

impl Client {
    /// A client with these options.
    pub fn new(opts: ClientOptions) -> Client {
        Client {
            inner: Arc::new(Inner {
                opts,
                hosts: Mutex::new(HashMap::new()),
                tokens: TokenCache::default(),
            }),
        }
    }

    /// A client set up as docker and kiln are on this machine ([`Paths::from_env`]).
    pub fn from_env() -> Result<Client> {
        Ok(Client::new(ClientOptions::from_paths(&Paths::from_env())?))
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    pub(crate) fn host(&self, name: &str, mirror: bool) -> Result<Arc<Host>> {
        let key = (name.to_string(), mirror);
        if let Some(h) = self.lock_hosts().get(&key) {
            return Ok(h.clone());
        }
        let o = &self.inner.opts;
        let api = hosts::api_host(name);
        let timeouts = Timeouts {
            connect: o.connect_timeout,
            read: o.read_timeout,
        };
        let transport = transport::build(
            name,
            &api,
            &o.config.host(name),
            &o.certs_d,
            &o.user_agent,
            &timeouts,
        )?;
        let host = Arc::new(Host {
            name: name.to_string(),
            api,
            mirror,
            transport,
            ping: OnceCell::new(),
            creds: OnceCell::new(),
        });
        Ok(self.lock_hosts().entry(key).or_insert(host).clone())
    }

    fn lock_hosts(&self) -> std::sync::MutexGuard<'_, HashMap<(String, bool), Arc<Host>>> {
        self.inner.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hosts a pull from `registry` tries: its mirrors in order, then itself.
    pub(crate) fn pull_hosts(&self, registry: &str) -> Result<Vec<Arc<Host>>> {
        let mut out = Vec::new();
        for m in self.inner.opts.config.host(registry).mirrors {
            match self.host(&m, true) {
                Ok(h) => out.push(h),
                Err(e) => log::warn!("registry mirror {m} of {registry} skipped: {e}"),
            }
        }
        out.push(self.host(registry, false)?);
        Ok(out)
    }

    /// Run `op` on each pull host in turn until one succeeds; the registry's own error when
    /// every one fails.
    pub(crate) async fn on_pull_hosts<T, F, Fut>(&self, registry: &str, op: F) -> Result<T>
    where
        F: Fn(Arc<Host>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let hosts = self.pull_hosts(registry)?;
        let last = hosts.len() - 1;
        for (i, h) in hosts.into_iter().enumerate() {
            let name = h.name.clone();
            match op(h).await {
                Ok(v) => return Ok(v),
                Err(e) if i < last => {
                    log::warn!("registry mirror {name} of {registry}: {e}; trying the next")
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("pull_hosts always ends with the registry itself")
    }

    pub(crate) fn attempts(&self, host: &Host) -> u32 {
        if host.mirror {
            1
        } else {
            self.inner.opts.retry.attempts.max(1)
        }
    }

    pub(crate) fn transport_error(&self, host: &Host, attempts: u32, source: BoxError) -> Error {
        Error::Transport {
            registry: host.name.clone(),
            attempts,
            hint: (host.name == hosts::DOCKER_HUB).then_some(DOCKER_HUB_HINT),
            source,
        }
    }

    /// The credentials of `host`, read once (a credential helper is a process: it runs on
    /// a blocking thread).
    pub(crate) async fn credentials(&self, host: &Host) -> Result<Option<Credentials>> {
        host.creds
            .get_or_try_init(|| async {
                let store = self.inner.opts.credentials.clone();
                let name = host.name.clone();
                let got = tokio::task::spawn_blocking(move || store.get(&name))
                    .await
                    .map_err(|e| Error::Io {
                        what: format!("reading the credentials of {}", host.name),
                        source: std::io::Error::other(e),
                    })?;
                got.map_err(|source| Error::Credentials {
                    registry: host.name.clone(),
                    source,
                })
            })
            .await
            .cloned()
    }
}
