//! `kiln manifest create|inspect` and `kiln imagetools create`: multi-platform images made
//! across machines (each pushes its platform with `--output
//! type=registry,name=REPO,push-by-digest=true`), merged into one index in the registry.

use anyhow::{anyhow, bail};
use kiln_builder::manifest_list;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ManifestCommand {
    /// Create a manifest list (an OCI index) in the registry from images already there
    Create(CreateArgs),
    /// Display an image manifest, or manifest list
    Inspect(InspectArgs),
}

#[derive(clap::Subcommand)]
pub enum ImagetoolsCommand {
    /// Create a new image based on source images (an index of them, in the registry)
    Create(ImagetoolsCreateArgs),
    /// Show details of an image in the registry
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The index to make: NAME[:TAG]
    name: String,
    /// Its images: digests (`sha256:…`) or references in NAME's repository
    #[arg(required = true)]
    sources: Vec<String>,
}

#[derive(clap::Args)]
pub struct ImagetoolsCreateArgs {
    /// Set reference for new image
    #[arg(short = 't', long = "tag", required = true)]
    tags: Vec<String>,
    /// Source images: digests (`sha256:…`) or references in the tag's repository
    #[arg(required = true)]
    sources: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The image: NAME[:TAG] or NAME@DIGEST
    name: String,
    /// Allow communication with an insecure registry (kiln reads that from kiln.toml)
    #[arg(long)]
    insecure: bool,
}

pub fn manifest(c: ManifestCommand) -> anyhow::Result<ExitCode> {
    match c {
        ManifestCommand::Create(a) => create(&a.name, &a.sources),
        ManifestCommand::Inspect(a) => inspect(&a.name),
    }
}

pub fn imagetools(c: ImagetoolsCommand) -> anyhow::Result<ExitCode> {
    match c {
        ImagetoolsCommand::Create(a) => {
            for t in &a.tags {
                create(t, &a.sources)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ImagetoolsCommand::Inspect(a) => inspect(&a.name),
    }
}

fn create(name: &str, sources: &[String]) -> anyhow::Result<ExitCode> {
    let target = super::registry::parse_ref(name)?;
    if target.digest.is_some() {
        bail!("{name}: the index is named by a tag, not a digest");
    }
    let client = kiln_builder::registry::client()?;
    let (digest, _) = manifest_list::create(&client, &target, sources)?;
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

fn inspect(name: &str) -> anyhow::Result<ExitCode> {
    let r = super::registry::parse_ref(name)?;
    let client = kiln_builder::registry::client()?;
    let fetched = manifest_list::inspect(&client, &r)?;
    // As docker 20.10: an image manifest is the registry's bytes indented with tabs, an
    // index is re-encoded (Go's field order) and indented with three spaces.
    let text = match &fetched.kind {
        kiln_builder::oci::ManifestKind::Image(_) => indent_json(&fetched.bytes, "\t")?,
        kind => indent_json(docker_shape(kind)?.as_bytes(), "   ")?,
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The document as docker's `manifest inspect` re-encodes it (Go's field order: a
/// descriptor's `mediaType`, `size`, `digest`, …; an index entry's `platform` with
/// `architecture` before `os`), compact.
fn docker_shape(kind: &kiln_builder::oci::ManifestKind) -> anyhow::Result<String> {
    use kiln_builder::oci::{Descriptor, ManifestKind};
    use serde_json::to_string as q;
    let desc = |d: &Descriptor, platform: bool| -> anyhow::Result<String> {
        let mut f = vec![
            format!("\"mediaType\":{}", q(&d.media_type)?),
            format!("\"size\":{}", d.size),
            format!("\"digest\":{}", q(d.digest.as_str())?),
        ];
        if let Some(u) = d.urls.as_ref().filter(|u| !u.is_empty()) {
            f.push(format!("\"urls\":{}", q(u)?));
        }
        if !d.annotations.is_empty() {
            f.push(format!("\"annotations\":{}", q(&d.annotations)?));
        }
        if platform {
            let p = d
                .platform
                .clone()
                .unwrap_or_else(|| kiln_builder::oci::Platform::new("", "", None));
            let mut pf = vec![
                format!("\"architecture\":{}", q(&p.architecture)?),
                format!("\"os\":{}", q(&p.os)?),
            ];
            if let Some(v) = &p.os_version {
                pf.push(format!("\"os.version\":{}", q(v)?));
            }
            if let Some(v) = p.os_features.as_ref().filter(|v| !v.is_empty()) {
                pf.push(format!("\"os.features\":{}", q(v)?));
            }
            if let Some(v) = &p.variant {
                pf.push(format!("\"variant\":{}", q(v)?));
            }
            f.push(format!("\"platform\":{{{}}}", pf.join(",")));
        }
        Ok(format!("{{{}}}", f.join(",")))
    };
    Ok(match kind {
        ManifestKind::Index(i) => {
            let entries = i
                .manifests
                .iter()
                .map(|d| desc(d, true))
                .collect::<anyhow::Result<Vec<_>>>()?;
            format!(
                "{{\"schemaVersion\":{},\"mediaType\":{},\"manifests\":[{}]}}",
                i.schema_version,
                q(i.media_type())?,
                entries.join(",")
            )
        }
        ManifestKind::Image(m) => {
            let layers = m
                .layers
                .iter()
                .map(|d| desc(d, false))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut s = format!(
                "{{\"schemaVersion\":{},\"mediaType\":{},\"config\":{},\"layers\":[{}]",
                m.schema_version,
                q(m.media_type())?,
                desc(&m.config, false)?,
                layers.join(",")
            );
            if !m.annotations.is_empty() {
                s.push_str(&format!(",\"annotations\":{}", q(&m.annotations)?));
            }
            s.push('}');
            s
        }
    })
}

/// The JSON `bytes` indented (`docker manifest inspect` uses three spaces), keys in the
/// document's order.
fn indent_json(bytes: &[u8], unit: &str) -> anyhow::Result<String> {
    let text = std::str::from_utf8(bytes).map_err(|_| anyhow!("the manifest is not UTF-8"))?;
    let _: serde_json::Value = serde_json::from_str(text)?;
    let mut out = String::new();
    let mut depth = 0usize;
    let (mut in_str, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&unit.repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn indents_as_docker_keeping_key_order() {
        let got = super::indent_json(br#"{"b":1,"a":[{"x":"a,{b}"},[]],"e":{}}"#, "   ").unwrap();
        assert_eq!(
            got,
            "{\n   \"b\": 1,\n   \"a\": [\n      {\n         \"x\": \"a,{b}\"\n      },\n      []\n   ],\n   \"e\": {}\n}"
        );
    }
}
