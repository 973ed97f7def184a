//! `--format` templates: Go's `text/template` (through the `gotmpl` crate, which prints slices
//! and maps as Go does: `[a b]`, `map[k:v]`) with the functions docker adds (`json`, `split`,
//! `join`, `title`, `lower`, `upper`, `pad`, `truncate`), run over kiln's JSON.
//!
//! docker runs templates over Go structs, where a nil slice prints `[]` and a nil map `map[]`
//! but `json` writes both as `null`; kiln's data is JSON, so the nulls of the fields docker
//! types as slices or maps ([`NULL_LISTS`], [`NULL_MAPS`]) become an empty list or map that
//! `json` still recognises and writes as `null`.

use anyhow::anyhow;
use gotmpl::{MissingKey, TemplateError, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Fields docker's structs type as slices: a JSON null there prints as `[]`.
const NULL_LISTS: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "OnBuild",
    "Shell",
    "RepoTags",
    "RepoDigests",
    "Layers",
];
/// Fields docker's structs type as maps: a JSON null there prints as `map[]`.
const NULL_MAPS: &[&str] = &["Labels", "Volumes", "ExposedPorts"];

/// The one empty list that stands for a nil slice (recognised by pointer).
fn null_list() -> &'static Arc<[Value]> {
    static L: OnceLock<Arc<[Value]>> = OnceLock::new();
    L.get_or_init(|| Arc::from(Vec::new()))
}

/// The one empty map that stands for a nil map (recognised by pointer).
fn null_map() -> &'static Arc<BTreeMap<Arc<str>, Value>> {
    static M: OnceLock<Arc<BTreeMap<Arc<str>, Value>>> = OnceLock::new();
    M.get_or_init(|| Arc::new(BTreeMap::new()))
}

/// A parsed `--format` template.
pub struct Template {
    inner: gotmpl::Template,
}

impl Template {
    /// Parse `text`; a field a value does not have is an error when executed, as in docker
    /// (`map has no entry for key "X"`).
    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let inner = gotmpl::Template::new("")
            .missing_key(MissingKey::Error)
            .func("json", json)
            .func("split", split)
            .func("join", join)
            .func("title", title)
            .func("lower", |a: &[Value]| {
                map_str("lower", a, |s| s.to_lowercase())
            })
            .func("upper", |a: &[Value]| {
                map_str("upper", a, |s| s.to_uppercase())
            })
            .func("pad", pad)
            .func("truncate", truncate)
            .parse(text)
            .map_err(|e| anyhow!("template parsing error: {e}"))?;
        Ok(Template { inner })
    }

    /// Execute over `data`.
    pub fn render(&self, data: &Json) -> anyhow::Result<String> {
        self.inner
            .execute_to_string(&to_value(data, None))
            .map_err(|e| anyhow!("template: {e}"))
    }
}

/// kiln's JSON as template data (see the module documentation for nulls).
pub fn to_value(v: &Json, key: Option<&str>) -> Value {
    match v {
        Json::Null => match key {
            Some(k) if NULL_LISTS.contains(&k) => Value::List(null_list().clone()),
            Some(k) if NULL_MAPS.contains(&k) => Value::Map(null_map().clone()),
            _ => Value::Nil,
        },
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::Uint(u),
            (_, _, f) => Value::Float(f.unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(Arc::from(s.as_str())),
        Json::Array(a) => Value::List(a.iter().map(|x| to_value(x, None)).collect()),
        Json::Object(m) => Value::Map(Arc::new(
            m.iter()
                .map(|(k, x)| (Arc::from(k.as_str()), to_value(x, Some(k))))
                .collect(),
        )),
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> gotmpl::Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(TemplateError::ArgCount {
            name: name.to_string(),
            expected: n,
            got: args.len(),
        })
    }
}

fn string_arg<'a>(name: &str, v: &'a Value) -> gotmpl::Result<&'a str> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(TemplateError::Exec(format!(
            "{name}: expected a string, got {other}"
        ))),
    }
}

fn int_arg(name: &str, v: &Value) -> gotmpl::Result<usize> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        Value::Uint(u) => Ok(*u as usize),
        other => Err(TemplateError::Exec(format!(
            "{name}: expected a count, got {other}"
        ))),
    }
}

fn map_str(name: &str, args: &[Value], f: impl Fn(&str) -> String) -> gotmpl::Result<Value> {
    arity(name, args, 1)?;
    Ok(Value::String(Arc::from(f(string_arg(name, &args[0])?))))
}

