//! kiln-oci: the OCI image-spec and distribution vocabulary every kiln crate speaks — digests,
//! descriptors, manifests, indexes, media types, image config (with docker's extra keys),
//! platforms and references — and nothing else: no I/O beyond hashing what it is given.
//!
//! # Guarantees
//!
//! * A [`Digest`] is always valid (`sha256:` + 64 lowercase hex, or `sha512:` + 128): parsing is
//!   the one validator of the workspace, and deserialising a document with a bad digest fails.
//! * Documents kiln writes are canonical JSON ([`to_canonical_json`]: keys sorted); documents it
//!   receives are hashed exactly as received ([`HashingReader`], [`Descriptor::verifies`]).
//! * [`Reference`] parses and normalises names as docker does (`busybox` is
//!   `docker.io/library/busybox:latest`).
//!
//! # Example
//!
//! ```
//! use oci::{Descriptor, Digest, Platform, Reference};
//! let r = Reference::parse("localhost:5000/app:1").unwrap();
//! assert_eq!(r.to_string(), "localhost:5000/app:1");
//! let d = Descriptor::of(oci::media::OCI_CONFIG, b"{}");
//! assert!(d.verifies(b"{}"));
//! assert_eq!(d.digest, Digest::sha256(b"{}"));
//! assert!(Platform::parse("linux/arm64/v8").unwrap().satisfies(&Platform::parse("linux/arm64").unwrap()));
//! ```

#![deny(missing_docs)]

mod canonical;
pub mod config;
mod descriptor;
mod digest;
mod manifest;
pub mod media;
mod platform;
mod reference;

pub use canonical::to_canonical_json;
pub use config::{ContainerConfig, Empty, HealthConfig, History, ImageConfig, RootFs};
pub use descriptor::{Descriptor, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME};
pub use digest::{Algorithm, Digest, DigestError, Hasher, HashingReader, HashingWriter};
pub use manifest::{Index, Manifest, ManifestError, ManifestKind, OciLayout};
pub use platform::{Platform, PlatformError};
pub use reference::{
    Reference, ReferenceError, DEFAULT_REGISTRY, DEFAULT_TAG, MAX_TAG_LEN, NAME_TOTAL_LENGTH_MAX,
};
