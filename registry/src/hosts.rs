//! Registry names as docker reads them: `docker.io` is `registry-1.docker.io` for the API and
//! `https://index.docker.io/v1/` as the key of `config.json`; loopback hosts may speak HTTP.

use std::net::IpAddr;

/// The name of Docker Hub in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's API is.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Docker Hub's key in `config.json`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The name a registry's settings are filed under (`index.docker.io` and
/// `registry-1.docker.io` are `docker.io`).
pub fn config_name(name: &str) -> String {
    match name {
        "index.docker.io" | DOCKER_HUB_API => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// The `host[:port]` the API of registry `name` is at.
pub fn api_host(name: &str) -> String {
    if config_name(name) == DOCKER_HUB {
        DOCKER_HUB_API.to_string()
    } else {
        name.to_string()
    }
}

/// The key of registry `name` in docker's `config.json` (and for credential helpers).
pub fn credential_key(name: &str) -> String {
    if config_name(name) == DOCKER_HUB {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        name.to_string()
    }
}

/// `config.json` keys written by older docker versions carry a scheme and a path
/// (`https://host:5000/v1/`): the host part, as docker's `ConvertToHostname`.
pub fn key_hostname(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// Split `host[:port]` (with `[v6]:port`) into the host and the port.
pub fn split_port(name: &str) -> (&str, Option<&str>) {
    if let Some(rest) = name.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            return (h, after.strip_prefix(':'));
        }
    }
    match name.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (name, None),
    }
}

/// Is `name` (`host[:port]`) this machine: `localhost`, `127.0.0.0/8`, `::1`?
pub fn is_loopback(name: &str) -> bool {
    let (host, _) = split_port(name);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Is `s` a `host[:port]` (no scheme, no path, no spaces)?
pub fn is_host(s: &str) -> bool {
    let (host, port) = split_port(s);
    if host.is_empty() {
        return false;
    }
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    host.parse::<IpAddr>().is_ok()
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("ghcr.io"), "ghcr.io");
        assert_eq!(credential_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(credential_key("localhost:5000"), "localhost:5000");
        assert_eq!(key_hostname("https://reg:5000/v1/"), "reg:5000");
        assert_eq!(key_hostname("reg:5000"), "reg:5000");
    }

    #[test]
    fn loopback_and_hosts() {
        for l in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:1",
            "127.1.2.3",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(l), "{l}");
        }
        for n in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:1",
        ] {
            assert!(!is_loopback(n), "{n}");
        }
        for h in ["a.b", "a:1", "[::1]:5000", "127.0.0.1", "my_host-1.local"] {
            assert!(is_host(h), "{h}");
        }
        for h in ["", "http://a", "a/b", "a:", "a:x", "a b"] {
            assert!(!is_host(h), "{h}");
        }
    }
}
