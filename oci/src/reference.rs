//! Docker-style image references (`busybox`, `localhost:5000/a/b:1`, `name@sha256:…`), parsed
//! and normalised the way docker's `distribution/reference` does it: a missing registry becomes
//! `docker.io`, a single-component Docker Hub name gains `library/`, and a reference with
//! neither tag nor digest gets the tag `latest`.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::digest::Digest;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest repository name (registry + path) docker accepts.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io` or `localhost:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub repository: String,
    /// The tag, if any (`latest` is added when neither tag nor digest is given).
    pub tag: Option<String>,
    /// The digest, if any.
    pub digest: Option<Digest>,
}

/// Why a reference was rejected; the message names the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference does not match the grammar at all.
    #[error("invalid reference format: {0:?}")]
    InvalidFormat(String),
    /// The repository name has upper-case letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// An empty string.
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    /// More than 255 characters of name.
    #[error(
        "invalid reference format: repository name {0:?} must not be more than 255 characters"
    )]
    NameTooLong(String),
    /// A bare 64-hex string (that is an image ID, not a name).
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// The digest part is malformed.
    #[error("invalid reference format: {source} in {reference:?}")]
    Digest {
        /// The reference as given.
        reference: String,
        /// What is wrong with its digest.
        #[source]
        source: crate::digest::DigestError,
    },
}

const ALNUM: &str = "[a-z0-9]+";
const SEPARATOR: &str = "(?:[._]|__|[-]+)";
const DOMAIN_COMPONENT: &str = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
/// Go's `\w` is ASCII; the 128-character limit is checked in code ([`MAX_TAG_LEN`]): a bounded
/// repetition would multiply the compiled automaton, and regex compilation is on every
/// command's path.
const TAG: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]*";
/// The longest tag docker accepts.
pub const MAX_TAG_LEN: usize = 128;
const DIGEST: &str = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}";

fn path_component() -> String {
    format!("{ALNUM}(?:{SEPARATOR}{ALNUM})*")
}

fn domain_and_port() -> String {
    let name = format!("{DOMAIN_COMPONENT}(?:\\.{DOMAIN_COMPONENT})*");
    let ipv6 = r"\[(?:[a-fA-F0-9:]+)\]";
    format!("(?:{name}|{ipv6})(?::[0-9]+)?")
}

fn remote_name() -> String {
    let p = path_component();
    format!("{p}(?:/{p})*")
}

/// `^(name)(?::(tag))?(?:@(digest))?$`
static REFERENCE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{}/)?{}", domain_and_port(), remote_name());
    Regex::new(&format!("^({name})(?::({TAG}))?(?:@({DIGEST}))?$")).expect("static regex")
});

/// `^(?:(domain)/)?(remote)$`
static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?:({})/)?({})$",
        domain_and_port(),
        remote_name()
    ))
    .expect("static regex")
});

static HEX64_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-f0-9]{64}$").expect("static regex"));

/// Split `name` into (registry, remainder) like docker's `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            let is_domain = first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.to_lowercase() != first;
            if is_domain {
                (first.to_string(), name[i + 1..].to_string())
            } else {
                (DEFAULT_REGISTRY.to_string(), name.to_string())
            }
        }
        None => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = DEFAULT_REGISTRY.to_string();
    }
    if domain == DEFAULT_REGISTRY && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain, rest)
}

impl Reference {
    /// Parse and normalise like `docker pull`/`docker tag` do (`ParseNormalizedNamed` followed
    /// by `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if HEX64_RE.is_match(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        // The name part ends at the first '@' or at a ':' after the last '/'.
        let name_end = {
            let at = s.find('@').unwrap_or(s.len());
            let before_at = &s[..at];
            let last_slash = before_at.rfind('/').map(|i| i + 1).unwrap_or(0);
            match before_at[last_slash..].find(':') {
                Some(c) => last_slash + c,
                None => at,
            }
        };
        let (domain, remainder) = split_docker_domain(&s[..name_end]);
        if remainder.to_lowercase() != remainder {
            return Err(ReferenceError::Uppercase(remainder));
        }
        let full = format!("{domain}/{remainder}{}", &s[name_end..]);
        let caps = match REFERENCE_RE.captures(&full) {
            Some(c) => c,
            None => {
                if REFERENCE_RE.is_match(&full.to_lowercase()) {
                    return Err(ReferenceError::Uppercase(remainder));
                }
                return Err(ReferenceError::InvalidFormat(s.to_string()));
            }
        };
        let name = caps.get(1).map(|m| m.as_str()).unwrap_or_default();
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong(s.to_string()));
        }
        let name_caps = NAME_RE
            .captures(name)
            .ok_or_else(|| ReferenceError::InvalidFormat(s.to_string()))?;
        let registry = name_caps
            .get(1)
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let repository = name_caps
            .get(2)
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let tag = caps.get(2).map(|m| m.as_str().to_string());
        if tag.as_ref().is_some_and(|t| t.len() > MAX_TAG_LEN) {
            return Err(ReferenceError::InvalidFormat(s.to_string()));
        }
        let digest = caps
            .get(3)
            .map(|m| Digest::parse(m.as_str()))
            .transpose()
            .map_err(|source| ReferenceError::Digest {
                reference: s.to_string(),
                source,
            })?;
        let tag = if tag.is_none() && digest.is_none() {
            Some(DEFAULT_TAG.to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short repository name docker shows (`busybox`, `user/app`, `localhost:5000/a/b`).
    pub fn familiar(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            match self.repository.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The familiar name with tag and digest, as `docker load` prints it (`busybox:latest`).
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }

    /// The same reference with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }
}

impl fmt::Display for Reference {
    /// The canonical form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}
