//! `PATH` lookup and environment values, in the container's own root (after `pivot_root`).
//! Paths inside a root seen from outside go through `inroot`.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The `PATH` used when the container's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Find the executable for `cmd` the way a shell would: as given when it contains a slash, otherwise
/// through the colon-separated `path`. Errors read like docker's (`exec: "foo": executable file not
/// found in $PATH`). Paths are resolved in the current root (call it after `pivot_root`).
pub fn find_executable(cmd: &str, path: &str) -> Result<PathBuf, String> {
    if cmd.is_empty() {
        return Err("exec: \"\": executable file not found in $PATH".to_string());
    }
    if cmd.as_bytes().contains(&b'/') {
        return match std::fs::metadata(cmd) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
                "exec: \"{cmd}\": stat {cmd}: no such file or directory"
            )),
            Err(e) => Err(format!("exec: \"{cmd}\": stat {cmd}: {e}")),
            Ok(m) if m.is_dir() => Err(format!("exec: \"{cmd}\": is a directory")),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Err(format!("exec: \"{cmd}\": permission denied"))
            }
            Ok(_) => Ok(PathBuf::from(cmd)),
        };
    }
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(cmd);
        if let Ok(m) = std::fs::metadata(&candidate) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "exec: \"{cmd}\": executable file not found in $PATH"
    ))
}

/// The value of `key` in a `KEY=VALUE` list (the last one wins, like a shell's environment).
pub fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_takes_the_last_entry() {
        let env = vec![
            "PATH=/a".to_string(),
            "X=1".to_string(),
            "PATH=/b".to_string(),
            "NOEQ".to_string(),
        ];
        assert_eq!(env_value(&env, "PATH"), Some("/b"));
        assert_eq!(env_value(&env, "Y"), None);
    }

    #[test]
    fn find_executable_reports_like_docker() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("data"), "x").unwrap();
        let path = format!("/nonexistent:{}", bin.display());
        assert_eq!(find_executable("tool", &path).unwrap(), bin.join("tool"));
        assert_eq!(
            find_executable("data", &path).unwrap_err(),
            "exec: \"data\": executable file not found in $PATH"
        );
        assert_eq!(
            find_executable("/no/such", &path).unwrap_err(),
            "exec: \"/no/such\": stat /no/such: no such file or directory"
        );
    }
}
