//! Wildcard resolution of COPY sources against the build context.

use kiln_builder::context::{Context, DockerIgnore, EntryKind};
use std::path::Path;

fn tree(files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for f in files {
        let p = d.path().join(f);
        if f.ends_with('/') {
            std::fs::create_dir_all(&p).expect("mkdir");
        } else {
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, f).expect("write");
        }
    }
    d
}

fn rels(ctx: &Context, pats: &[&str]) -> Vec<String> {
    let pats: Vec<String> = pats.iter().map(|s| s.to_string()).collect();
    ctx.resolve_sources(&pats)
        .expect("resolve")
        .into_iter()
        .map(|e| e.rel_path)
        .collect()
}

#[test]
fn wildcards_per_segment() {
    let d = tree(&[
        "foo.go",
        "bar.go",
        "baz.txt",
        "sub/dir1/dir2/foo",
        "sub/dir3/dir2/foo",
        "sub/x.go",
    ]);
    let ctx = Context::open(d.path(), None).expect("open");
    assert_eq!(rels(&ctx, &["/*.go"]), ["bar.go", "foo.go"]);
    assert_eq!(
        rels(&ctx, &["/sub/*/dir2/foo"]),
        ["sub/dir1/dir2/foo", "sub/dir3/dir2/foo"]
    );
    assert_eq!(rels(&ctx, &["/b?r.go", "/[fz]oo.go"]), ["bar.go", "foo.go"]);
    // `*` does not cross directories.
    assert_eq!(rels(&ctx, &["/*.go"]).len(), 2);
    assert!(rels(&ctx, &["/nomatch*"]).is_empty());
    assert_eq!(rels(&ctx, &["/", "."]), ["", ""]);
    let e = ctx
        .resolve_sources(&["/missing".into()])
        .expect_err("missing");
    assert_eq!(e.to_string(), "\"/missing\": not found");
}

#[test]
fn ignored_files_are_invisible() {
    let d = tree(&["a.txt", "b.txt", "keep/x", "keep/y", "node_modules/m/i.js"]);
    let ig = DockerIgnore::parse("*.txt\n!b.txt\nkeep\n!keep/y\nnode_modules\n").expect("parse");
    let ctx = Context::open(d.path(), Some(ig)).expect("open");
    assert_eq!(rels(&ctx, &["/*.txt"]), ["b.txt"]);
    assert!(ctx.resolve_sources(&["/a.txt".into()]).is_err());
    // `keep` is excluded but holds a re-included file, so it stays visible.
    assert_eq!(rels(&ctx, &["/keep"]), ["keep"]);
    assert!(ctx.resolve_sources(&["/keep/x".into()]).is_err());
    assert!(ctx.resolve_sources(&["/node_modules".into()]).is_err());
    let listed: Vec<String> = ctx
        .list()
        .expect("list")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(listed, ["b.txt", "keep", "keep/y"]);
}

#[test]
fn symlinked_dirs_resolve_inside_the_context() {
    let d = tree(&["sub/foo"]);
    std::os::unix::fs::symlink("sub", d.path().join("link")).expect("symlink");
    std::os::unix::fs::symlink("/sub", d.path().join("abs")).expect("symlink");
    let ctx = Context::open(d.path(), None).expect("open");
    let e = ctx
        .resolve_sources(&["/link/foo".into(), "/abs/f*".into()])
        .expect("resolve");
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].path, d.path().join("sub/foo"));
    assert_eq!(e[1].kind, EntryKind::File);
    let l = ctx.resolve_sources(&["/link".into()]).expect("resolve");
    assert_eq!(l[0].kind, EntryKind::Symlink);
}

#[test]
fn per_dockerfile_ignore_wins() {
    let d = tree(&["Dockerfile", "foo", "bar"]);
    std::fs::write(d.path().join(".dockerignore"), "foo").expect("write");
    std::fs::write(d.path().join("Dockerfile.dockerignore"), "bar").expect("write");
    let c = Context::open_default(d.path(), Some(&d.path().join("Dockerfile"))).expect("open");
    assert!(c.resolve_sources(&["/foo".into()]).is_ok());
    assert!(c.resolve_sources(&["/bar".into()]).is_err());
    let c = Context::open_default(d.path(), None).expect("open");
    assert!(c.resolve_sources(&["/foo".into()]).is_err());
    let bad: &Path = d.path();
    std::fs::write(bad.join(".dockerignore"), "[").expect("write");
    let err = Context::open_default(bad, None).expect_err("bad pattern");
    assert!(err.to_string().contains("\"[\""), "{err}");
}
