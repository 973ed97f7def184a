//! `--output` values as buildx spells them: `type=oci,dest=out.tar,compression=zstd`, and the
//! shorthands `-o DIR` (`type=local,dest=DIR`) and `-o -` (`type=tar,dest=-`). A key or type
//! kiln does not know is refused by name with the valid ones listed, never ignored.

use std::path::PathBuf;

use kiln_snapshot::Compression;

use super::convert::{LayerOptions, MediaTypes};
use super::error::ExportError;

/// Where a file export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// `dest=-`: standard output.
    Stdout,
    /// A file (or, for `type=local` and `type=oci,tar=false`, a directory).
    Path(PathBuf),
}

/// The exporter an `--output` chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// The local store (the default; `type=image`, `type=registry` with `push`).
    Image,
    /// An OCI image layout: a tar, or a directory with `tar=false`.
    Oci { dest: Dest, tar: bool },
    /// A `docker load` archive.
    Docker { dest: Dest },
    /// The final filesystem, written into a directory.
    Local { dest: PathBuf },
    /// The final filesystem as a tar.
    Tar { dest: Dest },
}

/// A parsed `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub kind: OutputKind,
    /// `name=`: names for the image, as `-t` gives (and inside a docker or OCI archive).
    pub names: Vec<String>,
    /// `push=true` (or `type=registry`): push every name to its registry.
    pub push: bool,
    /// `push-by-digest=true`: push to each name's repository without a tag (for `kiln
    /// manifest create` to merge several builds' images into one index).
    pub push_by_digest: bool,
    /// How layers are compressed where the image leaves the machine.
    pub layers: LayerOptions,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            kind: OutputKind::Image,
            names: Vec::new(),
            push: false,
            push_by_digest: false,
            layers: LayerOptions::default(),
        }
    }
}

/// The types kiln exports to.
pub const VALID_TYPES: &str = "image, registry, oci, docker, local, tar";

const LAYER_KEYS: [&str; 4] = [
    "compression",
    "compression-level",
    "force-compression",
    "oci-mediatypes",
];

fn valid_keys(kind: &str) -> Vec<&'static str> {
    let mut keys = vec!["type"];
    match kind {
        "image" | "registry" => keys.extend(["name", "push", "push-by-digest"]),
        "oci" => keys.extend(["dest", "tar", "name"]),
        "docker" => keys.extend(["dest", "name"]),
        _ => keys.push("dest"),
    }
    if matches!(kind, "image" | "registry" | "oci" | "docker") {
        keys.extend(LAYER_KEYS);
    }
    keys
}

