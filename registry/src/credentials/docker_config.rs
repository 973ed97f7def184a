//! docker's `config.json`: `auths` (base64 `auth`, `identitytoken`), `credsStore` and
//! `credHelpers`, read as docker reads them and written back atomically with every key kiln
//! does not know kept.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::helper::CredentialHelper;
use super::{CredentialError, CredentialStore, Credentials};
use crate::hosts;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// docker's client configuration folder (`~/.docker`, `$DOCKER_CONFIG`).
#[derive(Debug, Clone)]
pub struct DockerConfig {
    dir: PathBuf,
    helper_path: Option<OsString>,
}

impl DockerConfig {
    /// The configuration in folder `dir` (its `config.json`).
    pub fn new(dir: impl Into<PathBuf>) -> DockerConfig {
        DockerConfig {
            dir: dir.into(),
            helper_path: None,
        }
    }

    /// Look credential helpers up in this `PATH`-like list instead of `$PATH`.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> DockerConfig {
        self.helper_path = Some(path.into());
        self
    }

    /// The file: `<dir>/config.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    fn read(&self) -> Result<Map<String, Value>, CredentialError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(source) => {
                return Err(CredentialError::Io {
                    what: "read",
                    path,
                    source,
                })
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(self.invalid("not a JSON object".into())),
            Err(e) => Err(self.invalid(e.to_string())),
        }
    }

    fn invalid(&self, detail: String) -> CredentialError {
        CredentialError::Invalid {
            path: self.path(),
            detail,
        }
    }

    /// Replace the file atomically (a temp file beside it, fsync, rename), mode 0600; a
    /// symlinked `config.json` keeps its link and its target is replaced.
    fn write(&self, map: &Map<String, Value>) -> Result<(), CredentialError> {
        let mut path = self.path();
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            if let Ok(target) = fs::canonicalize(&path) {
                path = target;
            }
        }
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| CredentialError::Io { what, path, source }
        };
        if !dir.is_dir() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("create directory", &dir))?;
        }
        let mut text = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut text, fmt);
        serde::Serialize::serialize(map, &mut ser).expect("a JSON map serialises");
        let tmp = dir.join(format!(
            ".config.json.kiln-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        let result = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io("create", &tmp))?;
            f.write_all(&text).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("fsync", &tmp))?;
            fs::rename(&tmp, &path).map_err(io("replace", &path))?;
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The helper configured for `key`: `credHelpers` by key or host name, then `credsStore`.
    fn helper_for(
        &self,
        cfg: &Map<String, Value>,
        registry: &str,
        key: &str,
    ) -> Result<Option<CredentialHelper>, CredentialError> {
        let by_registry = cfg
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|h| {
                [key, hosts::key_hostname(key), registry]
                    .iter()
                    .find_map(|k| h.get(*k).and_then(Value::as_str))
            });
        let name = by_registry.or_else(|| cfg.get("credsStore").and_then(Value::as_str));
        match name {
            Some(n) if !n.is_empty() => {
                CredentialHelper::find(n, self.helper_path.as_deref()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The `auths` entry of `key`, or of an older key for the same host.
    fn auth_entry<'a>(
        cfg: &'a Map<String, Value>,
        key: &str,
    ) -> Option<(&'a str, &'a Map<String, Value>)> {
        let auths = cfg.get("auths")?.as_object()?;
        if let Some((k, Value::Object(e))) = auths.get_key_value(key) {
            return Some((k, e));
        }
        let host = hosts::key_hostname(key);
        auths.iter().find_map(|(k, v)| match v {
            Value::Object(e) if hosts::key_hostname(k) == host => Some((k.as_str(), e)),
            _ => None,
        })
    }

    fn decode_entry(
        &self,
        entry: &Map<String, Value>,
    ) -> Result<Option<Credentials>, CredentialError> {
        let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default();
        let (mut username, mut password) = (s("username").to_string(), s("password").to_string());
        if !s("auth").is_empty() {
            let raw = B64
                .decode(s("auth").trim())
                .map_err(|e| self.invalid(format!("an `auth` is not base64: {e}")))?;
            let text = String::from_utf8(raw)
                .map_err(|_| self.invalid("an `auth` is not UTF-8".into()))?;
            let (u, p) = text
                .split_once(':')
                .ok_or_else(|| self.invalid("an `auth` is not user:password".into()))?;
            username = u.to_string();
            password = p.trim_end_matches('\0').to_string();
        }
        let token = s("identitytoken");
        if !token.is_empty() {
            return Ok(Some(Credentials::IdentityToken {
                username,
                token: token.to_string(),
            }));
        }
        if username.is_empty() && password.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials::Basic { username, password }))
    }
}

