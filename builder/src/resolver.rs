//! Base images for the frontend: looked up in the local image store, and fetched from their
//! registry when the store lacks them (or always, with `--pull`).
//!
//! Resolving fetches only an image's *metadata* (manifest and config: what the frontend needs
//! to plan and key the build). Its layers are fetched by the worker when a step first needs the
//! image's filesystem ([`Pending::complete`]), with byte progress on that step, so a build
//! whose steps are all cached downloads no layer.

use crate::pull::{self, PullError, RemoteImage};
use crate::root::Kiln;
use kiln_frontend::image::Platform;
use kiln_frontend::lower::{ImageResolver, ResolvedImage};
use oci::Reference;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// When a build fetches its base images from their registry (docker's `--pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only those the local store lacks (docker's default).
    #[default]
    Missing,
    /// Every one, to use the newest the registry has (`--pull`).
    Always,
    /// None: the store must hold them (`kiln build --check` and offline use).
    Never,
}

/// Images whose metadata this build fetched, by manifest digest, until their layers are in
/// the store: shared by the resolver (which adds them) and the worker (which completes them).
#[derive(Default)]
pub struct Pending {
    images: Mutex<HashMap<String, Arc<Mutex<Option<RemoteImage>>>>>,
}

impl Pending {
    fn add(&self, image: RemoteImage) {
        let key = image.manifest_digest.to_string();
        let mut map = self.images.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key, Arc::new(Mutex::new(Some(image))));
    }

    /// Make sure the image `manifest_digest` is whole in the store: when this build fetched
    /// only its metadata, fetch its missing layers (reporting `(layer, done, total)`), then
    /// register and tag it. Concurrent callers for one image wait for the first.
    pub fn complete(
        &self,
        kiln: &Kiln,
        manifest_digest: &str,
        progress: pull::LayerProgress<'_>,
    ) -> Result<(), PullError> {
        let entry = {
            let map = self.images.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(manifest_digest) {
                Some(e) => e.clone(),
                None => return Ok(()),
            }
        };
        let mut slot = entry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(image) = slot.as_ref() {
            let client = crate::registry::client()?;
            pull::fetch_layers(kiln, &client, &image.reference, &image.manifest, progress)?;
            pull::register(kiln, image)?;
            *slot = None;
        }
        Ok(())
    }
}

/// Resolves `FROM` (and `COPY --from`, `--mount=from`) image references.
pub struct StoreResolver<'a> {
    pub kiln: &'a Kiln,
    pub policy: PullPolicy,
    /// Where fetched images wait for their layers.
    pub pending: Arc<Pending>,
}

impl<'a> StoreResolver<'a> {
    /// A resolver that fetches what the store lacks.
    pub fn new(kiln: &'a Kiln) -> StoreResolver<'a> {
        StoreResolver {
            kiln,
            policy: PullPolicy::Missing,
            pending: Arc::default(),
        }
    }

    /// This resolver with another pull policy.
    pub fn with_policy(self, policy: PullPolicy) -> StoreResolver<'a> {
        StoreResolver { policy, ..self }
    }

    fn local(&self, reference: &str) -> Result<Option<ResolvedImage>, String> {
        let Some(record) = self
            .kiln
            .images
            .resolve(reference)
            .map_err(|e| format!("{reference}: {e}"))?
        else {
            return Ok(None);
        };
        let name = Reference::parse(reference)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| reference.to_string());
        Ok(Some(ResolvedImage {
            name,
            manifest_digest: record.manifest_digest,
            config: record.config,
        }))
    }

    fn remote(&self, reference: &Reference, platform: &Platform) -> Result<ResolvedImage, String> {
        let fail = |e: PullError| format!("failed to resolve source metadata for {reference}: {e}");
        let client = crate::registry::client().map_err(|e| fail(e.into()))?;
        let image = pull::fetch_metadata(self.kiln, &client, reference, platform).map_err(fail)?;
        let resolved = ResolvedImage {
            name: reference.to_string(),
            manifest_digest: image.manifest_digest.to_string(),
            config: image.config.clone(),
        };
        self.pending.add(image);
        Ok(resolved)
    }
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let parsed = Reference::parse(reference);
        let mut wrong_platform = None;
        if self.policy != PullPolicy::Always {
            if let Some(found) = self.local(reference)? {
                // The store holds one image per name: one for another platform is fetched
                // afresh for this one, unless fetching is off.
                match check_platform(reference, &found.config, platform) {
                    Ok(()) => return Ok(found),
                    Err(e) if self.policy == PullPolicy::Never || parsed.is_err() => return Err(e),
                    Err(e) => wrong_platform = Some(e),
                }
            }
        }
        let parsed = match (self.policy, parsed) {
            (PullPolicy::Never, _) | (_, Err(_)) => {
                return Err(format!(
                    "image {reference:?} not found in the local store (make it with `kiln import`, `kiln load` or `kiln pull`)"
                ))
            }
            (_, Ok(r)) => r,
        };
        let found = self
            .remote(&parsed, platform)
            .map_err(|e| match &wrong_platform {
                // Say both: what the store has, and why the registry could not give the rest.
                Some(local) => format!("{local}; and from the registry: {e}"),
                None => e,
            })?;
        check_platform(reference, &found.config, platform)?;
        Ok(found)
    }
}

/// An image for another operating system or architecture than the build's is refused, rather
/// than built on and labelled for a platform it is not.
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
        "{reference:?} is a {have} image, not {want}: multi-platform builds are not supported yet"
    ))
}
