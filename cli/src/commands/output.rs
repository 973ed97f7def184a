//! `kiln build --output type=…,dest=…`: where a build's image goes besides the local store.

use anyhow::{anyhow, bail};
use kiln_builder::save::{save, save_oci_dir, SaveFormat};
use kiln_builder::Kiln;
use std::path::PathBuf;

/// A parsed `--output` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The local store only (the default; `type=image`).
    Image,
    /// An OCI layout: a tar file, or a directory with `tar=false`.
    Oci { dest: PathBuf, tar: bool },
    /// A `docker load` archive.
    Docker { dest: PathBuf },
}

/// Parse docker's CSV form `type=oci,dest=out.tar`, or a bare path (a local directory, which
/// kiln does not export yet).
pub fn parse(s: &str) -> anyhow::Result<OutputSpec> {
    let mut kind = None;
    let mut dest = None;
    let mut tar = true;
    for field in s.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --output {s:?}: expected type=TYPE,dest=PATH"))?;
        match k.trim() {
            "type" => kind = Some(v.trim().to_string()),
            "dest" => dest = Some(PathBuf::from(v.trim())),
            "tar" => tar = v.trim() != "false",
            "name" | "push" | "compression" | "oci-mediatypes" => {}
            other => bail!("invalid --output {s:?}: unknown key {other:?}"),
        }
    }
    let need_dest = |dest: Option<PathBuf>| {
        dest.ok_or_else(|| anyhow!("invalid --output {s:?}: dest=PATH is required"))
    };
    match kind.as_deref() {
        Some("image") | None if dest.is_none() => Ok(OutputSpec::Image),
        Some("oci") => Ok(OutputSpec::Oci {
            dest: need_dest(dest)?,
            tar,
        }),
        Some("docker") => Ok(OutputSpec::Docker {
            dest: need_dest(dest)?,
        }),
        Some(t @ ("local" | "tar" | "registry")) => {
            bail!("--output type={t} is not supported yet (use oci, docker or image)")
        }
        Some(t) => {
            bail!("invalid --output {s:?}: unknown type {t:?} (expected image, oci or docker)")
        }
        None => bail!("invalid --output {s:?}: type= is required"),
    }
}

/// Write the built image `manifest_digest` where `spec` says.
pub fn write(kiln: &Kiln, spec: &OutputSpec, manifest_digest: &str) -> anyhow::Result<()> {
    let names = [manifest_digest];
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
    match spec {
        OutputSpec::Image => Ok(()),
        OutputSpec::Oci { dest, tar: true } => to_file(dest, SaveFormat::OciLayout),
        OutputSpec::Oci { dest, tar: false } => Ok(save_oci_dir(&kiln.images, &names, dest)?),
        OutputSpec::Docker { dest } => to_file(dest, SaveFormat::DockerArchive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_forms() {
        assert_eq!(
            parse("type=oci,dest=a.tar").unwrap(),
            OutputSpec::Oci {
                dest: "a.tar".into(),
                tar: true
            }
        );
        assert_eq!(
            parse("type=oci,dest=d,tar=false").unwrap(),
            OutputSpec::Oci {
                dest: "d".into(),
                tar: false
            }
        );
        assert_eq!(
            parse("type=docker,dest=x.tar").unwrap(),
            OutputSpec::Docker {
                dest: "x.tar".into()
            }
        );
        assert_eq!(parse("type=image").unwrap(), OutputSpec::Image);
        assert!(parse("type=oci").unwrap_err().to_string().contains("dest"));
        assert!(parse("type=bogus,dest=x").is_err());
        assert!(parse("nonsense").is_err());
    }
}
