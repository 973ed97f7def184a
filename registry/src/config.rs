//! kiln's registry configuration (`/etc/kiln/kiln.toml` or `$KILN_CONFIG`), shaped like
//! BuildKit's `buildkitd.toml`:
//!
//! ```toml
//! [registry."docker.io"]
//! mirrors = ["mirror.internal:5000"]
//!
//! [registry."mirror.internal:5000"]
//! http = true          # plain HTTP
//! insecure = true      # HTTPS without verifying the certificate (then HTTP, as docker does)
//! ca = ["/etc/kiln/ca.pem"]
//! [[registry."mirror.internal:5000".keypair]]
//! key = "/etc/kiln/client.key"
//! cert = "/etc/kiln/client.cert"
//! ```
//!
//! Other top-level sections belong to other parts of kiln and are ignored here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hosts;

/// Where the client reads its files; every prefix can be overridden (tests, odd installs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// kiln's configuration file (`$KILN_CONFIG`, else `/etc/kiln/kiln.toml`).
    pub kiln_config: PathBuf,
    /// Whether `kiln_config` was asked for explicitly (then a missing file is an error).
    pub kiln_config_explicit: bool,
    /// docker's per-registry certificate folders (`/etc/docker/certs.d`).
    pub certs_d: PathBuf,
    /// docker's client configuration folder (`$DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config: PathBuf,
}

impl Paths {
    /// The paths docker and kiln use by default, with `KILN_CONFIG`, `DOCKER_CONFIG` and `HOME`
    /// honoured.
    pub fn from_env() -> Paths {
        let (kiln_config, kiln_config_explicit) = match std::env::var_os("KILN_CONFIG") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (PathBuf::from("/etc/kiln/kiln.toml"), false),
        };
        let docker_config = match std::env::var_os("DOCKER_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".docker"),
        };
        Paths {
            kiln_config,
            kiln_config_explicit,
            certs_d: PathBuf::from("/etc/docker/certs.d"),
            docker_config,
        }
    }
}

/// The `[registry."<host>"]` sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    hosts: BTreeMap<String, HostConfig>,
}

/// One registry's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Registries to try first for pulls, in order (`host[:port]`); each has its own section
    /// for its own settings.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Speak plain HTTP.
    #[serde(default)]
    pub http: bool,
    /// Do not verify the certificate; fall back to plain HTTP when HTTPS fails.
    #[serde(default)]
    pub insecure: bool,
    /// Extra certificate authorities (PEM files).
    #[serde(default)]
    pub ca: Vec<PathBuf>,
    /// Client certificates.
    #[serde(default)]
    pub keypair: Vec<KeyPair>,
}

/// A client certificate and its key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// The private key.
    pub key: PathBuf,
    /// The certificate (chain).
    pub cert: PathBuf,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    registry: BTreeMap<String, HostConfig>,
}

impl RegistryConfig {
    /// Read the file at `paths.kiln_config`; a missing file is an empty configuration unless
    /// it was asked for explicitly.
    pub fn load(paths: &Paths) -> Result<RegistryConfig> {
        let path = &paths.kiln_config;
        match std::fs::read_to_string(path) {
            Ok(text) => RegistryConfig::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.kiln_config_explicit => {
                Ok(RegistryConfig::default())
            }
            Err(e) => Err(Error::Config {
                path: path.clone(),
                detail: "cannot read it".into(),
                source: Some(Box::new(e)),
            }),
        }
    }

    /// Parse `text` (read from `path`, named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<RegistryConfig> {
        let file: File = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            detail: e.message().to_string(),
            source: Some(Box::new(e)),
        })?;
        let mut hosts = BTreeMap::new();
        for (name, cfg) in file.registry {
            let bad = |detail: String| Error::Config {
                path: path.to_path_buf(),
                detail,
                source: None,
            };
            if !hosts::is_host(&name) {
                return Err(bad(format!(
                    "[registry.{name:?}]: a registry is a host name with an optional port"
                )));
            }
            for m in &cfg.mirrors {
                if !hosts::is_host(m) {
                    return Err(bad(format!(
                        "[registry.{name:?}] mirrors: {m:?} is not host[:port]"
                    )));
                }
            }
            if cfg.keypair.iter().any(|k| k.key.as_os_str().is_empty()) {
                return Err(bad(format!("[registry.{name:?}] keypair: empty key path")));
            }
            // `index.docker.io` and `docker.io` are one registry: their sections add up.
            let into: &mut HostConfig = hosts.entry(hosts::config_name(&name)).or_default();
            into.mirrors.extend(cfg.mirrors);
            into.http |= cfg.http;
            into.insecure |= cfg.insecure;
            into.ca.extend(cfg.ca);
            into.keypair.extend(cfg.keypair);
        }
        Ok(RegistryConfig { hosts })
    }

    /// An empty configuration with one registry's settings added (tests, callers that build
    /// their configuration themselves).
    pub fn with_host(mut self, name: &str, cfg: HostConfig) -> RegistryConfig {
        self.hosts.insert(hosts::config_name(name), cfg);
        self
    }

    /// The settings of `name` (defaults when it has no section).
    pub fn host(&self, name: &str) -> HostConfig {
        self.hosts
            .get(&hosts::config_name(name))
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_buildkit_shaped_sections() {
        let c = RegistryConfig::parse(
            r#"
            [worker.oci]
            gc = true
            [registry."docker.io"]
            mirrors = ["10.0.0.1:5000", "mirror.local"]
            [registry."10.0.0.1:5000"]
            http = true
            [registry."index.docker.io"]
            ca = ["/x/ca.pem"]
            "#,
            Path::new("k.toml"),
        )
        .unwrap();
        let d = c.host("docker.io");
        assert_eq!(d.mirrors, ["10.0.0.1:5000", "mirror.local"]);
        assert!(c.host("10.0.0.1:5000").http);
        assert!(!c.host("elsewhere").http);
        // index.docker.io is docker.io, as docker reads it: the later section wins.
        assert_eq!(
            c.host("registry-1.docker.io").ca,
            [PathBuf::from("/x/ca.pem")]
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "[registry.\"docker.io\"]\nmirror = [\"x\"]",
            "[registry.\"docker.io\"]\nmirrors = [\"http://x/y\"]",
            "[registry.\"a b\"]\nhttp = true",
            "[registry.\"docker.io\"]\nhttp = \"yes\"",
        ] {
            let e = RegistryConfig::parse(bad, Path::new("/etc/kiln/kiln.toml")).unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("/etc/kiln/kiln.toml"), "{e}");
        }
    }

    #[test]
    fn a_missing_default_file_is_empty_but_an_explicit_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Paths {
            kiln_config: dir.path().join("none.toml"),
            kiln_config_explicit: false,
            certs_d: dir.path().into(),
            docker_config: dir.path().into(),
        };
        assert_eq!(RegistryConfig::load(&p).unwrap(), RegistryConfig::default());
        p.kiln_config_explicit = true;
        assert!(matches!(
            RegistryConfig::load(&p),
            Err(Error::Config { .. })
        ));
    }
}
