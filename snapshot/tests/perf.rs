//! Timing smoke test on a real tree (ignored by default):
//! `KILN_PERF_TAR=/path/layer.tar cargo test --release --test perf -- --ignored --nocapture`

mod common;

use std::time::Instant;

use kiln_snapshot::{Compression, ContentStore, Mode};

#[test]
#[ignore]
fn apply_and_export_a_real_layer() {
    let Ok(path) = std::env::var("KILN_PERF_TAR") else {
        eprintln!("set KILN_PERF_TAR to a layer tar");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = common::open(dir.path(), Mode::Overlay);
    let cs = ContentStore::open(&dir.path().join("content")).unwrap();
    let t = Instant::now();
    let mut f = std::fs::File::open(&path).unwrap();
    let (id, diff_id) = s.apply_layer(None, &mut f).unwrap();
    eprintln!("apply: {:?} ({diff_id})", t.elapsed());
    let t = Instant::now();
    let mut sink = std::io::sink();
    s.write_diff(&id, &mut sink, None).unwrap();
    eprintln!("write_diff: {:?}", t.elapsed());
    for c in [Compression::Gzip, Compression::Zstd] {
        let t = Instant::now();
        let l = s.export_layer(&id, &cs, c, None).unwrap();
        eprintln!("export {c:?}: {:?} size {}", t.elapsed(), l.size);
    }
}
