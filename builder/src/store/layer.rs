//! Writing an uncompressed layer tar into the content store as a gzip blob, computing the
//! diff_id (sha256 of the tar) and the blob digest in the same pass.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use kiln_snapshot::BlobWriter;

use super::digest::HashingWriter;
use super::error::{Result, StoreError};
use super::{ImageStore, LayerDesc};

/// A `Write` taking an uncompressed layer tar; [`LayerWriter::finish`] stores it gzip-compressed.
pub struct LayerWriter {
    inner: HashingWriter<GzEncoder<HashingWriter<BlobWriter>>>,
    store: ImageStore,
}

impl LayerWriter {
    /// Start a layer blob in `store`.
    pub fn new(store: &ImageStore) -> Result<LayerWriter> {
        let blob = store
            .content()
            .begin_write()
            .map_err(StoreError::content("starting a layer blob"))?;
        let gz = GzEncoder::new(HashingWriter::new(blob), flate2::Compression::default());
        Ok(LayerWriter {
            inner: HashingWriter::new(gz),
            store: store.clone(),
        })
    }

    /// Compress the rest, store the blob; returns the layer and whether the blob is new to
    /// the store (false when an identical blob was already there).
    pub fn finish(self) -> Result<(LayerDesc, bool)> {
        let (gz, diff_id, diff_size) = self.inner.finish();
        let hashing = gz
            .finish()
            .map_err(StoreError::stream("compressing a layer"))?;
        let (blob, digest, _) = hashing.finish();
        let existed = self.store.content().has(&digest);
        let (digest, size) = blob
            .commit(Some(&digest))
            .map_err(StoreError::content(format!("storing layer {digest}")))?;
        let info = kiln_snapshot::LayerInfo {
            digest: digest.clone(),
            size,
            diff_id: diff_id.clone(),
            media_type: oci::media::OCI_LAYER_GZIP.into(),
        };
        // Its uncompressed size (for `images`), and that it is this diff's gzip blob.
        self.store
            .content()
            .remember_layer(&info, Some(diff_size))
            .map_err(StoreError::content(format!("remembering layer {digest}")))?;
        Ok((LayerDesc::from(info), !existed))
    }
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
