//! `/etc/passwd` and `/etc/group` parsing and docker-compatible user resolution.

use crate::error::{Error, IoContext, Result};
use std::path::Path;

/// One `/etc/passwd` entry (the fields the runtime uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// One `/etc/group` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Member user names.
    pub members: Vec<String>,
}

/// A resolved user: ids to switch to and the home directory for `HOME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
    /// Home directory (`/` when unknown).
    pub home: String,
}

/// Parse `/etc/passwd` text; malformed lines (bad ids, too few fields, comments) are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Parse `/etc/group` text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members,
            })
        })
        .collect()
}

/// Read `rel` (like `etc/passwd`) inside `rootfs` without following symlinks out of it;
/// a missing file reads as empty.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<String> {
    let in_root = |source| Error::InRoot {
        context: format!("read {rel} in {}", rootfs.display()),
        source,
    };
    let file = inroot::Root::open(rootfs).and_then(|root| root.open_file(rel));
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return Ok(String::new()),
        Err(e) => return Err(in_root(e)),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes)
        .ctx(|| format!("read {rel} in {}", rootfs.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Resolve `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`) against the passwd and group texts,
/// following docker/runc: an unknown numeric uid gets gid 0; supplementary groups come from the
/// group member lists only when no group was given. The primary group always leads the
/// supplementary list (unless already in it), as current BuildKit sets it since the fix for
/// CVE-2023-25173: a process keeps its primary group even after `setgroups`, so a file
/// readable only by that group stays readable and nothing is silently dropped.
pub fn resolve_exec_user(user: &str, passwd: &str, group: &str) -> Result<ExecUser> {
    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let group_arg = group_arg.filter(|g| !g.is_empty());
    let users = parse_passwd(passwd);
    let uid_num: Option<u32> = user_arg.parse().ok();
    let matched = users.iter().find(|u| match (user_arg, uid_num) {
        ("", _) => u.uid == 0,
        (_, Some(n)) => u.uid == n,
        (name, None) => u.name == name,
    });
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        home: "/".to_string(),
    };
    if let Some(u) = matched {
        out.uid = u.uid;
        out.gid = u.gid;
        if !u.home.is_empty() {
            out.home = u.home.clone();
        }
    } else if !user_arg.is_empty() {
        out.uid = uid_num.ok_or_else(|| Error::UserNotFound(user_arg.to_string()))?;
    }
    let groups = parse_group(group);
    match group_arg {
        Some(g) => {
            let gid_num: Option<u32> = g.parse().ok();
            let found = groups.iter().find(|e| match gid_num {
                Some(n) => e.gid == n,
                None => e.name == g,
            });
            out.gid = match (found, gid_num) {
                (Some(e), _) => e.gid,
                (None, Some(n)) => n,
                (None, None) => return Err(Error::GroupNotFound(g.to_string())),
            };
        }
        None => {
            if let Some(u) = matched {
                out.groups = groups
                    .iter()
                    .filter(|e| e.members.contains(&u.name))
                    .map(|e| e.gid)
                    .collect();
                out.groups.dedup();
            }
        }
    }
    if !out.groups.contains(&out.gid) {
        out.groups.insert(0, out.gid);
    }
    Ok(out)
}

/// Resolve `user` inside `rootfs` (a directory) → (uid, gid, supplementary gids).
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>)> {
    let u = resolve_exec_user_in(rootfs, user)?;
    Ok((u.uid, u.gid, u.groups))
}

/// [`resolve_exec_user`] reading `etc/passwd` and `etc/group` under `rootfs`.
pub fn resolve_exec_user_in(rootfs: &Path, user: &str) -> Result<ExecUser> {
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let group = read_in_root(rootfs, "etc/group")?;
    resolve_exec_user(user, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken:x:notanumber:0::/:/bin/sh\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\nshort:x\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\naudio:x:29: app \napp:x:1000:\nnogroup:x:65534:\nbad:x:zz:app\n";

    fn r(user: &str) -> Result<ExecUser> {
        resolve_exec_user(user, PASSWD, GROUP)
    }

    #[test]
    fn empty_user_is_root_with_its_groups() {
        let u = r("").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups, u.home.as_str()),
            (0, 0, vec![0, 10], "/root")
        );
    }

    #[test]
    fn name_and_uid_lookups() {
        let u = r("app").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone(), u.home.as_str()),
            (1000, 1000, vec![1000, 10, 29], "/home/app")
        );
        assert_eq!(r("1000").unwrap(), u);
        let n = r("nobody").unwrap();
        assert_eq!((n.uid, n.gid), (65534, 65534));
    }

    #[test]
    fn unknown_numeric_uid_gets_gid_zero() {
        let u = r("4242").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups, u.home.as_str()),
            (4242, 0, vec![0], "/")
        );
        let u = r("4242:77").unwrap();
        assert_eq!((u.uid, u.gid, u.groups), (4242, 77, vec![77]));
    }

    #[test]
    fn explicit_group_replaces_gid_and_drops_supplementary_groups() {
        let u = r("app:wheel").unwrap();
        assert_eq!((u.uid, u.gid, u.groups), (1000, 10, vec![10]));
        let u = r("app:29").unwrap();
        assert_eq!((u.gid, u.groups), (29, vec![29]));
        let u = r("app:").unwrap();
        assert_eq!((u.gid, u.groups), (1000, vec![1000, 10, 29]));
    }

    #[test]
    fn unknown_names_are_errors_with_docker_messages() {
        assert_eq!(
            r("ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            r("app:ghosts").unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert!(r("broken").is_err());
    }

    #[test]
    fn missing_files_mean_no_entries() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(t.path(), "").unwrap(), (0, 0, vec![0]));
        assert_eq!(resolve_user(t.path(), "12:34").unwrap(), (12, 34, vec![34]));
        assert!(resolve_user(t.path(), "app").is_err());
    }

    #[test]
    fn reads_files_inside_the_rootfs() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        std::fs::write(t.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(t.path().join("etc/group"), GROUP).unwrap();
        assert_eq!(
            resolve_user(t.path(), "app").unwrap(),
            (1000, 1000, vec![1000, 10, 29])
        );
    }
}
