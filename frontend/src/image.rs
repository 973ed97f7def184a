//! The image configuration (OCI image config plus docker's extra keys) and platforms: the
//! workspace's OCI vocabulary, from the `oci` crate.

pub use oci::{ContainerConfig, Empty, HealthConfig, History, ImageConfig, Platform, RootFs};
