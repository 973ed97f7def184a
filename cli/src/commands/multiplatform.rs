//! What `kiln build --platform a,b,…` adds to a build: the list of platforms, and the closing
//! note on the work the platforms shared.

use anyhow::{anyhow, bail};
use kiln_builder::build::BuildResult;
use kiln_builder::frontend::image::Platform;

/// `--platform` as buildx reads it: platforms separated by commas, each parsed and
/// normalised, a platform given twice counted once. `None`: none asked for.
pub fn parse_platforms(flag: Option<&str>) -> anyhow::Result<Vec<Platform>> {
    let Some(flag) = flag else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Platform> = Vec::new();
    for part in flag.split(',').map(str::trim) {
        if part.is_empty() {
            bail!("invalid --platform {flag:?}: an empty platform");
        }
        let p = Platform::parse(part).map_err(|e| anyhow!(e))?.normalized();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// After a build for several platforms: which steps the platforms shared (each ran, or came
/// from the cache, once for all of them) and what the tags name.
pub fn shared_note(res: &BuildResult) {
    let Some(index) = &res.index else {
        return;
    };
    let platforms: Vec<String> = res.images.iter().map(|i| i.platform.to_string()).collect();
    crate::diag::line(format_args!(
        "built {} platforms ({}) into the index {index}",
        platforms.len(),
        platforms.join(", ")
    ));
    if !res.shared.is_empty() {
        crate::diag::line(format_args!(
            "{} steps shared by the platforms ran once: {}",
            res.shared.len(),
            res.shared.join("; ")
        ));
    }
}

/// `kiln images --tree` (docker's `image ls --tree`): each name, then one branch per
/// platform with that platform's image ID and size.
pub fn image_tree(list: &[kiln_builder::store::ImageSummary], no_trunc: bool) -> String {
    use crate::format::{human_size, short_id};
    let id = |s: &str| {
        if no_trunc {
            s.to_string()
        } else {
            short_id(s)
        }
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut sorted: Vec<&kiln_builder::store::ImageSummary> = list.iter().collect();
    sorted.sort_by_key(|i| {
        i.tags
            .first()
            .map(|t| t.familiar_string())
            .unwrap_or_else(|| "<untagged>".into())
    });
    for img in sorted {
        let names: Vec<String> = if img.tags.is_empty() {
            vec![format!("<untagged>@{}", id(&img.manifest_digest))]
        } else {
            img.tags.iter().map(|t| t.familiar_string()).collect()
        };
        let size = match &img.broken {
            Some(_) => "<broken>".to_string(),
            None => human_size(img.size),
        };
        rows.push((names.join(", "), id(&img.id), size));
        let n = img.platforms.len();
        for (i, p) in img.platforms.iter().enumerate() {
            let branch = if i + 1 == n { "└─" } else { "├─" };
            rows.push((
                format!("{branch} {}", p.platform),
                id(&p.id),
                human_size(p.size),
            ));
        }
    }
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(2);
    let mut out = format!("{:<w0$}   {:<w1$}   CONTENT SIZE\n", "IMAGE", "ID");
    for (a, b, c) in rows {
        let pad = w0 - a.chars().count();
        out.push_str(&format!("{a}{}   {b:<w1$}   {c:>12}\n", " ".repeat(pad)));
    }
    out
}
