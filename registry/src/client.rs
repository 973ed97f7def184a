//! The asynchronous client: one per process, cheap to clone. It keeps per host the HTTP client
//! (TLS material read once), what the host's `/v2/` ping said (scheme, challenge) and the
//! credentials; and per (host, scope set) the bearer tokens.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::sync::OnceCell;

use crate::auth::challenge::{self, Challenge};
use crate::auth::scope::ScopeSet;
use crate::auth::token::TokenCache;
use crate::config::{Paths, RegistryConfig};
use crate::credentials::{Anonymous, CredentialStore, Credentials, DockerConfig};
use crate::error::{Error, Missing, Result};
use crate::hosts;
use crate::retry::{self, RetryPolicy};
use crate::transport::{self, Scheme, Timeouts, TlsFailure, Transport};

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
    ping: OnceCell<Ping>,
    pub(crate) creds: OnceCell<Option<Credentials>>,
}

/// What `GET /v2/` said.
#[derive(Debug, Clone)]
pub(crate) struct Ping {
    pub base: Url,
    pub challenge: Option<Challenge>,
}

/// Where a request goes.
pub(crate) enum Target {
    /// A path under the host's base (`v2/...`).
    Path(String),
    /// An absolute URL (an upload's `Location`).
    Url(Url),
}

/// A request that may be sent again (after a 401, or a transient failure).
pub(crate) struct Req {
    pub method: Method,
    pub target: Target,
    pub headers: HeaderMap,
    pub body: Option<bytes::Bytes>,
    pub scopes: ScopeSet,
    /// Safe to send again after a failure that may have reached the server.
    pub idempotent: bool,
}

impl Req {
    pub(crate) fn new(method: Method, target: Target, scopes: ScopeSet) -> Req {
        let idempotent = method != Method::POST && method != Method::PATCH;
        Req {
            method,
            target,
            headers: HeaderMap::new(),
            body: None,
            scopes,
            idempotent,
        }
    }

