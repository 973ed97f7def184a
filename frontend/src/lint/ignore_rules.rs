//! CopyIgnoredFile: a COPY/ADD source from the build context that `.dockerignore` excludes
//! (BuildKit's `validateCopySourcePath`, `frontend/dockerfile/dockerfile2llb/validations.go`).

use super::rules::COPY_IGNORED_FILE;
use super::Sink;
use crate::ast::Node;
use crate::lower::{go_clean, is_git_source, is_http_source, IgnoreMatcher};

/// Reports the context sources of one COPY (`is_add` false) or ADD that `.dockerignore`
/// excludes. `sources` are expanded; remote ADD sources are not the context's.
///
/// As BuildKit: nothing when there is no `.dockerignore` or when it has `!` exceptions (a
/// directory may be excluded and a file in it let back in); `.` and `/` only when a pattern
/// excludes every entry of the root (`*`, `**`, `**/*`).
pub(crate) fn copy_ignored_files(
    ignore: Option<&dyn IgnoreMatcher>,
    is_add: bool,
    sources: &[String],
    node: &Node,
    sink: &mut Sink,
) {
    let Some(ignore) = ignore else { return };
    let patterns = ignore.patterns();
    if patterns.iter().any(|p| p.starts_with('!')) {
        return;
    }
    let root_ignored = patterns
        .iter()
        .any(|p| matches!(p.as_str(), "*" | "**" | "**/*"));
    let cmd = if is_add { "Add" } else { "Copy" };
    for src in sources {
        if is_add && (is_git_source(src) || is_http_source(src)) {
            continue;
        }
        let src = go_clean(src);
        if (src == "." || src == "/") && !root_ignored {
            continue;
        }
        if ignore.matches_or_parent_matches(&src) {
            sink.warn_at(
                &COPY_IGNORED_FILE,
                format!("Attempting to {cmd} file {src:?} that is excluded by .dockerignore"),
                node,
            );
        }
    }
}
