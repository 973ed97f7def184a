//! Layer compression: detection by magic bytes when reading, encoders when writing.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::{stream_err, Result};

/// gzip level used for exported layers.
///
/// Measured with flate2/zlib-rs on a 120 MB tar of binaries and libraries (one core):
///
/// | level | size / input | speed |
/// |---|---|---|
/// | 1 | 0.49 | 113 MB/s |
/// | 2 | 0.41 | 66 MB/s |
/// | 3 | 0.39 | 42 MB/s |
/// | 6 (docker's default) | 0.375 | 25 MB/s |
///
/// zlib-rs level 1 uses a much cruder matcher (20% larger output than level 2). Level 2
/// is 2.6x faster than level 6 for an output 8% larger; compression is the bottleneck of
/// layer export, so level 2 is the default. Blocks of 1 MiB are compressed in parallel
/// (see `pgzip`); output is deterministic for a given input.
pub const GZIP_LEVEL: u32 = 2;

/// zstd level used for exported layers (zstd's default: fast with a better ratio than
/// gzip at any level).
pub const ZSTD_LEVEL: i32 = 3;

/// zstd worker threads. Fixed (not the machine's core count) so the output never depends
/// on the machine; zstd's multithreaded output is the same for any worker count >= 1.
#[cfg(feature = "zstd")]
const ZSTD_WORKERS: u32 = 2;

/// Media type of an uncompressed OCI layer.
pub const MEDIA_TYPE_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a gzip OCI layer.
pub const MEDIA_TYPE_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of a zstd OCI layer.
pub const MEDIA_TYPE_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker's media type for gzip layers (accepted when recording original blobs).
pub const MEDIA_TYPE_DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Compression of an exported layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Compression {
    /// gzip at [`GZIP_LEVEL`].
    Gzip,
    /// zstd at [`ZSTD_LEVEL`], multithreaded (needs the `zstd` cargo feature, on by
    /// default; without it export returns [`crate::Error::Unsupported`]).
    Zstd,
    /// Plain tar.
    None,
}

impl Compression {
    /// The OCI media type of a layer with this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => MEDIA_TYPE_TAR_GZIP,
            Compression::Zstd => MEDIA_TYPE_TAR_ZSTD,
            Compression::None => MEDIA_TYPE_TAR,
        }
    }

    /// The compression of a layer media type, if known.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        match mt {
            MEDIA_TYPE_TAR_GZIP | MEDIA_TYPE_DOCKER_GZIP => Some(Compression::Gzip),
            MEDIA_TYPE_TAR_ZSTD => Some(Compression::Zstd),
            MEDIA_TYPE_TAR | "application/vnd.docker.image.rootfs.diff.tar" => {
                Some(Compression::None)
            }
            _ => None,
        }
    }

    /// The compression named `gzip`, `zstd` or `uncompressed` (buildx's `compression=`).
    pub fn parse(name: &str) -> Option<Compression> {
        match name {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            "uncompressed" => Some(Compression::None),
            _ => None,
        }
    }

    /// Short stable name (used as a memo key).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

/// A compressing writer for one of the [`Compression`] kinds.
pub(crate) enum Encoder<W: Write> {
    Gzip(Box<crate::pgzip::ParGzEncoder<W>>),
    #[cfg(feature = "zstd")]
    Zstd(Box<zstd::stream::write::Encoder<'static, W>>),
    Plain(W),
}

impl<W: Write> Encoder<W> {
    /// Wrap `w` at the default level of `c`; zstd is not available in this build.
    pub(crate) fn new(c: Compression, w: W) -> Result<Self> {
        let level = match c {
            Compression::Gzip => GZIP_LEVEL as i32,
            Compression::Zstd => ZSTD_LEVEL,
            Compression::None => 0,
        };
        Self::with_level(c, level, w)
    }

