//! Times the context-hashing phase alone: `context_digest DIR SELECTOR... [--reps N]` opens the
//! context at DIR (its `.dockerignore` applied, no stat cache: every file is read, as in a cold
//! build) and computes the content digest COPY would key on, N times (3 by default), printing
//! the digest and the seconds each took. `RAYON_NUM_THREADS=1` runs it on one thread.

use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut reps = 3;
    if let Some(i) = args.iter().position(|a| a == "--reps") {
        reps = args.get(i + 1).ok_or("--reps needs a number")?.parse()?;
        args.drain(i..i + 2);
    }
    let (dir, selectors) = args
        .split_first()
        .ok_or("usage: context_digest DIR SELECTOR...")?;
    for _ in 0..reps {
        let t = Instant::now();
        let ctx = kiln_builder::context::Context::open_default(Path::new(dir), None)?;
        let digest = ctx.content_digest(selectors, &[])?;
        println!(
            "{digest} {:.3}s {} files hashed",
            t.elapsed().as_secs_f64(),
            ctx.hashed_files()
        );
    }
    Ok(())
}
