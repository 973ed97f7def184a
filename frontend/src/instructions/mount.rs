//! `RUN --mount=...` specs: `type=bind|cache|tmpfs|secret|ssh` and their keys.

use super::suggest::did_you_mean;
use kiln_solver::CacheSharing;

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

const TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
const KEYS: &[&str] = &[
    "type",
    "target",
    "dst",
    "destination",
    "source",
    "src",
    "from",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "id",
    "sharing",
    "mode",
    "uid",
    "gid",
    "size",
    "required",
    "env",
];

/// One parsed `--mount` (values already expanded). Defaults that depend on other keys (cache
/// id, secret target…) are filled in by lowering, which knows the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub kind: MountType,
    /// Mount point as written (may be relative to WORKDIR); `None` when not given.
    pub target: Option<String>,
    /// Path inside `from` (bind, cache).
    pub source: Option<String>,
    /// Stage name, index or image to mount from (never expanded).
    pub from: Option<String>,
    /// `ro`/`readonly` or `rw`/`readwrite` when given.
    pub readonly: Option<bool>,
    pub id: Option<String>,
    pub sharing: CacheSharing,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    pub required: bool,
    /// secret: expose as this environment variable.
    pub env: Option<String>,
}

/// Check a `--mount` spec's keys and type without expanding it, so errors surface when the
/// Dockerfile is read. Values that contain `$` are checked again by [`parse_mount`] later.
pub fn validate_mount(spec: &str) -> Result<(), String> {
    match parse_mount(spec, &mut |s: &str| Ok(s.to_string())) {
        Ok(_) => Ok(()),
        Err(e)
            if spec.contains('$') && !e.starts_with("unexpected key") && !e.contains("'from'") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Parse a `--mount` spec (`type=cache,target=/x,...`). `expand` is applied to every value but
/// `from`'s, which may not contain variables.
pub fn parse_mount(
    spec: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<RunMount, String> {
    let mut m = RunMount {
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        readonly: None,
        id: None,
        sharing: CacheSharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: false,
        env: None,
    };
    for field in split_fields(spec) {
        let (key, raw) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        if !KEYS.contains(&key.as_str()) {
            let hint = did_you_mean(&key, KEYS.iter().copied(), true);
            return Err(format!("unexpected key '{key}' in '{field}'{hint}"));
        }
        if key == "from" {
            let v = raw.ok_or_else(|| "mount option 'from' needs a value".to_string())?;
            if v.contains('$') {
                return Err(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                );
            }
            m.from = Some(v);
            continue;
        }
        let value = match &raw {
            Some(v) => Some(expand(v)?),
            None => None,
        };
        let need = |v: &Option<String>| {
            v.clone()
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))
        };
        match key.as_str() {
            "type" => {
                let t = need(&value)?;
                m.kind = match t.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    other => {
                        let hint = did_you_mean(other, TYPES.iter().copied(), true);
                        return Err(format!("unsupported mount type {other:?}{hint}"));
                    }
                }
            }
            "target" | "dst" | "destination" => m.target = Some(need(&value)?),
            "source" | "src" => m.source = Some(need(&value)?),
            "readonly" | "ro" => m.readonly = Some(parse_bool(&key, value.as_deref())?),
            "readwrite" | "rw" => m.readonly = Some(!parse_bool(&key, value.as_deref())?),
            "required" => m.required = parse_bool(&key, value.as_deref())?,
            "id" => m.id = Some(need(&value)?),
            "env" => m.env = Some(need(&value)?),
            "sharing" => {
                m.sharing = match need(&value)?.as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    other => return Err(format!("unsupported sharing value {other:?}")),
                }
            }
            "mode" => {
                let v = need(&value)?;
                m.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .map_err(|_| format!("invalid mode value {v:?}: expected octal"))?,
                );
            }
            "uid" => m.uid = Some(parse_u32(&key, &need(&value)?)?),
            "gid" => m.gid = Some(parse_u32(&key, &need(&value)?)?),
            "size" => m.size = Some(parse_size(&need(&value)?)?),
            _ => {}
        }
    }
    if m.target.is_none() && !matches!(m.kind, MountType::Secret | MountType::Ssh) {
        return Err("mount target is required".into());
    }
    if m.kind == MountType::Secret && m.id.is_none() && m.target.is_none() {
        return Err("one of target or id is required for secret mounts".into());
    }
    if m.kind == MountType::Tmpfs && m.from.is_some() {
        return Err("'from' is not supported for tmpfs mounts".into());
    }
    Ok(m)
}

/// Split on commas that are not inside double quotes (CSV-like, as BuildKit reads the spec).
fn split_fields(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|f| !f.trim().is_empty()).collect()
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(|s| s.to_ascii_lowercase()) {
        None => Ok(true),
        Some(s) if matches!(s.as_str(), "true" | "1" | "t") => Ok(true),
        Some(s) if matches!(s.as_str(), "false" | "0" | "f") => Ok(false),
        Some(s) => Err(format!("invalid value for {key}: {s}")),
    }
}

fn parse_u32(key: &str, v: &str) -> Result<u32, String> {
    v.parse()
        .map_err(|_| format!("invalid value for {key}: {v:?}: expected a number"))
}

/// `1024`, `64k`, `10m`, `1g` (binary units, like docker's RAMInBytes).
fn parse_size(v: &str) -> Result<u64, String> {
    let lower = v.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let n: u64 = lower[..digits_end]
        .parse()
        .map_err(|_| format!("invalid size {v:?}"))?;
    let mult: u64 = match lower[digits_end..].trim_end_matches(['b', 'i']) {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("invalid size {v:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid size {v:?}: too large"))
}
