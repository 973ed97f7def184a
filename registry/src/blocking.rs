//! The blocking face, for callers on plain threads (the builder's solver workers): it owns a
//! small tokio runtime and waits on it. A blob fetch runs its network side on the runtime and
//! hands the bytes over a bounded channel to the calling thread, which hashes them and writes
//! the sink — so no tokio thread ever waits on the disk or on a caller's lock.
//!
//! Do not call it from inside a tokio runtime (use [`crate::Client`] there).

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use oci::{Descriptor, Digest, Hasher, Platform, Reference};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::client::ClientOptions;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::manifest::{FetchedManifest, Image};
use crate::progress::Progress;
use crate::sink::{BlobSink, MemorySink};
use crate::source::BlobSource;
use crate::BlobPush;

/// Bytes gathered before they are handed to the calling thread.
const HANDOFF: usize = 256 << 10;

/// How a verified fetch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// The bytes the sink already held and the registry was asked to skip (0: all fetched).
    pub resumed_from: u64,
    /// The bytes received in the final, successful attempt.
    pub transferred: u64,
}

/// The registry client for plain threads. Cheap to clone; every clone shares the runtime,
/// connections and tokens.
#[derive(Clone)]
pub struct Client {
    rt: Arc<Runtime>,
    inner: crate::Client,
}

enum Msg {
    Start(u64),
    Data(Bytes),
    End,
    Fail(Error),
}

/// Where a fetch failed.
enum Stage {
    /// Opening it (already retried by the request), or on this side (the sink).
    Open,
    /// Reading its body.
    Body { progressed: bool },
}

enum Outcome {
    Done(Fetched),
    Mismatch { start: u64, actual: Digest },
}

impl Client {
    /// A client with these options, on a runtime of its own (two worker threads).
    pub fn new(opts: ClientOptions) -> Result<Client> {
        Client::from_async(crate::Client::new(opts))
    }

    /// A client set up as docker and kiln are on this machine.
    pub fn from_env() -> Result<Client> {
        Client::from_async(crate::Client::from_env()?)
    }

