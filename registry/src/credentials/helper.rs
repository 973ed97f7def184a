//! docker's credential helpers: `docker-credential-<name> get|store|erase`, the request on
//! stdin and the answer as JSON on stdout (the `docker-credential-helpers` protocol).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::{CredentialError, Credentials};

/// The user name a helper stores an identity token under.
const TOKEN_USERNAME: &str = "<token>";
/// What helpers print when they have nothing for a server.
const NOT_FOUND: &str = "credentials not found in native keychain";

/// One credential helper program.
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    name: String,
    program: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Message {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl CredentialHelper {
    /// Find `docker-credential-<name>` in `search_path` (`$PATH` when `None`). The name must be
    /// a plain word: a `config.json` cannot make kiln run a path of its choosing.
    pub fn find(
        name: &str,
        search_path: Option<&OsStr>,
    ) -> Result<CredentialHelper, CredentialError> {
        let fail = |message: String| CredentialError::Helper {
            helper: name.to_string(),
            action: "lookup",
            message,
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            || name.starts_with('.')
        {
            return Err(fail("not a credential helper name".into()));
        }
        let file = format!("docker-credential-{name}");
        let path: OsString = match search_path {
            Some(p) => p.to_owned(),
            None => std::env::var_os("PATH").unwrap_or_default(),
        };
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(&file);
            if is_executable(&candidate) {
                return Ok(CredentialHelper {
                    name: name.to_string(),
                    program: candidate,
                });
            }
        }
        Err(fail(format!("{file} is not in PATH")))
    }

    /// The helper's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, action: &'static str, input: &[u8]) -> Result<(bool, String), CredentialError> {
        let fail = |message: String| CredentialError::Helper {
            helper: self.name.clone(),
            action,
            message,
        };
        let mut child = Command::new(&self.program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", self.program.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its exit status below.
            let _ = stdin.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("waiting for it: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok((true, stdout));
        }
        if stdout == NOT_FOUND {
            return Ok((false, stdout));
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let said = if stdout.is_empty() { stderr } else { stdout };
        Err(fail(format!("{} ({})", said, out.status)))
    }

    /// The credentials the helper has for `server` (a `config.json` key).
    pub fn get(&self, server: &str) -> Result<Option<Credentials>, CredentialError> {
        let (found, out) = self.run("get", server.as_bytes())?;
        if !found {
            return Ok(None);
        }
        let m: Message = serde_json::from_str(&out).map_err(|e| CredentialError::Helper {
            helper: self.name.clone(),
            action: "get",
            message: format!("answer is not the helpers' JSON: {e}"),
        })?;
        if m.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if m.username == TOKEN_USERNAME {
            Credentials::IdentityToken {
                username: String::new(),
                token: m.secret,
            }
        } else {
            Credentials::Basic {
                username: m.username,
                password: m.secret,
            }
        }))
    }

    /// Store `credentials` for `server`.
    pub fn store(&self, server: &str, credentials: &Credentials) -> Result<(), CredentialError> {
        let m = match credentials {
            Credentials::Basic { username, password } => Message {
                server_url: server.into(),
                username: username.clone(),
                secret: password.clone(),
            },
            Credentials::IdentityToken { token, .. } => Message {
                server_url: server.into(),
                username: TOKEN_USERNAME.into(),
                secret: token.clone(),
            },
        };
        let input = serde_json::to_vec(&m).expect("strings serialise");
        match self.run("store", &input)? {
            (true, _) => Ok(()),
            (false, out) => Err(CredentialError::Helper {
                helper: self.name.clone(),
                action: "store",
                message: out,
            }),
        }
    }

    /// Erase the credentials of `server`; false when it had none.
    pub fn erase(&self, server: &str) -> Result<bool, CredentialError> {
        Ok(self.run("erase", server.as_bytes())?.0)
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_paths_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            let e = CredentialHelper::find(bad, Some(OsStr::new("/usr/bin"))).unwrap_err();
            assert!(
                e.to_string().contains("not a credential helper name"),
                "{bad}: {e}"
            );
        }
        let e = CredentialHelper::find("nonesuch", Some(OsStr::new("/nonexistent"))).unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-nonesuch is not in PATH"),
            "{e}"
        );
    }
}
