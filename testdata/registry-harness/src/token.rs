//! A small token service, as the CNCF registry's `auth: token:` expects one: it checks basic
//! credentials (or a refresh token), grants actions per repository by policy, and signs an
//! ES256 JWT whose `x5c` header carries the certificate the registry trusts
//! (`rootcertbundle`). It records every request, so tests can see which scopes were asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Serialize;

use crate::pki::Pair;

/// The `service` (audience) the registry is configured with.
pub const SERVICE: &str = "kiln-test-registry";
/// The issuer the registry trusts.
pub const ISSUER: &str = "kiln-test-issuer";

/// Who gets what.
#[derive(Debug, Clone, Default)]
pub struct TokenPolicy {
    /// Users (name, password) granted every action they ask for.
    pub users: Vec<(String, String)>,
    /// Among `users`, those granted only `pull`.
    pub readonly: Vec<String>,
    /// Among `users`, those the service answers 403.
    pub denied: Vec<String>,
    /// Refresh tokens (token, user) accepted by POST (docker's identity tokens).
    pub refresh_tokens: Vec<(String, String)>,
    /// Anonymous requests get `pull`.
    pub anonymous_pull: bool,
    /// Answer `access_token` instead of `token`.
    pub access_token_field: bool,
}

impl TokenPolicy {
    /// One user with every right, nothing anonymous.
    pub fn user(name: &str, password: &str) -> TokenPolicy {
        TokenPolicy {
            users: vec![(name.into(), password.into())],
            ..TokenPolicy::default()
        }
    }
}

/// One request the service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// GET or POST.
    pub method: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// The scopes asked for, one per scope.
    pub scopes: Vec<String>,
    /// The status answered.
    pub status: u16,
}

/// The running service; stops when dropped.
pub struct TokenServer {
    server: Arc<tiny_http::Server>,
    port: u16,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

impl TokenServer {
    /// Start on 127.0.0.1 (a free port), signing with `signer`.
    pub fn start(policy: TokenPolicy, signer: &Pair) -> TokenServer {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the token server"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (srv, reqs) = (server.clone(), requests.clone());
        let key = jsonwebtoken::EncodingKey::from_ec_der(&signer.key_der);
        let x5c = base64::engine::general_purpose::STANDARD.encode(&signer.cert_der);
        let thread = std::thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let (status, body, record) = answer(&policy, &key, &x5c, &mut req);
                reqs.lock().unwrap().push(record);
                let json = "Content-Type: application/json"
                    .parse::<tiny_http::Header>()
                    .expect("a header");
                let resp = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(json);
                let _ = req.respond(resp);
            }
        });
        TokenServer {
            server,
            port,
            requests,
            thread: Some(thread),
        }
    }

    /// The realm URL.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Who is asking: `Ok(None)` anonymous, `Err` refused credentials.
fn who(
    policy: &TokenPolicy,
    req: &tiny_http::Request,
    params: &[(String, String)],
) -> Result<Option<String>, ()> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") == Some("refresh_token") {
        let t = get("refresh_token").unwrap_or_default();
        return policy
            .refresh_tokens
            .iter()
            .find(|(k, _)| k == t)
            .map(|(_, u)| Some(u.clone()))
            .ok_or(());
    }
    let basic = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Basic ").map(str::to_string))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|s| s.split_once(':')) {
        Some((u, p)) => {
            let ok = policy.users.iter().any(|(n, w)| n == u && w == p);
            if ok {
                Ok(Some(u.to_string()))
            } else {
                Err(())
            }
        }
        None => Ok(None),
    }
}

fn grant(policy: &TokenPolicy, user: &Option<String>, scopes: &[String]) -> Vec<Access> {
    let mut granted: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for s in scopes {
        let Some((resource, actions)) = s.rsplit_once(':') else {
            continue;
        };
        let Some((kind, name)) = resource.split_once(':') else {
            continue;
        };
        for a in actions.split(',') {
            let ok = match user {
                Some(u) if policy.readonly.contains(u) => a == "pull",
                Some(_) => true,
                None => policy.anonymous_pull && a == "pull",
            };
            if ok {
                let e = granted
                    .entry((kind.to_string(), name.to_string()))
                    .or_default();
                if !e.iter().any(|x| x == a) {
                    e.push(a.to_string());
                }
            }
        }
    }
    granted
        .into_iter()
        .map(|((kind, name), actions)| Access {
            kind,
            name,
            actions,
        })
        .collect()
}

fn answer(
    policy: &TokenPolicy,
    key: &jsonwebtoken::EncodingKey,
    x5c: &str,
    req: &mut tiny_http::Request,
) -> (u16, String, TokenRequest) {
    let method = req.method().to_string();
    let url = url::Url::parse(&format!("http://x{}", req.url())).expect("a request path");
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if method == "POST" {
        let mut body = String::new();
        let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
        params.extend(url::form_urlencoded::parse(body.as_bytes()).into_owned());
    }
    let scopes: Vec<String> = params
        .iter()
        .filter(|(n, _)| n == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let user = who(policy, req, &params);
    let mut record = TokenRequest {
        method,
        user: user.clone().ok().flatten(),
        scopes: scopes.clone(),
        status: 200,
    };
    let user = match user {
        Ok(u) => u,
        Err(()) => {
            record.status = 401;
            return (401, r#"{"details":"bad credentials"}"#.into(), record);
        }
    };
    if user.as_ref().is_some_and(|u| policy.denied.contains(u)) {
        record.status = 403;
        return (403, r#"{"details":"denied"}"#.into(), record);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let service = params
        .iter()
        .find(|(n, _)| n == "service")
        .map(|(_, v)| v.clone());
    let claims = Claims {
        iss: ISSUER.into(),
        sub: user.clone().unwrap_or_default(),
        aud: service.unwrap_or_else(|| SERVICE.into()),
        exp: now + 300,
        nbf: now.saturating_sub(10),
        iat: now,
        jti: format!("{now}-{}", std::process::id()),
        access: grant(policy, &user, &scopes),
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![x5c.to_string()]);
    let jwt = jsonwebtoken::encode(&header, &claims, key).expect("sign a token");
    let field = if policy.access_token_field {
        "access_token"
    } else {
        "token"
    };
    let body = serde_json::json!({ field: jwt, "expires_in": 300 }).to_string();
    (200, body, record)
}