impl CredentialStore for DockerConfig {
    fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialError> {
        let cfg = self.read()?;
        let key = hosts::credential_key(registry);
        if let Some(helper) = self.helper_for(&cfg, registry, &key)? {
            if let Some(c) = helper.get(&key)? {
                return Ok(Some(c));
            }
        }
        match DockerConfig::auth_entry(&cfg, &key) {
            Some((_, entry)) => self.decode_entry(entry),
            None => Ok(None),
        }
    }

    fn store(&self, registry: &str, credentials: &Credentials) -> Result<(), CredentialError> {
        let mut cfg = self.read()?;
        let key = hosts::credential_key(registry);
        let helper = self.helper_for(&cfg, registry, &key)?;
        if let Some(h) = &helper {
            h.store(&key, credentials)?;
        }
        let old_key = DockerConfig::auth_entry(&cfg, &key).map(|(k, _)| k.to_string());
        let auths = cfg
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let auths = auths.as_object_mut().expect("made an object");
        let mut entry = auths
            .remove(old_key.as_deref().unwrap_or(&key))
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .unwrap_or_default();
        for k in ["auth", "username", "password", "identitytoken"] {
            entry.remove(k);
        }
        if helper.is_none() {
            match credentials {
                Credentials::Basic { username, password } => {
                    entry.insert(
                        "auth".into(),
                        B64.encode(format!("{username}:{password}")).into(),
                    );
                }
                Credentials::IdentityToken { username, token } => {
                    entry.insert("auth".into(), B64.encode(format!("{username}:")).into());
                    entry.insert("identitytoken".into(), token.clone().into());
                }
            }
        }
        auths.insert(key, Value::Object(entry));
        self.write(&cfg)
    }

    fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        let mut cfg = self.read()?;
        let key = hosts::credential_key(registry);
        let mut had = false;
        if let Some(h) = self.helper_for(&cfg, registry, &key)? {
            had |= h.erase(&key)?;
        }
        let old_key = DockerConfig::auth_entry(&cfg, &key).map(|(k, _)| k.to_string());
        if let (Some(k), Some(auths)) =
            (old_key, cfg.get_mut("auths").and_then(Value::as_object_mut))
        {
            auths.remove(&k);
            had = true;
            self.write(&cfg)?;
        }
        Ok(had)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), text).unwrap();
        let c = DockerConfig::new(dir.path()).with_helper_path(dir.path().join("nobin"));
        (dir, c)
    }

    #[test]
    fn reads_auths_as_docker_writes_them() {
        let (_d, c) = config(
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "dTpwOmFzcw=="},
                "https://old.example:5000/v1/": {"auth": "b2xkOnB3"},
                "tok.example": {"auth": "dXNlcjo=", "identitytoken": "refresh"},
                "empty.example": {}
            }}"#,
        );
        assert_eq!(
            c.get("docker.io").unwrap(),
            Some(Credentials::Basic {
                username: "u".into(),
                password: "p:ass".into()
            })
        );
        assert_eq!(
            c.get("old.example:5000").unwrap(),
            Some(Credentials::Basic {
                username: "old".into(),
                password: "pw".into()
            })
        );
        assert_eq!(
            c.get("tok.example").unwrap(),
            Some(Credentials::IdentityToken {
                username: "user".into(),
                token: "refresh".into()
            })
        );
        assert_eq!(c.get("empty.example").unwrap(), None);
        assert_eq!(c.get("other.example").unwrap(), None);
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let (_d, c) = config("{not json");
        let e = c.get("docker.io").unwrap_err();
        assert!(
            e.to_string()
                .contains("config.json is not a valid docker configuration"),
            "{e}"
        );
        let (_d, c) = config(r#"{"auths": {"x": {"auth": "!!!"}}}"#);
        assert!(c.get("x").unwrap_err().to_string().contains("not base64"));
    }

    #[test]
    fn a_missing_file_is_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let c = DockerConfig::new(dir.path().join("nothing-here"));
        assert_eq!(c.get("docker.io").unwrap(), None);
        assert!(!c.erase("docker.io").unwrap());
    }

    #[test]
    fn a_helper_named_by_config_must_exist() {
        let (_d, c) = config(r#"{"credsStore": "kiln-no-such-helper"}"#);
        let e = c.get("docker.io").unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-kiln-no-such-helper"),
            "{e}"
        );
    }
}
