//! kiln-snapshot
