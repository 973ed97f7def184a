//! Shared by the registry tests: a real registry (Debian's `docker-registry`, started by the
//! harness), kiln commands pointed at a private docker `config.json` and `kiln.toml`, and
//! pushing images the harness makes.

#![allow(dead_code)]

use crate::common::Kiln;
use oci::{Descriptor, Digest, Reference};
use registry::{blocking, BlobSource, ClientOptions, NoProgress};
use registry_harness::image::{Blob, TestImage};
use registry_harness::Registry;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// The client side of a test: a docker config folder (credentials) and a kiln.toml of its
/// own, so the machine's are never read or changed.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(e.docker_config()).unwrap();
        e.set_kiln_toml("");
        e
    }

    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    pub fn kiln_toml(&self) -> PathBuf {
        self.dir.path().join("kiln.toml")
    }

    pub fn set_kiln_toml(&self, text: &str) {
        std::fs::write(self.kiln_toml(), text).unwrap();
    }

    /// docker's `config.json` as written, `Null` when there is none.
    pub fn config_json(&self) -> serde_json::Value {
        match std::fs::read(self.docker_config().join("config.json")) {
            Ok(b) => serde_json::from_slice(&b).unwrap(),
            Err(_) => serde_json::Value::Null,
        }
    }

    /// `kiln ARGS` on root `k` with this environment.
    pub fn cmd(&self, k: &Kiln) -> Command {
        let mut c = k.cmd();
        c.env("DOCKER_CONFIG", self.docker_config())
            .env("KILN_CONFIG", self.kiln_toml());
        c
    }

    pub fn run(&self, k: &Kiln, args: &[&str]) -> Output {
        self.cmd(k).args(args).output().unwrap()
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, k: &Kiln, args: &[&str]) -> String {
        let out = self.run(k, args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run and require failure with exit code 1; returns stderr.
    pub fn fails(&self, k: &Kiln, args: &[&str]) -> String {
        let out = self.run(k, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "kiln {args:?} should fail with 1\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kiln build --progress=plain -t TAG DIR EXTRA…`: (success, stderr).
    pub fn build(&self, k: &Kiln, dir: &Path, tag: &str, extra: &[&str]) -> (bool, String) {
        let mut args = vec!["build", "--progress=plain", "-t", tag];
        args.extend_from_slice(extra);
        args.push(dir.to_str().unwrap());
        let out = self.run(k, &args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A registry, or `None` (the test is skipped) when docker-registry is not installed and the
/// run does not require it.
pub fn registry(start: impl FnOnce() -> Registry) -> Option<Registry> {
    registry_harness::available().then(start)
}

/// An anonymous client of `reg`, for setting a registry up behind kiln's back.
pub fn client(reg: &Registry) -> blocking::Client {
    blocking::Client::new(ClientOptions {
        certs_d: reg.certs_d(),
        ..ClientOptions::default()
    })
    .unwrap()
}

struct Bytes(Vec<u8>);

impl BlobSource for Bytes {
    fn open(&self) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        Ok(Box::new(std::io::Cursor::new(self.0.clone())))
    }
}

/// Push one blob of the harness to `r`'s repository.
pub fn push_blob(c: &blocking::Client, r: &Reference, b: &Blob) {
    c.push_blob(
        r,
        &b.descriptor,
        Arc::new(Bytes(b.bytes.clone())),
        &[],
        Arc::new(NoProgress),
    )
    .unwrap_or_else(|e| panic!("push {}: {e}", b.descriptor.digest));
}

/// Push a harness image under `r`; the manifest digest.
pub fn push_image(c: &blocking::Client, r: &Reference, img: &TestImage) -> Digest {
    for b in std::iter::once(&img.config).chain(img.layers.iter()) {
        push_blob(c, r, b);
    }
    c.put_manifest(r, &img.manifest.descriptor.media_type, &img.manifest.bytes)
        .unwrap()
}

/// `HOST/NAME` on `reg`.
pub fn at(reg: &Registry, name: &str) -> String {
    format!("{}/{name}", reg.host())
}

/// The manifest digest in `kiln push`'s last line (`TAG: digest: sha256:… size: N`).
pub fn pushed_digest(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains(": digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line in:\n{stdout}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

/// Requests to blob uploads in `reg`'s access log from index `from` on.
pub fn uploads_since(reg: &Registry, from: usize) -> Vec<String> {
    reg.access_log()
        .into_iter()
        .skip(from)
        .filter(|a| a.path.contains("/blobs/uploads/") && a.method != "HEAD")
        .map(|a| format!("{} {} {}", a.method, a.path, a.status))
        .collect()
}

/// The descriptor of an image index entry.
pub fn entry(img: &TestImage) -> Descriptor {
    registry_harness::image::entry(img)
}
