//! `kiln images`, `tag`, `rmi`, `inspect`, `history`.

use crate::format::{
    ellipsis, go_time, human_age, human_size, human_size_precision, short_id, ListFormat, Template,
};
use anyhow::{anyhow, bail};
use kiln_builder::store::{ImageRecord, Reference};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Show all images (kiln keeps no intermediate images: same as the default)
    #[arg(short, long)]
    all: bool,
    /// Pretty-print images using a Go template ("table …", "{{json .}}")
    #[arg(long)]
    format: Option<String>,
    /// List multi-platform images as a tree, one branch per platform
    #[arg(long)]
    tree: bool,
    /// Only images of this repository[:tag]
    repository: Option<String>,
}

#[derive(clap::Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

#[derive(clap::Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
    /// Inspect a specific platform of a multi-platform image
    #[arg(long)]
    platform: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::flags::GoBool,
          action = clap::ArgAction::Set)]
    human: bool,
    /// Pretty-print history using a Go template ("table …", "{{json .}}")
    #[arg(long)]
    format: Option<String>,
    image: String,
}

pub fn images(root: &Path, a: ImagesArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let filter = a
        .repository
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(|e| anyhow!("{e}"))?;
    let explicit_tag = a
        .repository
        .as_deref()
        .map(|r| r.rsplit('/').next().unwrap_or(r).contains(':'))
        .unwrap_or(false);
    // (repository, tag, id, digest, created, size: None for a broken image)
    type Row = (String, String, String, String, Option<String>, Option<u64>);
    let mut rows: Vec<Row> = Vec::new();
    let list = kiln.images.list()?;
    if a.tree {
        print!("{}", super::multiplatform::image_tree(&list, a.no_trunc));
        return Ok(ExitCode::SUCCESS);
    }
    for img in list {
        let id = if a.no_trunc {
            img.id.clone()
        } else {
            short_id(&img.id)
        };
        let size = img.broken.is_none().then_some(img.size);
        if let Some(why) = &img.broken {
            let name = img
                .tags
                .first()
                .map(|t| t.familiar_string())
                .unwrap_or_else(|| short_id(&img.id));
            crate::diag::warning(format_args!(
                "image {name} ({}) is broken: {why}; `kiln rmi {name}` removes it, `kiln system check --repair` repairs the store",
                short_id(&img.id)
            ));
        }
        if img.tags.is_empty() {
            if filter.is_none() {
                rows.push((
                    "<none>".into(),
                    "<none>".into(),
                    id,
                    img.manifest_digest.clone(),
                    img.created.clone(),
                    size,
                ));
            }
            continue;
        }
        for t in &img.tags {
            if let Some(f) = &filter {
                if f.name() != t.name() || (explicit_tag && f.tag != t.tag) {
                    continue;
                }
            }
            let tag = t.tag.clone().unwrap_or_else(|| "<none>".into());
            rows.push((
                t.familiar(),
                tag,
                id.clone(),
                img.manifest_digest.clone(),
                img.created.clone(),
                size,
            ));
        }
    }
    rows.sort_by(|x, y| y.4.cmp(&x.4).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1)));
    if a.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for r in &rows {
            if seen.insert(r.2.clone()) {
                println!("{}", r.2);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = ListFormat::new(a.format.as_deref(), default)?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(repo, tag, id, digest, created, size)| {
            let (size, virtual_size) = match size {
                Some(n) => (human_size(n), human_size_precision(n, 4)),
                None => ("<broken>".to_string(), "<broken>".to_string()),
            };
            json!({
                "Containers": "N/A",
                "CreatedAt": go_time(created.as_deref()),
                "CreatedSince": human_age(created.as_deref()),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": virtual_size,
            })
        })
        .collect();
    print!("{}", format.render(&rows, IMAGES_HEADERS)?);
    Ok(ExitCode::SUCCESS)
}

