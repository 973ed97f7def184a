//! The content digest of the parts of the context a COPY/ADD reads: every selected entry's path,
//! type, mode, owner, symlink target and file content, in a canonical order.

use super::dockerignore::DockerIgnore;
use super::parwalk::{collect_dir, Visit};
use super::pattern::has_wildcard;
use super::resolve::resolve_matches;
use super::statcache::StatKey;
use super::walk::{WalkControl, WalkEntry, WalkFilter};
use super::{Context, ContextError};
use inroot::{Dir, Kind, Meta};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::ffi::OsStr;
use std::io::Read;
use std::sync::atomic::Ordering;

/// One record of the digest; `file` is set for regular files whose content must be hashed:
/// the file's real path in the context and its `lstat` key.
struct Record {
    key: String,
    meta: String,
    file: Option<(String, StatKey)>,
}

/// Computes `sha256:...` over the selected entries of `ctx`.
pub(super) fn content_digest(
    ctx: &Context,
    selectors: &[String],
    excludes: &[String],
    allow_wildcard: bool,
) -> Result<String, ContextError> {
    let (records, hashes) = collect(ctx, selectors, excludes, allow_wildcard)?;
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| records[a].key.cmp(&records[b].key));
    let mut h = Sha256::new();
    for i in order {
        let r = &records[i];
        h.update(r.key.as_bytes());
        h.update([0]);
        h.update(r.meta.as_bytes());
        h.update([0]);
        if let Some(d) = &hashes[i] {
            h.update(d.as_bytes());
        }
        h.update(b"\n");
    }
    save_stat_cache(ctx);
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// The entries the digest covers, each with the content hash of a regular file.
fn collect(
    ctx: &Context,
    selectors: &[String],
    excludes: &[String],
    allow_wildcard: bool,
) -> Result<(Vec<Record>, Vec<Option<String>>), ContextError> {
    let excl = DockerIgnore::from_patterns(excludes)?;
    let mut records = Vec::new();
    for sel in selectors {
        collect_selector(ctx, sel, allow_wildcard, &excl, &mut records)?;
    }
    let hashes = hash_files(ctx, &records)?;
    Ok((records, hashes))
}

fn save_stat_cache(ctx: &Context) {
    if let Some(cache) = &ctx.stat_cache {
        if let Ok(mut c) = cache.write() {
            // A cache that cannot be written only costs speed next time.
            let _ = c.save();
        }
    }
}

/// The entries [`content_digest`] covers, for naming what changed: each one's path as the
/// user knows it (relative to the context) and everything the digest takes of it.
pub(super) fn content_entries(
    ctx: &Context,
    selectors: &[String],
    excludes: &[String],
    allow_wildcard: bool,
) -> Result<Vec<kiln_solver::SummaryEntry>, ContextError> {
    let (records, hashes) = collect(ctx, selectors, excludes, allow_wildcard)?;
    save_stat_cache(ctx);
    Ok(records
        .into_iter()
        .zip(hashes)
        .map(|(r, hash)| {
            let mut content = r.meta.into_bytes();
            content.push(0);
            content.extend_from_slice(hash.as_deref().unwrap_or("").as_bytes());
            kiln_solver::SummaryEntry {
                path: shown_path(&r.key),
                dir: content.starts_with(b"dir\0"),
                content,
            }
        })
        .collect())
}

/// The context path of a record key (`SEL\0MATCH\0SUB`, `SEL\0MATCH\0\0target` for what a
/// symlink source points to, `SEL\0` for a wildcard matching nothing).
fn shown_path(key: &str) -> String {
    let parts: Vec<&str> = key.split('\0').collect();
    match parts.as_slice() {
        [sel, ""] => sel.to_string(),
        [_, m, "", "target"] => format!("{m} (symlink target)"),
        [_, "", sub] => sub.to_string(),
        [_, m, ""] => m.to_string(),
        [_, m, sub] => format!("{m}/{sub}"),
        _ => key.replace('\0', "/"),
    }
}

fn collect_selector(
    ctx: &Context,
    sel: &str,
    allow_wildcard: bool,
    excl: &DockerIgnore,
    out: &mut Vec<Record>,
) -> Result<(), ContextError> {
    let ignore = ctx.ignore.as_deref();
    let root = &ctx.dir;
    let matches = resolve_matches(root, sel, allow_wildcard, ignore)?;
    if matches.is_empty() {
        if allow_wildcard && has_wildcard(sel) {
            out.push(Record {
                key: format!("{sel}\0"),
                meta: "nomatch".into(),
                file: None,
            });
            return Ok(());
        }
        return Err(ContextError::NotFound {
            path: sel.to_string(),
        });
    }
    for m in matches {
        let base = m.rsplit('/').next().unwrap_or("");
        if !base.is_empty() && excl.matches(base) {
            continue;
        }
        let found = root.resolve(&m, false).map_err(|e| ctx.err(&m, e))?;
        let Some(meta) = found.meta else {
            return Err(ContextError::NotFound {
                path: format!("/{m}"),
            });
        };
        let key = format!("{sel}\0{m}\0");
        push_entry(out, key, &found.parent, &found.name, &found.rel(), &meta)?;
        let mut content = found;
        if meta.is_symlink() {
            // COPY follows a source symlink: its target's content counts too.
            content = root.resolve(&m, true).map_err(|e| ctx.err(&m, e))?;
            if let Some(tm) = content.meta {
                push_entry(
                    out,
                    format!("{sel}\0{m}\0\0target"),
                    &content.parent,
                    &content.name,
                    &content.rel(),
                    &tm,
                )?;
            }
        }
        if !content.meta.is_some_and(|m| m.is_dir()) {
            continue;
        }
        let content_rel = content.rel();
        let dir = content.open_dir().map_err(|e| ctx.err(&content_rel, e))?;
        let prefix_len = if content_rel.is_empty() {
            0
        } else {
            content_rel.len() + 1
        };
        let filter = WalkFilter {
            exclude: ignore,
            include: None,
        };
        let visit = |e: &WalkEntry<'_>| -> std::io::Result<Visit<Result<Record, ContextError>>> {
            let sub = e.rel.get(prefix_len..).unwrap_or("");
            if excl.matches(sub) {
                let skip = e.meta.is_dir() && excl.can_skip_dir(sub);
                let control = if skip {
                    WalkControl::SkipDir
                } else {
                    WalkControl::Continue
                };
                return Ok((control, None));
            }
            let key = format!("{sel}\0{m}\0{sub}");
            let record = entry_record(key, e.dir, e.name, &e.rel, &e.meta);
            Ok((WalkControl::Continue, Some(record)))
        };
        let found = collect_dir(&dir, &content_rel, filter, &visit)
            .map_err(|e| ContextError::io(ctx.dir.shown_host_path(&content_rel), e))?;
        for r in found {
            out.push(r?);
        }
    }
    Ok(())
}

