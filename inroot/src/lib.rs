//! inroot: file operations confined to a root directory — the one way a path that comes from
//! an image, a tar, a build context or a registry becomes a file descriptor in kiln.
//!
//! # The guarantee
//!
//! Given a [`Root`] (a directory opened once, by a trusted host path), no path passed to its
//! methods and no symlink found on the way can make an operation act on anything outside that
//! directory:
//!
//! * paths are cleaned lexically first (`..` never climbs above the root), and every symlink met
//!   while resolving them is resolved *inside* the root, as `chroot` would: absolute targets
//!   start at the root, `..` stops there. The kernel does it where it can
//!   (`openat2(RESOLVE_IN_ROOT)`); elsewhere a walk of our own does, one component at a time
//!   on directory descriptors with `O_NOFOLLOW`;
//! * every operation on an entry works on the directory that holds it and the entry's own name
//!   ([`Dir`]), with calls that never follow a final symlink: `O_NOFOLLOW`/`O_EXCL` opens,
//!   `fchownat`/`utimensat` with `AT_SYMLINK_NOFOLLOW`, `fchmodat2` (or an `O_PATH` handle),
//!   `l*xattr` through the directory's descriptor, `unlinkat`;
//! * [`Dir::remove_all`] removes a tree without following links, and [`Dir::open_file`]
//!   refuses to open anything but a regular file (a device or fifo is never opened for I/O).
//!
//! Costs are linear: one system call per component, the last directory reached is remembered
//! (so a tar's entries, each one level below the last, cost one step each), and no operation
//! keeps more than a few descriptors open however deep the tree.
//!
//! It does not protect against another process that renames directories *out of* the root while
//! a walk is inside them (the kernel's `RESOLVE_IN_ROOT` does, the fallback walk checks `..` by
//! inode): the trees kiln works on are its own.
//!
//! # Example
//!
//! ```
//! # let t = tempfile::tempdir().unwrap();
//! # std::os::unix::fs::symlink("/etc", t.path().join("evil")).unwrap();
//! use std::ffi::OsStr;
//! use std::io::Write;
//! let root = inroot::Root::open(t.path()).unwrap();
//! // `evil -> /etc` resolves to `<root>/etc`, never to the host's /etc.
//! let (dir, name) = root
//!     .create_parent("evil/passwd", 0o755, &mut |_, _| Ok(()))
//!     .unwrap();
//! dir.create_file(&name, 0o644).unwrap().write_all(b"root:x:0:0::/:/bin/sh\n").unwrap();
//! assert!(t.path().join("etc/passwd").is_file());
//! ```

#![deny(missing_docs)]

mod dir;
mod error;
mod meta;
mod path;
mod remove;
mod root;

pub use dir::{Dir, NodeKind};
pub use error::{Error, Result};
pub use meta::{Kind, Meta};
pub use path::{clean, join};
pub use root::{Resolved, Root, MAX_SYMLINKS};
