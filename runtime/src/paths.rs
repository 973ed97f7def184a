//! Path handling inside a rootfs: resolving symlinks without escaping it, and `PATH` lookup.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The most symlinks followed while resolving one path (like the kernel's limit).
const MAX_SYMLINKS: u32 = 40;

/// The `PATH` used when the container's environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Join `path` (absolute or relative, inside the container) onto `root`, resolving symlinks and `..`
/// as if `root` were `/`: the result never leaves `root`. Missing components are kept literally.
pub fn secure_join(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = components(Path::new(path));
    pending.reverse(); // a stack: the next component is last
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "too many levels of symbolic links resolving {path} in {}",
                            root.display()
                        ),
                    ));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// The normal and `..` components of `path` (root and `.` dropped).
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

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
    use std::os::unix::fs::symlink;

    #[test]
    fn secure_join_keeps_symlinks_inside_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("real/escape")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            secure_join(root, "/abs/dir").unwrap(),
            root.join("real/dir")
        );
        assert_eq!(
            secure_join(root, "/real/escape/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(secure_join(root, "../../x/./y").unwrap(), root.join("x/y"));
        assert_eq!(
            secure_join(root, "/missing/a/../b").unwrap(),
            root.join("missing/b")
        );
        assert!(secure_join(root, "/loop/x").is_err());
    }

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
