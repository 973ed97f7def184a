//! `write_seeds DIR`: write the corpus cases that fit a fuzzer's input limit (32 KiB) as seed
//! files `DIR/hostile-NN`, aimed at a sentinel under the system temp directory. The deep-path
//! cases are left out: on this kernel a mkdir costs more the deeper it is, so they spend their
//! time in the kernel, not in the code under test (the tests cover them).

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: write_seeds DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let sentinel = kiln_hostile::Sentinel::new(&std::env::temp_dir());
    for (i, case) in kiln_hostile::corpus(&sentinel).iter().enumerate() {
        if case.tar.len() <= 32 << 10 && !case.name.contains("1500") {
            std::fs::write(dir.join(format!("hostile-{i:02}")), &case.tar).unwrap();
        }
    }
}
