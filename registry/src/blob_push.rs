//! Pushing blobs: HEAD first, then a cross-repository mount when the blob is in another
//! repository of the registry (falling back to the upload the registry opens when it answers
//! 202), then an upload — monolithic, or chunked with `Content-Range` PATCHes — streamed from
//! a [`BlobSource`] and retried whole on transient failures.

use std::sync::Arc;

use oci::{Descriptor, Reference};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

use crate::auth::scope::ScopeSet;
use crate::client::{Client, Host};
use crate::error::{Error, Missing, Result};
use crate::manifest::DOCKER_CONTENT_DIGEST;
use crate::progress::Progress;
use crate::request::{Req, Subject, Target};
use crate::source::{BlobSource, Pump, SourceError};

/// How a blob came to be in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobPush {
    /// It was already there: nothing was sent.
    Exists,
    /// The registry linked it from another repository: nothing was sent.
    Mounted {
        /// The repository it came from.
        from: String,
    },
    /// Its bytes were uploaded.
    Uploaded,
}

/// An upload session the registry opened.
struct Session {
    url: Url,
    min_chunk: Option<u64>,
}

fn upload_subject(r: &Reference, desc: &Descriptor) -> Subject {
    Subject {
        what: format!("upload of blob {} to {}", desc.digest, r.name()),
        repository: r.repository.clone(),
        missing: Missing::Repository(r.repository.clone()),
    }
}