    pub(crate) fn header(mut self, name: reqwest::header::HeaderName, value: &str) -> Req {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// What a request was about, for its errors.
pub(crate) struct Subject {
    pub what: String,
    pub repository: String,
    pub missing: Missing,
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

    pub(crate) fn transport_error(
        &self,
        host: &Host,
        attempts: u32,
        source: crate::error::BoxError,
    ) -> Error {
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

    /// `GET /v2/`: which scheme answers and which challenge it makes; remembered per host.
    pub(crate) async fn ping(&self, host: &Host) -> Result<Ping> {
        host.ping
            .get_or_try_init(|| self.ping_now(host))
            .await
            .cloned()
    }

    async fn ping_now(&self, host: &Host) -> Result<Ping> {
        let attempts = self.attempts(host);
        let policy = self.inner.opts.retry;
        let mut last: Option<crate::error::BoxError> = None;
        for attempt in 1..=attempts {
            let mut wait = None;
            for (i, scheme) in host.transport.schemes.iter().enumerate() {
                let base =
                    Url::parse(&format!("{}://{}/", scheme.as_str(), host.api)).map_err(|e| {
                        Error::Config {
                            path: PathBuf::from(&host.name),
                            detail: format!("{} is not a usable host: {e}", host.api),
                            source: None,
                        }
                    })?;
                let url = base.join("v2/").expect("a relative path joins");
                match host.transport.http.get(url).send().await {
                    Ok(resp) => {
                        let s = resp.status();
                        if s.is_success() || s == StatusCode::UNAUTHORIZED {
                            let challenge = challenge::pick(
                                resp.headers()
                                    .get_all(WWW_AUTHENTICATE)
                                    .iter()
                                    .filter_map(|v| v.to_str().ok()),
                            );
                            log::debug!(
                                "registry {} answers on {}: {:?}",
                                host.name,
                                base,
                                challenge
                            );
                            return Ok(Ping { base, challenge });
                        }
                        if retry::transient_status(s) {
                            wait = retry::retry_after(resp.headers());
                            last = Some(format!("GET /v2/ answered {s}").into());
                            break;
                        }
                        return Err(Error::InvalidResponse {
                            registry: host.name.clone(),
                            what: format!("GET {}v2/", base),
                            detail: format!("answered {s}: not a registry API"),
                        });
                    }
                    Err(e) => {
                        match transport::tls_failure(&e) {
                            Some(TlsFailure::Handshake(detail)) => {
                                return Err(Error::Tls {
                                    registry: host.name.clone(),
                                    path: None,
                                    source: detail.into(),
                                })
                            }
                            Some(TlsFailure::NotTls) if *scheme == Scheme::Https => {
                                log::debug!("{} does not speak TLS", host.name)
                            }
                            _ => {}
                        }
                        let more = i + 1 < host.transport.schemes.len();
                        log::debug!(
                            "ping {} over {}: {e}{}",
                            host.name,
                            scheme.as_str(),
                            if more { "; trying the next scheme" } else { "" }
                        );
                        last = Some(Box::new(e));
                    }
                }
            }
            if attempt < attempts {
                tokio::time::sleep(policy.delay(attempt, wait)).await;
            }
        }
        Err(self.transport_error(
            host,
            attempts,
            last.unwrap_or_else(|| "no scheme to try".into()),
        ))
    }

    pub(crate) fn url(ping: &Ping, target: &Target) -> Url {
        match target {
            Target::Url(u) => u.clone(),
            Target::Path(p) => ping.base.join(p).unwrap_or_else(|_| ping.base.clone()),
        }
    }

    /// Send `req` with the authorization it needs, answering one 401 challenge, retrying
    /// transient failures.
    pub(crate) async fn send(&self, host: &Host, req: &Req) -> Result<Response> {
        let ping = self.ping(host).await?;
        let mut auth = self.authorization(host, &ping, &req.scopes, None).await?;
        let mut answered = false;
        loop {
            let resp = self.send_retrying(host, &ping, req, auth.as_ref()).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !answered {
                answered = true;
                let ch = challenge::pick(
                    resp.headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                );
                if let Some(ch) = ch {
                    if let Some(a) = self
                        .authorization(host, &ping, &req.scopes, Some((&ch, auth.as_ref())))
                        .await?
                    {
                        auth = Some(a);
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
    }

    async fn send_retrying(
        &self,
        host: &Host,
        ping: &Ping,
        req: &Req,
        auth: Option<&HeaderValue>,
    ) -> Result<Response> {
        let policy = self.inner.opts.retry;
        let attempts = if req.idempotent {
            self.attempts(host)
        } else {
            1
        };
        let url = Client::url(ping, &req.target);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rb = host
                .transport
                .http
                .request(req.method.clone(), url.clone())
                .headers(req.headers.clone());
            if let Some(a) = auth.filter(|_| same_origin(&url, &ping.base)) {
                rb = rb.header(reqwest::header::AUTHORIZATION, a.clone());
            }
            if let Some(b) = &req.body {
                rb = rb.body(b.clone());
            }
            match rb.send().await {
                Ok(resp) if retry::transient_status(resp.status()) && attempt < attempts => {
                    let wait = policy.delay(attempt, retry::retry_after(resp.headers()));
                    log::debug!(
                        "{} {} answered {}; again in {wait:?}",
                        req.method,
                        url,
                        resp.status()
                    );
                    tokio::time::sleep(wait).await;
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    if let Some(TlsFailure::Handshake(detail)) = transport::tls_failure(&e) {
                        return Err(Error::Tls {
                            registry: host.name.clone(),
                            path: None,
                            source: detail.into(),
                        });
                    }
                    if !(retry::transient_error(&e) && attempt < attempts) {
                        return Err(self.transport_error(host, attempt, Box::new(e)));
                    }
                    let wait = policy.delay(attempt, None);
                    log::debug!("{} {}: {e}; again in {wait:?}", req.method, url);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Send a request whose body streams (an upload): once, with the authorization already
    /// obtained for its scopes (the upload's POST went through the challenge).
    pub(crate) async fn send_streaming(
        &self,
        host: &Host,
        req: &Req,
        body: reqwest::Body,
    ) -> Result<Response> {
        let ping = self.ping(host).await?;
        let auth = self.authorization(host, &ping, &req.scopes, None).await?;
        let url = Client::url(&ping, &req.target);
        let same = same_origin(&url, &ping.base);
        let mut rb = host
            .transport
            .http
            .request(req.method.clone(), url)
            .headers(req.headers.clone())
            .body(body);
        if let Some(a) = auth.filter(|_| same) {
            rb = rb.header(reqwest::header::AUTHORIZATION, a);
        }
        rb.send()
            .await
            .map_err(|e| match transport::tls_failure(&e) {
                Some(TlsFailure::Handshake(detail)) => Error::Tls {
                    registry: host.name.clone(),
                    path: None,
                    source: detail.into(),
                },
                _ => self.transport_error(host, 1, Box::new(e)),
            })
    }

    /// The error an unsuccessful answer means.
    pub(crate) async fn failure(&self, host: &Host, resp: Response, subject: &Subject) -> Error {
        let status = resp.status();
        let (code, message) = error_body(resp).await;
        match status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                registry: host.name.clone(),
                message,
            },
            StatusCode::FORBIDDEN => Error::Denied {
                registry: host.name.clone(),
                what: subject.what.clone(),
                message,
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                registry: host.name.clone(),
                what: if code.as_deref() == Some("NAME_UNKNOWN") {
                    Missing::Repository(subject.repository.clone())
                } else {
                    subject.missing.clone()
                },
            },
            s => Error::Registry {
                registry: host.name.clone(),
                what: subject.what.clone(),
                status: s.as_u16(),
                code,
                message,
            },
        }
    }
}

/// Credentials go only where the registry is: an upload `Location` on another host (or
/// scheme) gets none.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The first error of a registry's JSON error body (`{"errors":[{"code","message"}]}`).
async fn error_body(resp: Response) -> (Option<String>, Option<String>) {
    let Ok(body) = read_limited(resp, 64 << 10).await else {
        return (None, None);
    };
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Body>(&body) {
        Ok(b) => match b.errors.into_iter().next() {
            Some(i) => (
                Some(i.code).filter(|c| !c.is_empty()),
                Some(printable(&i.message)).filter(|m| !m.is_empty()),
            ),
            None => (None, None),
        },
        Err(_) => (None, None),
    }
}

/// A registry's text, cut short and with control characters escaped (it is printed).
pub(crate) fn printable(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    s.escape_debug()
        .to_string()
        .replace("\\'", "'")
        .replace("\\\"", "\"")
}

/// Why a body could not be read whole.
pub(crate) enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

/// Read a body of at most `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: Response,
    limit: u64,
) -> std::result::Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
