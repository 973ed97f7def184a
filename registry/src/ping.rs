//! `GET /v2/` of a host, once: which scheme answers (HTTPS, then plain HTTP where allowed) and
//! which challenge it makes. A certificate the host presents and kiln cannot trust is a TLS
//! error, never a reason to try plain HTTP.

use std::path::PathBuf;

use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{StatusCode, Url};

use crate::auth::challenge::{self, Challenge};
use crate::client::{Client, Host};
use crate::error::{BoxError, Error, Result};
use crate::retry;
use crate::transport::{self, Scheme, TlsFailure};

/// What `GET /v2/` said.
#[derive(Debug, Clone)]
pub(crate) struct Ping {
    pub base: Url,
    pub challenge: Option<Challenge>,
}

impl Client {
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
        let mut last: Option<BoxError> = None;
        for attempt in 1..=attempts {
            let mut wait = None;
            for (i, scheme) in host.transport.schemes.iter().enumerate() {
                let answer = match self.ping_once(host, *scheme).await {
                    Ok(a) => a,
                    // Plain HTTP answered, but not as a registry, after HTTPS failed: an HTTPS
                    // server saying "HTTP request to an HTTPS server" (400) to the fallback.
                    // The HTTPS failure (a refused client certificate, say) is the cause.
                    Err(e @ Error::InvalidResponse { .. }) if i > 0 => match last.take() {
                        Some(https) => {
                            log::debug!("ping {} over {}: {e}", host.name, scheme.as_str());
                            return Err(self.transport_error(host, attempt, https));
                        }
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                };
                match answer {
                    Answer::Ping(p) => return Ok(p),
                    Answer::Busy(after, why) => {
                        wait = after;
                        last = Some(why);
                        break;
                    }
                    Answer::Unreachable(e) => {
                        let more = i + 1 < host.transport.schemes.len();
                        log::debug!(
                            "ping {} over {}: {e}{}",
                            host.name,
                            scheme.as_str(),
                            if more { "; trying the next scheme" } else { "" }
                        );
                        last = Some(e);
                    }
                }
            }
            if attempt < attempts {
                tokio::time::sleep(policy.delay(attempt, wait)).await;
            }
        }
        let last = last.unwrap_or_else(|| "no scheme to try".into());
        Err(self.transport_error(host, attempts, last))
    }

    /// One `GET /v2/` over `scheme`.
    async fn ping_once(&self, host: &Host, scheme: Scheme) -> Result<Answer> {
        let base = Url::parse(&format!("{}://{}/", scheme.as_str(), host.api)).map_err(|e| {
            Error::Config {
                path: PathBuf::from(&host.name),
                detail: format!("{} is not a usable host: {e}", host.api),
                source: None,
            }
        })?;
        let url = base.join("v2/").expect("a relative path joins");
        let resp = match host.transport.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                log::trace!("ping {} failed: {e:?}", host.name);
                return match transport::tls_failure(&e) {
                    Some(TlsFailure::Handshake(detail)) => Err(Error::Tls {
                        registry: host.name.clone(),
                        path: None,
                        source: detail.into(),
                    }),
                    _ => Ok(Answer::Unreachable(Box::new(e))),
                };
            }
        };
        let s = resp.status();
        if s.is_success() || s == StatusCode::UNAUTHORIZED {
            let challenge = challenge::pick(
                resp.headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            log::debug!("registry {} answers on {base}: {challenge:?}", host.name);
            return Ok(Answer::Ping(Ping { base, challenge }));
        }
        if retry::transient_status(s) {
            let why = format!("GET /v2/ answered {s}").into();
            return Ok(Answer::Busy(retry::retry_after(resp.headers()), why));
        }
        Err(Error::InvalidResponse {
            registry: host.name.clone(),
            what: format!("GET {base}v2/"),
            detail: format!("answered {s}: not a registry API"),
        })
    }
}

/// What one ping attempt found.
enum Answer {
    Ping(Ping),
    /// 429 or 5xx: wait (as long as it said) and try again.
    Busy(Option<std::time::Duration>, BoxError),
    /// No answer over this scheme.
    Unreachable(BoxError),
}
