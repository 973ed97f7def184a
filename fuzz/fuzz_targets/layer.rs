//! Arbitrary bytes as a layer tar (plain, gzip or zstd: the snapshotter detects which):
//! `Snapshotter::apply_layer` in both storage modes, and `extract::extract_archive` as `ADD`
//! unpacks archives, into scratch roots. Neither may panic, hang or use unbounded memory, and
//! nothing outside the roots may appear: a sentinel directory beside them, which hostile entry
//! names and link targets aim at, must stay as it was.
#![no_main]

use kiln_snapshot::extract::{extract_archive, ExtractOptions};
use kiln_snapshot::{Mode, Snapshotter};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Scratch {
    base: PathBuf,
    overlay: Snapshotter,
    copy: Snapshotter,
}

/// The scratch area, made once per process: `/tmp/kiln-fuzz-layer-PID/{overlay,copy,add,sentinel}`.
fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("kiln-fuzz-layer-{}", std::process::id()));
        std::fs::create_dir_all(base.join("sentinel")).unwrap();
        std::fs::write(base.join("sentinel/secret"), b"host").unwrap();
        Scratch {
            overlay: Snapshotter::open_with_mode(&base.join("overlay"), Mode::Overlay).unwrap(),
            copy: Snapshotter::open_with_mode(&base.join("copy"), Mode::Copy).unwrap(),
            base,
        }
    })
}

fn sentinel_intact(s: &Scratch) {
    let names: Vec<_> = std::fs::read_dir(s.base.join("sentinel"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"], "something was written outside the roots");
    assert_eq!(std::fs::read(s.base.join("sentinel/secret")).unwrap(), b"host");
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    for snaps in [&s.overlay, &s.copy] {
        if let Ok((id, _)) = snaps.apply_layer(None, &mut &data[..]) {
            snaps.remove(&id).unwrap();
        }
        assert!(snaps.list().unwrap().is_empty(), "a refused layer left a snapshot");
    }
    let add = s.base.join("add");
    std::fs::create_dir_all(&add).unwrap();
    if let Ok(root) = inroot::Root::open(&add) {
        let _ = extract_archive(&root, "/dest", &mut &data[..], &ExtractOptions::default());
    }
    let _ = std::fs::remove_dir_all(&add);
    sentinel_intact(s);
});
