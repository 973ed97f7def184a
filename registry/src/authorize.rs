//! Answering a registry's challenge: basic credentials, or a bearer token from the realm the
//! registry names (GET with basic credentials or anonymously; POST with an identity token),
//! cached per (registry, scope set).

use std::time::Instant;

use base64::Engine as _;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};

use crate::auth::challenge::Challenge;
use crate::auth::scope::ScopeSet;
use crate::auth::token;
use crate::client::{Client, Host};
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::hosts;
use crate::ping::Ping;
use crate::request::read_limited;
use crate::retry;
use crate::transport::{self, TlsFailure};

impl Client {
    /// The `Authorization` for a request needing `scopes`: from the ping's challenge, or after
    /// a 401 from its challenge (`after` = the challenge and what was sent, which the registry
    /// refused). `None`: send nothing (no challenge, or no credentials for basic).
    pub(crate) async fn authorization(
        &self,
        host: &Host,
        ping: &Ping,
        scopes: &ScopeSet,
        after: Option<(&Challenge, Option<&HeaderValue>)>,
    ) -> Result<Option<HeaderValue>> {
        let challenge = match after {
            Some((c, _)) => c,
            None => match &ping.challenge {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        match challenge {
            Challenge::Basic => {
                let Some(Credentials::Basic { username, password }) =
                    self.credentials(host).await?
                else {
                    return Ok(None);
                };
                if after.is_some_and(|(_, sent)| sent.is_some()) {
                    // The registry refused these very credentials.
                    return Ok(None);
                }
                Ok(Some(basic(&username, &password)))
            }
            Challenge::Bearer {
                realm,
                service,
                scopes: asked,
            } => {
                let mut want = scopes.clone();
                for s in asked {
                    want.add_raw(s);
                }
                let key = want.key();
                if let Some((_, Some(sent))) = after {
                    if let Some(v) = sent.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")) {
                        self.inner.tokens.forget(&host.name, &key, v);
                    }
                }
                let tok = match self.inner.tokens.get(&host.name, &key) {
                    Some(t) => t,
                    None => {
                        let t = self
                            .fetch_token(host, realm, service.as_deref(), &want, None)
                            .await?;
                        let v = t.value.clone();
                        self.inner.tokens.put(&host.name, &key, t);
                        v
                    }
                };
                HeaderValue::from_str(&format!("Bearer {tok}"))
                    .map(Some)
                    .map_err(|_| self.bad_token(host, realm))
            }
        }
    }

    fn bad_token(&self, host: &Host, realm: &str) -> Error {
        Error::InvalidResponse {
            registry: host.name.clone(),
            what: format!("token from {realm}"),
            detail: "no usable token in the answer".into(),
        }
    }

    /// Ask `realm` for a token covering `scopes` (with `creds`, else the host's credentials).
    pub(crate) async fn fetch_token(
        &self,
        host: &Host,
        realm: &str,
        service: Option<&str>,
        scopes: &ScopeSet,
        creds: Option<&Credentials>,
    ) -> Result<token::Token> {
        let (url, realm_host) = self.realm_url(host, realm)?;
        let realm_client = self.host(&realm_host, false)?;
        let stored;
        let creds = match creds {
            Some(c) => Some(c),
            None => {
                stored = self.credentials(host).await?;
                stored.as_ref()
            }
        };
        let scope_list = scopes.strings();
        let attempts = self.attempts(host);
        let policy = self.inner.opts.retry;
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let rb = token_request(&realm_client, &url, service, &scope_list, creds);
            match rb.send().await {
                Ok(r) if retry::transient_status(r.status()) && attempt < attempts => {
                    let wait = policy.delay(attempt, retry::retry_after(r.headers()));
                    tokio::time::sleep(wait).await;
                }
                Ok(r) => break r,
                Err(e) => {
                    if let Some(TlsFailure::Handshake(d)) = transport::tls_failure(&e) {
                        return Err(Error::Tls {
                            registry: realm_host,
                            path: None,
                            source: d.into(),
                        });
                    }
                    if !(retry::transient_error(&e) && attempt < attempts) {
                        return Err(self.transport_error(&realm_client, attempt, Box::new(e)));
                    }
                    tokio::time::sleep(policy.delay(attempt, None)).await;
                }
            }
        };
        log::debug!(
            "token for {} {:?} from {realm}: {}",
            host.name,
            scope_list,
            resp.status()
        );
        self.token_answer(host, realm, &scope_list, resp).await
    }