    /// Wrap `w`, compressing at `level` (gzip 0–9, zstd 1–22; ignored for plain tars).
    pub(crate) fn with_level(c: Compression, level: i32, w: W) -> Result<Self> {
        match c {
            Compression::Gzip => Ok(Encoder::Gzip(Box::new(crate::pgzip::ParGzEncoder::new(
                w,
                level.clamp(0, 9) as u32,
                compression_threads(),
            )))),
            Compression::None => Ok(Encoder::Plain(w)),
            #[cfg(feature = "zstd")]
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(w, level)
                    .map_err(stream_err("starting zstd stream"))?;
                e.multithread(ZSTD_WORKERS)
                    .map_err(stream_err("enabling zstd workers"))?;
                Ok(Encoder::Zstd(Box::new(e)))
            }
            #[cfg(not(feature = "zstd"))]
            Compression::Zstd => Err(crate::Error::Unsupported(
                "zstd layer compression: kiln-snapshot was built without the zstd feature".into(),
            )),
        }
    }

    /// Finish the stream and return the inner writer.
    pub(crate) fn finish(self) -> Result<W> {
        match self {
            Encoder::Gzip(g) => (*g).finish().map_err(stream_err("finishing gzip stream")),
            #[cfg(feature = "zstd")]
            Encoder::Zstd(z) => z.finish().map_err(stream_err("finishing zstd stream")),
            Encoder::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(g) => g.write(buf),
            #[cfg(feature = "zstd")]
            Encoder::Zstd(z) => z.write(buf),
            Encoder::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(g) => g.flush(),
            #[cfg(feature = "zstd")]
            Encoder::Zstd(z) => z.flush(),
            Encoder::Plain(w) => w.flush(),
        }
    }
}

/// Threads for gzip: the machine's parallelism, at most 8 (the output does not depend
/// on it).
fn compression_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Detect gzip / zstd / plain by magic bytes and return a reader of the uncompressed
/// stream. Streams; never buffers the whole input.
pub(crate) fn decompressed<'a>(r: &'a mut dyn Read) -> Result<Box<dyn Read + 'a>> {
    let mut magic = Vec::with_capacity(4);
    Read::take(&mut *r, 4)
        .read_to_end(&mut magic)
        .map_err(stream_err("reading layer header"))?;
    let head = io::Cursor::new(magic.clone()).chain(r);
    if magic.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(256 * 1024, head),
        )))
    } else if magic.starts_with(&ZSTD_MAGIC) {
        #[cfg(feature = "zstd")]
        {
            let d = zstd::stream::read::Decoder::new(head)
                .map_err(stream_err("starting zstd decoder"))?;
            Ok(Box::new(d))
        }
        #[cfg(not(feature = "zstd"))]
        Err(crate::Error::Unsupported(
            "zstd-compressed layers: kiln-snapshot was built without the zstd feature".into(),
        ))
    } else {
        // tar reads headers 512 bytes at a time: buffer so that is not one syscall each.
        Ok(Box::new(io::BufReader::with_capacity(256 * 1024, head)))
    }
}

#[cfg(all(test, feature = "zstd"))]
mod tests {
    use super::*;

    fn zstd_with_workers(data: &[u8], workers: u32) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).unwrap();
        e.multithread(workers).unwrap();
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn zstd_output_does_not_depend_on_worker_count() {
        let data: Vec<u8> = (0..12_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8 & 0x3f)
            .collect();
        let one = zstd_with_workers(&data, 1);
        assert_eq!(one, zstd_with_workers(&data, 2));
        assert_eq!(one, zstd_with_workers(&data, 4));
    }

    #[test]
    fn detects_zstd_and_gzip_and_plain() {
        let data = b"plain tar bytes".repeat(100);
        let z = zstd_with_workers(&data, ZSTD_WORKERS);
        let mut g = Encoder::new(Compression::Gzip, Vec::new()).unwrap();
        g.write_all(&data).unwrap();
        let g = g.finish().unwrap();
        for input in [z, g, data.clone()] {
            let mut r = &input[..];
            let mut out = Vec::new();
            decompressed(&mut r).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
