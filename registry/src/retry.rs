//! Bounded retries with exponential backoff, for transient failures only: connection errors,
//! timeouts, 429 and 5xx. A 4xx is an answer, never retried.

use std::time::Duration;

use reqwest::StatusCode;

/// How often and how patiently to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// The wait after the first failure; it doubles each time.
    pub initial_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, waiting 0.2 s, 0.4 s and 0.8 s: a dead host is reported in seconds.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based), with ±20% jitter, or the server's
    /// `Retry-After` when it gave one (never past `max_delay`).
    pub(crate) fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_delay);
        }
        let base = self
            .initial_delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max_delay);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = 0.8 + f64::from(nanos % 1000) / 2500.0;
        base.mul_f64(jitter).min(self.max_delay)
    }
}

/// Statuses worth another try.
pub(crate) fn transient_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS
        || (s.is_server_error()
            && s != StatusCode::NOT_IMPLEMENTED
            && s != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// Request failures worth another try (the request may not have reached the server, or its
/// answer was cut).
pub(crate) fn transient_error(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

/// A `Retry-After` in seconds.
pub(crate) fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let p = RetryPolicy::default();
        let d1 = p.delay(1, None);
        let d3 = p.delay(3, None);
        assert!(
            d1 >= Duration::from_millis(160) && d1 <= Duration::from_millis(240),
            "{d1:?}"
        );
        assert!(
            d3 >= Duration::from_millis(640) && d3 <= Duration::from_millis(960),
            "{d3:?}"
        );
        assert!(p.delay(30, None) <= p.max_delay);
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), p.max_delay);
    }

    #[test]
    fn only_transient_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(transient_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 416, 501] {
            assert!(!transient_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