impl Client {
    /// Make blob `desc` present in `r`'s repository: nothing if it is there, a mount from the
    /// first of `mount_from` (same registry, other repository) that has it, else an upload
    /// from `source`.
    pub async fn push_blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        source: Arc<dyn BlobSource>,
        mount_from: &[Reference],
        progress: Arc<dyn Progress>,
    ) -> Result<BlobPush> {
        let host = self.host(&r.registry, false)?;
        if self
            .head_blob_on(&host, r, &desc.digest, ScopeSet::push(&r.repository))
            .await?
            .is_some()
        {
            progress.update(&desc.digest, desc.size, desc.size);
            return Ok(BlobPush::Exists);
        }
        let mut session = None;
        let candidates: Vec<&Reference> = mount_from
            .iter()
            .filter(|f| f.registry == r.registry && f.repository != r.repository)
            .collect();
        for (i, from) in candidates.iter().enumerate() {
            match self.mount(&host, r, from, desc).await {
                Ok(None) => {
                    progress.update(&desc.digest, desc.size, desc.size);
                    return Ok(BlobPush::Mounted {
                        from: from.repository.clone(),
                    });
                }
                Ok(Some(s)) if i + 1 == candidates.len() => session = Some(s),
                Ok(Some(s)) => self.cancel(&host, r, s).await,
                Err(
                    e
                    @ (Error::Unauthorized { .. } | Error::Denied { .. } | Error::NotFound { .. }),
                ) => {
                    log::debug!("mount of {} from {}: {e}", desc.digest, from.repository)
                }
                Err(e) => return Err(e),
            }
        }
        self.upload(&host, r, desc, source, session, progress)
            .await?;
        Ok(BlobPush::Uploaded)
    }

    /// POST `?mount=&from=` with one token for push on the target and pull on the source.
    /// `None`: mounted (201); a session: the registry opened an upload instead (202).
    async fn mount(
        &self,
        host: &Host,
        r: &Reference,
        from: &Reference,
        desc: &Descriptor,
    ) -> Result<Option<Session>> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("mount", &desc.digest)
            .append_pair("from", &from.repository)
            .finish();
        let path = format!("v2/{}/blobs/uploads/?{query}", r.repository);
        let scopes = ScopeSet::push(&r.repository).with(&from.repository, &["pull"]);
        let req = Req::new(Method::POST, Target::Path(path), scopes).header(CONTENT_LENGTH, "0");
        let resp = self.send(host, &req).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => {
                log::debug!(
                    "{} did not mount {} from {}; uploading",
                    host.name,
                    desc.digest,
                    from.repository
                );
                self.session(host, resp, r, desc).map(Some)
            }
            _ => Err(self.failure(host, resp, &upload_subject(r, desc)).await),
        }
    }

    async fn cancel(&self, host: &Host, r: &Reference, s: Session) {
        let req = Req::new(
            Method::DELETE,
            Target::Url(s.url),
            ScopeSet::push(&r.repository),
        );
        if let Err(e) = self.send(host, &req).await {
            log::debug!("cancelling an upload on {}: {e}", host.name);
        }
    }

    fn session(
        &self,
        host: &Host,
        resp: Response,
        r: &Reference,
        desc: &Descriptor,
    ) -> Result<Session> {
        let url = self.location(host, &resp, r, desc)?;
        let min_chunk = resp
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0);
        Ok(Session { url, min_chunk })
    }

    fn location(
        &self,
        host: &Host,
        resp: &Response,
        r: &Reference,
        desc: &Descriptor,
    ) -> Result<Url> {
        resp.headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| resp.url().join(l).ok())
            .ok_or_else(|| Error::InvalidResponse {
                registry: host.name.clone(),
                what: upload_subject(r, desc).what,
                detail: "no usable Location".into(),
            })
    }

    async fn start_upload(&self, host: &Host, r: &Reference, desc: &Descriptor) -> Result<Session> {
        let req = Req::new(
            Method::POST,
            Target::Path(format!("v2/{}/blobs/uploads/", r.repository)),
            ScopeSet::push(&r.repository),
        )
        .header(CONTENT_LENGTH, "0");
        let resp = self.send(host, &req).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.failure(host, resp, &upload_subject(r, desc)).await);
        }
        self.session(host, resp, r, desc)
    }

    async fn upload(
        &self,
        host: &Host,
        r: &Reference,
        desc: &Descriptor,
        source: Arc<dyn BlobSource>,
        mut session: Option<Session>,
        progress: Arc<dyn Progress>,
    ) -> Result<()> {
        let attempts = self.attempts(host);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let s = match session.take() {
                Some(s) => s,
                None => self.start_upload(host, r, desc).await?,
            };
            let chunk = match (self.inner.opts.chunk_size, s.min_chunk) {
                (Some(c), Some(m)) => Some(c.max(m)),
                (c, _) => c,
            }
            .filter(|c| *c > 0 && *c < desc.size);
            let pump = Pump::start(
                source.clone(),
                desc.size,
                chunk,
                desc.digest.clone(),
                progress.clone(),
            );
            let result = match chunk {
                None => self.put_whole(host, r, desc, s.url, &pump).await,
                Some(c) => self.put_chunks(host, r, desc, s.url, c, &pump).await,
            };
            let result = match (result, pump.take_error()) {
                (Err(_), Some(SourceError::Io(e))) => {
                    return Err(Error::Io {
                        what: format!("reading blob {} to push", desc.digest),
                        source: e,
                    })
                }
                (Err(_), Some(SourceError::Short(n))) => {
                    return Err(Error::SizeMismatch {
                        what: format!("blob {} to push", desc.digest),
                        expected: desc.size,
                        actual: n,
                    })
                }
                (r, _) => r,
            };
            match result {
                Err(e) if e.is_transient() && attempt < attempts => {
                    let wait = self.inner.opts.retry.delay(attempt, None);
                    log::debug!(
                        "upload of {} to {}: {e}; again in {wait:?}",
                        desc.digest,
                        host.name
                    );
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn put_whole(
        &self,
        host: &Host,
        r: &Reference,
        desc: &Descriptor,
        mut url: Url,
        pump: &Pump,
    ) -> Result<()> {
        url.query_pairs_mut().append_pair("digest", &desc.digest);
        let req = Req::new(Method::PUT, Target::Url(url), ScopeSet::push(&r.repository))
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, &desc.size.to_string());
        let resp = self
            .send_streaming(host, &req, pump.body(desc.size))
            .await?;
        self.finished(host, resp, r, desc).await
    }

    async fn put_chunks(
        &self,
        host: &Host,
        r: &Reference,
        desc: &Descriptor,
        mut url: Url,
        chunk: u64,
        pump: &Pump,
    ) -> Result<()> {
        let subj = upload_subject(r, desc);
        let mut offset = 0;
        while offset < desc.size {
            let len = chunk.min(desc.size - offset);
            let end = offset + len - 1;
            let req = Req::new(
                Method::PATCH,
                Target::Url(url.clone()),
                ScopeSet::push(&r.repository),
            )
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_RANGE, &format!("{offset}-{end}"))
            .header(CONTENT_LENGTH, &len.to_string());
            let resp = self.send_streaming(host, &req, pump.body(len)).await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(self.failure(host, resp, &subj).await);
            }
            let acked = resp
                .headers()
                .get(reqwest::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.trim()
                        .trim_start_matches("bytes=")
                        .split_once('-')
                        .map(|(_, e)| e.trim().parse::<u64>())
                });
            if let Some(Ok(e)) = acked {
                if e != end {
                    return Err(Error::InvalidResponse {
                        registry: host.name.clone(),
                        what: subj.what,
                        detail: format!("sent bytes up to {end}, the registry holds up to {e}"),
                    });
                }
            }
            url = self.location(host, &resp, r, desc)?;
            offset += len;
        }
        url.query_pairs_mut().append_pair("digest", &desc.digest);
        let req = Req::new(Method::PUT, Target::Url(url), ScopeSet::push(&r.repository))
            .header(CONTENT_LENGTH, "0");
        let resp = self.send(host, &req).await?;
        self.finished(host, resp, r, desc).await
    }

    async fn finished(
        &self,
        host: &Host,
        resp: Response,
        r: &Reference,
        desc: &Descriptor,
    ) -> Result<()> {
        let subj = upload_subject(r, desc);
        if !resp.status().is_success() {
            return Err(self.failure(host, resp, &subj).await);
        }
        let answered = resp
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| oci::Digest::parse(v.trim()).ok());
        match answered {
            Some(d) if d != desc.digest => Err(Error::DigestMismatch {
                what: subj.what,
                expected: desc.digest.clone(),
                actual: d,
            }),
            _ => Ok(()),
        }
    }
}
