//! The registry client alone, for `bench/registry.sh`: pull an image into an OCI layout
//! folder, or push one from it, with the blocking client (three blobs at a time, as docker),
//! streamed from and to disk.
//!
//! ```text
//! regbench pull REF DIR [PLATFORM]   # REF's manifest, config and layers into DIR/blobs
//! regbench push DIR REF              # DIR's (an OCI layout) first manifest and blobs to REF
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oci::{Descriptor, Digest, Manifest, Platform, Reference};
use registry::{blocking, BlobPush, BlobSink, NoProgress};

/// A blob written to `DIR/blobs/sha256/<hex>.partial`, renamed into place once verified.
struct FileSink {
    partial: PathBuf,
    done: PathBuf,
    file: Option<File>,
}

impl FileSink {
    fn new(dir: &Path, d: &Digest) -> FileSink {
        let blobs = dir.join("blobs").join(d.algorithm().name());
        FileSink {
            partial: blobs.join(format!("{}.partial", d.hex())),
            done: blobs.join(d.hex()),
            file: None,
        }
    }
    fn file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.partial)?;
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("just opened"))
    }
}

impl BlobSink for FileSink {
    fn held(&mut self) -> io::Result<u64> {
        Ok(fs::metadata(&self.partial).map(|m| m.len()).unwrap_or(0))
    }
    fn read_held(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(File::open(&self.partial)?))
    }
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file()?.write_all(bytes)
    }
    fn reset(&mut self) -> io::Result<()> {
        self.file = None;
        File::create(&self.partial).map(drop)
    }
    fn commit(&mut self, _: &Digest, _: u64) -> io::Result<()> {
        self.file()?.sync_all()?;
        self.file = None;
        fs::rename(&self.partial, &self.done)
    }
    fn discard(&mut self) {
        self.file = None;
        let _ = fs::remove_file(&self.partial);
    }
}

/// Run `job` on every item, three at a time.
fn parallel<T: Send + Sync>(items: &[T], job: impl Fn(&T) + Sync) {
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                match items.get(i) {
                    Some(item) => job(item),
                    None => return,
                }
            });
        }
    });
}

fn pull(c: &blocking::Client, r: &Reference, dir: &Path, platform: &Platform) -> u64 {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let image = c
        .get_image(r, platform)
        .unwrap_or_else(|e| panic!("{r}: {e}"));
    let m = &image.manifest;
    fs::write(
        dir.join("blobs/sha256").join(m.descriptor.digest.hex()),
        &m.bytes,
    )
    .unwrap();
    let blobs: Vec<Descriptor> = image.parsed.blobs().cloned().collect();
    let total = Mutex::new(0u64);
    parallel(&blobs, |d| {
        if dir.join("blobs/sha256").join(d.digest.hex()).exists() {
            return;
        }
        let mut sink = FileSink::new(dir, &d.digest);
        let f = c
            .fetch_blob(r, d, &mut sink, &NoProgress)
            .unwrap_or_else(|e| panic!("{}: {e}", d.digest));
        *total.lock().unwrap() += f.transferred;
    });
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [m.descriptor]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    total.into_inner().unwrap()
}

fn push(c: &blocking::Client, dir: &Path, r: &Reference) -> (usize, usize) {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let desc: Descriptor = serde_json::from_value(index["manifests"][0].clone()).unwrap();
    let blob = |d: &Digest| dir.join("blobs").join(d.algorithm().name()).join(d.hex());
    let bytes = fs::read(blob(&desc.digest)).unwrap();
    let m: Manifest = serde_json::from_slice(&bytes).unwrap();
    let blobs: Vec<Descriptor> = m.blobs().cloned().collect();
    let sent = Mutex::new((0, 0));
    parallel(&blobs, |d| {
        let how = c
            .push_blob(r, d, Arc::new(blob(&d.digest)), &[], Arc::new(NoProgress))
            .unwrap_or_else(|e| panic!("{}: {e}", d.digest));
        let mut s = sent.lock().unwrap();
        match how {
            BlobPush::Uploaded => s.0 += 1,
            _ => s.1 += 1,
        }
    });
    c.put_manifest(r, &desc.media_type, &bytes).unwrap();
    sent.into_inner().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = blocking::Client::from_env().unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["pull", r, dir, ref rest @ ..] => {
            let r = Reference::parse(r).unwrap();
            let platform = rest
                .first()
                .map(|p| Platform::parse(p).unwrap())
                .unwrap_or_else(Platform::host);
            let bytes = pull(&c, &r, Path::new(dir), &platform);
            println!(
                "pull {r}: {bytes} layer bytes in {:.3} s",
                t.elapsed().as_secs_f64()
            );
        }
        ["push", dir, r] => {
            let r = Reference::parse(r).unwrap();
            let (up, skipped) = push(&c, Path::new(dir), &r);
            println!(
                "push {r}: {up} blobs uploaded, {skipped} already there, in {:.3} s",
                t.elapsed().as_secs_f64()
            );
        }
        _ => {
            eprintln!("usage: regbench pull REF DIR [PLATFORM] | regbench push DIR REF");
            std::process::exit(2);
        }
    }
}
