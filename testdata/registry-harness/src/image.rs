//! Small test images made of deterministic pseudo-random layers: their config, manifest and
//! index bytes are canonical JSON, so each one has a stable digest.

use oci::{media, Descriptor, Index, Manifest, Platform};

/// A blob and its descriptor.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Its media type, digest and size.
    pub descriptor: Descriptor,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// A blob of `bytes` with media type `mt`.
    pub fn new(mt: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            descriptor: Descriptor::of(mt, &bytes),
            bytes,
        }
    }
}

/// An image: config, layers and manifest.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// The config blob.
    pub config: Blob,
    /// The layers.
    pub layers: Vec<Blob>,
    /// The manifest (OCI).
    pub manifest: Blob,
    /// Its platform.
    pub platform: Platform,
}

/// `n` pseudo-random bytes from `seed` (xorshift: fast, and the same on every run).
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// An image for `platform` with layers of exactly these sizes (pseudo-random bytes, labelled
/// gzip: registries do not look inside), all from `seed`.
pub fn image(seed: u64, platform: &str, layer_sizes: &[usize]) -> TestImage {
    make(seed, platform, layer_sizes, |b| b)
}

/// As [`image`], with layers that really are gzip streams (of that many random bytes), for
/// peers that look inside (skopeo recompresses what is not what its media type says).
pub fn image_gz(seed: u64, platform: &str, layer_sizes: &[usize]) -> TestImage {
    make(seed, platform, layer_sizes, |b| {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b).expect("gzip in memory");
        gz.finish().expect("gzip in memory")
    })
}

fn make(
    seed: u64,
    platform: &str,
    layer_sizes: &[usize],
    layer: fn(Vec<u8>) -> Vec<u8>,
) -> TestImage {
    let platform = Platform::parse(platform).expect("a platform");
    let layers: Vec<Blob> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Blob::new(
                media::OCI_LAYER_GZIP,
                layer(random_bytes(seed * 1000 + i as u64, *n)),
            )
        })
        .collect();
    let config = serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "variant": platform.variant,
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.descriptor.digest.to_string()).collect::<Vec<_>>(),
        },
    });
    let config = Blob::new(
        media::OCI_CONFIG,
        oci::to_canonical_json(&config).expect("json"),
    );
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        artifact_type: None,
        config: config.descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        subject: None,
        annotations: Default::default(),
    };
    let manifest = Blob::new(
        media::OCI_MANIFEST,
        oci::to_canonical_json(&manifest).expect("json"),
    );
    TestImage {
        config,
        layers,
        manifest,
        platform,
    }
}

/// An OCI index of `entries` (each descriptor as given: tests may make one lie).
pub fn index(entries: &[Descriptor]) -> Blob {
    let i = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: entries.to_vec(),
        annotations: Default::default(),
    };
    Blob::new(media::OCI_INDEX, oci::to_canonical_json(&i).expect("json"))
}

/// The index entry of `image`: its manifest's descriptor with its platform.
pub fn entry(image: &TestImage) -> Descriptor {
    let mut d = image.manifest.descriptor.clone();
    d.platform = Some(image.platform.clone());
    d
}
