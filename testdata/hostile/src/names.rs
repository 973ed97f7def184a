//! Hostile names for files kiln names itself from remote input: the last segment of an
//! `ADD <url>` path (BuildKit's rule). Each case is the URL path as written and what `ADD` must
//! do with it; an accepted one names the file `file`.

use crate::Outcome;

/// One hostile URL path.
pub struct UrlName {
    /// For messages.
    pub name: &'static str,
    /// The path part of the URL, as written in the Dockerfile.
    pub path: String,
    /// What `ADD <url> /dst/` must do.
    pub add: Outcome,
    /// The file name an accepted case gets under `/dst/`.
    pub file: Option<String>,
}

/// Every case.
pub fn url_names() -> Vec<UrlName> {
    use Outcome::{Accepted, Refused};
    let case = |name, path: &str, add, file: Option<&str>| UrlName {
        name,
        path: path.to_string(),
        add,
        file: file.map(String::from),
    };
    vec![
        // The URL path climbs: the name would be the parent directory itself.
        case("dot-dot", "/a/..", Refused, None),
        case("dot-dot-only", "/..", Refused, None),
        // Longer than a file name may be (255 bytes).
        case("too-long", &format!("/{}", "n".repeat(300)), Refused, None),
        // Encoded separators stay literal characters of one name, never a path.
        case(
            "encoded-slash",
            "/x%2F..%2Fescape",
            Accepted,
            Some("x%2F..%2Fescape"),
        ),
        case("encoded-dots", "/%2e%2e", Accepted, Some("%2e%2e")),
        // No name at all: BuildKit's placeholder.
        case("trailing-slash", "/dir/", Accepted, Some("__unnamed__")),
        case("dot", "/.", Accepted, Some("__unnamed__")),
    ]
}
