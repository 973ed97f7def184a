//! Hostile inputs found while fuzzing (see `fuzz/README.md`): each must end in an error or a
//! plan, quickly and in bounded memory, never a panic or a hang.

#[path = "lower_common.rs"]
mod common;

use common::{err, plan};
use kiln_frontend::shell::MAX_WORD_LEN;
use std::time::{Duration, Instant};

/// Runs `f` and checks it finished within a generous bound (the bugs took minutes).
fn quickly<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    out
}

/// `ENV A=$A$A$A$A` twelve times would build a 167 MB string (exponential growth).
#[test]
fn exponential_env_chain_is_an_error() {
    let df = format!(
        "FROM busybox\nENV A=0123456789\n{}RUN true\n",
        "ENV A=$A$A$A$A\n".repeat(12)
    );
    let e = quickly(|| err(&df));
    assert!(
        e.contains(&format!(
            "expansion result longer than {MAX_WORD_LEN} bytes"
        )),
        "{e}"
    );
}

/// `${V//*x/}` on a long value was cubic in the value's length.
#[test]
fn pattern_replace_on_a_long_value_is_fast() {
    let df = format!(
        "FROM busybox\nENV V={}x{}\nENV W=${{V//*x/y}} U=${{V##*a}} T=${{V%%x*}}\n",
        "a".repeat(20_000),
        "b".repeat(100)
    );
    let p = quickly(|| plan(&df));
    let env = p.config.config.env.unwrap_or_default();
    assert!(env.contains(&format!("W=y{}", "b".repeat(100))), "{env:?}");
    assert!(env.contains(&format!("U=x{}", "b".repeat(100))), "{env:?}");
    assert!(
        env.contains(&format!("T={}", "a".repeat(20_000))),
        "{env:?}"
    );
}

/// A large ENV value copied into the environment of many RUN steps used to make lowering take
/// gigabytes (fuzzing finding); such a RUN can never start (E2BIG), so lowering now says so at the
/// first RUN.
#[test]
fn oversized_run_environment_is_rejected_early() {
    let mut df = String::from("FROM scratch\nENV A=0123456789abcdef\n");
    for _ in 0..15 {
        df.push_str("ENV A=$A$A\n"); // 16 B << 15 = 512 KiB
    }
    for i in 0..40 {
        df.push_str(&format!("ENV B{i}=$A\n"));
    }
    for _ in 0..40 {
        df.push_str("RUN true\n");
    }
    let opts = kiln_frontend::lower::BuildOptions::default();
    let err = kiln_frontend::lower::lower(&df, &opts, &NoImages)
        .unwrap_err()
        .to_string();
    assert!(err.contains("RUN cannot start"), "{err}");
    assert!(err.contains("environment variable A"), "{err}");

    // Within the limits a RUN lowers fine.
    let ok = "FROM scratch\nENV A=small\nRUN true\n";
    assert!(kiln_frontend::lower::lower(ok, &opts, &NoImages).is_ok());
}

struct NoImages;

impl kiln_frontend::lower::ImageResolver for NoImages {
    fn resolve(
        &self,
        reference: &str,
        _platform: &kiln_frontend::image::Platform,
    ) -> Result<kiln_frontend::lower::ResolvedImage, String> {
        Err(format!("no image {reference}"))
    }
}