fn push_entry(
    out: &mut Vec<Record>,
    key: String,
    dir: &Dir,
    name: &OsStr,
    rel: &str,
    meta: &Meta,
) -> Result<(), ContextError> {
    out.push(entry_record(key, dir, name, rel, meta)?);
    Ok(())
}

/// The record of the entry `name` in `dir` (at `rel` in the context).
fn entry_record(
    key: String,
    dir: &Dir,
    name: &OsStr,
    rel: &str,
    meta: &Meta,
) -> Result<Record, ContextError> {
    let kind = match meta.kind {
        Kind::Dir => "dir".to_string(),
        Kind::Symlink => {
            let t = dir
                .readlink(name)
                .map_err(|e| ContextError::io(dir.root_host_path().join(rel), e.into()))?;
            format!("symlink:{}", t.to_string_lossy())
        }
        Kind::File => "file".to_string(),
        Kind::Block | Kind::Char => format!("dev:{}", meta.rdev),
        Kind::Fifo => "fifo".to_string(),
        Kind::Socket => "other".to_string(),
    };
    let meta_s = format!("{kind}\0{:o}\0{}\0{}", meta.perm, meta.uid, meta.gid);
    let file = meta
        .is_file()
        .then(|| (rel.to_string(), StatKey::of_meta(meta)));
    Ok(Record {
        key,
        meta: meta_s,
        file,
    })
}

/// Hashes every record's file (cache first), on every core; what was hashed is noted for the
/// copy afterwards, in one go (no lock taken per file).
fn hash_files(ctx: &Context, records: &[Record]) -> Result<Vec<Option<String>>, ContextError> {
    let hashed: Vec<Option<(String, StatKey)>> = records
        .par_iter()
        .with_min_len(4)
        .map(|r| hash_record(ctx, r))
        .collect::<Result<_, _>>()?;
    ctx.note_all_hashed(
        records
            .iter()
            .zip(&hashed)
            .filter_map(|(r, h)| Some((r.file.as_ref()?.0.as_str(), h.as_ref()?))),
    );
    Ok(hashed.into_iter().map(|h| h.map(|(d, _)| d)).collect())
}

/// The content hash of one record's file: from the stat cache when the file is unchanged,
/// else read now (and remembered).
fn hash_record(ctx: &Context, r: &Record) -> Result<Option<(String, StatKey)>, ContextError> {
    let Some((rel, key)) = &r.file else {
        return Ok(None);
    };
    let cached = ctx
        .stat_cache
        .as_ref()
        .and_then(|c| c.read().ok().and_then(|c| c.get(rel, key)));
    if let Some(d) = cached {
        return Ok(Some((d, *key)));
    }
    let (d, key) = sha256_in(ctx, rel)?;
    ctx.hashed.fetch_add(1, Ordering::Relaxed);
    if let Some(c) = &ctx.stat_cache {
        if let Ok(mut c) = c.write() {
            c.put(rel, key, d.clone());
        }
    }
    Ok(Some((d, key)))
}

thread_local! {
    /// Each hashing thread's read buffer.
    static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The sha256 of the context file at `rel` (a real path: no symlink in it), opened without
/// following a symlink, and the stat key of what was actually read.
fn sha256_in(ctx: &Context, rel: &str) -> Result<(String, StatKey), ContextError> {
    let (dir, name) = ctx.dir.parent(rel).map_err(|e| ctx.err(rel, e))?;
    let mut f = dir.open_file(&name).map_err(|e| ctx.err(rel, e))?;
    let key = f
        .metadata()
        .map(|m| StatKey::of(&m))
        .map_err(|e| ContextError::io(ctx.dir.shown_host_path(rel), e))?;
    let mut h = Sha256::new();
    BUF.with_borrow_mut(|buf| {
        buf.resize(256 * 1024, 0);
        loop {
            let n = match f.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContextError::io(ctx.dir.shown_host_path(rel), e)),
            };
            h.update(&buf[..n]);
        }
    })?;
    Ok((hex::encode(h.finalize()), key))
}