/// docker's `json`: the value as compact JSON, `<`, `>` and `&` left as they are.
fn json(args: &[Value]) -> gotmpl::Result<Value> {
    arity("json", args, 1)?;
    let mut out = String::new();
    write_json(&mut out, &args[0]);
    Ok(Value::String(Arc::from(out)))
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::List(l) if Arc::ptr_eq(l, null_list()) => out.push_str("null"),
        Value::Map(m) if Arc::ptr_eq(m, null_map()) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => {
            out.push_str(&format!("{}", *f as i64))
        }
        Value::Float(f) => out.push_str(&f.to_string()),
        Value::String(s) => json_string(out, s),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, x);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                write_json(out, x);
            }
            out.push('}');
        }
        Value::Function(_) => out.push_str("null"),
    }
}

/// A JSON string as Go's encoder writes it with HTML escaping off.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `split STRING SEP` (Go's `strings.Split`).
fn split(args: &[Value]) -> gotmpl::Result<Value> {
    arity("split", args, 2)?;
    let s = string_arg("split", &args[0])?;
    let sep = string_arg("split", &args[1])?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars()
            .map(|c| Value::String(Arc::from(c.to_string())))
            .collect()
    } else {
        s.split(sep).map(|p| Value::String(Arc::from(p))).collect()
    };
    Ok(Value::List(parts.into()))
}

/// `join LIST SEP` (Go's `strings.Join`, over a list of strings).
fn join(args: &[Value]) -> gotmpl::Result<Value> {
    arity("join", args, 2)?;
    let sep = string_arg("join", &args[1])?;
    let Value::List(items) = &args[0] else {
        return Err(TemplateError::Exec(format!(
            "join: expected a list of strings, got {}",
            args[0]
        )));
    };
    let parts = items
        .iter()
        .map(|v| string_arg("join", v))
        .collect::<gotmpl::Result<Vec<&str>>>()?;
    Ok(Value::String(Arc::from(parts.join(sep))))
}

/// Go's `strings.Title`: the first letter of every word in upper case.
fn title(args: &[Value]) -> gotmpl::Result<Value> {
    map_str("title", args, |s| {
        let mut out = String::with_capacity(s.len());
        let mut prev_sep = true;
        for c in s.chars() {
            if prev_sep {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            prev_sep = !(c.is_alphanumeric() || c == '_');
        }
        out
    })
}

/// `pad STRING BEFORE AFTER`: spaces around.
fn pad(args: &[Value]) -> gotmpl::Result<Value> {
    arity("pad", args, 3)?;
    let s = string_arg("pad", &args[0])?;
    let before = int_arg("pad", &args[1])?.min(1 << 16);
    let after = int_arg("pad", &args[2])?.min(1 << 16);
    Ok(Value::String(Arc::from(format!(
        "{}{s}{}",
        " ".repeat(before),
        " ".repeat(after)
    ))))
}

/// `truncate STRING N`: the first N characters.
fn truncate(args: &[Value]) -> gotmpl::Result<Value> {
    arity("truncate", args, 2)?;
    let s = string_arg("truncate", &args[0])?;
    let n = int_arg("truncate", &args[1])?;
    Ok(Value::String(Arc::from(
        s.chars().take(n).collect::<String>(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Json) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn go_printing_and_docker_functions() {
        let v = json!({"Os": "linux", "RepoTags": ["a:1", "b:2"],
            "Config": {"Env": ["A=1", "B=2"], "Cmd": null, "Labels": null, "User": ""},
            "Size": 1984380});
        assert_eq!(r("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(r("{{.Config.Cmd}}|{{.Config.Labels}}", &v), "[]|map[]");
        assert_eq!(
            r("{{json .Config.Cmd}}|{{json .Config.Labels}}", &v),
            "null|null"
        );
        assert_eq!(
            r("{{json .Config}}", &v),
            r#"{"Cmd":null,"Env":["A=1","B=2"],"Labels":null,"User":""}"#
        );
        assert_eq!(r("{{index .RepoTags 0}}", &v), "a:1");
        assert_eq!(r("{{range .RepoTags}}[{{.}}]{{end}}", &v), "[a:1][b:2]");
        assert_eq!(r("{{if .Config.Cmd}}y{{else}}n{{end}}", &v), "n");
        assert_eq!(r("{{len .RepoTags}} {{.Size}}", &v), "2 1984380");
        assert_eq!(r("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(
            r(
                "{{upper .Os}} {{lower \"AB\"}} {{title \"hello world\"}}",
                &v
            ),
            "LINUX ab Hello World"
        );
        assert_eq!(r("{{split \"a,b\" \",\"}}", &v), "[a b]");
        assert_eq!(r("{{json \"<&>\\n\"}}", &v), r#""<&>\n""#);
        assert_eq!(r("{{println .Os}}", &v), "linux\n");
        let e = Template::parse("{{.Config.NoSuch}}")
            .unwrap()
            .render(&v)
            .unwrap_err();
        assert!(e.to_string().contains("NoSuch"), "{e}");
        assert!(Template::parse("{{").is_err());
    }
}