/// The column names of `kiln images` (docker's).
const IMAGES_HEADERS: &[(&str, &str)] = &[
    ("Containers", "CONTAINERS"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("SharedSize", "SHARED SIZE"),
    ("Size", "SIZE"),
    ("Tag", "TAG"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// The column names of `kiln history` (docker's).
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("Comment", "COMMENT"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("CreatedSince", "CREATED"),
    ("ID", "IMAGE"),
    ("Size", "SIZE"),
];

pub fn tag(root: &Path, a: TagArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let target = Reference::parse(&a.target).map_err(|e| anyhow!("{e}"))?;
    if target.digest.is_some() {
        bail!(
            "refusing to create a tag with a digest reference: {}",
            a.target
        );
    }
    // An index is tagged as a whole.
    let digest = match kiln.images.lookup(&a.source)? {
        Some(kiln_builder::store::Target::Index(i)) => i.digest,
        Some(kiln_builder::store::Target::Image(rec)) => rec.manifest_digest,
        None => bail!("No such image: {}", a.source),
    };
    kiln.images.tag(&target, &digest)?;
    Ok(ExitCode::SUCCESS)
}

pub fn rmi(root: &Path, a: RmiArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let mut failed = false;
    for name in &a.images {
        match kiln_builder::run::remove_image(&kiln, name, a.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                crate::diag::line(format_args!("Error response: {e}"));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn find(kiln: &kiln_builder::Kiln, name: &str) -> anyhow::Result<ImageRecord> {
    kiln.images
        .resolve(name)?
        .ok_or_else(|| anyhow!("No such image: {name}"))
}

/// The JSON `docker image inspect` prints for an image.
pub fn inspect_json(rec: &ImageRecord) -> Value {
    let c = &rec.config;
    // Uncompressed, as docker counts.
    let size: u64 = rec.layer_sizes.iter().sum();
    json!({
        "Id": rec.id,
        "RepoTags": rec.tags.iter().filter(|t| t.tag.is_some()).map(|t| t.familiar_string()).collect::<Vec<_>>(),
        // The `repository@digest` names a registry gave it (pulled or pushed), as docker records.
        "RepoDigests": rec.repo_digests.iter().map(|r| r.familiar_string()).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": c.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": c.created.clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": c.author.clone().unwrap_or_default(),
        "Config": serde_json::to_value(&c.config).unwrap_or(Value::Null),
        "Architecture": c.architecture,
        "Variant": c.variant,
        "Os": c.os,
        "Size": size,
        "RootFS": { "Type": c.rootfs.kind, "Layers": c.rootfs.diff_ids },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
        "Descriptor": { "mediaType": rec.manifest.media_type(), "digest": rec.manifest_digest },
    })
}

/// What an inspect template sees: the image's JSON, with `Config` in the shape of docker's
/// (every field docker always writes is there, `null`, `""` or `false` when unset), so that
/// `{{.Config.Cmd}}` works on an image without a CMD as it does in docker.
fn template_data(v: &Value) -> Value {
    let mut v = v.clone();
    let Some(Value::Object(m)) = v.get_mut("Config") else {
        return v;
    };
    for key in ["Hostname", "Domainname", "User", "Image", "WorkingDir"] {
        m.entry(key).or_insert(Value::String(String::new()));
    }
    for key in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
    ] {
        m.entry(key).or_insert(Value::Bool(false));
    }
    for key in ["Env", "Cmd", "Volumes", "Entrypoint", "OnBuild", "Labels"] {
        m.entry(key).or_insert(Value::Null);
    }
    v
}

pub fn inspect(root: &Path, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let mut out = Vec::new();
    let mut failed = false;
    let platform = a
        .platform
        .as_deref()
        .map(kiln_builder::oci::Platform::parse)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    for name in &a.images {
        match kiln.images.resolve_platform(name, platform.as_ref())? {
            Some(rec) => out.push(inspect_json(&rec)),
            None => {
                crate::diag::line(format_args!("Error: No such image: {name}"));
                failed = true;
            }
        }
    }
    match &a.format {
        Some(tpl) => {
            let tpl = Template::parse(tpl)?;
            for v in &out {
                println!("{}", tpl.render(&template_data(v))?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&Value::Array(out))?),
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn history(root: &Path, a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let rec = find(&kiln, &a.image)?;
    let mut layer_sizes = rec.layer_sizes.iter().copied();
    let mut rows = Vec::new();
    for h in &rec.config.history {
        let size = if h.empty_layer == Some(true) {
            0
        } else {
            layer_sizes.next().unwrap_or(0)
        };
        rows.push((
            h.created.clone(),
            h.created_by.clone().unwrap_or_default(),
            size,
            h.comment.clone().unwrap_or_default(),
        ));
    }
    rows.reverse();
    let id = if a.no_trunc {
        rec.id.clone()
    } else {
        short_id(&rec.id)
    };
    if a.quiet {
        println!("{id}");
        for _ in 1..rows.len() {
            println!("<missing>");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let format = ListFormat::new(
        a.format.as_deref(),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    )?;
    let rows: Vec<Value> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (created, by, size, comment))| {
            let by = by.replace(['\n', '\t'], " ");
            let by = if a.no_trunc { by } else { ellipsis(&by, 45) };
            let created_at = created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| {
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .unwrap_or_default();
            let (since, size) = if a.human {
                (human_age(created.as_deref()), human_size(size))
            } else {
                (created_at.clone(), size.to_string())
            };
            json!({
                "Comment": comment,
                "CreatedAt": created_at,
                "CreatedBy": by,
                "CreatedSince": since,
                "ID": if i == 0 { id.clone() } else { "<missing>".to_string() },
                "Size": size,
            })
        })
        .collect();
    print!("{}", format.render(&rows, HISTORY_HEADERS)?);
    Ok(ExitCode::SUCCESS)
}
