//! `--chown` resolution inside the destination root: names through its `/etc/passwd` and
//! `/etc/group`, numeric ids as they are. Without a group, a named user gets its primary group
//! and a numeric user the group with the same id (BuildKit: `--chown=1000` is `1000:1000`).

use super::FileOpError;
use inroot::Root;
use kiln_solver::{Chown, UserSpec};
use std::io::Read;

/// Resolves `chown` to `(uid, gid)` using the files under `root`.
pub fn resolve_owner(root: &Root, chown: &Chown) -> Result<(u32, u32), FileOpError> {
    let (uid, primary) = match &chown.user {
        UserSpec::Id(id) => (*id, *id),
        UserSpec::Name(n) => match n.parse::<u32>() {
            Ok(id) => (id, id),
            Err(_) => {
                lookup(root, "/etc/passwd", n).ok_or_else(|| FileOpError::UnknownUser(n.clone()))?
            }
        },
    };
    let gid = match &chown.group {
        None => primary,
        Some(UserSpec::Id(id)) => *id,
        Some(UserSpec::Name(n)) => match n.parse::<u32>() {
            Ok(id) => id,
            Err(_) => lookup(root, "/etc/group", n)
                .map(|(g, _)| g)
                .ok_or_else(|| FileOpError::UnknownGroup(n.clone()))?,
        },
    };
    Ok((uid, gid))
}

/// Finds `name` in a passwd-format (`name:x:uid:gid:...`) or group-format (`name:x:gid:...`)
/// file; returns (field 3, field 4 or field 3).
fn lookup(root: &Root, file: &str, name: &str) -> Option<(u32, u32)> {
    let mut text = String::new();
    root.open_file(file).ok()?.read_to_string(&mut text).ok()?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 || f[0] != name {
            return None;
        }
        let a = f[2].trim().parse().ok()?;
        let b = f.get(3).and_then(|g| g.trim().parse().ok()).unwrap_or(a);
        Some((a, b))
    })
}
