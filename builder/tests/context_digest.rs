//! Content digests of context selections and the persistent stat cache.

use kiln_builder::context::{Context, DockerIgnore};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path();
    std::fs::create_dir_all(p.join("src/deep")).expect("mkdir");
    std::fs::write(p.join("src/a.rs"), "a").expect("write");
    std::fs::write(p.join("src/deep/b.rs"), "b").expect("write");
    std::fs::write(p.join("src/notes.tmp"), "tmp").expect("write");
    std::fs::write(p.join("README"), "readme").expect("write");
    std::fs::write(p.join("other"), "other").expect("write");
    std::fs::write(p.join(".dockerignore"), "**/*.tmp\n").expect("write");
    d
}

fn digest(dir: &Path, sel: &[&str], ex: &[&str]) -> String {
    let ctx = Context::open_default(dir, None).expect("open");
    ctx.content_digest(&s(sel), &s(ex)).expect("digest")
}

#[test]
fn digest_tracks_exactly_the_selection() {
    let d = setup();
    let p = d.path();
    let base = digest(p, &["/src", "/README"], &[]);
    assert!(base.starts_with("sha256:") && base.len() == 71);
    assert_eq!(base, digest(p, &["/src", "/README"], &[]), "stable");

    // Unselected and ignored files do not count.
    std::fs::write(p.join("other"), "changed").expect("write");
    std::fs::write(p.join("src/notes.tmp"), "changed").expect("write");
    std::fs::write(p.join("src/new.tmp"), "new").expect("write");
    assert_eq!(base, digest(p, &["/src", "/README"], &[]));

    // mtime alone does not count.
    let f = std::fs::File::options()
        .write(true)
        .open(p.join("README"))
        .expect("open");
    f.set_modified(std::time::SystemTime::UNIX_EPOCH)
        .expect("mtime");
    assert_eq!(base, digest(p, &["/src", "/README"], &[]));

    // Content, mode and name of a selected file do.
    std::fs::write(p.join("src/deep/b.rs"), "B").expect("write");
    let c1 = digest(p, &["/src", "/README"], &[]);
    assert_ne!(base, c1);
    std::fs::set_permissions(p.join("src/a.rs"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let c2 = digest(p, &["/src", "/README"], &[]);
    assert_ne!(c1, c2);
    std::fs::rename(p.join("src/a.rs"), p.join("src/c.rs")).expect("rename");
    let c3 = digest(p, &["/src", "/README"], &[]);
    assert_ne!(c2, c3);
    std::os::unix::fs::symlink("a.rs", p.join("src/l")).expect("symlink");
    let c4 = digest(p, &["/src", "/README"], &[]);
    assert_ne!(c3, c4);
    std::fs::remove_file(p.join("src/l")).expect("rm");
    std::os::unix::fs::symlink("b.rs", p.join("src/l")).expect("symlink");
    assert_ne!(
        c4,
        digest(p, &["/src", "/README"], &[]),
        "symlink target counts"
    );
}

#[test]
fn wildcards_and_excludes() {
    let d = setup();
    let p = d.path();
    let a = digest(p, &["/src/*.rs"], &[]);
    std::fs::write(p.join("src/deep/b.rs"), "changed").expect("write");
    assert_eq!(
        a,
        digest(p, &["/src/*.rs"], &[]),
        "deep/b.rs is not matched by *.rs"
    );
    let e = digest(p, &["/src"], &["deep"]);
    std::fs::write(p.join("src/deep/b.rs"), "again").expect("write");
    assert_eq!(
        e,
        digest(p, &["/src"], &["deep"]),
        "--exclude'd dir does not count"
    );
    assert_ne!(digest(p, &["/src"], &[]), e);
    let err = Context::open_default(p, None)
        .expect("open")
        .content_digest(&s(&["/nope"]), &[])
        .expect_err("missing");
    assert_eq!(err.to_string(), "\"/nope\": not found");
}

#[test]
fn stat_cache_avoids_rereading() {
    let d = setup();
    // A file changed in the last two seconds is never cached (its stat may not change with its
    // content on a coarse-timestamp filesystem): let the new files settle.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_dir.path().join("stat.json");
    let ctx = Context::open_default(d.path(), None)
        .expect("open")
        .with_stat_cache(cache.clone());
    let first = ctx.content_digest(&s(&["/"]), &[]).expect("digest");
    // README, other, .dockerignore, src/a.rs, src/deep/b.rs (notes.tmp is ignored).
    assert_eq!(ctx.hashed_files(), 5);

    let ctx = Context::open_default(d.path(), None)
        .expect("open")
        .with_stat_cache(cache.clone());
    assert_eq!(ctx.content_digest(&s(&["/"]), &[]).expect("digest"), first);
    assert_eq!(ctx.hashed_files(), 0, "unchanged files come from the cache");

    std::fs::write(d.path().join("README"), "new readme").expect("write");
    let ctx = Context::open_default(d.path(), None)
        .expect("open")
        .with_stat_cache(cache.clone());
    assert_ne!(ctx.content_digest(&s(&["/"]), &[]).expect("digest"), first);
    assert_eq!(ctx.hashed_files(), 1);

    // A corrupt cache file is ignored.
    std::fs::write(&cache, b"\x00garbage{").expect("write");
    let ctx = Context::open_default(d.path(), None)
        .expect("open")
        .with_stat_cache(cache);
    ctx.content_digest(&s(&["/"]), &[]).expect("digest");
    assert_eq!(ctx.hashed_files(), 5);
}

#[test]
fn ignore_file_patterns_do_not_affect_other_selections() {
    let d = setup();
    let ig = DockerIgnore::parse("README").expect("parse");
    let ctx = Context::open(d.path(), Some(ig)).expect("open");
    assert!(ctx.content_digest(&s(&["/README"]), &[]).is_err());
    assert!(ctx.content_digest(&s(&["/src"]), &[]).is_ok());
}

/// The digest walks the context on every core: what it covers, and in which order, is what the
/// sequential listing walk (`Context::list`, the context as BuildKit would send it) sees, and
/// the digest is the same on any number of threads.
#[test]
fn the_digest_covers_the_listing_on_any_number_of_threads() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path();
    for i in 0..12 {
        for j in 0..3 {
            let sub = p.join(format!("d{i:02}/s{j}"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            for f in 0..40 {
                std::fs::write(sub.join(format!("f{f:02}.txt")), format!("{i} {j} {f}"))
                    .expect("write");
            }
            std::fs::write(sub.join("keep.md"), "k").expect("write");
        }
    }
    std::fs::create_dir_all(p.join("logs/x/y")).expect("mkdir");
    std::fs::write(p.join("logs/x/y/keep.txt"), "kept").expect("write");
    std::fs::write(p.join("logs/x/drop.txt"), "dropped").expect("write");
    std::os::unix::fs::symlink("../d00", p.join("d01/link")).expect("symlink");
    std::fs::write(
        p.join(".dockerignore"),
        "d1*\n!d1*/s1/keep.md\nlogs\n!logs/x/y/keep.txt\n*/s2/f1*\n",
    )
    .expect("write");
    let ctx = Context::open_default(p, None).expect("open");
    let listed: Vec<String> = ctx.list().expect("list").into_iter().map(|e| e.0).collect();
    assert!(listed.contains(&"logs/x/y/keep.txt".to_string()));
    assert!(listed.contains(&"d10/s1/keep.md".to_string()));
    assert!(!listed.iter().any(|l| l.starts_with("d10/s0")));
    let mut digests = Vec::new();
    for threads in [1, 2, 7] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let (digest, entries) = pool.install(|| {
            let sel = s(&["/"]);
            (
                ctx.content_digest(&sel, &[]).expect("digest"),
                ctx.content_entries_with(&sel, &[], true).expect("entries"),
            )
        });
        let covered: Vec<String> = entries
            .into_iter()
            .map(|e| e.path)
            .filter(|p| !p.is_empty())
            .collect();
        assert_eq!(covered, listed, "on {threads} threads");
        digests.push(digest);
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
}
