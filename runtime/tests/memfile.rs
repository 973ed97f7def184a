//! Files in memory (`MountKind::MemFile`, how build secrets reach a step): the content, owner
//! and mode asked for, read-only and sealed, on tmpfs, and nothing left in the rootfs's upper
//! layer or anywhere on disk.

mod common;

use common::{run_ok, Fixture};
use kiln_runtime::{MemData, MountKind, MountSpec};
use std::path::PathBuf;

fn memfile(dest: &str, data: &[u8], mode: u32, uid: u32, gid: u32) -> MountSpec {
    MountSpec {
        source: PathBuf::new(),
        dest: dest.into(),
        kind: MountKind::MemFile {
            data: MemData(data.to_vec()),
            mode,
            uid,
            gid,
        },
    }
}

#[test]
fn a_file_in_memory_has_its_content_owner_and_mode_and_is_sealed() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh(
        "cat /run/secrets/tok; echo; stat -c '%a %u %g %s' /run/secrets/tok; \
         grep ' /run/secrets/tok ' /proc/self/mountinfo | cut -d' ' -f6,9; \
         echo x >> /run/secrets/tok 2>/dev/null || echo read-only; \
         cat /deep/er/f",
    );
    spec.mounts = vec![
        memfile("/run/secrets/tok", b"s3cr3t-value", 0o440, 1000, 50),
        memfile("/deep/er/f", b"second\n", 0o400, 0, 0),
    ];
    let out = run_ok(&spec);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("s3cr3t-value"));
    assert_eq!(lines.next(), Some("440 1000 50 12"));
    let opts = lines.next().unwrap();
    let (mount_opts, fstype) = opts.split_once(' ').unwrap();
    assert_eq!(fstype, "tmpfs", "{out}");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(mount_opts.split(',').any(|x| x == o), "{o} in {out}");
    }
    assert_eq!(lines.next(), Some("read-only"));
    assert_eq!(lines.next(), Some("second"));
    // Mount points come from the stub layer: nothing was written to the upper layer.
    let upper: Vec<_> = walkdir(&f.path("upper"));
    assert!(upper.is_empty(), "upper layer holds {upper:?}");
}

#[test]
fn the_spec_never_shows_the_bytes() {
    let m = memfile("/x", b"do-not-print-me", 0o400, 0, 0);
    let shown = format!("{m:?}");
    assert!(!shown.contains("do-not-print-me"), "{shown}");
    assert!(shown.contains("15 bytes"), "{shown}");
}

fn walkdir(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}
