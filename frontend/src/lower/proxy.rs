//! Proxy build args: given to every RUN under both spellings, kept out of the cache key and
//! the history (BuildKit's `proxyEnvFromBuildArgs` in `dockerfile2llb/convert.go`, then
//! `proxyEnvList` in `solver/llbsolver/ops/exec.go`).

use std::collections::BTreeMap;

/// The proxies BuildKit knows, by their lower-case name (`all_proxy` since BuildKit a743d4ba0;
/// docker 20.10's BuildKit did not set it).
const PROXIES: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
];

/// The proxy environment of RUN: for each proxy given as a build arg (its name in any case;
/// when several spellings are given, the last in byte order wins, so `http_proxy` over
/// `HTTP_PROXY`), `UPPER=value` then `lower=value`.
pub fn proxy_env(build_args: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for p in PROXIES {
        let value = build_args
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(p))
            .map(|(_, v)| v)
            .next_back();
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push(format!("{}={v}", p.to_ascii_uppercase()));
            out.push(format!("{p}={v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn both_spellings_in_buildkits_order() {
        let a = args(&[
            ("no_proxy", "localhost"),
            ("HTTPS_PROXY", "http://s:2"),
            ("http_proxy", "http://h:1"),
            ("ALL_PROXY", "socks5://a:4"),
            ("OTHER", "x"),
        ]);
        assert_eq!(
            proxy_env(&a),
            [
                "HTTP_PROXY=http://h:1",
                "http_proxy=http://h:1",
                "HTTPS_PROXY=http://s:2",
                "https_proxy=http://s:2",
                "NO_PROXY=localhost",
                "no_proxy=localhost",
                "ALL_PROXY=socks5://a:4",
                "all_proxy=socks5://a:4",
            ]
        );
    }

    #[test]
    fn lower_case_wins_and_empty_sets_nothing() {
        let a = args(&[("HTTP_PROXY", "upper"), ("http_proxy", "lower")]);
        assert_eq!(proxy_env(&a), ["HTTP_PROXY=lower", "http_proxy=lower"]);
        assert!(proxy_env(&args(&[("ftp_proxy", "")])).is_empty());
    }
}
