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
