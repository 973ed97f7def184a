//! Platforms (`os/arch[/variant]`): parsing as containerd's `platforms.Parse` reads specifiers
//! for BuildKit (refusing what names no known operating system or architecture), normalising
//! (`linux/arm64/v8` is `linux/arm64`, `linux/arm` is `linux/arm/v7`), and matching the entries
//! of an index against the platform wanted.

use serde::{Deserialize, Serialize};

/// A platform, as an image config and an index entry carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// `amd64`, `arm64`, `arm`, ...
    pub architecture: String,
    /// `v7` (arm), `v8` (arm64), `v2`..`v4` (amd64 levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The OS version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features (Windows).
    #[serde(
        default,
        rename = "os.features",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    /// `os/architecture` with no variant.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
            os_features: None,
        }
    }

    /// The platform kiln runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "arm" => "arm",
            other => other,
        };
        Platform::new("linux", arch, None).normalized()
    }

    /// Parse a platform specifier as BuildKit does (`os/arch[/variant]`, `os`, `arch`),
    /// refusing an unknown operating system or architecture.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        parse(s)
    }

    /// The canonical form: `arm64/v8` and `amd64/v1` lose their default variant, `arm` gains
    /// `v7`.
    pub fn normalized(&self) -> Platform {
        let mut p = self.clone();
        p.variant = match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) | ("amd64", Some("v1")) => None,
            ("arm", None) => Some("v7".into()),
            (_, v) => v.map(str::to_string),
        };
        p
    }

    /// Does an image for `self` run where `want` is asked for? OS and architecture must be
    /// the same; a variant asked for must be the image's, or (arm) an older one the asked
    /// variant can run.
    pub fn satisfies(&self, want: &Platform) -> bool {
        let (have, want) = (self.normalized(), want.normalized());
        if have.os != want.os || have.architecture != want.architecture {
            return false;
        }
        match (have.variant.as_deref(), want.variant.as_deref()) {
            (h, w) if h == w => true,
            (_, None) => true,
            (Some(h), Some(w)) if have.architecture == "arm" => arm_level(h) <= arm_level(w),
            (None, Some(_)) => have.architecture != "arm",
            _ => false,
        }
    }

    /// The best of `candidates` for `want`: an exact match first, then the newest compatible
    /// variant.
    pub fn best_match(candidates: &[Platform], want: &Platform) -> Option<usize> {
        let want_n = want.normalized();
        if let Some(i) = candidates.iter().position(|c| c.normalized() == want_n) {
            return Some(i);
        }
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.satisfies(want))
            .max_by_key(|(_, c)| {
                c.normalized()
                    .variant
                    .as_deref()
                    .map(arm_level)
                    .unwrap_or(0)
            })
            .map(|(i, _)| i)
    }
}

fn arm_level(v: &str) -> u32 {
    v.trim_start_matches('v').parse().unwrap_or(0)
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        parse(s)
    }
}

/// Why a platform specifier is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// A component holds something other than letters, digits, `_` and `-`.
    #[error("{component:?} is an invalid component of {specifier:?}: platform specifier component must match \"^[A-Za-z0-9_-]+$\": invalid argument")]
    BadComponent {
        /// The component at fault.
        component: String,
        /// The whole specifier.
        specifier: String,
    },
    /// The operating system or the architecture is not one that exists.
    #[error("{specifier:?}: unknown operating system or architecture: invalid argument")]
    Unknown {
        /// The whole specifier.
        specifier: String,
    },
    /// More than `os/arch/variant`.
    #[error("{specifier:?}: cannot parse platform specifier: invalid argument")]
    TooManyParts {
        /// The whole specifier.
        specifier: String,
    },
}

/// Go's `GOOS` values, as containerd knows them.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Go's `GOARCH` values, as containerd knows them.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

fn normalize_os(os: &str) -> String {
    match os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".into(),
        other => other.into(),
    }
}

