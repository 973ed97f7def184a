//! docker's human formats: sizes (`4.26MB`), ages (`2 weeks ago`), times, short IDs.

/// docker's `units.HumanSizeWithPrecision(n, 3)`: decimal units, 3 significant digits.
pub fn human_size(bytes: u64) -> String {
    human_size_precision(bytes, 3)
}

/// docker's `units.HumanSizeWithPrecision(n, precision)` (`%.{precision}g`).
pub fn human_size_precision(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // %.3g: three significant digits, trailing zeros removed.
    let digits_before = format!("{}", v.trunc() as u64).len();
    let decimals = precision.saturating_sub(digits_before);
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

/// docker's `units.HumanDuration` + " ago".
pub fn human_age(created: Option<&str>) -> String {
    match created.and_then(seconds_since) {
        Some(secs) => format!("{} ago", human_duration(secs)),
        None => "N/A".into(),
    }
}

/// The 12-hex-character short ID of a digest.
pub fn short_id(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

/// docker's `units.HumanDuration`: `Less than a second`, `5 minutes`, `About an hour`…
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if secs / 60 == 1 {
        "About a minute".into()
    } else if secs < 3600 {
        format!("{} minutes", secs / 60)
    } else if (secs as f64 / 3600.0).round() as i64 == 1 {
        "About an hour".into()
    } else if secs < 48 * 3600 {
        format!("{} hours", (secs as f64 / 3600.0).round() as i64)
    } else if secs < 7 * 24 * 3600 * 2 {
        format!("{} days", secs / (24 * 3600))
    } else if secs < 30 * 24 * 3600 * 3 {
        format!("{} weeks", secs / (7 * 24 * 3600))
    } else if secs < 365 * 24 * 3600 * 2 {
        format!("{} months", secs / (30 * 24 * 3600))
    } else {
        format!("{} years", secs / (365 * 24 * 3600))
    }
}

/// Seconds since an RFC 3339 time.
pub fn seconds_since(time: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    Some(chrono::Utc::now().timestamp() - t.timestamp())
}

/// An RFC 3339 time as Go prints a `time.Time` in docker's lists: `2026-12-01 10:03:47 +0000 UTC`.
pub fn go_time(time: Option<&str>) -> String {
    time.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_default()
}

/// Cut `s` to `n` characters, the last one an ellipsis (docker's `Ellipsis`).
pub fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(12_300_000), "12.3MB");
        assert_eq!(human_size(123_000_000), "123MB");
    }
}
