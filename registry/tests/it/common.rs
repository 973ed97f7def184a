//! Helpers of the registry tests: clients pointed at a harness registry, pushing test images,
//! and a sink on disk shaped like a content store's ingest (a partial file renamed into place
//! on commit).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use oci::{Digest, Reference};
use registry::{blocking, BlobPush, BlobSink, ClientOptions, CredentialStore, NoProgress};
use registry_harness::image::TestImage;
use registry_harness::Registry;

/// Options for a client of `reg` (its certs.d), with `creds`.
pub fn options(reg: &Registry, creds: Arc<dyn CredentialStore>) -> ClientOptions {
    ClientOptions {
        certs_d: reg.certs_d(),
        credentials: creds,
        ..ClientOptions::default()
    }
}

/// An anonymous client of `reg`.
pub fn client(reg: &Registry) -> blocking::Client {
    blocking::Client::new(options(reg, Arc::new(registry::credentials::Anonymous))).unwrap()
}

/// `HOST/repo:tag` on `reg`.
pub fn reference(reg: &Registry, repo_tag: &str) -> Reference {
    Reference::parse(&format!("{}/{repo_tag}", reg.host())).unwrap()
}

/// Push every blob of `img` and its manifest under `r`; the digest the registry agreed to.
pub fn push_image(c: &blocking::Client, r: &Reference, img: &TestImage) -> Digest {
    for b in std::iter::once(&img.config).chain(img.layers.iter()) {
        let src = Arc::new(Bytes::from(b.bytes.clone()));
        c.push_blob(r, &b.descriptor, src, &[], Arc::new(NoProgress))
            .unwrap_or_else(|e| panic!("push {}: {e}", b.descriptor.digest));
    }
    c.put_manifest(r, &img.manifest.descriptor.media_type, &img.manifest.bytes)
        .unwrap()
}

/// Push one blob; how it got there.
pub fn push_blob(
    c: &blocking::Client,
    r: &Reference,
    b: &registry_harness::image::Blob,
) -> BlobPush {
    c.push_blob(
        r,
        &b.descriptor,
        Arc::new(Bytes::from(b.bytes.clone())),
        &[],
        Arc::new(NoProgress),
    )
    .unwrap()
}

/// A blob sink on disk: `DIR/<hex>.partial` while it is written, renamed to `DIR/<hex>` on
/// commit; it counts what it was told.
pub struct FileSink {
    pub partial: PathBuf,
    pub done: PathBuf,
    pub commits: u32,
    pub discards: u32,
    pub resets: u32,
}

impl FileSink {
    pub fn new(dir: &Path, digest: &Digest) -> FileSink {
        FileSink {
            partial: dir.join(format!("{}.partial", digest.hex())),
            done: dir.join(digest.hex()),
            commits: 0,
            discards: 0,
            resets: 0,
        }
    }

    /// A sink that already holds `bytes` (an interrupted fetch).
    pub fn holding(dir: &Path, digest: &Digest, bytes: &[u8]) -> FileSink {
        let s = FileSink::new(dir, digest);
        fs::write(&s.partial, bytes).unwrap();
        s
    }

    /// What was committed.
    pub fn committed(&self) -> Option<Vec<u8>> {
        fs::read(&self.done).ok()
    }
}

impl BlobSink for FileSink {
    fn held(&mut self) -> io::Result<u64> {
        match fs::metadata(&self.partial) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }
    fn read_held(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(File::open(&self.partial)?))
    }
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.partial)?
            .write_all(bytes)
    }
    fn reset(&mut self) -> io::Result<()> {
        self.resets += 1;
        File::create(&self.partial).map(drop)
    }
    fn commit(&mut self, _: &Digest, _: u64) -> io::Result<()> {
        self.commits += 1;
        // An empty blob was never written to.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.partial)?;
        fs::rename(&self.partial, &self.done)
    }
    fn discard(&mut self) {
        self.discards += 1;
        let _ = fs::remove_file(&self.partial);
    }
}

/// Fetch blob `b` of `r` into a fresh sink in `dir`, expecting success; its bytes.
pub fn fetch(
    c: &blocking::Client,
    r: &Reference,
    b: &registry_harness::image::Blob,
    dir: &Path,
) -> Vec<u8> {
    let mut s = FileSink::new(dir, &b.descriptor.digest);
    c.fetch_blob(r, &b.descriptor, &mut s, &NoProgress)
        .unwrap_or_else(|e| panic!("fetch {}: {e}", b.descriptor.digest));
    assert_eq!(s.commits, 1);
    s.committed().unwrap()
}

/// Is `cmd` installed? Missing with `KILN_REQUIRE_PEERS` set is a failure.
pub fn have(cmd: &str) -> bool {
    let ok = std::process::Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "KILN_REQUIRE_PEERS is set but {cmd} is missing"
        );
        eprintln!("SKIPPED: {cmd} is missing");
    }
    ok
}
