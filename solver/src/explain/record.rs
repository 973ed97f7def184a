//! The explain record of one cache key: the components the key was computed from, small enough
//! to keep beside every cache record, and the comparison of two of them.
//!
//! What is recorded: a hash of the op without its environment (the "instruction"), the base
//! image's name and digest for an image source, the environment of an exec op (values of names
//! that look like secrets' are never recorded, only hashed), the key of each input whose key
//! is used, and a [`ContentSummary`] of each part of a content-addressed input. A secret's
//! value is not an input of the key and never reaches a record; nor do the proxy variables an
//! exec op keeps out of its key.

use super::reason::MissReason;
use super::summary::{ContentSummary, SummaryEntry, MAX_ENTRIES};
use crate::digest::Digest;
use crate::op::Op;
use crate::vertex::Vertex;
use serde::{Deserialize, Serialize};

/// Version of the record format; records of another version are ignored.
const FORMAT: u32 = 1;

/// Longest value kept of an environment variable (the hash covers all of it).
const KEPT_VALUE: usize = 256;

/// One environment variable of an exec op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EnvEntry {
    pub name: String,
    /// The value (cut to [`KEPT_VALUE`] characters); `None` when it is not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Short hash of the whole value.
    pub hash: String,
    /// It came from a build argument.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub arg: bool,
}

/// How one input entered the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub(crate) enum InputRecord {
    /// By the input's cache key.
    Key { key: Digest },
    /// By the content of each part the op reads; `summaries[i]` is `(offset, len)` of part
    /// `i`'s summary in the record's data, or `None` when the worker gave none.
    Content { summaries: Vec<Option<(u64, u64)>> },
}

/// The JSON header of a key's explain record (its data: the summaries, concatenated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordHeader {
    pub format: u32,
    pub key: Digest,
    /// Short hash of the op without its environment and without a base image's digest.
    pub op: String,
    /// For an image source: its name and manifest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvEntry>,
    pub inputs: Vec<InputRecord>,
}

/// A record: its header and its summaries, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    pub header: RecordHeader,
    pub summaries: Vec<Vec<Option<ContentSummary>>>,
}

/// How one input of the vertex being explained contributes now.
pub(crate) enum CurrentInput {
    Key {
        key: Digest,
        /// Progress index of the input vertex.
        step: usize,
    },
    /// The entries each part reads (`None`: the worker cannot list them).
    Content(Vec<Option<Vec<SummaryEntry>>>),
}

fn short_hash(bytes: &[u8]) -> String {
    Digest::sha256(bytes).hex()[..16].to_string()
}

