//! A build context that changes under a COPY: a file swapped for a symlink to a host file, or
//! for other content, between the cache key's hashing and the copy (or during it). The image
//! must never get a file from outside the context, nor content the key was not made from.

use kiln_builder::context::Context;
use kiln_builder::fileop::{apply_actions, FileOpOptions};
use kiln_solver::{CopyAction, FileAction};
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};

const SECRET: &[u8] = b"root-only host secret\n";

fn copy(ctx: &Context, src: &str, dest: &std::path::Path) -> Result<(), String> {
    let action = FileAction::Copy(CopyAction::plain(1, src, "/out"));
    apply_actions(
        dest,
        &[ctx.source_root()],
        &[action],
        &FileOpOptions::default(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_file_swapped_for_a_symlink_after_hashing_is_not_followed_out() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let ctx_dir = tempfile::tempdir().unwrap();
    std::fs::write(ctx_dir.path().join("f"), b"public\n").unwrap();
    let ctx = Context::open(ctx_dir.path(), None).unwrap();
    ctx.content_digest(&["/f".into()], &[]).unwrap();
    std::fs::remove_file(ctx_dir.path().join("f")).unwrap();
    symlink(&secret, ctx_dir.path().join("f")).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let r = copy(&ctx, "/f", dest.path());
    assert!(r.is_err(), "the copy of a swapped file succeeded");
    assert!(!dest.path().join("out").exists());
}

#[test]
fn a_file_changed_after_hashing_fails_the_copy() {
    let ctx_dir = tempfile::tempdir().unwrap();
    std::fs::write(ctx_dir.path().join("f"), b"what was hashed\n").unwrap();
    let ctx = Context::open(ctx_dir.path(), None).unwrap();
    ctx.content_digest(&["/f".into()], &[]).unwrap();
    // Another file, same name: a new inode (an editor's save, or an attacker's swap).
    std::fs::write(ctx_dir.path().join("f.new"), b"something else!\n").unwrap();
    std::fs::rename(ctx_dir.path().join("f.new"), ctx_dir.path().join("f")).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let e = copy(&ctx, "/f", dest.path()).unwrap_err();
    assert!(e.contains("changed while the build was running"), "{e}");
    // Unchanged, the same context copies fine.
    let ctx = Context::open(ctx_dir.path(), None).unwrap();
    ctx.content_digest(&["/f".into()], &[]).unwrap();
    copy(&ctx, "/f", dest.path()).unwrap();
    assert_eq!(
        std::fs::read(dest.path().join("out")).unwrap(),
        b"something else!\n"
    );
}

/// A second thread swaps `dir/f` between a file and a symlink to the host secret as fast as it
/// can while COPYs of `dir` run: no copy may ever hold the secret.
#[test]
fn racing_swaps_never_bring_a_host_file_into_the_copy() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let ctx_dir = tempfile::tempdir().unwrap();
    let dir = ctx_dir.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), b"public\n").unwrap();
    // Prepared entries renamed over `f`, so every swap is atomic.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tmp = ctx_dir.path().join(format!("swap{n}"));
                if n.is_multiple_of(2) {
                    symlink(&secret, &tmp).unwrap();
                } else {
                    std::fs::write(&tmp, b"public\n").unwrap();
                }
                std::fs::rename(&tmp, dir.join("f")).unwrap();
                n += 1;
            }
        });
        for _ in 0..200 {
            let ctx = Context::open(ctx_dir.path(), None).unwrap();
            let _ = ctx.content_digest(&["/dir".into()], &[]);
            let dest = tempfile::tempdir().unwrap();
            let _ = copy(&ctx, "/dir", dest.path());
            // A symlink is copied as the symlink it is; a regular file must be the context's.
            let out = dest.path().join("out/f");
            if std::fs::symlink_metadata(&out).is_ok_and(|m| m.is_file()) {
                let got = std::fs::read(&out).unwrap();
                assert_ne!(got, SECRET, "a host file was copied out of the context");
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
}
