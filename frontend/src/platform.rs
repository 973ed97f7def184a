//! Parsing platform specifiers (`os[/arch[/variant]]`, `arch`) as containerd's `platforms.Parse`
//! reads them for BuildKit, and refusing what names no known operating system or architecture
//! (containerd lets an unknown `os/arch` pair through and BuildKit then fails later, or builds
//! for a platform that does not exist; kiln says so at once, in containerd's words).

use crate::image::Platform;

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
pub fn parse(specifier: &str) -> Result<Platform, PlatformError> {
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
