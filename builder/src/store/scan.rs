//! One streaming pass over an image archive (docker save or OCI layout tar, plain or gzip):
//! `blobs/sha256/<hex>` entries go into the content store after their digest is verified,
//! metadata files (`*.json`, `oci-layout`, …) are kept in memory (bounded), every other file
//! (docker's layer tars) goes in gzip-compressed, links are recorded. Names with `..` or a leading `/` are refused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read};

use flate2::read::GzDecoder;
use tar::EntryType;

use super::digest::{is_hex64, HashingWriter};
use super::error::{Result, StoreError};
use super::layer::LayerWriter;
use super::{ImageStore, LayerDesc, MAX_JSON_BLOB};

/// Most bytes of JSON/metadata files kept in memory for one archive.
pub const MAX_METADATA: u64 = 64 << 20;
/// Most links followed when resolving one name.
const MAX_LINK_HOPS: usize = 16;

/// A regular file of the archive.
#[derive(Debug, Clone)]
pub enum ArchiveFile {
    /// `blobs/sha256/<hex>`, verified and in the content store.
    Blob { digest: String, size: u64 },
    /// Any other non-metadata file (a docker-archive layer, plain or gzip tar), stored
    /// gzip-compressed.
    Layer(LayerDesc),
    /// A metadata file (`*.json`, `oci-layout`, …) of at most [`MAX_JSON_BLOB`] bytes.
    Small(Vec<u8>),
    /// A larger metadata file (not kept).
    Large(u64),
}

/// What the scan found.
#[derive(Debug, Default)]
pub struct ScannedArchive {
    files: BTreeMap<String, ArchiveFile>,
    links: BTreeMap<String, String>,
    /// Blobs this scan added to the content store (to delete again on failure).
    pub new_blobs: BTreeSet<String>,
    kept_bytes: u64,
}

impl ScannedArchive {
    /// The file called `name` (links followed); an error naming it when absent.
    pub fn get(&self, name: &str) -> Result<&ArchiveFile> {
        let mut cur = normalize(name)?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => {
                    return Err(StoreError::Archive(format!(
                        "{name:?} is not in the archive"
                    )))
                }
            }
        }
        Err(StoreError::Archive(format!(
            "too many links resolving {name:?}"
        )))
    }

    /// Does the archive have `name`?
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    /// The bytes of the small file `name`.
    pub fn small(&self, name: &str) -> Result<&[u8]> {
        match self.get(name)? {
            ArchiveFile::Small(b) => Ok(b),
            ArchiveFile::Large(size) => Err(StoreError::TooLarge {
                what: format!("archive file {name:?}"),
                size: *size,
                limit: MAX_JSON_BLOB,
            }),
            _ => Err(StoreError::Archive(format!(
                "{name:?} is a layer or blob, expected a JSON file"
            ))),
        }
    }

    /// Delete the blobs this scan added, except those in `keep`.
    pub fn discard_new(&self, store: &ImageStore, keep: &BTreeSet<String>) {
        for d in self.new_blobs.difference(keep) {
            // Best effort: the blob may be gone already; nothing references it either way.
            let _ = store.content().delete(d);
        }
    }
}

/// Scan `r` into `store`. On failure the blobs already added are deleted again.
pub fn scan_archive(store: &ImageStore, r: impl Read) -> Result<ScannedArchive> {
    let mut scanned = ScannedArchive::default();
    match scan_into(store, r, &mut scanned) {
        Ok(()) => Ok(scanned),
        Err(e) => {
            scanned.discard_new(store, &BTreeSet::new());
            Err(e)
        }
    }
}

fn scan_into(store: &ImageStore, r: impl Read, out: &mut ScannedArchive) -> Result<()> {
    let mut reader = BufReader::new(r);
    let head = reader
        .fill_buf()
        .map_err(StoreError::stream("reading the archive"))?;
    let plain: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(plain);
    let entries = archive
        .entries()
        .map_err(|e| StoreError::Archive(format!("not a tar archive: {e}")))?;
    let mut seen_any = false;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| StoreError::Archive(format!("reading a tar entry: {e}")))?;
        seen_any = true;
        let raw = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| StoreError::Archive("an entry name is not UTF-8".into()))?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::Directory | EntryType::XGlobalHeader | EntryType::XHeader
        ) {
            continue;
        }
        let name = normalize(&raw)?;
        match kind {
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| StoreError::Archive(format!("link {raw:?} has no target")))?;
                let resolved = if kind == EntryType::Symlink {
                    resolve_symlink(&name, &target)?
                } else {
                    normalize(&target)?
                };
                out.links.insert(name, resolved);
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry
                    .header()
                    .size()
                    .map_err(|e| StoreError::Archive(format!("entry {raw:?}: {e}")))?;
                let file = read_file(store, &name, size, &mut entry, out)?;
                out.files.insert(name, file);
            }
            other => {
                return Err(StoreError::Archive(format!(
                    "unexpected entry {raw:?} of type {other:?}"
                )));
            }
        }
    }
    if !seen_any {
        return Err(StoreError::Archive("the archive is empty".into()));
    }
    Ok(())
}

