//! docker's human formats: sizes (`4.26MB`), ages (`2 weeks ago`), short IDs, and the small
//! subset of Go templates that `--format` is used with (`{{.Id}}`, `{{json .Config}}`).

use serde_json::Value;

/// docker's `units.HumanSizeWithPrecision(n, 3)`: decimal units, 3 significant digits.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // %.3g: three significant digits, trailing zeros removed.
    let digits_before = format!("{}", v.trunc() as u64).len();
    let decimals = 3usize.saturating_sub(digits_before);
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
    let Some(c) = created else {
        return "N/A".into();
    };
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(c) else {
        return "N/A".into();
    };
    let secs = (chrono::Utc::now().timestamp() - t.timestamp()).max(0);
    let d = if secs < 1 {
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
    };
    format!("{d} ago")
}

/// Columns aligned like docker's tabwriter output: every column but the last as wide as its
/// widest cell plus three spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate().take(n) {
            line.push_str(c);
            if i + 1 < n {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The 12-hex-character short ID of a digest.
pub fn short_id(digest: &str) -> String {
    digest
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

/// Render a Go-template-like `--format` string against a JSON value: `{{.A.B}}`,
/// `{{json .A}}` and literal text are supported; anything else is an error.
pub fn render_template(tpl: &str, v: &Value) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow::anyhow!("template: unclosed action in {tpl:?}"))?;
        let action = after[..end].trim();
        rest = &after[end + 2..];
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let path = path
            .strip_prefix('.')
            .ok_or_else(|| anyhow::anyhow!("template: unsupported action {{{{{action}}}}} (kiln supports {{{{.Field}}}} and {{{{json .Field}}}})"))?;
        let mut cur = v;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            cur = cur.get(part).unwrap_or(&Value::Null);
        }
        if json {
            out.push_str(&serde_json::to_string(cur)?);
        } else {
            out.push_str(&go_print(cur));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// How Go's template prints a value: strings bare, arrays `[a b]`, maps `map[k:v]`, null `<no value>`.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
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

    #[test]
    fn tables_align_on_the_widest_cell() {
        let t = table(
            &["A", "BB", "C"],
            &[vec!["long-value".into(), "x".into(), "end".into()]],
        );
        assert_eq!(t, "A            BB   C\nlong-value   x    end\n");
    }

    #[test]
    fn templates() {
        let v =
            serde_json::json!({"Id": "sha256:ab", "Config": {"Env": ["A=1", "B=2"], "Cmd": null}});
        assert_eq!(render_template("{{.Id}}", &v).unwrap(), "sha256:ab");
        assert_eq!(
            render_template("x{{.Config.Env}}y", &v).unwrap(),
            "x[A=1 B=2]y"
        );
        assert_eq!(
            render_template("{{json .Config.Env}}", &v).unwrap(),
            "[\"A=1\",\"B=2\"]"
        );
        assert_eq!(
            render_template("{{.Config.Cmd}}", &v).unwrap(),
            "<no value>"
        );
        assert!(render_template("{{range .X}}", &v).is_err());
    }
}
