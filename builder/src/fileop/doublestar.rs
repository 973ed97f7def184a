//! `COPY --parents` sources holding `**`: BuildKit turns them into include patterns, where
//! `**` spans any number of directories, none included (`a/**/*.txt` matches `a/x.txt`).

use super::{FileOpError, SourceRoot};
use crate::context::pattern::{has_wildcard, DockerPattern};
use crate::context::resolve::rel_of;
use crate::context::walk::{walk_dir, WalkControl, WalkFilter};
use crate::context::DockerIgnore;
use inroot::Root;

/// Does the source path have a `**` segment?
pub(super) fn has_double_star(src: &str) -> bool {
    rel_of(src).split('/').any(|s| s.contains("**"))
}

/// The paths (relative to `root`, sorted, none inside another) that `src` matches, `**`
/// spanning any depth; entries `ignore` hides are left out.
pub(super) fn double_star_matches(
    root: &Root,
    src: &str,
    ignore: Option<&DockerIgnore>,
) -> Result<Vec<String>, FileOpError> {
    let rel = rel_of(src);
    let pattern =
        DockerPattern::compile(&rel).map_err(|e| FileOpError::BadPattern(e.to_string()))?;
    // Walk from the deepest directory named before the first wildcard.
    let base = rel
        .split('/')
        .take_while(|s| !has_wildcard(s))
        .collect::<Vec<_>>()
        .join("/");
    let dir = match root.open_dir(base.as_str()) {
        Ok(d) => d,
        Err(e) if e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    let filter = WalkFilter {
        exclude: ignore,
        include: None,
    };
    walk_dir(&dir, &base, filter, &mut |e| {
        if pattern.matches(&e.rel) {
            // A matched directory brings everything below it.
            out.push(e.rel.clone());
            return Ok(WalkControl::SkipDir);
        }
        Ok(WalkControl::Continue)
    })
    .map_err(FileOpError::io("read", root.shown_host_path(base.as_str())))?;
    Ok(out)
}

/// Extra cache-key selectors for a COPY source `sel` read from `src`: when it has a `**`
/// segment, every path it matches at any depth (as `/path`), so that editing one of them
/// changes the key; nothing otherwise.
pub fn double_star_selectors(src: &SourceRoot, sel: &str) -> Result<Vec<String>, FileOpError> {
    if !has_double_star(sel) {
        return Ok(Vec::new());
    }
    let root = Root::open(&src.root)?;
    Ok(double_star_matches(&root, sel, src.ignore.as_deref())?
        .into_iter()
        .map(|m| format!("/{m}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_star_spans_zero_or_more_directories() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a/one.txt", "a/b/two.txt", "a/b/c/three.md", "top.md"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        let root = Root::open(d.path()).unwrap();
        let m = |s: &str| double_star_matches(&root, s, None).unwrap();
        assert_eq!(m("/a/**/*.txt"), ["a/b/two.txt", "a/one.txt"]);
        assert_eq!(m("**/*.md"), ["a/b/c/three.md", "top.md"]);
        assert_eq!(m("/a/./b/**/three.md"), ["a/b/c/three.md"]);
        assert_eq!(m("/a/**/c"), ["a/b/c"]);
        assert!(m("/nope/**/x").is_empty());
        let ig = DockerIgnore::parse("a/b\n").unwrap();
        assert_eq!(
            double_star_matches(&root, "/a/**/*.txt", Some(&ig)).unwrap(),
            ["a/one.txt"]
        );
        assert!(has_double_star("/a/**/x") && !has_double_star("/a/*/x"));
    }
}