fn read_file(
    store: &ImageStore,
    name: &str,
    size: u64,
    entry: &mut dyn Read,
    out: &mut ScannedArchive,
) -> Result<ArchiveFile> {
    if let Some(hex) = name.strip_prefix("blobs/sha256/") {
        if !is_hex64(hex) {
            return Err(StoreError::Archive(format!(
                "blob name {name:?} is not a sha256 digest"
            )));
        }
        let expected = format!("sha256:{hex}");
        let existed = store.content().has(&expected);
        let blob = store
            .content()
            .begin_write()
            .map_err(StoreError::content(format!("storing {expected}")))?;
        let mut w = HashingWriter::new(blob);
        io::copy(entry, &mut w).map_err(StoreError::stream(format!(
            "reading {name:?} from the archive"
        )))?;
        let (blob, actual, n) = w.finish();
        if actual != expected {
            return Err(StoreError::DigestMismatch {
                what: format!("archive blob {name:?}"),
                expected,
                actual: actual.to_string(),
            });
        }
        blob.commit(Some(&expected))
            .map_err(StoreError::content(format!("storing {expected}")))?;
        if !existed {
            out.new_blobs.insert(expected.clone());
        }
        return Ok(ArchiveFile::Blob {
            digest: expected,
            size: n,
        });
    }
    if !is_metadata_name(name) {
        let mut r = BufReader::new(entry);
        let head = r
            .fill_buf()
            .map_err(StoreError::stream(format!("reading {name:?}")))?;
        let mut plain: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(GzDecoder::new(r))
        } else {
            Box::new(r)
        };
        let mut w = LayerWriter::new(store)?;
        io::copy(&mut plain, &mut w)
            .map_err(StoreError::stream(format!("reading layer {name:?}")))?;
        let (layer, new) = w.finish()?;
        if new {
            out.new_blobs.insert(layer.digest.clone());
        }
        return Ok(ArchiveFile::Layer(layer));
    }
    if size > MAX_JSON_BLOB {
        io::copy(entry, &mut io::sink())
            .map_err(StoreError::stream(format!("reading {name:?}")))?;
        return Ok(ArchiveFile::Large(size));
    }
    out.kept_bytes += size;
    if out.kept_bytes > MAX_METADATA {
        return Err(StoreError::TooLarge {
            what: "the archive's JSON files together".into(),
            size: out.kept_bytes,
            limit: MAX_METADATA,
        });
    }
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .take(MAX_JSON_BLOB + 1)
        .read_to_end(&mut buf)
        .map_err(StoreError::stream(format!("reading {name:?}")))?;
    Ok(ArchiveFile::Small(buf))
}

/// Is `name` a JSON/metadata file (kept in memory) rather than a layer?
fn is_metadata_name(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.ends_with(".json") || matches!(base, "oci-layout" | "repositories" | "VERSION" | "json")
}

/// `./a//b/` → `a/b`; refuses absolute names and `..`.
pub fn normalize(name: &str) -> Result<String> {
    if name.starts_with('/') {
        return Err(StoreError::Archive(format!(
            "entry {name:?} has an absolute path"
        )));
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(StoreError::Archive(format!(
                    "entry {name:?} escapes the archive with '..'"
                )))
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(StoreError::Archive(format!(
            "entry {name:?} has an empty path"
        )));
    }
    Ok(parts.join("/"))
}

/// The archive path a symlink at `link` pointing to `target` designates.
fn resolve_symlink(link: &str, target: &str) -> Result<String> {
    if target.starts_with('/') {
        return Err(StoreError::Archive(format!(
            "link {link:?} points outside the archive to {target:?}"
        )));
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(StoreError::Archive(format!(
                        "link {link:?} points outside the archive to {target:?}"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}
