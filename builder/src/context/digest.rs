//! The content digest of the parts of the context a COPY/ADD reads: every selected entry's path,
//! type, mode, owner, symlink target and file content, in a canonical order.

use super::dockerignore::DockerIgnore;
use super::pattern::has_wildcard;
use super::resolve::{host_path, resolve_matches};
use super::statcache::StatKey;
use super::walk::{walk, WalkControl, WalkFilter};
use super::{Context, ContextError};
use sha2::{Digest as _, Sha256};
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One record of the digest; `file` is set for regular files whose content must be hashed.
struct Record {
    key: String,
    meta: String,
    file: Option<(PathBuf, String, StatKey)>,
}

/// Computes `sha256:...` over the selected entries of `ctx`.
pub(super) fn content_digest(
    ctx: &Context,
    selectors: &[String],
    excludes: &[String],
    allow_wildcard: bool,
) -> Result<String, ContextError> {
    let excl = DockerIgnore::from_patterns(excludes)?;
    let mut records = Vec::new();
    for sel in selectors {
        collect_selector(ctx, sel, allow_wildcard, &excl, &mut records)?;
    }
    let hashes = hash_files(ctx, &records)?;
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
    if let Some(cache) = &ctx.stat_cache {
        if let Ok(mut c) = cache.lock() {
            // A cache that cannot be written only costs speed next time.
            let _ = c.save();
        }
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn collect_selector(
    ctx: &Context,
    sel: &str,
    allow_wildcard: bool,
    excl: &DockerIgnore,
    out: &mut Vec<Record>,
) -> Result<(), ContextError> {
    let ignore = ctx.ignore.as_deref();
    let matches = resolve_matches(&ctx.root, sel, allow_wildcard, ignore)?;
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
        let host =
            host_path(&ctx.root, &m, false).map_err(|e| ContextError::io(ctx.root.join(&m), e))?;
        let meta = std::fs::symlink_metadata(&host).map_err(|e| ContextError::io(&host, e))?;
        let key = format!("{sel}\0{m}\0");
        push_entry(out, key, &host, &m, &meta)?;
        let mut content_rel = m.clone();
        let mut content_host = host.clone();
        if meta.file_type().is_symlink() {
            // COPY follows a source symlink: its target's content counts too.
            content_host =
                host_path(&ctx.root, &m, true).map_err(|e| ContextError::io(&host, e))?;
            content_rel = content_host
                .strip_prefix(&ctx.root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Ok(tm) = std::fs::symlink_metadata(&content_host) {
                push_entry(
                    out,
                    format!("{sel}\0{m}\0\0target"),
                    &content_host,
                    &content_rel,
                    &tm,
                )?;
            }
        }
        if !content_host.is_dir() {
            continue;
        }
        let prefix_len = if content_rel.is_empty() {
            0
        } else {
            content_rel.len() + 1
        };
        let filter = WalkFilter {
            exclude: ignore,
            include: None,
        };
        let mut err = None;
        walk(&content_host, &content_rel, filter, &mut |e| {
            let sub = e.rel.get(prefix_len..).unwrap_or("");
            if excl.matches(sub) {
                let skip = e.meta.is_dir() && excl.can_skip_dir(sub);
                return Ok(if skip {
                    WalkControl::SkipDir
                } else {
                    WalkControl::Continue
                });
            }
            if let Err(x) = push_entry(out, format!("{sel}\0{m}\0{sub}"), &e.path, &e.rel, &e.meta)
            {
                err = Some(x);
            }
            Ok(WalkControl::Continue)
        })
        .map_err(|e| ContextError::io(&content_host, e))?;
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(())
}

fn push_entry(
    out: &mut Vec<Record>,
    key: String,
    host: &Path,
    rel: &str,
    meta: &Metadata,
) -> Result<(), ContextError> {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        "dir".to_string()
    } else if ft.is_symlink() {
        let t = std::fs::read_link(host).map_err(|e| ContextError::io(host, e))?;
        format!("symlink:{}", t.to_string_lossy())
    } else if ft.is_file() {
        "file".to_string()
    } else if ft.is_block_device() || ft.is_char_device() {
        format!("dev:{}", meta.rdev())
    } else if ft.is_fifo() {
        "fifo".to_string()
    } else {
        "other".to_string()
    };
    let meta_s = format!(
        "{kind}\0{:o}\0{}\0{}",
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid()
    );
    let file = ft
        .is_file()
        .then(|| (host.to_path_buf(), rel.to_string(), StatKey::of(meta)));
    out.push(Record {
        key,
        meta: meta_s,
        file,
    });
    Ok(())
}

/// Hashes every record's file (cache first), on two threads.
fn hash_files(ctx: &Context, records: &[Record]) -> Result<Vec<Option<String>>, ContextError> {
    let results: Vec<Mutex<Option<String>>> = records.iter().map(|_| Mutex::new(None)).collect();
    let mut todo = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let Some((_, rel, key)) = &r.file else {
            continue;
        };
        let cached = ctx
            .stat_cache
            .as_ref()
            .and_then(|c| c.lock().ok().and_then(|c| c.get(rel, key)));
        match cached {
            Some(d) => *lock(&results[i]) = Some(d),
            None => todo.push(i),
        }
    }
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<ContextError>> = Mutex::new(None);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = todo.get(n) else { break };
                let Some((path, rel, key)) = &records[i].file else {
                    continue;
                };
                match sha256_file(path) {
                    Ok(d) => {
                        ctx.hashed.fetch_add(1, Ordering::Relaxed);
                        if let Some(c) = &ctx.stat_cache {
                            if let Ok(mut c) = c.lock() {
                                c.put(rel, *key, d.clone());
                            }
                        }
                        *lock(&results[i]) = Some(d);
                    }
                    Err(e) => {
                        *lock(&failure) = Some(ContextError::io(path, e));
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
