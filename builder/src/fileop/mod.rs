//! Filesystem actions of file ops (COPY/ADD semantics).
