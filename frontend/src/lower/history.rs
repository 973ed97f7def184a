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

/// Go's `%v` of a `map[string]struct{}`: `map[a:{} b:{}]`, keys sorted and once each.
pub fn go_v_set(items: &[String]) -> String {
    let keys: std::collections::BTreeSet<&str> = items.iter().map(String::as_str).collect();
    let inner: Vec<String> = keys.iter().map(|k| format!("{k}:{{}}")).collect();
    format!("map[{}]", inner.join(" "))
}

/// `HEALTHCHECK &{["CMD" "true"] "5s" "0s" "0s" '\x00'}`: Go's `%q` of the health config, as
/// Docker 20.10's BuildKit (and every BuildKit until d67dafeb8, April 2026) writes it. The
/// start interval, which Docker 20.10 does not know, appears after the start period only when
/// it is set, as the BuildKits that know it write it.
pub fn healthcheck_text(h: &HealthConfig) -> String {
    let test = h.test.clone().unwrap_or_default();
    let mut durations = vec![h.interval, h.timeout, h.start_period];
    if h.start_interval != 0 {
        durations.push(h.start_interval);
    }
    let durations: Vec<String> = durations
        .into_iter()
        .map(|d| go_quote(&format_duration(d)))
        .collect();
    format!(
        "HEALTHCHECK &{{{} {} {}}}",
        go_q_list(&test),
        durations.join(" "),
        go_quote_rune(h.retries)
    )
}

/// Go's `%q` of an integer: a quoted character literal (`'\x00'`, `'A'`, `'\n'`).
pub fn go_quote_rune(n: i64) -> String {
    let c = u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    let body = match c {
        '\'' => "\\'".to_string(),
        '\\' => "\\\\".to_string(),
        '\u{7}' => "\\a".to_string(),
        '\u{8}' => "\\b".to_string(),
        '\u{c}' => "\\f".to_string(),
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        '\t' => "\\t".to_string(),
        '\u{b}' => "\\v".to_string(),
        ' '..='~' => c.to_string(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c if !c.is_control() && !c.is_whitespace() => c.to_string(),
        c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
        c => format!("\\U{:08x}", c as u32),
    };
    format!("'{body}'")
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
