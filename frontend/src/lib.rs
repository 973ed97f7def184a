//! kiln's Dockerfile frontend: text → AST ([`parser`]) → typed instructions
//! ([`instructions`]) → a build graph ([`lower`]). Lowering and the checks ([`lint`]) read one
//! stage model, so they agree on what every stage name means. It knows nothing of disks or
//! processes: base images are described to it through [`lower::ImageResolver`], the context's
//! `.dockerignore` through [`lower::IgnoreMatcher`].

pub mod ast;
pub mod image;
pub mod instructions;
pub mod lint;
pub mod lower;
pub mod parser;
pub mod shell;
mod stages;
