//! `apply_tar TAR [ROOT]`: unpack a layer tar into a fresh snapshotter and print the seconds it
//! took (for bench scripts: extraction speed on hostile or large tars).

fn main() {
    let mut args = std::env::args().skip(1);
    let tar = args.next().expect("usage: apply_tar TAR [ROOT]");
    let root = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("apply-tar-{}", std::process::id())));
    let s = kiln_snapshot::Snapshotter::open(&root).expect("open snapshotter");
    let data = std::fs::read(&tar).expect("read tar");
    let t = std::time::Instant::now();
    let (id, _) = s.apply_layer(None, &mut &data[..]).expect("apply");
    let took = t.elapsed();
    println!("{:.6}", took.as_secs_f64());
    let _ = s.remove(&id);
    let _ = std::fs::remove_dir_all(&root);
}
