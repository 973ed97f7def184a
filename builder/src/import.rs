//! `kiln import`: a root filesystem (tar or directory) becomes a one-layer image.
//!
//! Like `docker import`: the tar (plain or gzip) or the directory (tarred deterministically,
//! see [`crate::store::dirtar`]) becomes one gzip layer; the config gets the host's (or the
//! requested) platform, a history entry `created_by: "kiln import"` and `rootfs.diff_ids`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use kiln_frontend::image::{History, ImageConfig, Platform, RootFs};

use crate::store::digest::TeeReader;
use crate::store::dirtar::write_dir_tar_clamped;
use crate::store::layer::LayerWriter;
use crate::store::{ImageStore, LayerDesc, Reference, Result, StoreError};

/// Options of [`import_rootfs`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Platform recorded in the config (default: the host's).
    pub platform: Option<Platform>,
    /// Commit message, stored as the history comment (`docker import -m`).
    pub message: Option<String>,
    /// Creation time (RFC 3339) for config and history (default: `epoch`, else now).
    pub created: Option<String>,
    /// SOURCE_DATE_EPOCH: the image's time, and the latest modification time of the files of
    /// an imported directory; the same directory then gives the same image anywhere.
    pub epoch: Option<i64>,
}

/// Import `source` (a tar, plain or gzip, or a directory) as a one-layer image for the host
/// platform, tag it with `reference` if given, and return the manifest digest.
pub fn import_rootfs(
    store: &ImageStore,
    source: &Path,
    reference: Option<&Reference>,
) -> Result<String> {
    import_rootfs_with(store, source, reference, &ImportOptions::default())
}

/// [`import_rootfs`] with options (platform, message, creation time).
pub fn import_rootfs_with(
    store: &ImageStore,
    source: &Path,
    reference: Option<&Reference>,
    opts: &ImportOptions,
) -> Result<String> {
    let layer = write_layer(store, source, opts.epoch)?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let created = opts
        .created
        .clone()
        .unwrap_or_else(|| crate::export::timestamp(opts.epoch));
    let config = ImageConfig {
        created: Some(created.clone()),
        architecture: platform.architecture,
        os: platform.os,
        variant: platform.variant,
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        history: vec![History {
            created: Some(created),
            created_by: Some("kiln import".into()),
            comment: opts.message.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let manifest_digest = store.put_image(&config, vec![layer])?;
    match reference {
        // An explicit platform joins the others the name holds (an index), as a pull does.
        Some(r) if opts.platform.is_some() => {
            store.add_pulled_platform(&manifest_digest, std::slice::from_ref(r), None)?
        }
        Some(r) => store.tag(r, &manifest_digest)?,
        None => {}
    }
    Ok(manifest_digest)
}

/// Compress the tar of `source` into the content store.
fn write_layer(store: &ImageStore, source: &Path, epoch: Option<i64>) -> Result<LayerDesc> {
    let md = std::fs::metadata(source).map_err(StoreError::io("stat", source))?;
    let w = LayerWriter::new(store)?;
    let w = if md.is_dir() {
        write_dir_tar_clamped(source, w, epoch)?
    } else {
        copy_tar(source, w)?
    };
    Ok(w.finish()?.0)
}

/// Copy the (decompressed) tar file `path` into `w`, checking on the way that it is a tar.
fn copy_tar<W: Write>(path: &Path, w: W) -> Result<W> {
    let file = File::open(path).map_err(StoreError::io("opening", path))?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(StoreError::io("reading", path))?;
    let plain: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut tee = TeeReader::new(plain, w);
    {
        let mut archive = tar::Archive::new(&mut tee);
        let entries = archive.entries().map_err(|e| {
            StoreError::Archive(format!("{} is not a tar archive: {e}", path.display()))
        })?;
        let mut n = 0usize;
        for entry in entries {
            entry.map_err(|e| {
                StoreError::Archive(format!(
                    "{} is not a valid tar archive: {e}",
                    path.display()
                ))
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(StoreError::Archive(format!(
                "{} is not a tar archive (no entries)",
                path.display()
            )));
        }
    }
    // The end-of-archive blocks and any padding after them belong to the layer too.
    io::copy(&mut tee, &mut io::sink()).map_err(StoreError::io("reading", path))?;
    Ok(tee.into_tee())
}
