//! Whether a string is a valid image reference (`[host[:port]/]path[:tag][@digest]`), with the
//! grammar of docker's reference package, without normalising it.

/// Longest repository name docker accepts.
const NAME_MAX: usize = 255;

/// `true` when docker would accept `s` as an image reference (`FROM` argument).
pub fn is_valid_reference(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !valid_digest(d)) {
        return false;
    }
    // A tag is after the last ':' that comes after the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag.is_some_and(|t| !valid_tag(t)) {
        return false;
    }
    if name.is_empty() || name.len() > NAME_MAX {
        return false;
    }
    if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        let is_domain = first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase());
        if is_domain {
            if !valid_domain(first) {
                return false;
            }
            parts.remove(0);
        }
    }
    parts.iter().all(|p| valid_path_component(p))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_path_component(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` with host labels `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` or `[ipv6]`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => return !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// `algorithm:hex` with at least 32 hex digits.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::is_valid_reference as ok;

    #[test]
    fn accepts_docker_references() {
        for r in [
            "busybox",
            "scratch",
            "busybox:latest",
            "busybox:stable",
            "library/busybox:1.36-musl",
            "docker.io/library/alpine:3",
            "localhost:5000/a/b",
            "my-registry.example.com/team/app_x:v1.2",
            "[::1]:5000/app",
            "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(ok(r), "{r}");
        }
    }

    #[test]
    fn rejects_bad_references() {
        for r in [
            "",
            "busybox:",
            "Busybox",
            "busy box",
            ":latest",
            "a//b",
            "a/-b",
            "alpine@sha256:xyz",
            "busybox:-x",
            &"a".repeat(64).replace('a', "f"),
        ] {
            assert!(!ok(r), "{r}");
        }
    }
}
