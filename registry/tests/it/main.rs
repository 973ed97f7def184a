//! The registry client against real registries (Debian's `docker-registry`, started by the
//! harness): no mocks. One test binary, one module per concern.

mod common;

mod auth_basic;
mod auth_token;
mod credentials;
mod errors;
mod index;
mod interop;
mod mirrors;
mod resume;
mod retries;
mod roundtrip;
mod tls;
