//! Manifests and indexes: resolve a reference (HEAD, else GET), fetch the exact bytes (hashed
//! as received, bounded in size, checked against the digest and the descriptor), pick the
//! platform of an index, and PUT them back.

use oci::{media, Descriptor, Digest, Index, Manifest, ManifestKind, Platform, Reference};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::auth::scope::ScopeSet;
use crate::client::{Client, Host};
use crate::error::{Error, Missing, Result};
use crate::request::{read_limited, ReadError, Req, Subject, Target};

/// What kiln accepts as a manifest, best first.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The header registries put the digest in.
pub(crate) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A manifest or index exactly as the registry sent it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Its media type, digest (of the bytes received) and size.
    pub descriptor: Descriptor,
    /// The bytes, exactly as received.
    pub bytes: Vec<u8>,
    /// The parsed document.
    pub kind: ManifestKind,
}

/// An image resolved for one platform: its manifest, and the index it was chosen from.
#[derive(Debug, Clone)]
pub struct Image {
    /// The index (or docker manifest list) the reference named, if it named one.
    pub index: Option<FetchedManifest>,
    /// The image manifest's bytes and descriptor.
    pub manifest: FetchedManifest,
    /// The image manifest, parsed.
    pub parsed: Manifest,
}

/// The entry of `index` for platform `want` ([`Platform::best_match`]); when none fits, an
/// error listing the platforms the index has. `reference` names the image in that error.
pub fn select_platform<'a>(
    index: &'a Index,
    want: &Platform,
    reference: &str,
) -> Result<&'a Descriptor> {
    let entries: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| media::is_manifest(&d.media_type))
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os != "unknown" && p.architecture != "unknown")
        })
        .collect();
    let platforms: Vec<Platform> = entries.iter().filter_map(|d| d.platform.clone()).collect();
    match Platform::best_match(&platforms, want) {
        Some(i) => Ok(entries[i]),
        None => {
            let mut available: Vec<Platform> = Vec::new();
            for p in platforms {
                if !available.contains(&p) {
                    available.push(p);
                }
            }
            Err(Error::PlatformNotFound {
                reference: reference.to_string(),
                wanted: Box::new(want.clone()),
                available,
            })
        }
    }
}

fn manifest_ref(r: &Reference) -> String {
    match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => oci::DEFAULT_TAG.to_string(),
    }
}

fn subject(r: &Reference, reference: &str) -> Subject {
    let sep = if reference.contains(':') { "@" } else { ":" };
    let what = format!("{}{sep}{reference}", r.name());
    Subject {
        what: format!("manifest {what}"),
        repository: r.repository.clone(),
        missing: Missing::Manifest(what),
    }
}

