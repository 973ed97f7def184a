//! `kiln build --output type=…,dest=…`: where a build's image goes besides the local store.

use anyhow::{anyhow, bail};
use kiln_builder::save::{save, save_oci_dir, SaveFormat};
use kiln_builder::Kiln;
use std::path::PathBuf;

/// A parsed `--output` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// Where the image goes besides the local store.
    pub kind: OutputKind,
    /// `name=`: names for the image, as `-t` gives (and inside a docker or OCI archive).
    pub names: Vec<String>,
    /// `push=true` (or `type=registry`): push every name to its registry after the build.
    pub push: bool,
    /// `push-by-digest=true`: push to each name's repository without a tag and print the
    /// digest (for `kiln manifest create` to merge several builds' images).
    pub push_by_digest: bool,
}

/// The exporter of an `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// The local store only (the default; `type=image`).
    Image,
    /// An OCI layout: a tar file, or a directory with `tar=false`.
    Oci { dest: PathBuf, tar: bool },
    /// A `docker load` archive.
    Docker { dest: PathBuf },
}

/// The keys each type takes, as BuildKit's exporters name them (those kiln honours).
fn valid_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "image" | "registry" => &[
            "type",
            "name",
            "push",
            "push-by-digest",
            "compression",
            "oci-mediatypes",
        ],
        "oci" => &[
            "type",
            "dest",
            "tar",
            "name",
            "compression",
            "oci-mediatypes",
        ],
        _ => &["type", "dest", "name", "compression"],
    }
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

/// Parse docker's CSV form `type=oci,dest=out.tar`. Every key BuildKit's exporter knows and
/// kiln does not honour is refused by name, never ignored.
pub fn parse(s: &str) -> anyhow::Result<OutputSpec> {
    let mut fields = Vec::new();
    for field in csv_fields(s) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --output {s:?}: expected type=TYPE,KEY=VALUE,..."))?;
        fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    let kind = fields
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| anyhow!("invalid --output {s:?}: type= is required"))?;
    match kind.as_str() {
        "image" | "registry" | "oci" | "docker" => {}
        t @ ("local" | "tar") => bail!(
            "--output type={t} is not supported yet (valid types: image, registry, oci, docker)"
        ),
        t => bail!(
            "invalid --output {s:?}: unknown type {t:?} (valid types: image, registry, oci, docker)"
        ),
    }
    let valid = valid_keys(&kind);
    let flag = |k: &str, v: &str| {
        crate::flags::parse_go_bool(v)
            .ok_or_else(|| anyhow!("invalid --output {s:?}: {k}={v:?} is not a boolean"))
    };
    // BuildKit: type=registry is type=image with push=true.
    let (mut dest, mut tar, mut names, mut push) = (None, true, Vec::new(), kind == "registry");
    let mut push_by_digest = false;
    for (k, v) in &fields {
        if !valid.contains(&k.as_str()) {
            bail!(
                "invalid --output {s:?}: type={kind} has no key {k:?} (valid keys: {})",
                valid.join(", ")
            );
        }
        match k.as_str() {
            "dest" => dest = Some(PathBuf::from(v)),
            "tar" => tar = flag(k, v)?,
            "name" => names.extend(v.split(',').filter(|n| !n.is_empty()).map(String::from)),
            "push" => push = flag(k, v)?,
            "push-by-digest" => push_by_digest = flag(k, v)?,
            "compression" if v != "gzip" => {
                bail!("--output {s:?}: compression={v}: kiln writes gzip layers only")
            }
            "oci-mediatypes" if !flag(k, v)? => {
                bail!("--output {s:?}: oci-mediatypes=false: kiln writes OCI media types only")
            }
            _ => {}
        }
    }
    let need_dest = |dest: Option<PathBuf>| {
        dest.ok_or_else(|| anyhow!("invalid --output {s:?}: dest=PATH is required"))
    };
    let kind = match kind.as_str() {
        "oci" => OutputKind::Oci {
            dest: need_dest(dest)?,
            tar,
        },
        "docker" => OutputKind::Docker {
            dest: need_dest(dest)?,
        },
        _ => OutputKind::Image,
    };
    Ok(OutputSpec {
        kind,
        names,
        push: push && !push_by_digest,
        push_by_digest: push && push_by_digest,
    })
}

/// Write the built image `manifest_digest` where `spec` says (by its `name=`s, which the
/// build has given it, or by digest).
pub fn write(kiln: &Kiln, spec: &OutputSpec, manifest_digest: &str) -> anyhow::Result<()> {
    let names: Vec<&str> = if spec.names.is_empty() {
        vec![manifest_digest]
    } else {
        spec.names.iter().map(String::as_str).collect()
    };
    let to_file = |dest: &PathBuf, format: SaveFormat| -> anyhow::Result<()> {
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| anyhow!("--output {}: {e}", dest.display()))?;
        save(&kiln.images, &names, tmp.as_file_mut(), format)?;
        tmp.persist(dest)
            .map_err(|e| anyhow!("--output {}: {e}", dest.display()))?;
        Ok(())
    };
    match &spec.kind {
        OutputKind::Image => Ok(()),
        OutputKind::Oci { dest, tar: true } => to_file(dest, SaveFormat::OciLayout),
        OutputKind::Oci { dest, tar: false } => Ok(save_oci_dir(&kiln.images, &names, dest)?),
        OutputKind::Docker { dest } => to_file(dest, SaveFormat::DockerArchive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> OutputKind {
        parse(s).unwrap().kind
    }

    #[test]
    fn parses_docker_forms() {
        assert_eq!(
            kind("type=oci,dest=a.tar"),
            OutputKind::Oci {
                dest: "a.tar".into(),
                tar: true
            }
        );
        assert_eq!(
            kind("type=oci,dest=d,tar=false"),
            OutputKind::Oci {
                dest: "d".into(),
                tar: false
            }
        );
        assert_eq!(
            kind("type=docker,dest=x.tar"),
            OutputKind::Docker {
                dest: "x.tar".into()
            }
        );
        assert_eq!(kind("type=image"), OutputKind::Image);
        assert_eq!(
            parse("type=image,\"name=a:1,b:2\",push=false")
                .unwrap()
                .names,
            ["a:1", "b:2"]
        );
        assert!(parse("type=oci").unwrap_err().to_string().contains("dest"));
        assert!(parse("nonsense").is_err());
    }

    #[test]
    fn refuses_what_it_does_not_honour_by_name() {
        let err = |s: &str| parse(s).unwrap_err().to_string();
        assert!(parse("type=image,name=x,push=true").unwrap().push);
        assert!(parse("type=registry,name=x").unwrap().push);
        assert!(!parse("type=registry,name=x,push=false").unwrap().push);
        assert!(!parse("type=image,name=x").unwrap().push);
        let e = err("type=image,bogus=1");
        assert!(
            e.contains("\"bogus\"") && e.contains("valid keys: type, name, push"),
            "{e}"
        );
        let e = err("type=bogus,dest=x");
        assert!(
            e.contains("\"bogus\"") && e.contains("valid types: image, registry, oci, docker"),
            "{e}"
        );
        assert!(err("type=docker,dest=x,tar=false").contains("\"tar\""));
        assert!(err("type=image,compression=zstd").contains("compression=zstd"));
    }
}