    /// The realm as a URL and its `host[:port]`. Credentials go to it: never in clear text,
    /// unless to this machine or for a registry the user configured as plain HTTP or insecure.
    fn realm_url(&self, host: &Host, realm: &str) -> Result<(Url, String)> {
        let invalid = |detail: String| Error::InvalidResponse {
            registry: host.name.clone(),
            what: format!("token realm {realm:?}"),
            detail,
        };
        let url = Url::parse(realm).map_err(|e| invalid(format!("not a URL: {e}")))?;
        let realm_host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) if h.contains(':') => format!("[{h}]:{p}"),
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(invalid("no host".into())),
        };
        match url.scheme() {
            "https" => Ok((url, realm_host)),
            "http"
                if hosts::is_loopback(&realm_host)
                    || host.transport.schemes.contains(&transport::Scheme::Http) =>
            {
                Ok((url, realm_host))
            }
            s => Err(invalid(format!(
                "scheme {s:?} is not allowed for a token service"
            ))),
        }
    }

    async fn token_answer(
        &self,
        host: &Host,
        realm: &str,
        scopes: &[String],
        resp: reqwest::Response,
    ) -> Result<token::Token> {
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                return Err(Error::Unauthorized {
                    registry: host.name.clone(),
                    message: None,
                })
            }
            StatusCode::FORBIDDEN => {
                return Err(Error::Denied {
                    registry: host.name.clone(),
                    what: scopes.join(" "),
                    message: None,
                })
            }
            s => {
                return Err(Error::InvalidResponse {
                    registry: host.name.clone(),
                    what: format!("token realm {realm:?}"),
                    detail: format!("answered {s}"),
                })
            }
        }
        match read_limited(resp, 1 << 20).await {
            Ok(body) => token::parse_answer(&body, Instant::now()),
            Err(_) => None,
        }
        .ok_or_else(|| self.bad_token(host, realm))
    }

    /// Check that `creds` are accepted by `registry` (`kiln login`), without storing them:
    /// basic auth against `/v2/`, or a token with no scope from the realm.
    pub async fn check_login(&self, registry: &str, creds: &Credentials) -> Result<()> {
        let host = self.host(registry, false)?;
        let ping = self.ping(&host).await?;
        match &ping.challenge {
            None => Ok(()),
            Some(Challenge::Bearer { realm, service, .. }) => self
                .fetch_token(
                    &host,
                    realm,
                    service.as_deref(),
                    &ScopeSet::default(),
                    Some(creds),
                )
                .await
                .map(drop),
            Some(Challenge::Basic) => {
                let Credentials::Basic { username, password } = creds else {
                    return Err(Error::Unauthorized {
                        registry: registry.to_string(),
                        message: Some("the registry wants a user name and password".into()),
                    });
                };
                let url = ping.base.join("v2/").expect("a relative path joins");
                let resp = host
                    .transport
                    .http
                    .get(url)
                    .header(reqwest::header::AUTHORIZATION, basic(username, password))
                    .send()
                    .await
                    .map_err(|e| self.transport_error(&host, 1, Box::new(e)))?;
                match resp.status() {
                    s if s.is_success() => Ok(()),
                    StatusCode::UNAUTHORIZED => Err(Error::Unauthorized {
                        registry: registry.to_string(),
                        message: None,
                    }),
                    s => Err(Error::InvalidResponse {
                        registry: registry.to_string(),
                        what: "GET /v2/".into(),
                        detail: format!("answered {s}"),
                    }),
                }
            }
        }
    }
}

/// The token request: a POST of the refresh token for an identity token (docker's OAuth
/// flow), else a GET with the scopes, with basic credentials when there are some.
fn token_request(
    realm: &Host,
    url: &Url,
    service: Option<&str>,
    scopes: &[String],
    creds: Option<&Credentials>,
) -> reqwest::RequestBuilder {
    if let Some(Credentials::IdentityToken { token, .. }) = creds {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", token)
            .append_pair("client_id", "kiln");
        if let Some(s) = service {
            form.append_pair("service", s);
        }
        if !scopes.is_empty() {
            form.append_pair("scope", &scopes.join(" "));
        }
        return realm
            .transport
            .http
            .post(url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.finish());
    }
    let mut u = url.clone();
    {
        let mut q = u.query_pairs_mut();
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        for s in scopes {
            q.append_pair("scope", s);
        }
        if let Some(Credentials::Basic { username, .. }) = creds {
            q.append_pair("account", username);
        }
    }
    let rb = realm.transport.http.get(u);
    match creds {
        Some(Credentials::Basic { username, password }) => {
            rb.header(reqwest::header::AUTHORIZATION, basic(username, password))
        }
        _ => rb,
    }
}

fn basic(username: &str, password: &str) -> HeaderValue {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut v = HeaderValue::from_str(&format!("Basic {b}")).expect("base64 is a header value");
    v.set_sensitive(true);
    v
}
