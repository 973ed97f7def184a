//! Random hex names for ids and temporary files.

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 128 random bits as 32 lowercase hex digits.
///
/// Reads `/dev/urandom`; if that fails, mixes the time, the pid and a process-wide counter
/// through sha256 (still unique across processes in practice).
pub(crate) fn random_hex128() -> String {
    let mut buf = [0u8; 16];
    let ok = File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!(
            "{nanos}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let d = crate::digest::sha256_digest(seed.as_bytes());
        return d["sha256:".len().."sha256:".len() + 32].to_string();
    }
    hex::encode(buf)
}
