//! The local image store.
