//! Sending a request to a host: the authorization it needs (answering one 401 challenge),
//! bounded retries of transient failures, and what an unsuccessful answer means.

use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};

use crate::auth::challenge;
use crate::auth::scope::ScopeSet;
use crate::client::{Client, Host};
use crate::error::{Error, Missing, Result};
use crate::ping::Ping;
use crate::retry;
use crate::transport::{self, TlsFailure};

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
