//! Base images for the frontend: looked up in the local image store, and fetched from their
//! registry when the store lacks them (or always, with `--pull`).
//!
//! Resolving fetches only an image's *metadata* (manifest and config: what the frontend needs
//! to plan and key the build). Its layers are fetched by the worker when a step first needs the
//! image's filesystem ([`Pending::complete`]), with byte progress on that step, so a build
//! whose steps are all cached downloads no layer.

use crate::pull::{self, PullError, RemoteImage};
use crate::root::Kiln;
use crate::store::StoreError;
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

    /// The store's image of `reference` for `platform`: `Ok(None)` when the store has no
    /// such name, `Err(Some(why))` when it has it only for other platforms.
    fn local(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, LocalMiss> {
        let record = match self.kiln.images.resolve_platform(reference, Some(platform)) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(StoreError::NoPlatform { available, .. }) => {
                return Err(LocalMiss::OtherPlatform(format!(
                    "{reference:?} in the local store has no {platform} image (it has {available})"
                )))
            }
            Err(e) => return Err(LocalMiss::Broken(format!("{reference}: {e}"))),
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
        // The frontend says which image failed to resolve (BuildKit's "failed to resolve source
        // metadata for …"); this says why.
        let fail = |e: PullError| e.to_string();
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

/// Why the store could not answer for a platform.
enum LocalMiss {
    /// It has the name for other platforms only.
    OtherPlatform(String),
    /// It could not be read.
    Broken(String),
}

impl ImageResolver for StoreResolver<'_> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        let parsed = Reference::parse(reference);
        let mut other = None;
        if self.policy != PullPolicy::Always {
            match self.local(reference, platform) {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(LocalMiss::Broken(e)) => return Err(e),
                // The store holds other platforms of this name: fetch this one, unless
                // fetching is off.
                Err(LocalMiss::OtherPlatform(e)) => {
                    if self.policy == PullPolicy::Never || parsed.is_err() {
                        return Err(format!("{e}: pull it with `kiln pull --platform {platform} {reference}`, or make it with `kiln import --platform {platform}`"));
                    }
                    other = Some(e);
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
        // A single-platform image of another platform is the frontend's
        // InvalidBaseImagePlatform warning, as in BuildKit.
        self.remote(&parsed, platform).map_err(|e| match other {
            Some(o) => format!("{o}, and fetching one failed: {e}"),
            None => e,
        })
    }
}