/// containerd's aliases: `x86_64` is `amd64`, `aarch64` is `arm64`, `armhf` is `arm/v7`...
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase);
    match arch.as_str() {
        "i386" => ("386".into(), None),
        "x86_64" | "x86-64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" => ("arm64".into(), variant),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        _ => (arch, variant),
    }
}

fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parse `os/arch[/variant]`, `os` (the host's architecture) or `arch` (the host's operating
/// system).
fn parse(specifier: &str) -> Result<Platform, PlatformError> {
    let parts: Vec<&str> = specifier.split('/').collect();
    for part in &parts {
        if !valid_component(part) {
            return Err(PlatformError::BadComponent {
                component: part.to_string(),
                specifier: specifier.to_string(),
            });
        }
    }
    let unknown = || PlatformError::Unknown {
        specifier: specifier.to_string(),
    };
    let host = Platform::host();
    let (os, (arch, variant)) = match parts.as_slice() {
        [one] => {
            let os = normalize_os(one);
            if KNOWN_OS.contains(&os.as_str()) {
                (os, (host.architecture, host.variant))
            } else {
                (host.os, normalize_arch(one, None))
            }
        }
        [os, arch] => (normalize_os(os), normalize_arch(arch, None)),
        [os, arch, variant] => (normalize_os(os), normalize_arch(arch, Some(variant))),
        _ => {
            return Err(PlatformError::TooManyParts {
                specifier: specifier.to_string(),
            })
        }
    };
    if !KNOWN_OS.contains(&os.as_str()) || !KNOWN_ARCH.contains(&arch.as_str()) {
        return Err(unknown());
    }
    Ok(Platform {
        os,
        architecture: arch,
        variant,
        os_version: None,
        os_features: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).to_string()
    }

    #[test]
    fn known_platforms_and_aliases() {
        assert_eq!(ok("linux/amd64"), "linux/amd64");
        assert_eq!(ok("linux/arm64/v8"), "linux/arm64/v8");
        assert_eq!(ok("Linux/X86_64"), "linux/amd64");
        assert_eq!(ok("linux/aarch64"), "linux/arm64");
        assert_eq!(ok("linux/armhf"), "linux/arm/v7");
        assert_eq!(ok("windows/amd64"), "windows/amd64");
        assert_eq!(ok("s390x"), format!("{}/s390x", Platform::host().os));
        assert_eq!(ok("linux"), Platform::host().to_string());
    }

    #[test]
    fn normalising_and_matching() {
        let p = |s: &str| parse(s).unwrap();
        assert_eq!(p("linux/arm64/v8").normalized(), p("linux/arm64"));
        assert_eq!(p("linux/arm").normalized(), p("linux/arm/v7"));
        assert!(p("linux/arm/v6").satisfies(&p("linux/arm/v7")));
        assert!(!p("linux/arm/v7").satisfies(&p("linux/arm/v6")));
        assert!(p("linux/arm64").satisfies(&p("linux/arm64/v8")));
        assert!(!p("linux/amd64").satisfies(&p("linux/arm64")));
        let cands = [p("linux/arm/v6"), p("linux/arm/v7"), p("linux/amd64")];
        assert_eq!(Platform::best_match(&cands, &p("linux/arm/v7")), Some(1));
        assert_eq!(Platform::best_match(&cands, &p("linux/arm/v8")), Some(1));
        assert_eq!(Platform::best_match(&cands, &p("linux/arm64")), None);
    }

    #[test]
    fn unknown_platforms_are_refused_in_containerds_words() {
        for s in ["xx/yy", "linux/notanarch", "notanos/amd64", "xx"] {
            assert_eq!(
                parse(s).unwrap_err().to_string(),
                format!("{s:?}: unknown operating system or architecture: invalid argument")
            );
        }
        assert_eq!(
            parse("linux/amd64/v1/x").unwrap_err().to_string(),
            "\"linux/amd64/v1/x\": cannot parse platform specifier: invalid argument"
        );
        assert!(matches!(
            parse("linux/am d64"),
            Err(PlatformError::BadComponent { .. })
        ));
        assert!(matches!(
            parse("linux/"),
            Err(PlatformError::BadComponent { .. })
        ));
    }
}
