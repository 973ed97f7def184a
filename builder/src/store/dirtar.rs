//! A directory as a deterministic tar: entries sorted by name, numeric uid/gid, mode and mtime
//! kept, symlinks kept as symlinks, hard links as hard-link entries, device nodes and FIFOs
//! kept; sockets are skipped (tar cannot hold them).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read as _, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::error::{Result, StoreError};

/// Write `dir`'s contents (not `dir` itself) as a tar stream into `w`.
pub fn write_dir_tar<W: Write>(dir: &Path, w: W) -> Result<W> {
    write_dir_tar_clamped(dir, w, None)
}

/// [`write_dir_tar`] with every modification time clamped to `clamp` (SOURCE_DATE_EPOCH).
pub fn write_dir_tar_clamped<W: Write>(dir: &Path, w: W, clamp: Option<i64>) -> Result<W> {
    let mut builder = tar::Builder::new(w);
    builder.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
    for entry in walker {
        let entry =
            entry.map_err(|e| StoreError::Archive(format!("walking {}: {e}", dir.display())))?;
        let path = entry.path();
        let rel = path
            .strip_prefix(dir)
            .map_err(|_| {
                StoreError::Archive(format!("{} is outside {}", path.display(), dir.display()))
            })?
            .to_path_buf();
        let md = fs::symlink_metadata(path).map_err(StoreError::io("stat", path))?;
        let ft = md.file_type();
        let mut h = Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(u64::from(md.uid()));
        h.set_gid(u64::from(md.gid()));
        let mtime = clamp.map_or(md.mtime(), |c| md.mtime().min(c));
        h.set_mtime(u64::try_from(mtime).unwrap_or(0));
        h.set_size(0);
        let add_err = StoreError::stream(format!("adding {} to the tar", path.display()));
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            let mut name = rel.clone().into_os_string();
            name.push("/");
            builder
                .append_data(&mut h, PathBuf::from(name), std::io::empty())
                .map_err(add_err)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(StoreError::io("reading link", path))?;
            h.set_entry_type(EntryType::Symlink);
            builder
                .append_link(&mut h, &rel, &target)
                .map_err(add_err)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    h.set_entry_type(EntryType::Link);
                    builder.append_link(&mut h, &rel, first).map_err(add_err)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), rel.clone());
            }
            h.set_entry_type(EntryType::Regular);
            h.set_size(md.len());
            let f = File::open(path).map_err(StoreError::io("opening", path))?;
            builder
                .append_data(&mut h, &rel, f.take(md.len()))
                .map_err(add_err)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            h.set_entry_type(kind);
            if kind != EntryType::Fifo {
                let rdev = md.rdev();
                h.set_device_major(libc::major(rdev))
                    .map_err(StoreError::stream("device major"))?;
                h.set_device_minor(libc::minor(rdev))
                    .map_err(StoreError::stream("device minor"))?;
            }
            builder
                .append_data(&mut h, &rel, std::io::empty())
                .map_err(add_err)?;
        }
        // Sockets and anything else cannot be represented in a tar: skipped like docker does.
    }
    builder
        .into_inner()
        .map_err(StoreError::stream("finishing the tar"))
}
