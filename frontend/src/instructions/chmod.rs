//! `--chmod` values: octal (0–07777) or symbolic (`u+x,go-w`, `a+X`, `g=u`).

use kiln_solver::Chmod;

/// Parse a `--chmod` value.
pub fn parse_chmod(value: &str) -> Result<Chmod, String> {
    let err = || {
        format!(
            "invalid chmod parameter: '{value}'. it should be octal string and between 0 and 07777"
        )
    };
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return match u32::from_str_radix(value, 8) {
            Ok(m) if m <= 0o7777 => Ok(Chmod::Octal(m)),
            _ => Err(err()),
        };
    }
    if is_symbolic(value) {
        Ok(Chmod::Symbolic(value.to_string()))
    } else {
        Err(err())
    }
}

/// `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` clauses separated by commas.
fn is_symbolic(value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    value.split(',').all(|clause| {
        let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        if rest.is_empty() {
            return false;
        }
        let mut chars = rest.chars().peekable();
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return false;
            }
            let mut perms = String::new();
            while let Some(&c) = chars.peek() {
                if matches!(c, '+' | '-' | '=') {
                    break;
                }
                perms.push(c);
                chars.next();
            }
            let ok = perms.chars().all(|c| "rwxXst".contains(c))
                || matches!(perms.as_str(), "u" | "g" | "o");
            if !ok {
                return false;
            }
        }
        true
    })
}
