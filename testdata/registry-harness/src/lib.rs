//! kiln-registry-harness: real registries for tests, no mocks. [`Registry`] starts Debian's
//! `docker-registry` (the CNCF distribution server) on 127.0.0.1 with a free port and a temp
//! storage folder, anonymous, with htpasswd basic auth, over TLS with a CA made at start, or
//! with token auth served by a [`TokenServer`] of its own that signs the JWTs the registry
//! verifies. [`CuttingProxy`] breaks connections to one mid-answer. [`image`] makes small
//! deterministic test images.
//!
//! ```no_run
//! let r = registry_harness::Registry::anonymous();
//! println!("push to {}/test/app:1", r.host());
//! ```

#![deny(missing_docs)]

pub mod image;
pub mod pki;
mod proxy;
mod registry;
mod token;

pub use proxy::CuttingProxy;
pub use registry::{available, Access, Auth, Options, Registry, REGISTRY_BINARY};
pub use token::{TokenPolicy, TokenRequest, TokenServer, ISSUER, SERVICE};
