//! kiln-registry: the OCI distribution client — pull and push manifests, indexes and blobs,
//! with docker's credentials, bearer tokens, TLS and mirrors.
//!
//! # Guarantees
//!
//! * **Nothing unverified is used.** A manifest is hashed exactly as received and refused when
//!   it was fetched by digest and hashes otherwise, when it is larger than the limit, or when
//!   its size or media type differ from the descriptor it was fetched for. A blob streams into
//!   a [`BlobSink`] that is committed only once every byte hashed to the descriptor's digest
//!   and the size is exact; otherwise it is discarded.
//! * **Streamed, never whole in memory**: blob fetches hand bytes over in 256 KiB pieces;
//!   pushes read a [`BlobSource`] in pieces, monolithic or chunked.
//! * **Typed errors** ([`Error`]): 401 ([`Error::Unauthorized`], saying to `kiln login`), 403,
//!   404, digest/size/media-type mismatches, a dead host after bounded retries
//!   ([`Error::Transport`], with a mirror hint for docker.io), TLS, a platform missing from an
//!   index (listing the ones it has).
//! * **docker's rules**: `~/.docker/config.json` (`DOCKER_CONFIG`) with `auths`, `credsStore`
//!   and `credHelpers`; `docker.io` is `registry-1.docker.io`; `/etc/docker/certs.d/<host>/`
//!   for CAs and client certificates; plain HTTP only for loopback and registries configured
//!   so. kiln's `kiln.toml` adds BuildKit's `[registry."host"]` sections (`mirrors`, `http`,
//!   `insecure`, `ca`, `keypair`).
//! * Bearer tokens are asked once per (registry, scope set) and cached until near expiry; a
//!   cross-repository mount asks one token for push on the target and pull on the source.
//!
//! The client is asynchronous inside ([`Client`]); [`blocking::Client`] owns a runtime for
//! callers on plain threads.
//!
//! # Example
//!
//! ```no_run
//! use registry::{blocking, ClientOptions, MemorySink, NoProgress};
//! let client = blocking::Client::new(ClientOptions::default())?;
//! let r = oci::Reference::parse("localhost:5000/app:1").unwrap();
//! let image = client.get_image(&r, &oci::Platform::host())?;
//! let mut config = MemorySink::new();
//! client.fetch_blob(&r, &image.parsed.config, &mut config, &NoProgress)?;
//! assert!(config.committed().is_some());
//! # Ok::<(), registry::Error>(())
//! ```

#![deny(missing_docs)]

mod auth;
mod authorize;
mod blob_pull;
mod blob_push;
pub mod blocking;
mod client;
mod config;
pub mod credentials;
mod error;
pub mod hosts;
mod manifest;
mod ping;
mod progress;
mod request;
mod retry;
mod sink;
mod source;
mod tags;
mod transport;

pub use blob_pull::BlobStream;
pub use blob_push::BlobPush;
pub use client::{Client, ClientOptions};
pub use config::{HostConfig, KeyPair, Paths, RegistryConfig};
pub use credentials::{CredentialError, CredentialStore, Credentials, DockerConfig};
pub use error::{BoxError, Error, Missing, Result};
pub use manifest::{select_platform, FetchedManifest, Image};
pub use progress::{NoProgress, Progress};
pub use retry::RetryPolicy;
pub use sink::{BlobSink, MemorySink};
pub use source::BlobSource;
pub use transport::web_tls_config;
