//! Cache keys and vertex digests are content digests: the workspace's one [`oci::Digest`].

pub use oci::Digest;
