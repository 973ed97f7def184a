//! ADD of a local archive: detect a (gzip-compressed or plain) tar and extract it safely: no
//! entry may name a path outside the destination, and every path is resolved inside the
//! destination root so symlinks in the archive cannot lead writes out of it.

use super::copy::{mkdir_all_in_root, set_times};
use super::rootpath::resolve_in_root;
use super::FileOpError;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Compression of an archive.
enum Compression {
    None,
    Gzip,
}

fn detect(path: &Path) -> Option<Compression> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 6];
    let n = f.read(&mut head).ok()?;
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        return Some(Compression::Gzip);
    }
    Some(Compression::None)
}

fn open(path: &Path, c: &Compression) -> std::io::Result<Box<dyn Read>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(0))?;
    let r = BufReader::new(f);
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
    })
}

/// Is the first 512-byte block a tar header with a valid checksum?
fn looks_like_tar(r: &mut dyn Read) -> bool {
    let mut block = [0u8; 512];
    if r.read_exact(&mut block).is_err() {
        return false;
    }
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let Some(stored) = stored else { return false };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
}

/// Extracts `archive` into the directory `dest_rel` of `dest_root` if it is a tar (plain or
/// gzip). Returns `Ok(false)` when it is not an archive (the caller copies it as a file).
pub(super) fn try_unpack(
    archive: &Path,
    dest_root: &Path,
    dest_rel: &str,
    chown: Option<(u32, u32)>,
    mtime: Option<i64>,
) -> Result<bool, FileOpError> {
    let Some(c) = detect(archive) else {
        return Ok(false);
    };
    let probe = open(archive, &c).map_err(FileOpError::io("open", archive));
    let Ok(mut probe) = probe else {
        return Ok(false);
    };
    if !looks_like_tar(&mut *probe) {
        return Ok(false);
    }
    let reader = open(archive, &c).map_err(FileOpError::io("open", archive))?;
    mkdir_all_in_root(dest_root, dest_rel, 0o755, chown, mtime)?;
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(FileOpError::io("read archive", archive))?;
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(FileOpError::io("read archive", archive))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = safe_rel(&name).ok_or_else(|| FileOpError::UnsafeArchive {
            archive: archive.into(),
            entry: name.clone(),
        })?;
        if rel.is_empty() {
            continue;
        }
        let full = format!("{dest_rel}/{rel}");
        let parent = full.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        mkdir_all_in_root(dest_root, parent, 0o755, chown, None)?;
        let host = resolve_in_root(dest_root, &full, false)
            .map_err(FileOpError::io("resolve", dest_root.join(&full)))?;
        let h = entry.header().clone();
        let kind = h.entry_type();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let owner = chown.unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        let mt = mtime.unwrap_or(h.mtime().unwrap_or(0) as i64);
        if !kind.is_dir() {
            if let Ok(m) = std::fs::symlink_metadata(&host) {
                if m.is_dir() {
                    std::fs::remove_dir_all(&host).map_err(FileOpError::io("replace", &host))?;
                } else {
                    std::fs::remove_file(&host).map_err(FileOpError::io("replace", &host))?;
                }
            }
        }
        if kind.is_dir() {
            if !host.is_dir() {
                std::fs::create_dir(&host).map_err(FileOpError::io("mkdir", &host))?;
            }
            dir_times.push((host.clone(), mt));
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(FileOpError::io("read archive", archive))?
                .ok_or_else(|| FileOpError::UnsafeArchive {
                    archive: archive.into(),
                    entry: name.clone(),
                })?;
            std::os::unix::fs::symlink(&target, &host)
                .map_err(FileOpError::io("symlink", &host))?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let trel = safe_rel(&target).ok_or_else(|| FileOpError::UnsafeArchive {
                archive: archive.into(),
                entry: target.clone(),
            })?;
            let thost = resolve_in_root(dest_root, &format!("{dest_rel}/{trel}"), false)
                .map_err(FileOpError::io("resolve", dest_root.join(&trel)))?;
            std::fs::hard_link(&thost, &host).map_err(FileOpError::io("link", &host))?;
            continue;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let mut f = std::fs::File::create(&host).map_err(FileOpError::io("create", &host))?;
            std::io::copy(&mut entry, &mut f).map_err(FileOpError::io("write", &host))?;
        } else {
            // Devices, fifos, pax/gnu extension records: not recreated.
            continue;
        }
        rustix::fs::chownat(
            rustix::fs::CWD,
            &host,
            Some(rustix::fs::Uid::from_raw(owner.0)),
            Some(rustix::fs::Gid::from_raw(owner.1)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| FileOpError::Io {
            op: "chown",
            path: host.clone(),
            source: e.into(),
        })?;
        if !kind.is_symlink() {
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
                .map_err(FileOpError::io("chmod", &host))?;
        }
        if !kind.is_dir() {
            set_times(&host, mt, 0, mt, 0)?;
        }
    }
    for (d, t) in dir_times.into_iter().rev() {
        set_times(&d, t, 0, t, 0)?;
    }
    Ok(true)
}

/// The entry name as a clean relative path, or `None` if it climbs out (`..` above the top).
fn safe_rel(name: &str) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(out.join("/"))
}
