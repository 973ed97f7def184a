//! `kiln import`, `kiln load`, `kiln save`.

use anyhow::{anyhow, bail};
use kiln_builder::store::Reference;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A root filesystem: a tar (plain or gzip) or a directory; `-` reads a tar from stdin
    source: PathBuf,
    /// Name for the image (NAME[:TAG])
    reference: Option<String>,
    /// Set platform if server is multi-platform capable: the image's platform (default: this
    /// machine's); a name that holds images of other platforms keeps them, in an index
    #[arg(long)]
    platform: Option<String>,
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format: docker (docker load) or oci (OCI image layout)
    #[arg(long, default_value = "docker")]
    format: String,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn import(root: &Path, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let reference = a
        .reference
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(|e| anyhow!("{e}"))?;
    let source = if a.source.as_os_str() == "-" {
        // Spool stdin to a temporary file: import reads the tar twice (digest, then store).
        let mut tmp = tempfile::NamedTempFile::new_in(kiln.tmp_dir())?;
        std::io::copy(&mut std::io::stdin().lock(), &mut tmp)?;
        let (_, p) = tmp.keep()?;
        p
    } else {
        if !a.source.exists() {
            bail!(
                "import source {}: no such file or directory",
                a.source.display()
            );
        }
        a.source.clone()
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.is_empty() => Some(
            s.parse::<i64>()
                .map_err(|_| anyhow!("invalid SOURCE_DATE_EPOCH {s:?}: expected seconds"))?,
        ),
        _ => None,
    };
    let platform = a
        .platform
        .as_deref()
        .map(kiln_builder::oci::Platform::parse)
        .transpose()
        .map_err(|e| anyhow!(e))?
        .map(|p| p.normalized());
    let opts = kiln_builder::import::ImportOptions {
        epoch,
        platform,
        ..Default::default()
    };
    let result =
        kiln_builder::import::import_rootfs_with(&kiln.images, &source, reference.as_ref(), &opts);
    if a.source.as_os_str() == "-" {
        let _ = std::fs::remove_file(&source);
    }
    let digest = result?;
    let rec = kiln
        .images
        .resolve(&digest)?
        .ok_or_else(|| anyhow!("imported image {digest} vanished"))?;
    println!("{}", rec.id);
    Ok(ExitCode::SUCCESS)
}

pub fn load(root: &Path, a: LoadArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let loaded = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| anyhow!("open {}: {e}", p.display()))?;
            kiln_builder::load::load(&kiln.images, f)?
        }
        None => kiln_builder::load::load(&kiln.images, std::io::stdin().lock())?,
    };
    if !a.quiet {
        for line in loaded {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn save(root: &Path, a: SaveArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let format = match a.format.as_str() {
        "docker" => kiln_builder::save::SaveFormat::DockerArchive,
        "oci" => kiln_builder::save::SaveFormat::OciLayout,
        other => bail!("unknown --format {other:?}: expected docker or oci"),
    };
    let refs: Vec<String> = a.images.clone();
    match &a.output {
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            kiln_builder::save::save(&kiln.images, &refs, tmp.as_file_mut(), format)?;
            tmp.persist(p)
                .map_err(|e| anyhow!("write {}: {e}", p.display()))?;
        }
        None => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            kiln_builder::save::save(&kiln.images, &refs, &mut std::io::stdout().lock(), format)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
