//! Bearer tokens: the token service's answer (`token` or `access_token`, `expires_in`) and a
//! cache per (registry, scope set) that forgets a token before it expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// docker's rule: a token lives at least a minute, whatever `expires_in` says.
const MIN_LIFETIME: Duration = Duration::from_secs(60);

/// A token and when to stop using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub value: String,
    pub renew_at: Instant,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Read a token service's JSON answer; `None` when it holds no usable token.
pub(crate) fn parse_answer(body: &[u8], now: Instant) -> Option<Token> {
    let a: Answer = serde_json::from_slice(body).ok()?;
    let value = if a.token.is_empty() {
        a.access_token
    } else {
        a.token
    };
    // A token goes into a header: refuse what could not be one.
    if value.is_empty() || !value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return None;
    }
    let life = a
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(MIN_LIFETIME)
        .max(MIN_LIFETIME);
    // Renew at nine tenths of its life, so no request starts with a token about to expire.
    Some(Token {
        value,
        renew_at: now + life.mul_f64(0.9),
    })
}

/// Tokens by (registry, scope set).
#[derive(Debug, Default)]
pub(crate) struct TokenCache(Mutex<HashMap<(String, String), Token>>);

impl TokenCache {
    pub(crate) fn get(&self, registry: &str, scopes: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(registry.to_string(), scopes.to_string()))
            .filter(|t| Instant::now() < t.renew_at)
            .map(|t| t.value.clone())
    }

    pub(crate) fn put(&self, registry: &str, scopes: &str, token: Token) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| Instant::now() < t.renew_at);
        map.insert((registry.to_string(), scopes.to_string()), token);
    }

    /// Forget `value` if it is the token cached for these scopes (the registry refused it).
    pub(crate) fn forget(&self, registry: &str, scopes: &str, value: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let k = (registry.to_string(), scopes.to_string());
        if map.get(&k).is_some_and(|t| t.value == value) {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_or_access_token_and_lifetime() {
        let now = Instant::now();
        let t = parse_answer(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value, "abc");
        assert_eq!(t.renew_at, now + Duration::from_secs(270));
        let t = parse_answer(br#"{"access_token":"xyz","expires_in":5}"#, now).unwrap();
        assert_eq!(t.value, "xyz");
        assert_eq!(t.renew_at, now + Duration::from_secs(54));
        let t = parse_answer(br#"{"token":"a","access_token":"b"}"#, now).unwrap();
        assert_eq!(t.value, "a");
        for bad in [
            &br#"{}"#[..],
            br#"{"token":""}"#,
            br#"{"token":"a\nb"}"#,
            b"not json",
        ] {
            assert_eq!(parse_answer(bad, now), None);
        }
    }

    #[test]
    fn cache_is_per_registry_and_scope_set() {
        let c = TokenCache::default();
        let t = |v: &str| Token {
            value: v.into(),
            renew_at: Instant::now() + Duration::from_secs(60),
        };
        c.put("r", "repository:a:pull", t("A"));
        c.put("r", "repository:a:pull,push", t("B"));
        assert_eq!(c.get("r", "repository:a:pull").as_deref(), Some("A"));
        assert_eq!(c.get("other", "repository:a:pull"), None);
        c.forget("r", "repository:a:pull", "not-it");
        assert!(c.get("r", "repository:a:pull").is_some());
        c.forget("r", "repository:a:pull", "A");
        assert_eq!(c.get("r", "repository:a:pull"), None);
        c.put(
            "r",
            "x",
            Token {
                value: "old".into(),
                renew_at: Instant::now(),
            },
        );
        assert_eq!(c.get("r", "x"), None);
    }
}
