//! Reading blobs: HEAD, and GET as a stream of chunks that never runs past the descriptor's
//! size, from an offset with a `Range` request when the caller already holds the start.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use oci::{Descriptor, Digest, Reference};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{Method, StatusCode};

use crate::auth::scope::ScopeSet;
use crate::client::{Client, Host};
use crate::error::{Error, Missing, Result};
use crate::request::{Req, Subject, Target};

/// A blob's body as it arrives. The caller hashes it (with what it already held) and checks
/// the digest before using it; this stream only guarantees the bytes end at the descriptor's
/// size (more is an error, and so is less).
pub struct BlobStream {
    start: u64,
    position: u64,
    size: u64,
    what: String,
    registry: String,
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("what", &self.what)
            .field("start", &self.start)
            .field("position", &self.position)
            .field("size", &self.size)
            .finish()
    }
}

impl BlobStream {
    /// The offset of the first byte this stream yields: the one asked for when the registry
    /// honoured the range, else 0 (the caller must drop what it held).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The registry that serves it (a mirror's name when a mirror does).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The next bytes; `None` at the end (exactly at the descriptor's size).
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        match self.body.next().await {
            Some(Ok(b)) => {
                self.position += b.len() as u64;
                if self.position > self.size {
                    return Err(Error::SizeMismatch {
                        what: self.what.clone(),
                        expected: self.size,
                        actual: self.position,
                    });
                }
                Ok(Some(b))
            }
            Some(Err(e)) => Err(Error::Transport {
                registry: self.registry.clone(),
                attempts: 1,
                hint: None,
                source: Box::new(e),
            }),
            None if self.position < self.size => Err(Error::SizeMismatch {
                what: self.what.clone(),
                expected: self.size,
                actual: self.position,
            }),
            None => Ok(None),
        }
    }
}

fn blob_subject(r: &Reference, digest: &Digest) -> Subject {
    Subject {
        what: format!("blob {digest} in {}", r.name()),
        repository: r.repository.clone(),
        missing: Missing::Blob {
            repository: r.name(),
            digest: digest.clone(),
        },
    }
}

/// `bytes START-END/TOTAL` → (start, total if known).
fn content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

/// Where a 206 answer starts: it must be where it was asked to, of a blob of the
/// descriptor's size.
fn partial_start(
    resp: &reqwest::Response,
    offset: u64,
    desc: &Descriptor,
    host: &Host,
    subj: &Subject,
) -> Result<u64> {
    let header = resp.headers().get(CONTENT_RANGE);
    match header.and_then(|v| v.to_str().ok()).and_then(content_range) {
        Some((s, total)) if s == offset && total.is_none_or(|t| t == desc.size) => Ok(s),
        Some((s, Some(total))) if s == offset => Err(Error::SizeMismatch {
            what: subj.what.clone(),
            expected: desc.size,
            actual: total,
        }),
        _ => Err(Error::InvalidResponse {
            registry: host.name.clone(),
            what: subj.what.clone(),
            detail: format!("asked for bytes from {offset}, got {header:?}"),
        }),
    }
}

impl Client {
    /// The size of blob `digest` in `r`'s repository, or `None` when it is not there. Asks
    /// the registry itself, never a mirror (this is what a push checks).
    pub async fn head_blob(&self, r: &Reference, digest: &Digest) -> Result<Option<u64>> {
        let host = self.host(&r.registry, false)?;
        self.head_blob_on(&host, r, digest, ScopeSet::pull(&r.repository))
            .await
    }

    pub(crate) async fn head_blob_on(
        &self,
        host: &Host,
        r: &Reference,
        digest: &Digest,
        scopes: ScopeSet,
    ) -> Result<Option<u64>> {
        let req = Req::new(
            Method::HEAD,
            Target::Path(format!("v2/{}/blobs/{digest}", r.repository)),
            scopes,
        );
        let resp = self.send(host, &req).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.failure(host, resp, &blob_subject(r, digest)).await),
        }
    }

    /// Open blob `desc` of `r`'s repository for reading from byte `offset` (0: all of it).
    /// Mirrors first. See [`BlobStream::start`] for a registry that ignores the range.
    pub async fn open_blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream> {
        self.on_pull_hosts(&r.registry, |h| async move {
            self.open_blob_on(&h, r, desc, offset).await
        })
        .await
    }

    async fn open_blob_on(
        &self,
        host: &Host,
        r: &Reference,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream> {
        let subj = blob_subject(r, &desc.digest);
        let mut offset = if offset < desc.size { offset } else { 0 };
        loop {
            let mut req = Req::new(
                Method::GET,
                Target::Path(format!("v2/{}/blobs/{}", r.repository, desc.digest)),
                ScopeSet::pull(&r.repository),
            );
            if offset > 0 {
                req = req.header(RANGE, &format!("bytes={offset}-"));
            }
            let resp = self.send(host, &req).await?;
            let status = resp.status();
            let length = resp.content_length();
            let start = match status {
                StatusCode::PARTIAL_CONTENT if offset > 0 => {
                    partial_start(&resp, offset, desc, host, &subj)?
                }
                StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                    log::debug!(
                        "{} refused the range of {}; fetching it whole",
                        host.name,
                        subj.what
                    );
                    offset = 0;
                    continue;
                }
                s if s.is_success() && s != StatusCode::PARTIAL_CONTENT => 0,
                _ => return Err(self.failure(host, resp, &subj).await),
            };
            if let Some(n) = length {
                if start + n != desc.size {
                    return Err(Error::SizeMismatch {
                        what: subj.what,
                        expected: desc.size,
                        actual: start + n,
                    });
                }
            }
            if offset > 0 && start == 0 {
                log::debug!(
                    "{} ignored the range of {}; fetching it whole",
                    host.name,
                    subj.what
                );
            }
            return Ok(BlobStream {
                start,
                position: start,
                size: desc.size,
                what: subj.what,
                registry: host.name.clone(),
                body: Box::pin(resp.bytes_stream()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_ranges() {
        assert_eq!(
            super::content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(super::content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(super::content_range("items 1-2/3"), None);
        assert_eq!(super::content_range("bytes x-1/2"), None);
    }
}
