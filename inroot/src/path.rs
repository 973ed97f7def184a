//! Untrusted paths as components: lexical cleaning (Go's `filepath.Clean` of `"/" + path`, as
//! BuildKit's `fs.RootPath` does before it resolves symlinks), symlink targets, and display.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The components of an in-root path, cleaned lexically: empty and `.` segments dropped, `..`
/// removes the previous component and never climbs above the root. `"/a/./b/../c/"` → `[a, c]`.
pub fn clean(path: &OsStr) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for seg in path.as_bytes().split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            _ => out.push(OsString::from_vec(seg.to_vec())),
        }
    }
    out
}

/// Components joined back into a relative path (`[a, b]` → `a/b`): the inverse of [`clean`]
/// for paths without `..`.
pub fn join(comps: &[OsString]) -> OsString {
    let mut out = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c.as_bytes());
    }
    OsString::from_vec(out)
}

/// The components of a symlink target, in order, with `..` kept (it is resolved against the
/// directory the link is in) and `.`/empty dropped. The flag says whether it is absolute.
pub(crate) fn link_target(target: &OsStr) -> (bool, Vec<OsString>) {
    let bytes = target.as_bytes();
    let comps = bytes
        .split(|b| *b == b'/')
        .filter(|s| !s.is_empty() && *s != b".")
        .map(|s| OsString::from_vec(s.to_vec()))
        .collect();
    (bytes.first() == Some(&b'/'), comps)
}

/// `/a/b` for messages.
pub(crate) fn display(comps: &[OsString]) -> String {
    if comps.is_empty() {
        return "/".to_string();
    }
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    s
}

/// `/a/b/name` for messages.
pub(crate) fn display_child(comps: &[OsString], name: &OsStr) -> String {
    let mut s = display(comps);
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str(&name.to_string_lossy());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: &str) -> Vec<String> {
        clean(OsStr::new(p))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn clean_is_lexical_and_clamped() {
        assert_eq!(c("/a/./b/../c/"), ["a", "c"]);
        assert_eq!(c("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c(""), Vec::<String>::new());
        assert_eq!(c("/"), Vec::<String>::new());
        assert_eq!(c("a//b"), ["a", "b"]);
    }

    #[test]
    fn link_targets_keep_dotdot() {
        let (abs, comps) = link_target(OsStr::new("/x/../y/./z"));
        assert!(abs);
        assert_eq!(comps, ["x", "..", "y", "z"]);
        let (abs, comps) = link_target(OsStr::new("../up"));
        assert!(!abs);
        assert_eq!(comps, ["..", "up"]);
    }
}