/// Whether a variable's name looks like it holds a secret (BuildKit's `SecretsUsedInArgOrEnv`
/// words, as `_`-separated parts of the name): its value is then never recorded.
pub(crate) fn looks_secret(name: &str) -> bool {
    const WORDS: [&str; 10] = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    name.to_ascii_lowercase()
        .split(['_', '-', '.'])
        .any(|w| WORDS.contains(&w))
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The op without what the record keeps apart (the environment, a base image's digest), and
/// that image's name and digest.
fn op_part(op: &Op) -> (String, Option<(String, String)>) {
    let mut op = op.clone();
    let mut image = None;
    match &mut op {
        Op::Exec(e) => e.meta.env.clear(),
        Op::Source(s) => {
            if let Some(reference) = s.identifier.strip_prefix("docker-image://") {
                if let Some((name, digest)) = reference.rsplit_once('@') {
                    image = Some((name.to_string(), digest.to_string()));
                    s.identifier = format!("docker-image://{name}");
                }
            }
        }
        _ => {}
    }
    let body = serde_json::to_vec(&op).unwrap_or_default();
    (short_hash(&body), image)
}

fn env_of(vertex: &Vertex) -> Vec<EnvEntry> {
    let Op::Exec(e) = &vertex.op else {
        return Vec::new();
    };
    e.meta
        .env
        .iter()
        .map(|kv| {
            let (name, value) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            EnvEntry {
                name: name.to_string(),
                value: (!looks_secret(name)).then(|| cut(value, KEPT_VALUE)),
                hash: short_hash(value.as_bytes()),
                arg: vertex.meta.build_args.iter().any(|a| a == name),
            }
        })
        .collect()
}

impl KeyRecord {
    /// The record of `vertex`, whose key is `key`, from what its inputs contribute now.
    pub fn new(key: &Digest, vertex: &Vertex, inputs: &[CurrentInput]) -> KeyRecord {
        let (op, image) = op_part(&vertex.op);
        let parts: usize = inputs
            .iter()
            .map(|i| match i {
                CurrentInput::Content(p) => p.len(),
                CurrentInput::Key { .. } => 0,
            })
            .sum();
        let budget = MAX_ENTRIES / parts.max(1);
        let mut summaries = Vec::new();
        let mut records = Vec::new();
        for input in inputs {
            match input {
                CurrentInput::Key { key, .. } => {
                    records.push(InputRecord::Key { key: key.clone() });
                    summaries.push(Vec::new());
                }
                CurrentInput::Content(parts) => {
                    let s: Vec<Option<ContentSummary>> = parts
                        .iter()
                        .map(|p| p.as_ref().map(|e| ContentSummary::new(e, budget)))
                        .collect();
                    records.push(InputRecord::Content {
                        summaries: vec![None; s.len()],
                    });
                    summaries.push(s);
                }
            }
        }
        KeyRecord {
            header: RecordHeader {
                format: FORMAT,
                key: key.clone(),
                op,
                image,
                env: env_of(vertex),
                inputs: records,
            },
            summaries,
        }
    }

    /// The record as bytes: a JSON header line, then the summaries.
    pub fn encode(&self) -> Vec<u8> {
        let mut header = self.header.clone();
        let mut data = Vec::new();
        for (rec, sums) in header.inputs.iter_mut().zip(&self.summaries) {
            if let InputRecord::Content { summaries } = rec {
                for (slot, s) in summaries.iter_mut().zip(sums) {
                    *slot = s.as_ref().map(|s| {
                        let bytes = s.to_bytes();
                        let at = (data.len() as u64, bytes.len() as u64);
                        data.extend_from_slice(&bytes);
                        at
                    });
                }
            }
        }
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&data);
        out
    }

    /// Decode [`KeyRecord::encode`]; `None` for anything malformed or of another format.
    pub fn decode(bytes: &[u8]) -> Option<KeyRecord> {
        let nl = bytes.iter().position(|b| *b == b'\n')?;
        let header: RecordHeader = serde_json::from_slice(&bytes[..nl]).ok()?;
        if header.format != FORMAT {
            return None;
        }
        let data = &bytes[nl + 1..];
        let mut summaries = Vec::new();
        for rec in &header.inputs {
            let mut sums = Vec::new();
            if let InputRecord::Content { summaries: at } = rec {
                for a in at {
                    sums.push(match a {
                        Some((off, len)) => {
                            let start = usize::try_from(*off).ok()?;
                            let end = start.checked_add(usize::try_from(*len).ok()?)?;
                            Some(ContentSummary::from_bytes(data.get(start..end)?)?)
                        }
                        None => None,
                    });
                }
            }
            summaries.push(sums);
        }
        Some(KeyRecord { header, summaries })
    }

    /// Why `now` (with the contributions `current`) is not `self` (the last build of the same
    /// step): the first component that differs, inputs' keys first (a step after a changed step
    /// says so), then the instruction, the base image, the environment, the files read.
    pub fn explain(&self, now: &KeyRecord, current: &[CurrentInput]) -> MissReason {
        let (old, new) = (&self.header, &now.header);
        if old.key == new.key {
            return MissReason::ResultRemoved;
        }
        let same_shape = old.inputs.len() == new.inputs.len()
            && old.inputs.iter().zip(&new.inputs).all(|(a, b)| {
                matches!(
                    (a, b),
                    (InputRecord::Key { .. }, InputRecord::Key { .. })
                        | (InputRecord::Content { .. }, InputRecord::Content { .. })
                )
            });
        if same_shape {
            for (a, c) in old.inputs.iter().zip(current) {
                if let (InputRecord::Key { key }, CurrentInput::Key { key: k, step }) = (a, c) {
                    if key != k {
                        return MissReason::ParentChanged { step: *step };
                    }
                }
            }
        }
        if let (Some((name, from)), Some((_, to))) = (&old.image, &new.image) {
            if from != to && old.op == new.op {
                return MissReason::BaseImageChanged {
                    image: name.clone(),
                    from: from.clone(),
                    to: to.clone(),
                };
            }
        }
        if old.op != new.op || !same_shape {
            return MissReason::InstructionChanged;
        }
        if let Some(r) = env_change(&old.env, &new.env) {
            return r;
        }
        for ((sums, c), rec) in self.summaries.iter().zip(current).zip(&old.inputs) {
            let (InputRecord::Content { summaries: at }, CurrentInput::Content(parts)) = (rec, c)
            else {
                continue;
            };
            if at.len() != parts.len() {
                return MissReason::InstructionChanged;
            }
            let mut paths = Vec::new();
            for (s, entries) in sums.iter().zip(parts) {
                if let (Some(s), Some(e)) = (s, entries) {
                    paths.extend(s.diff(e).paths);
                }
            }
            if !paths.is_empty() {
                // Files first across parts too; each name once.
                paths.sort_by_key(|p| p.ends_with('/'));
                let mut seen = std::collections::HashSet::new();
                paths.retain(|p| seen.insert(p.clone()));
                let more = paths.len() - 1;
                paths.truncate(1);
                return MissReason::FileChanged { paths, more };
            }
        }
        if self.summaries.iter().flatten().any(Option::is_none)
            || now.summaries.iter().flatten().any(Option::is_none)
        {
            return MissReason::FileChanged {
                paths: Vec::new(),
                more: 0,
            };
        }
        MissReason::KeyChanged
    }
}

/// The first variable (in the new order, then the removed ones) whose value differs.
fn env_change(old: &[EnvEntry], new: &[EnvEntry]) -> Option<MissReason> {
    let find = |list: &[EnvEntry], name: &str| list.iter().find(|e| e.name == name).cloned();
    let mut names: Vec<&str> = new.iter().map(|e| e.name.as_str()).collect();
    names.extend(old.iter().map(|e| e.name.as_str()));
    for name in names {
        let (a, b) = (find(old, name), find(new, name));
        if a.as_ref().map(|e| &e.hash) == b.as_ref().map(|e| &e.hash) {
            continue;
        }
        let arg = a.as_ref().is_some_and(|e| e.arg) || b.as_ref().is_some_and(|e| e.arg);
        let hidden = looks_secret(name);
        let shown = |e: &Option<EnvEntry>| {
            if hidden {
                None
            } else {
                e.as_ref().and_then(|e| e.value.clone())
            }
        };
        let (from, to) = (shown(&a), shown(&b));
        let name = name.to_string();
        return Some(if arg {
            MissReason::BuildArgChanged {
                name,
                from,
                to,
                hidden,
            }
        } else {
            MissReason::EnvChanged {
                name,
                from,
                to,
                hidden,
            }
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{ExecMeta, ExecOp, Mount, MountKind};
    use crate::vertex::VertexMeta;

    fn exec(env: &[&str], secret_env: &str) -> Vertex {
        Vertex {
            digest: Digest::sha256(b"v"),
            op: Op::Exec(ExecOp {
                meta: ExecMeta {
                    args: vec!["/bin/sh".into(), "-c".into(), "make".into()],
                    env: env.iter().map(|s| s.to_string()).collect(),
                    cwd: "/".into(),
                    user: String::new(),
                    hostname: None,
                    extra_hosts: Vec::new(),
                    proxy_env: vec![format!("HTTP_PROXY=http://user:{secret_env}@proxy")],
                },
                mounts: vec![Mount {
                    input: None,
                    selector: "/".into(),
                    dest: "/run/secrets/tok".into(),
                    readonly: true,
                    kind: MountKind::Secret {
                        id: "tok".into(),
                        required: true,
                        mode: 0o400,
                        uid: 0,
                        gid: 0,
                        env: Some("TOK".into()),
                    },
                }],
                network: Default::default(),
                security: Default::default(),
                platform: None,
            }),
            inputs: Vec::new(),
            meta: VertexMeta {
                build_args: vec!["VERSION".into(), "API_TOKEN".into()],
                ..Default::default()
            },
        }
    }

    #[test]
    fn names_the_changed_build_arg_and_never_records_secret_looking_values() {
        let k1 = Digest::sha256(b"1");
        let k2 = Digest::sha256(b"2");
        let before = KeyRecord::new(
            &k1,
            &exec(&["VERSION=1.2", "API_TOKEN=hunter2"], "pw-one"),
            &[],
        );
        let bytes = String::from_utf8_lossy(&before.encode()).into_owned();
        assert!(
            !bytes.contains("hunter2") && !bytes.contains("pw-one"),
            "{bytes}"
        );
        assert_eq!(KeyRecord::decode(&before.encode()), Some(before.clone()));

        let now = KeyRecord::new(
            &k2,
            &exec(&["VERSION=1.3", "API_TOKEN=hunter2"], "pw-two"),
            &[],
        );
        assert_eq!(
            before.explain(&now, &[]).to_string(),
            "build arg changed: VERSION (1.2 → 1.3)"
        );
        let now = KeyRecord::new(
            &k2,
            &exec(&["VERSION=1.2", "API_TOKEN=other"], "pw-one"),
            &[],
        );
        assert_eq!(
            before.explain(&now, &[]).to_string(),
            "build arg changed: API_TOKEN (value not shown)"
        );
        let now = KeyRecord::new(
            &k2,
            &exec(&["VERSION=1.2", "API_TOKEN=hunter2", "MODE=b"], "pw-one"),
            &[],
        );
        assert_eq!(
            before.explain(&now, &[]).to_string(),
            "env changed: MODE (unset → b)"
        );
        assert_eq!(
            before.explain(&before, &[]),
            MissReason::ResultRemoved,
            "the same key missing from the cache"
        );
    }

    #[test]
    fn a_record_that_lies_about_its_summaries_is_refused() {
        let mut bytes = serde_json::to_vec(&RecordHeader {
            format: FORMAT,
            key: Digest::sha256(b"k"),
            op: "00".into(),
            image: None,
            env: Vec::new(),
            inputs: vec![InputRecord::Content {
                summaries: vec![Some((0, 1 << 40))],
            }],
        })
        .unwrap();
        bytes.extend_from_slice(b"\n\0");
        assert_eq!(KeyRecord::decode(&bytes), None);
        assert_eq!(KeyRecord::decode(b"not json\n"), None);
    }
}
