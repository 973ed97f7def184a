//! Base images for the frontend, looked up in the local image store.

use crate::root::Kiln;
use kiln_frontend::image::Platform;
use kiln_frontend::lower::{ImageResolver, ResolvedImage};

/// Resolves `FROM` references against the local store (no registry access yet).
pub struct StoreResolver<'a> {
    pub kiln: &'a Kiln,
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        let record = self
            .kiln
            .images
            .resolve(reference)
            .map_err(|e| format!("{reference}: {e}"))?
            .ok_or_else(|| {
                format!("image {reference:?} not found in the local store (make it with `kiln import`, `kiln load` or `kiln pull`)")
            })?;
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
