//! Base images for the frontend, looked up in the local image store.

use crate::root::Kiln;
use kiln_frontend::image::Platform;
use kiln_frontend::lower::{ImageResolver, ResolvedImage};

/// Resolves `FROM` references against the local store (no registry access yet).
pub struct StoreResolver<'a> {
    pub kiln: &'a Kiln,
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let record = self
            .kiln
            .images
            .resolve(reference)
            .map_err(|e| format!("{reference}: {e}"))?
            .ok_or_else(|| {
                format!("image {reference:?} not found in the local store (make it with `kiln import`, `kiln load` or `kiln pull`)")
            })?;
        check_platform(reference, &record.config, platform)?;
        let name = crate::store::Reference::parse(reference)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| reference.to_string());
        Ok(ResolvedImage {
            name,
            manifest_digest: record.manifest_digest,
            config: record.config,
        })
    }
}

/// The local store holds one image per name: one for another operating system or
/// architecture than the build's is refused, rather than built on and labelled for a platform
/// it is not.
fn check_platform(
    reference: &str,
    config: &kiln_frontend::image::ImageConfig,
    want: &Platform,
) -> Result<(), String> {
    if config.os.is_empty() || config.architecture.is_empty() {
        return Ok(());
    }
    if config.os == want.os && config.architecture == want.architecture {
        return Ok(());
    }
    let have = Platform::new(&config.os, &config.architecture, config.variant.as_deref());
    Err(format!(
        "{reference:?} in the local store is a {have} image, not {want}: multi-platform builds are not supported yet"
    ))
}
