//! Path arithmetic inside images (always `/`-separated) and owner specs.

use kiln_solver::{Chown, UserSpec};

/// Lexically clean an absolute path: collapse `//`, `.` and `..` (never above `/`).
pub fn clean_abs(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Go's `filepath.Clean` for `/`-separated paths (relative ones stay relative; `""` is `.`).
pub fn go_clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            ".." if rooted => {}
            s => out.push(s),
        }
    }
    match (rooted, out.is_empty()) {
        (true, _) => format!("/{}", out.join("/")),
        (false, true) => ".".to_string(),
        (false, false) => out.join("/"),
    }
}

/// `p` resolved against the directory `base` (absolute), cleaned.
pub fn join_abs(base: &str, p: &str) -> String {
    if p.starts_with('/') {
        clean_abs(p)
    } else {
        clean_abs(&format!("{base}/{p}"))
    }
}

/// A COPY/ADD destination made absolute against `workdir`, keeping a trailing `/` (or a
/// trailing `.`) as "this is a directory". An empty destination is the working directory.
pub fn copy_dest(workdir: &str, dest: &str) -> String {
    if dest.is_empty() {
        let wd = clean_abs(workdir);
        return if wd == "/" { wd } else { format!("{wd}/") };
    }
    let abs = join_abs(workdir, dest);
    let dir_like = dest.ends_with('/')
        || dest == "."
        || dest.ends_with("/.")
        || dest == ".."
        || dest.ends_with("/..");
    if dir_like && abs != "/" {
        format!("{abs}/")
    } else {
        abs
    }
}

/// Last path component (`/a/b` → `b`).
pub fn base_name(p: &str) -> String {
    p.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// `user[:group]` with names or numeric ids.
pub fn parse_chown(spec: &str) -> Result<Chown, String> {
    let one = |s: &str| -> Result<UserSpec, String> {
        if s.is_empty() {
            return Err(format!("invalid user spec {spec:?}: empty user or group"));
        }
        Ok(match s.parse::<u32>() {
            Ok(id) => UserSpec::Id(id),
            Err(_) => UserSpec::Name(s.to_string()),
        })
    };
    match spec.split_once(':') {
        Some((u, g)) => Ok(Chown {
            user: one(u)?,
            group: Some(one(g)?),
        }),
        None => Ok(Chown {
            user: one(spec)?,
            group: None,
        }),
    }
}
