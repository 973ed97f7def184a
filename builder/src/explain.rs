//! What cache-miss explanations are relative to: a build's scope, so that "the last build of
//! the same step" is the last build of the same Dockerfile on the same context.

use std::path::Path;

/// The explain scope of a build of `dockerfile` (its name as messages show it) on the context
/// directory `context` (canonical): steps are compared with the last build in the same scope.
pub fn scope(context: &Path, dockerfile: &str) -> String {
    format!("context={}\0dockerfile={dockerfile}", context.display())
}