/// docker's CSV: fields split on commas outside double quotes (`"name=a,b"`), quotes removed.
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parse one `--output` value.
pub fn parse_output(s: &str) -> Result<OutputSpec, ExportError> {
    let bad = |reason: String| ExportError::Spec {
        spec: s.to_string(),
        reason,
    };
    if !s.contains('=') {
        // buildx: a bare value is a destination.
        return Ok(OutputSpec {
            kind: match s {
                "" => return Err(bad("expected type=TYPE,KEY=VALUE,... or a path".into())),
                "-" => OutputKind::Tar { dest: Dest::Stdout },
                dir => OutputKind::Local { dest: dir.into() },
            },
            ..OutputSpec::default()
        });
    }
    let mut fields = Vec::new();
    for field in csv_fields(s) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| bad(format!("{field:?} is not KEY=VALUE")))?;
        fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    let kind = fields
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| bad("type= is required".into()))?;
    if !VALID_TYPES.split(", ").any(|t| t == kind) {
        return Err(bad(format!(
            "unknown type {kind:?} (valid types: {VALID_TYPES})"
        )));
    }
    let valid = valid_keys(&kind);
    let flag =
        |k: &str, v: &str| parse_bool(v).ok_or_else(|| bad(format!("{k}={v:?} is not a boolean")));
    let mut spec = OutputSpec {
        push: kind == "registry",
        ..OutputSpec::default()
    };
    let (mut dest, mut tar, mut oci_types) = (None, true, None);
    for (k, v) in &fields {
        if !valid.contains(&k.as_str()) {
            return Err(bad(format!(
                "type={kind} has no key {k:?} (valid keys: {})",
                valid.join(", ")
            )));
        }
        match k.as_str() {
            "dest" => dest = Some(v.clone()),
            "tar" => tar = flag(k, v)?,
            "name" => spec
                .names
                .extend(v.split(',').filter(|n| !n.is_empty()).map(String::from)),
            "push" => spec.push = flag(k, v)?,
            "push-by-digest" => spec.push_by_digest = flag(k, v)?,
            "compression" => {
                spec.layers.compression = Compression::parse(v).ok_or_else(|| {
                    bad(format!(
                        "compression={v:?} (valid: gzip, zstd, uncompressed)"
                    ))
                })?
            }
            "compression-level" => {
                spec.layers.level = Some(
                    v.parse()
                        .map_err(|_| bad(format!("compression-level={v:?} is not a number")))?,
                )
            }
            "force-compression" => spec.layers.force = flag(k, v)?,
            "oci-mediatypes" => oci_types = Some(flag(k, v)?),
            _ => {}
        }
    }
    // buildx: push-by-digest changes how a push goes; without one it does nothing.
    spec.push_by_digest &= spec.push;
    let level_ok = kiln_snapshot::Target {
        compression: spec.layers.compression,
        level: spec.layers.level,
    }
    .validate();
    if let Err(e) = level_ok {
        return Err(bad(e.to_string()));
    }
    spec.layers.media_types = match (oci_types, kind.as_str()) {
        (Some(true), _) | (None, "oci") => MediaTypes::Oci,
        (Some(false), _) | (None, "docker") => MediaTypes::Docker,
        (None, _) => MediaTypes::Keep,
    };
    let need_dest = |dest: Option<String>| {
        dest.filter(|d| !d.is_empty())
            .ok_or_else(|| bad("dest=PATH is required".into()))
    };
    let file_dest = |d: String| {
        if d == "-" {
            Dest::Stdout
        } else {
            Dest::Path(d.into())
        }
    };
    spec.kind = match kind.as_str() {
        "oci" => {
            let d = file_dest(need_dest(dest)?);
            if !tar && d == Dest::Stdout {
                return Err(bad("tar=false needs a directory as dest, not -".into()));
            }
            OutputKind::Oci { dest: d, tar }
        }
        "docker" => OutputKind::Docker {
            dest: file_dest(need_dest(dest)?),
        },
        "local" => match need_dest(dest)? {
            d if d == "-" => return Err(bad("type=local needs a directory as dest".into())),
            d => OutputKind::Local { dest: d.into() },
        },
        "tar" => OutputKind::Tar {
            dest: file_dest(need_dest(dest)?),
        },
        _ => OutputKind::Image,
    };
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> OutputKind {
        parse_output(s).unwrap().kind
    }

    fn err(s: &str) -> String {
        parse_output(s).unwrap_err().to_string()
    }

    #[test]
    fn parses_buildx_forms_and_shorthands() {
        assert_eq!(
            kind("type=oci,dest=a.tar"),
            OutputKind::Oci {
                dest: Dest::Path("a.tar".into()),
                tar: true
            }
        );
        assert_eq!(
            kind("type=oci,dest=d,tar=false"),
            OutputKind::Oci {
                dest: Dest::Path("d".into()),
                tar: false
            }
        );
        assert_eq!(
            kind("type=docker,dest=-"),
            OutputKind::Docker { dest: Dest::Stdout }
        );
        assert_eq!(kind("out"), OutputKind::Local { dest: "out".into() });
        assert_eq!(kind("-"), OutputKind::Tar { dest: Dest::Stdout });
        assert_eq!(
            kind("type=local,dest=x"),
            OutputKind::Local { dest: "x".into() }
        );
        assert_eq!(
            kind("type=tar,dest=f.tar"),
            OutputKind::Tar {
                dest: Dest::Path("f.tar".into())
            }
        );
        assert_eq!(
            parse_output("type=image,\"name=a:1,b:2\",push=false")
                .unwrap()
                .names,
            ["a:1", "b:2"]
        );
        let s = parse_output(
            "type=oci,dest=a,compression=zstd,compression-level=9,force-compression=true",
        )
        .unwrap();
        assert_eq!(s.layers.compression, Compression::Zstd);
        assert_eq!(s.layers.level, Some(9));
        assert!(s.layers.force);
        assert_eq!(s.layers.media_types, MediaTypes::Oci);
        let s = parse_output("type=image,oci-mediatypes=false").unwrap();
        assert_eq!(s.layers.media_types, MediaTypes::Docker);
        assert_eq!(
            parse_output("type=image").unwrap().layers.media_types,
            MediaTypes::Keep
        );
    }

    #[test]
    fn refuses_what_it_does_not_know_by_name() {
        assert!(parse_output("type=image,name=x,push=true").unwrap().push);
        assert!(parse_output("type=registry,name=x").unwrap().push);
        assert!(
            !parse_output("type=registry,name=x,push=false")
                .unwrap()
                .push
        );
        let e = err("type=image,bogus=1");
        assert!(
            e.contains("\"bogus\"") && e.contains("valid keys: type, name, push"),
            "{e}"
        );
        let e = err("type=bogus,dest=x");
        assert!(e.contains("\"bogus\"") && e.contains(VALID_TYPES), "{e}");
        assert!(err("type=docker,dest=x,tar=false").contains("\"tar\""));
        assert!(err("type=local,dest=x,compression=gzip").contains("\"compression\""));
        assert!(err("type=image,compression=lz4").contains("gzip, zstd, uncompressed"));
        assert!(err("type=image,compression=gzip,compression-level=12").contains("0-9"));
        assert!(err("type=oci").contains("dest"));
        assert!(err("type=tar").contains("dest"));
        assert!(err("type=image,push=maybe").contains("not a boolean"));
    }
}
