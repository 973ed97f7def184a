//! The build context: `.dockerignore`, walking, content digests.
