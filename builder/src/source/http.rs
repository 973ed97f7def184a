//! `ADD http(s)://…`: the response body streamed into a new snapshot as one file (named from
//! the URL's path, mode 0600, mtime from `Last-Modified`, never unpacked), hashed on the way,
//! checked against `--checksum`. The snapshot and the response's validators are remembered per
//! URL under `<root>/http-cache/`: the next build revalidates with `If-None-Match` /
//! `If-Modified-Since` and reuses it on `304`, or skips the request when `--checksum` already
//! matches. The cache key is the content's digest, as BuildKit's.
//!
//! The client follows redirects (10 at most), honours `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`,
//! gives up on a connection after 30 s and on a response that sends nothing for 60 s
//! (`KILN_HTTP_TIMEOUT` seconds, for tests and slow mirrors).

use crate::root::Kiln;
use kiln_snapshot::SnapshotId;
use kiln_solver::{Digest, SourceOp};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// An `ADD <url>` that went wrong.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("{url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// BuildKit's words.
    #[error("{url}: invalid response status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: reading the response: {source}")]
    Body {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// BuildKit's words: the digest of what came, then the one asked for.
    #[error("{url}: digest mismatch {actual}: {expected}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("invalid checksum {0:?}: expected sha256:<64 hex digits>")]
    BadChecksum(String),
    #[error("{url}: cannot write the downloaded file {name:?}: {source}")]
    File {
        url: String,
        name: String,
        #[source]
        source: inroot::Error,
    },
    #[error("{url}: {what}: {source}")]
    Store {
        url: String,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A URL made into a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fetched {
    /// The content's digest (`sha256:…`).
    pub digest: String,
    /// The snapshot holding the file.
    pub snapshot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

/// The downloads of one build: each URL fetched once, whoever asks.
#[derive(Default)]
pub struct HttpSource {
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    memo: Mutex<HashMap<String, Fetched>>,
}

impl HttpSource {
    /// The cache key part of `op`: the digest of the content it names.
    pub fn key(&self, kiln: &Kiln, op: &SourceOp) -> Result<Digest, HttpError> {
        let f = self.resolve(kiln, op)?;
        Ok(Digest::sha256(format!("http\0{}", f.digest).as_bytes()))
    }

    /// The snapshot of `op` (fetched if this build has not yet).
    pub fn snapshot(&self, kiln: &Kiln, op: &SourceOp) -> Result<SnapshotId, HttpError> {
        Ok(SnapshotId(self.resolve(kiln, op)?.snapshot))
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, HttpError> {
        let c = self.client.get_or_init(|| {
            let tls = registry::web_tls_config().map_err(|e| e.to_string())?;
            let idle = std::env::var("KILN_HTTP_TIMEOUT")
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(60);
            reqwest::blocking::Client::builder()
                .tls_backend_preconfigured(tls)
                .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                .timeout(Duration::from_secs(idle))
                .redirect(reqwest::redirect::Policy::limited(10))
                .build()
                .map_err(|e| e.to_string())
        });
        c.as_ref().map_err(|e| HttpError::Client(e.clone()))
    }

    fn resolve(&self, kiln: &Kiln, op: &SourceOp) -> Result<Fetched, HttpError> {
        let url = op.identifier.as_str();
        let name = op
            .attrs
            .get("filename")
            .cloned()
            .unwrap_or_else(|| kiln_frontend::lower::url_file_name(url));
        let checksum = op
            .attrs
            .get("checksum")
            .map(|c| parse_checksum(c))
            .transpose()?;
        let memo_key = format!("{url}\0{name}\0{checksum:?}");
        if let Some(f) = self
            .memo
            .lock()
            .ok()
            .and_then(|m| m.get(&memo_key).cloned())
        {
            return Ok(f);
        }
        let f = self.fetch(kiln, url, &name, checksum.as_deref())?;
        if let Ok(mut m) = self.memo.lock() {
            m.insert(memo_key, f.clone());
        }
        Ok(f)
    }

    fn fetch(
        &self,
        kiln: &Kiln,
        url: &str,
        name: &str,
        checksum: Option<&str>,
    ) -> Result<Fetched, HttpError> {
        let meta_path = cache_path(kiln, url, name);
        let cached = read_cached(kiln, &meta_path);
        let check = |f: Fetched| match checksum {
            Some(want) if f.digest != want => Err(HttpError::Checksum {
                url: url.into(),
                expected: want.into(),
                actual: f.digest,
            }),
            _ => Ok(f),
        };
        if let (Some(c), Some(want)) = (&cached, checksum) {
            if c.digest == want {
                return Ok(c.clone());
            }
        }
        // The file is made (its name checked by `inroot`) before anything is asked.
        let target = Target::create(kiln, url, name)?;
        let mut req = self.client()?.get(url);
        if let Some(c) = &cached {
            if let Some(e) = &c.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(l) = &c.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, l);
            }
        }
        let resp = match req.send() {
            Ok(r) => r,
            Err(source) => {
                target.abort(kiln);
                return Err(HttpError::Request {
                    url: url.into(),
                    source,
                });
            }
        };
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            if let Some(c) = cached {
                target.abort(kiln);
                return check(c);
            }
        }
        if !resp.status().is_success() {
            target.abort(kiln);
            return Err(HttpError::Status {
                url: url.into(),
                status: resp.status().as_u16(),
            });
        }
        let header = |h: reqwest::header::HeaderName| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let (digest, snapshot) = target.fill(kiln, resp, last_modified.as_deref(), checksum)?;
        let f = Fetched {
            digest,
            snapshot: snapshot.0,
            etag,
            last_modified,
        };
        // Best effort: without the record, the next build downloads again.
        if let Err(e) = write_cached(&meta_path, &f) {
            log::warn!("cannot remember the download of {url}: {e}");
        }
        Ok(f)
    }
}

/// `sha256:<64 hex>` (lower-cased).
fn parse_checksum(c: &str) -> Result<String, HttpError> {
    let bad = || HttpError::BadChecksum(c.into());
    let hex = c.strip_prefix("sha256:").ok_or_else(bad)?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// The file an `ADD <url>` writes: created in a new snapshot before the request is sent.
struct Target {
    active: kiln_snapshot::Active,
    dir: inroot::Dir,
    file: std::fs::File,
    url: String,
    name: String,
}

impl Target {
    /// A new snapshot holding the empty file `name` (mode 0600), made through `inroot`: the
    /// name comes from the URL.
    fn create(kiln: &Kiln, url: &str, name: &str) -> Result<Target, HttpError> {
        let active = kiln.snapshots.prepare(None).map_err(|e| HttpError::Store {
            url: url.into(),
            what: "prepare a snapshot",
            source: Box::new(e),
        })?;
        let file_err = |source| HttpError::File {
            url: url.into(),
            name: name.into(),
            source,
        };
        let made = inroot::Root::open(&active.upper)
            .and_then(|root| root.dir())
            .and_then(|dir| {
                let file = dir.create_file(OsStr::new(name), 0o600)?;
                Ok((dir, file))
            });
        match made {
            Ok((dir, file)) => Ok(Target {
                active,
                dir,
                file,
                url: url.into(),
                name: name.into(),
            }),
            Err(e) => {
                let _ = kiln.snapshots.abort(active);
                Err(file_err(e))
            }
        }
    }

    /// Throw it away.
    fn abort(self, kiln: &Kiln) {
        drop(self.file);
        let _ = kiln.snapshots.abort(self.active);
    }

    /// Stream `body` into the file, hashing; date it `last_modified`; commit unless the digest
    /// is not `checksum` (then nothing is left). Returns the digest and the snapshot.
    fn fill(
        mut self,
        kiln: &Kiln,
        body: impl Read,
        last_modified: Option<&str>,
        checksum: Option<&str>,
    ) -> Result<(String, SnapshotId), HttpError> {
        let digest = match self.write(body, last_modified) {
            Ok(d) => d,
            Err(e) => {
                self.abort(kiln);
                return Err(e);
            }
        };
        if let Some(want) = checksum.filter(|w| *w != digest) {
            let url = self.url.clone();
            self.abort(kiln);
            return Err(HttpError::Checksum {
                url,
                expected: want.into(),
                actual: digest,
            });
        }
        let url = self.url.clone();
        drop(self.file);
        let id = kiln
            .snapshots
            .commit(self.active)
            .map_err(|e| HttpError::Store {
                url,
                what: "commit the snapshot",
                source: Box::new(e),
            })?;
        Ok((digest, id))
    }

    fn write(
        &mut self,
        mut body: impl Read,
        last_modified: Option<&str>,
    ) -> Result<String, HttpError> {
        let body_err = |source| HttpError::Body {
            url: self.url.clone(),
            source,
        };
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(body_err(e)),
            };
            hasher.update(&buf[..n]);
            self.file.write_all(&buf[..n]).map_err(body_err)?;
        }
        self.file.sync_data().map_err(body_err)?;
        if let Some(t) = last_modified.and_then(|l| httpdate::parse_http_date(l).ok()) {
            let secs = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            self.dir
                .set_times(OsStr::new(&self.name), (secs, 0), (secs, 0))
                .map_err(|source| HttpError::File {
                    url: self.url.clone(),
                    name: self.name.clone(),
                    source,
                })?;
        }
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    }
}

fn cache_path(kiln: &Kiln, url: &str, name: &str) -> PathBuf {
    let key = Digest::sha256(format!("{url}\0{name}").as_bytes());
    kiln.root
        .join("http-cache")
        .join(format!("{}.json", key.hex()))
}

/// The remembered download, if its snapshot is still whole.
fn read_cached(kiln: &Kiln, path: &std::path::Path) -> Option<Fetched> {
    let f: Fetched = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let id = SnapshotId(f.snapshot.clone());
    kiln.snapshots.exists(&id).then_some(f)
}

fn write_cached(path: &std::path::Path, f: &Fetched) -> std::io::Result<()> {
    let dir = path.parent().expect("cache files have a parent");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec(f).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
