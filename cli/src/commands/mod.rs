//! One module per group of `kiln` subcommands.

pub mod about;
pub mod build;
pub mod check;
pub mod containers;
pub mod debug;
pub mod images;
pub mod manifest;
pub mod multiplatform;
pub mod output;
pub mod registry;
pub mod run;
pub mod system;
pub mod transfer;

use kiln_builder::Kiln;
use std::path::Path;

/// Open the kiln root or fail with a message naming it.
pub fn open(root: &Path) -> anyhow::Result<Kiln> {
    Ok(Kiln::open(root)?)
}
