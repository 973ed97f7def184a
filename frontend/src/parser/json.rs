//! The JSON ("exec") form of instruction arguments.

use super::error::RawError;

/// The error BuildKit gives for JSON arrays holding anything but strings.
pub(crate) const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Outcome of trying the JSON form.
pub(crate) enum JsonArgs {
    /// A JSON array of strings.
    Strings(Vec<String>),
    /// Not JSON (fall back to the shell/whitespace form).
    NotJson,
}

/// Parses `rest` as a JSON array of strings. Text after the array other than white space makes
/// it shell form (BuildKit's testInvalidJSONCommands: `ENTRYPOINT []random string`).
pub(crate) fn parse_json_array(rest: &str) -> Result<JsonArgs, RawError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(JsonArgs::NotJson);
    }
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    let items = match stream.next() {
        Some(Ok(serde_json::Value::Array(_)))
            if !rest[stream.byte_offset()..].trim().is_empty() =>
        {
            return Ok(JsonArgs::NotJson)
        }
        Some(Ok(serde_json::Value::Array(items))) => items,
        // Deep nesting is valid JSON for Go, whose decoder has no depth limit, so it is
        // an array with non-string elements.
        Some(Err(e)) if e.to_string().contains("recursion limit") && brackets_close(rest) => {
            return Err(RawError::new(NOT_STRING_ARRAY))
        }
        _ => return Ok(JsonArgs::NotJson),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            serde_json::Value::String(s) => out.push(s),
            _ => return Err(RawError::new(NOT_STRING_ARRAY)),
        }
    }
    Ok(JsonArgs::Strings(out))
}

/// Whether the bracket opened at the start of `s` is closed (strings skipped).
fn brackets_close(s: &str) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') | (false, '"') => in_string = !in_string,
            (false, '[' | '{') => depth += 1,
            (false, ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &str) -> Option<Vec<String>> {
        match parse_json_array(s).unwrap() {
            JsonArgs::Strings(v) => Some(v),
            JsonArgs::NotJson => None,
        }
    }

    #[test]
    fn trailing_text_makes_shell_form() {
        assert_eq!(strings("[]random string"), None);
        assert_eq!(strings(r#"["echo", "hello"]this is invalid"#), None);
        assert_eq!(strings(r#"["a"]   "#), Some(vec!["a".to_string()]));
    }

    #[test]
    fn json_forms() {
        assert_eq!(
            strings(r#"[ "a", "b" ]"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(strings("[]"), Some(vec![]));
        assert_eq!(strings(r#"["a"] trailing"#), None);
        assert_eq!(strings("['a']"), None);
        assert_eq!(strings(r#"["a""#), None);
        assert_eq!(strings("echo"), None);
        assert!(parse_json_array(r#"[ "echo", [ "x" ] ]"#).is_err());
        assert!(parse_json_array("[1]").is_err());
        assert!(parse_json_array(&"[".repeat(1000)).is_ok());
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(parse_json_array(&deep).is_err());
    }
}
