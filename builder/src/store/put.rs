//! Writing new images: config + manifest blobs, then registration in the tag index.

use kiln_frontend::image::ImageConfig;

use super::digest::validate_digest;
use super::error::{Result, StoreError};
use super::{tags, ImageStore, LayerDesc, Reference};
use oci::{Descriptor, Manifest};

impl ImageStore {
    /// Write `config` and an OCI manifest over `layers` (whose blobs must already be in the
    /// content store) canonically (compact JSON, fixed field order), register the image and
    /// return the manifest digest. `config.rootfs.diff_ids` is filled from `layers` when empty
    /// and must match them otherwise.
    pub fn put_image(&self, config: &ImageConfig, layers: Vec<LayerDesc>) -> Result<String> {
        let mut config = config.clone();
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        if config.rootfs.diff_ids.is_empty() {
            config.rootfs.diff_ids = diff_ids;
        } else if config.rootfs.diff_ids != diff_ids {
            return Err(StoreError::InvalidImage(format!(
                "config rootfs.diff_ids {:?} do not match the layers' diff_ids {:?}",
                config.rootfs.diff_ids, diff_ids
            )));
        }
        if config.rootfs.kind.is_empty() {
            config.rootfs.kind = "layers".into();
        }
        for l in &layers {
            validate_digest(&l.digest)?;
            validate_digest(&l.diff_id)?;
            if !self.content().has(&l.digest) {
                return Err(StoreError::MissingBlob {
                    digest: l.digest.clone(),
                    what: "layer".into(),
                });
            }
        }
        let config_bytes = serde_json::to_vec(&config).map_err(StoreError::json("image config"))?;
        let (config_digest, config_size) = self
            .content()
            .write_bytes(&config_bytes)
            .map_err(StoreError::content("writing image config"))?;
        let config_desc =
            Descriptor::new(oci::media::OCI_CONFIG, config_digest.clone(), config_size);
        let manifest_digest = self.write_manifest(config_desc, &layers)?;
        self.add_image(&manifest_digest)?;
        Ok(manifest_digest.to_string())
    }

    /// Write (without registering) an OCI manifest over `config` and `layers`, canonically;
    /// returns its digest.
    pub fn write_manifest(&self, config: Descriptor, layers: &[LayerDesc]) -> Result<String> {
        let manifest_bytes = manifest_bytes(config, layers)?;
        let (manifest_digest, _) = self
            .content()
            .write_bytes(&manifest_bytes)
            .map_err(StoreError::content("writing image manifest"))?;
        Ok(manifest_digest.to_string())
    }

    /// Register several images and point their tags at them in one atomic index update
    /// (nothing changes if any image is incomplete).
    pub fn add_images_tagged(&self, images: &[(String, Vec<Reference>)]) -> Result<()> {
        for (m, _) in images {
            validate_digest(m)?;
        }
        tags::update_index(self.root(), |idx| {
            for (m, refs) in images {
                self.check_complete(m)?;
                idx.add_image(m);
                for r in refs {
                    idx.refs.insert(r.to_string(), m.clone());
                }
            }
            Ok(())
        })
    }

    /// Register the image `manifest_digest` (manifest and blobs in the content store), tag it
    /// `tags` and record `repo_digest` (`repository@digest`, what a registry serves for it) in
    /// one atomic index update. A repository's earlier digest is replaced: docker keeps one
    /// per repository.
    pub fn add_pulled(
        &self,
        manifest_digest: &str,
        tags: &[Reference],
        repo_digest: Option<&Reference>,
    ) -> Result<()> {
        validate_digest(manifest_digest)?;
        tags::update_index(self.root(), |idx| {
            self.check_complete(manifest_digest)?;
            idx.add_image(manifest_digest);
            for r in tags {
                idx.refs.insert(r.to_string(), manifest_digest.to_string());
            }
            if let Some(rd) = repo_digest {
                let entry = idx
                    .images
                    .get_mut(manifest_digest)
                    .expect("added just above");
                tags::set_repo_digest(&mut entry.repo_digests, rd);
            }
            Ok(())
        })
    }

    /// Register an image whose manifest (OCI or docker schema2) and blobs are already in the
    /// content store, without tagging it.
    pub fn add_image(&self, manifest_digest: &str) -> Result<()> {
        validate_digest(manifest_digest)?;
        tags::update_index(self.root(), |idx| {
            // Checked under the lock so a concurrent `rmi` cannot have collected a blob.
            self.check_complete(manifest_digest)?;
            idx.add_image(manifest_digest);
            Ok(())
        })
    }
}

/// The canonical bytes of an OCI manifest over `config` and `layers`.
pub fn manifest_bytes(config: Descriptor, layers: &[LayerDesc]) -> Result<Vec<u8>> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::media::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config,
        layers: layers
            .iter()
            .map(|l| {
                Ok(Descriptor::new(
                    &l.media_type,
                    super::digest::to_digest(&l.digest)?,
                    l.size,
                ))
            })
            .collect::<Result<_>>()?,
        subject: None,
        annotations: Default::default(),
    };
    serde_json::to_vec(&manifest).map_err(StoreError::json("image manifest"))
}
