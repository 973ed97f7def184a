//! The `created_by` texts BuildKit writes into image history, reproduced in Go's formatting.

use crate::image::HealthConfig;
use crate::instructions::format_duration;
use crate::parser::go_quote;

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_q_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", inner.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub fn go_v_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// `HEALTHCHECK {Test:[...] Interval:1s ...}` (Go's `%+v` of the health config).
pub fn healthcheck_text(h: &HealthConfig) -> String {
    let test = h.test.clone().unwrap_or_default();
    format!(
        "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        go_v_list(&test),
        format_duration(h.interval),
        format_duration(h.timeout),
        format_duration(h.start_period),
        format_duration(h.start_interval),
        h.retries
    )
}

/// `RUN`'s text: `|N k=v … argv…` when build args are in scope (values as the step saw
/// them), then the argv joined by spaces.
pub fn run_command_string(argv: &[String], args: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !args.is_empty() {
        parts.push(format!("|{}", args.len()));
        parts.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(argv.iter().cloned());
    parts.join(" ")
}
