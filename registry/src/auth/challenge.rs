//! `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` and
//! `Basic realm="…"`.

/// One challenge a registry answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Send a user name and password.
    Basic,
    /// Get a token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scopes the registry said it wants (each `type:name:actions`).
        scopes: Vec<String>,
    },
}

/// The challenges of all `WWW-Authenticate` values, the one to answer first: bearer before
/// basic, unknown schemes ignored.
pub(crate) fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut all: Vec<Challenge> = values.into_iter().flat_map(parse).collect();
    all.sort_by_key(|c| matches!(c, Challenge::Basic));
    all.into_iter().next()
}

/// Parse one header value (which may hold several challenges).
pub(crate) fn parse(value: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut lx = Lexer {
        s: value.as_bytes(),
        i: 0,
    };
    loop {
        lx.skip(b", \t");
        let Some(scheme) = lx.token() else { break };
        let mut params: Vec<(String, String)> = Vec::new();
        loop {
            lx.skip(b" \t");
            let save = lx.i;
            let Some(name) = lx.token() else { break };
            lx.skip(b" \t");
            if !lx.eat(b'=') {
                // A token not followed by `=` starts the next challenge.
                lx.i = save;
                break;
            }
            lx.skip(b" \t");
            let value = if lx.peek() == Some(b'"') {
                lx.quoted()
            } else {
                lx.token().unwrap_or_default()
            };
            params.push((name.to_ascii_lowercase(), value));
            lx.skip(b" \t");
            if !lx.eat(b',') {
                break;
            }
        }
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if scheme.eq_ignore_ascii_case("bearer") {
            if let Some(realm) = get("realm").filter(|r| !r.is_empty()) {
                out.push(Challenge::Bearer {
                    realm,
                    service: get("service"),
                    scopes: get("scope")
                        .map(|s| s.split_whitespace().map(str::to_string).collect())
                        .unwrap_or_default(),
                });
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            out.push(Challenge::Basic);
        }
    }
    out
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip(&mut self, set: &[u8]) {
        while self.peek().is_some_and(|c| set.contains(&c)) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> String {
        let mut out = Vec::new();
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_and_distribution_challenges() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(
            c,
            [Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scopes: vec!["repository:samalba/my-app:pull,push".into()],
            }]
        );
        let c = parse(
            r#"Bearer realm="http://127.0.0.1:1/token",service="kiln",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope""#,
        );
        let Challenge::Bearer { scopes, .. } = &c[0] else {
            panic!("{c:?}")
        };
        assert_eq!(scopes, &["repository:a:pull,push", "repository:b:pull"]);
        assert_eq!(parse(r#"Basic realm="kiln \"test\"""#), [Challenge::Basic]);
    }

    #[test]
    fn several_challenges_and_garbage() {
        let c = parse(r#"Basic realm="r", Bearer realm="https://t/x", service=svc"#);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            pick([r#"Basic realm="r""#, r#"Bearer realm="https://t/x""#]),
            Some(Challenge::Bearer {
                realm: "https://t/x".into(),
                service: None,
                scopes: vec![]
            })
        );
        for junk in [
            "",
            "=",
            "\"",
            "Bearer",
            "Bearer realm=",
            ",,,",
            "Negotiate abc==",
            "Bearer realm=\"unterminated",
        ] {
            let _ = parse(junk);
        }
        assert_eq!(parse("Bearer service=x"), []);
        assert_eq!(pick(["Negotiate"]), None);
    }
}
