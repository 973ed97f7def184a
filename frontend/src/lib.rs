//! kiln's Dockerfile frontend: text → AST ([`parser`]) → typed instructions
//! ([`instructions`]) → a build graph ([`lower`]). It knows nothing of disks or processes:
//! base images are described to it through [`lower::ImageResolver`].

pub mod ast;
pub mod image;
pub mod instructions;
pub mod lint;
pub mod lower;
pub mod parser;
pub mod platform;
pub mod shell;
