//! Arbitrary bytes → (lossy UTF-8) → `parser::parse`; on success also the BuildKit-style
//! dump and the typed-instruction conversion. Any panic, hang or runaway allocation is a bug:
//! hostile Dockerfiles must only ever produce errors.
#![no_main]

use kiln_frontend::{instructions, parser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(df) = parser::parse(&text, "Dockerfile") {
        let _ = parser::dump(&df);
        let _ = instructions::from_dockerfile(&df, "Dockerfile");
    }
});