fn content_type(h: &reqwest::header::HeaderMap) -> Option<String> {
    let v = h.get(CONTENT_TYPE)?.to_str().ok()?;
    let t = v.split(';').next().unwrap_or(v).trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The digest of `bytes`: the one asked for when fetched by digest, and the registry's
/// announced one (when it uses the same algorithm) when fetched by tag.
fn check_digest(
    bytes: &[u8],
    by_digest: Option<&Digest>,
    announced: Option<Digest>,
    subj: &Subject,
) -> Result<Digest> {
    let alg = by_digest
        .map(|d| d.algorithm())
        .unwrap_or(oci::Algorithm::Sha256);
    let mut hasher = oci::Hasher::new(alg);
    hasher.update(bytes);
    let digest = hasher.finish();
    let want = match by_digest {
        Some(w) => Some(w.clone()),
        None => announced.filter(|h| h.algorithm() == digest.algorithm()),
    };
    match want {
        Some(w) if w != digest => Err(Error::DigestMismatch {
            what: subj.what.clone(),
            expected: w,
            actual: digest,
        }),
        _ => Ok(digest),
    }
}

/// Parse a manifest or index served as `served`, refusing one that says it is another type.
fn parse_kind(bytes: &[u8], served: Option<&str>, what: &str) -> Result<ManifestKind> {
    ManifestKind::parse(bytes, served).map_err(|source| match source {
        oci::ManifestError::MediaTypeMismatch { served, document } => Error::MediaTypeMismatch {
            what: what.to_string(),
            expected: served,
            actual: document,
        },
        source => Error::Manifest {
            what: what.to_string(),
            source,
        },
    })
}

/// What was fetched must be what its descriptor says: size and media type (the digest was
/// checked as it was fetched by it).
fn check_descriptor(got: &Descriptor, want: &Descriptor, what: &str) -> Result<()> {
    if want.size != got.size {
        return Err(Error::SizeMismatch {
            what: what.to_string(),
            expected: want.size,
            actual: got.size,
        });
    }
    if want.media_type != got.media_type {
        return Err(Error::MediaTypeMismatch {
            what: what.to_string(),
            expected: want.media_type.clone(),
            actual: got.media_type.clone(),
        });
    }
    Ok(())
}

impl Client {
    /// The descriptor (digest, media type, size) a tag or digest names, by HEAD (a GET when
    /// the registry's HEAD does not say all three). Mirrors first.
    pub async fn resolve(&self, r: &Reference) -> Result<Descriptor> {
        self.on_pull_hosts(&r.registry, |h| async move { self.resolve_on(&h, r).await })
            .await
    }

    async fn resolve_on(&self, host: &Host, r: &Reference) -> Result<Descriptor> {
        let reference = manifest_ref(r);
        let subj = subject(r, &reference);
        let req = Req::new(
            Method::HEAD,
            Target::Path(format!("v2/{}/manifests/{reference}", r.repository)),
            ScopeSet::pull(&r.repository),
        )
        .header(ACCEPT, ACCEPT_MANIFESTS);
        let resp = self.send(host, &req).await?;
        if !resp.status().is_success() {
            return Err(self.failure(host, resp, &subj).await);
        }
        let h = resp.headers();
        let digest = h
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        let mt = content_type(h).filter(|m| media::is_manifest(m) || media::is_index(m));
        let size = h
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let (Some(d), Some(want)) = (&digest, &r.digest) {
            if d != want {
                return Err(Error::DigestMismatch {
                    what: subj.what,
                    expected: want.clone(),
                    actual: d.clone(),
                });
            }
        }
        match (digest, mt, size) {
            (Some(d), Some(mt), Some(size)) if size <= self.inner.opts.max_manifest_size => {
                Ok(Descriptor::new(&mt, d, size))
            }
            _ => Ok(self.get_manifest_on(host, r, None).await?.descriptor),
        }
    }

    /// The manifest or index `r` names (by its digest if it has one, else its tag), exactly as
    /// received: hashed as it arrives, refused past `max_manifest_size`, refused when fetched
    /// by digest and the bytes hash otherwise, and, when `expected` is given, refused unless
    /// its digest, size and media type are the descriptor's. Mirrors first.
    pub async fn get_manifest(
        &self,
        r: &Reference,
        expected: Option<&Descriptor>,
    ) -> Result<FetchedManifest> {
        self.on_pull_hosts(&r.registry, |h| async move {
            self.get_manifest_on(&h, r, expected).await
        })
        .await
    }

    async fn get_manifest_on(
        &self,
        host: &Host,
        r: &Reference,
        expected: Option<&Descriptor>,
    ) -> Result<FetchedManifest> {
        let by_digest = expected
            .map(|d| d.digest.clone())
            .or_else(|| r.digest.clone());
        let reference = by_digest
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_else(|| manifest_ref(r));
        let subj = subject(r, &reference);
        let req = Req::new(
            Method::GET,
            Target::Path(format!("v2/{}/manifests/{reference}", r.repository)),
            ScopeSet::pull(&r.repository),
        )
        .header(ACCEPT, ACCEPT_MANIFESTS);
        let resp = self.send(host, &req).await?;
        if !resp.status().is_success() {
            return Err(self.failure(host, resp, &subj).await);
        }
        let served = content_type(resp.headers());
        let header_digest = resp
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        let max = self.inner.opts.max_manifest_size;
        // A descriptor bounds what is read: one byte more than it says shows it is wrong.
        let limit = expected
            .map(|d| d.size.min(max).saturating_add(1))
            .unwrap_or(max);
        let bytes = match read_limited(resp, limit).await {
            Ok(b) => b,
            Err(ReadError::TooLarge) => {
                return Err(match expected {
                    Some(d) if d.size < max => Error::SizeMismatch {
                        what: subj.what,
                        expected: d.size,
                        actual: limit,
                    },
                    _ => Error::InvalidResponse {
                        registry: host.name.clone(),
                        what: subj.what,
                        detail: format!("manifest larger than {max} bytes"),
                    },
                })
            }
            Err(ReadError::Http(e)) => return Err(self.transport_error(host, 1, Box::new(e))),
        };
        let digest = check_digest(&bytes, by_digest.as_ref(), header_digest, &subj)?;
        let kind = parse_kind(&bytes, served.as_deref(), &subj.what)?;
        let media_type = match &kind {
            ManifestKind::Image(m) => m.media_type.clone(),
            ManifestKind::Index(i) => i.media_type.clone(),
        }
        .or(served.filter(|s| media::is_manifest(s) || media::is_index(s)))
        .unwrap_or_else(|| match &kind {
            ManifestKind::Image(_) => media::OCI_MANIFEST.to_string(),
            ManifestKind::Index(_) => media::OCI_INDEX.to_string(),
        });
        let fetched = FetchedManifest {
            descriptor: Descriptor::new(&media_type, digest, bytes.len() as u64),
            bytes,
            kind,
        };
        if let Some(d) = expected {
            check_descriptor(&fetched.descriptor, d, &subj.what)?;
        }
        Ok(fetched)
    }

    /// The image `r` names for `platform`: its manifest, through its index when it names one
    /// (the entry is fetched by digest and checked against the index's descriptor).
    pub async fn get_image(&self, r: &Reference, platform: &Platform) -> Result<Image> {
        let top = self.get_manifest(r, None).await?;
        match &top.kind {
            ManifestKind::Image(m) => Ok(Image {
                parsed: (**m).clone(),
                index: None,
                manifest: top,
            }),
            ManifestKind::Index(index) => {
                let entry = select_platform(index, platform, &r.to_string())?.clone();
                let mut child_ref = r.clone();
                child_ref.tag = None;
                child_ref.digest = Some(entry.digest.clone());
                let child = self.get_manifest(&child_ref, Some(&entry)).await?;
                match &child.kind {
                    ManifestKind::Image(m) => Ok(Image {
                        parsed: (**m).clone(),
                        index: Some(top),
                        manifest: child,
                    }),
                    ManifestKind::Index(_) => Err(Error::MediaTypeMismatch {
                        what: format!("manifest {child_ref}"),
                        expected: "an image manifest".into(),
                        actual: child.descriptor.media_type,
                    }),
                }
            }
        }
    }

    /// PUT `bytes` as a manifest or index of `media_type` under `r`'s tag (or, without a tag,
    /// its digest). The document must be of that media type; the digest returned is the one
    /// of the bytes sent, and the registry's must agree.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let digest = Digest::sha256(bytes);
        let what = format!("manifest {}", r.name());
        parse_kind(bytes, Some(media_type), &what)?;
        if let Some(d) = &r.digest {
            if *d != digest {
                return Err(Error::DigestMismatch {
                    what,
                    expected: d.clone(),
                    actual: digest,
                });
            }
        }
        let reference = r.tag.clone().unwrap_or_else(|| digest.to_string());
        let subj = subject(r, &reference);
        let host = self.host(&r.registry, false)?;
        let mut req = Req::new(
            Method::PUT,
            Target::Path(format!("v2/{}/manifests/{reference}", r.repository)),
            ScopeSet::push(&r.repository),
        )
        .header(CONTENT_TYPE, media_type);
        req.body = Some(bytes::Bytes::copy_from_slice(bytes));
        let resp = self.send(&host, &req).await?;
        if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
            return Err(self.failure(&host, resp, &subj).await);
        }
        let answered = resp
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .map(|v| Digest::parse(v.trim()));
        match answered {
            Some(Ok(d)) if d != digest => Err(Error::DigestMismatch {
                what: subj.what,
                expected: digest,
                actual: d,
            }),
            Some(Err(e)) => Err(Error::InvalidResponse {
                registry: host.name.clone(),
                what: subj.what,
                detail: format!("Docker-Content-Digest: {e}"),
            }),
            _ => Ok(digest),
        }
    }
}