    /// The blocking face of an asynchronous client.
    pub fn from_async(inner: crate::Client) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kiln-registry")
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                what: "starting the registry client's runtime".into(),
                source,
            })?;
        Ok(Client {
            rt: Arc::new(rt),
            inner,
        })
    }

    /// The asynchronous client behind it.
    pub fn asynchronous(&self) -> &crate::Client {
        &self.inner
    }

    fn wait<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// See [`crate::Client::resolve`].
    pub fn resolve(&self, r: &Reference) -> Result<Descriptor> {
        self.wait(self.inner.resolve(r))
    }

    /// See [`crate::Client::get_manifest`].
    pub fn get_manifest(
        &self,
        r: &Reference,
        expected: Option<&Descriptor>,
    ) -> Result<FetchedManifest> {
        self.wait(self.inner.get_manifest(r, expected))
    }

    /// See [`crate::Client::get_image`].
    pub fn get_image(&self, r: &Reference, platform: &Platform) -> Result<Image> {
        self.wait(self.inner.get_image(r, platform))
    }

    /// See [`crate::Client::head_blob`].
    pub fn head_blob(&self, r: &Reference, digest: &Digest) -> Result<Option<u64>> {
        self.wait(self.inner.head_blob(r, digest))
    }

    /// See [`crate::Client::push_blob`].
    pub fn push_blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        source: Arc<dyn BlobSource>,
        mount_from: &[Reference],
        progress: Arc<dyn Progress>,
    ) -> Result<BlobPush> {
        self.wait(self.inner.push_blob(r, desc, source, mount_from, progress))
    }

    /// See [`crate::Client::put_manifest`].
    pub fn put_manifest(&self, r: &Reference, media_type: &str, bytes: &[u8]) -> Result<Digest> {
        self.wait(self.inner.put_manifest(r, media_type, bytes))
    }

    /// See [`crate::Client::list_tags`].
    pub fn list_tags(&self, r: &Reference) -> Result<Vec<String>> {
        self.wait(self.inner.list_tags(r))
    }

    /// See [`crate::Client::check_login`].
    pub fn check_login(&self, registry: &str, creds: &Credentials) -> Result<()> {
        self.wait(self.inner.check_login(registry, creds))
    }

    /// A small blob (an image config) in memory, verified; refused past `limit` bytes.
    pub fn fetch_blob_bytes(
        &self,
        r: &Reference,
        desc: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>> {
        if desc.size > limit {
            return Err(Error::SizeMismatch {
                what: format!("blob {} (at most {limit} bytes accepted here)", desc.digest),
                expected: limit,
                actual: desc.size,
            });
        }
        let mut sink = MemorySink::with_limit(limit);
        self.fetch_blob(r, desc, &mut sink, &crate::NoProgress)?;
        Ok(sink.into_committed().unwrap_or_default())
    }

    /// Fetch blob `desc` of `r`'s repository into `sink`, streamed. What the sink already
    /// holds is asked for no more (a `Range` request) but is hashed with the rest; the sink
    /// is committed only when all the bytes hash to the digest and add up to the size, and is
    /// discarded when they do not (after one retry from the first byte if the mismatch may be
    /// the held part's). A connection broken mid-blob resumes where it broke, within the
    /// retry policy.
    pub fn fetch_blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        sink: &mut dyn BlobSink,
        progress: &dyn Progress,
    ) -> Result<Fetched> {
        let io = |what: &'static str| {
            let what = format!("{what} blob {}", desc.digest);
            move |source| Error::Io { what, source }
        };
        let attempts = self.inner.options().retry.attempts.max(1);
        let mut failures = 0;
        let mut from_zero = false;
        loop {
            let mut held = sink.held().map_err(io("reading the partial"))?;
            if held > desc.size || (from_zero && held > 0) {
                sink.reset().map_err(io("resetting the partial"))?;
                held = 0;
            }
            if held == desc.size && held > 0 {
                let mut h = Hasher::new(desc.digest.algorithm());
                hash_held(sink, held, &mut h).map_err(io("reading the partial"))?;
                let d = h.finish();
                if d == desc.digest {
                    sink.commit(&d, held).map_err(io("committing"))?;
                    progress.update(&desc.digest, held, desc.size);
                    return Ok(Fetched {
                        resumed_from: held,
                        transferred: 0,
                    });
                }
                sink.reset().map_err(io("resetting the partial"))?;
                from_zero = true;
                continue;
            }
            match self.fetch_once(r, desc, sink, held, progress) {
                Ok(Outcome::Done(f)) => return Ok(f),
                Ok(Outcome::Mismatch { start, actual }) => {
                    sink.discard();
                    if start > 0 && !from_zero {
                        log::warn!("blob {} did not verify after resuming at byte {start}; fetching it whole", desc.digest);
                        from_zero = true;
                        continue;
                    }
                    return Err(Error::DigestMismatch {
                        what: format!("blob {} in {}", desc.digest, r.name()),
                        expected: desc.digest.clone(),
                        actual,
                    });
                }
                // The open was retried already; a body broken off is resumed, without limit
                // while each attempt brings bytes, a few times when none do.
                Err((e, Stage::Body { progressed }))
                    if e.is_transient() && (progressed || failures + 1 < attempts) =>
                {
                    failures = if progressed { 0 } else { failures + 1 };
                    let wait = self.inner.options().retry.delay(failures.max(1), None);
                    log::debug!("fetch of {}: {e}; resuming in {wait:?}", desc.digest);
                    std::thread::sleep(wait);
                }
                Err((e @ Error::SizeMismatch { .. }, _)) => {
                    sink.discard();
                    return Err(e);
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn fetch_once(
        &self,
        r: &Reference,
        desc: &Descriptor,
        sink: &mut dyn BlobSink,
        held: u64,
        progress: &dyn Progress,
    ) -> std::result::Result<Outcome, (Error, Stage)> {
        let mut rx = self.spawn_download(r, desc, held);
        let io = |what: &'static str| {
            let what = format!("{what} blob {}", desc.digest);
            move |source| (Error::Io { what, source }, Stage::Open)
        };
        let gone = || {
            let source = std::io::Error::other("the fetch stopped without a word");
            let what = format!("fetching blob {}", desc.digest);
            (Error::Io { what, source }, Stage::Open)
        };
        let start = match rx.blocking_recv() {
            Some(Msg::Start(s)) => s,
            Some(Msg::Fail(e)) => return Err((e, Stage::Open)),
            _ => return Err(gone()),
        };
        let mut hasher = Hasher::new(desc.digest.algorithm());
        if start > 0 {
            hash_held(sink, start, &mut hasher).map_err(io("reading the partial"))?;
        } else if held > 0 {
            sink.reset().map_err(io("resetting the partial"))?;
        }
        let mut pos = start;
        progress.update(&desc.digest, pos, desc.size);
        loop {
            match rx.blocking_recv() {
                Some(Msg::Data(b)) => {
                    hasher.update(&b);
                    sink.write(&b).map_err(io("writing"))?;
                    pos += b.len() as u64;
                    progress.update(&desc.digest, pos, desc.size);
                }
                Some(Msg::End) => break,
                Some(Msg::Fail(e)) => {
                    return Err((
                        e,
                        Stage::Body {
                            progressed: pos > start,
                        },
                    ))
                }
                _ => return Err(gone()),
            }
        }
        let actual = hasher.finish();
        if actual != desc.digest {
            return Ok(Outcome::Mismatch { start, actual });
        }
        sink.commit(&actual, pos).map_err(io("committing"))?;
        Ok(Outcome::Done(Fetched {
            resumed_from: start,
            transferred: pos - start,
        }))
    }
}

impl Client {
    /// The network side of a fetch, on the runtime: open the blob at `held`, then hand its
    /// bytes over in pieces of about [`HANDOFF`] through a bounded channel.
    fn spawn_download(&self, r: &Reference, desc: &Descriptor, held: u64) -> mpsc::Receiver<Msg> {
        let (tx, rx) = mpsc::channel::<Msg>(16);
        let (client, r, desc) = (self.inner.clone(), r.clone(), desc.clone());
        self.rt.spawn(async move {
            let mut s = match client.open_blob(&r, &desc, held).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Msg::Fail(e)).await;
                    return;
                }
            };
            if tx.send(Msg::Start(s.start())).await.is_err() {
                return;
            }
            let mut buf = BytesMut::new();
            loop {
                let next = s.next_chunk().await;
                let end = !matches!(next, Ok(Some(_)));
                if let Ok(Some(b)) = &next {
                    buf.extend_from_slice(b);
                }
                if (buf.len() >= HANDOFF || end)
                    && !buf.is_empty()
                    && tx.send(Msg::Data(buf.split().freeze())).await.is_err()
                {
                    return;
                }
                match next {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        let _ = tx.send(Msg::End).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::Fail(e)).await;
                        return;
                    }
                }
            }
        });
        rx
    }
}

/// Hash exactly the first `n` bytes the sink holds.
fn hash_held(sink: &mut dyn BlobSink, n: u64, h: &mut Hasher) -> std::io::Result<()> {
    let mut r = sink.read_held()?.take(n);
    let mut buf = vec![0u8; HANDOFF];
    let mut total = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        total += k as u64;
    }
    if total != n {
        return Err(std::io::Error::other(format!(
            "the sink holds {total} bytes, not the {n} it said"
        )));
    }
    Ok(())
}
