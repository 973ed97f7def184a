//! `--secret` specs, read as docker's CLI reads them (a CSV line of `key=value` fields) and
//! resolved as BuildKit's file/env store resolves them.

use super::{SecretError, SecretValue, MAX_SECRET_SIZE};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

/// Parse and read one spec: its id and its value (`None`: an env secret whose variable is
/// unset, absent as in BuildKit).
pub(super) fn load(
    spec: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<(String, Option<SecretValue>), SecretError> {
    let mut id = None;
    let mut src: Option<String> = None;
    let mut var: Option<String> = None;
    let mut kind = None;
    for field in csv_fields(spec) {
        let Some((key, value)) = field.split_once('=') else {
            return Err(SecretError::NotKeyValue {
                spec: spec.into(),
                field,
            });
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                if value != "file" && value != "env" {
                    return Err(SecretError::UnknownType {
                        spec: spec.into(),
                        kind: value.into(),
                    });
                }
                kind = Some(value.to_string());
            }
            "id" => id = Some(value.to_string()),
            "source" | "src" => src = Some(value.to_string()),
            "env" => var = Some(value.to_string()),
            other => {
                return Err(SecretError::UnknownKey {
                    spec: spec.into(),
                    key: other.into(),
                    field: field.clone(),
                })
            }
        }
    }
    if kind.as_deref() == Some("env") && var.is_none() {
        var = src.take();
    }
    let id = match id {
        Some(i) if !i.is_empty() => i,
        _ => return Err(SecretError::MissingId { spec: spec.into() }),
    };
    if var.is_none() && src.is_none() {
        // `id=ID` alone: the variable ID when it is set, else the file ID.
        if env(&id).is_some() {
            var = Some(id.clone());
        } else {
            src = Some(id.clone());
        }
    }
    if let Some(path) = src.filter(|p| !p.is_empty()) {
        let value = read_file(spec, &id, PathBuf::from(path))?;
        return Ok((id, Some(value)));
    }
    let value = var.and_then(|v| env(&v)).map(|v| {
        use std::os::unix::ffi::OsStringExt;
        SecretValue::new(v.into_vec())
    });
    if value
        .as_ref()
        .is_some_and(|v| v.bytes().len() > MAX_SECRET_SIZE)
    {
        return Err(SecretError::TooBig {
            spec: spec.into(),
            id,
        });
    }
    Ok((id, value))
}

/// Read a secret file, refusing one over the limit without reading it all.
fn read_file(spec: &str, id: &str, path: PathBuf) -> Result<SecretValue, SecretError> {
    let fail = |source| SecretError::File {
        spec: spec.into(),
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    if bytes.len() > MAX_SECRET_SIZE {
        return Err(SecretError::TooBig {
            spec: spec.into(),
            id: id.into(),
        });
    }
    Ok(SecretValue::new(bytes))
}

/// Split a CSV line into fields as Go's `encoding/csv` does for one record: commas separate,
/// a field in double quotes may hold commas, `""` inside quotes is a quote.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn err(spec: &str) -> String {
        load(spec, &env_of(&[])).unwrap_err().to_string()
    }

    #[test]
    fn docker_forms() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, b"from-file").unwrap();
        let env = env_of(&[("TOKEN", "from-env"), ("tok2", "id-env")]);
        let val = |spec: &str| {
            let (id, v) = load(spec, &env).unwrap();
            (
                id,
                v.map(|v| String::from_utf8(v.bytes().to_vec()).unwrap()),
            )
        };
        let src = format!("id=a,src={}", f.display());
        assert_eq!(val(&src), ("a".into(), Some("from-file".into())));
        let source = format!("type=file,id=a,source={}", f.display());
        assert_eq!(val(&source), ("a".into(), Some("from-file".into())));
        assert_eq!(val("id=b,env=TOKEN"), ("b".into(), Some("from-env".into())));
        assert_eq!(
            val("id=b,type=env,src=TOKEN"),
            ("b".into(), Some("from-env".into()))
        );
        assert_eq!(val("id=tok2"), ("tok2".into(), Some("id-env".into())));
        assert_eq!(val("id=b,env=UNSET"), ("b".into(), None));
    }

    #[test]
    fn docker_errors() {
        assert_eq!(
            err("id"),
            "could not parse secrets: [id]: invalid field 'id' must be a key=value pair"
        );
        assert_eq!(
            err("type=bogus,id=x"),
            "could not parse secrets: [type=bogus,id=x]: unsupported secret type \"bogus\""
        );
        assert_eq!(
            err("id=x,foo=bar"),
            "could not parse secrets: [id=x,foo=bar]: unexpected key 'foo' in 'foo=bar'"
        );
        assert_eq!(
            err("src=f"),
            "could not parse secrets: [src=f]: secret missing ID"
        );
        assert!(err("id=tok,src=/nonexistent").starts_with(
            "could not parse secrets: [id=tok,src=/nonexistent]: failed to stat /nonexistent: "
        ));
        assert!(err("id=nonexist_env").starts_with(
            "could not parse secrets: [id=nonexist_env]: failed to stat nonexist_env"
        ));
    }

    #[test]
    fn a_secret_over_500k_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![b'x'; MAX_SECRET_SIZE + 1]).unwrap();
        let e = err(&format!("id=big,src={}", f.display()));
        assert!(e.ends_with("secret big too big. max size 500KB"), "{e}");
    }

    #[test]
    fn quoted_fields_may_hold_commas() {
        assert_eq!(csv_fields(r#"id=a,"src=x,y""#), ["id=a", "src=x,y"]);
    }
}
