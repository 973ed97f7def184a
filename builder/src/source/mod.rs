//! Remote sources of `ADD`, one file per scheme (BuildKit's `source/manager.go`): [`http`]
//! downloads, [`git`] repositories. Each resolves a source op to a committed snapshot holding
//! what the op names, and gives the cache key part that identifies that content.

pub mod git;
pub mod http;

use kiln_solver::SourceOp;

/// The remote sources of one build.
#[derive(Default)]
pub struct Remote {
    pub http: http::HttpSource,
    pub git: git::GitSource,
}

/// Which remote scheme a source op is, if any.
pub fn kind(op: &SourceOp) -> Option<Kind> {
    let id = op.identifier.as_str();
    if kiln_frontend::lower::is_git_source(id) {
        Some(Kind::Git)
    } else if kiln_frontend::lower::is_http_source(id) {
        Some(Kind::Http)
    } else {
        None
    }
}

/// A remote source's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Git,
}
