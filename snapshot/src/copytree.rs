//! Full tree copies that keep owners, modes, xattrs, mtimes, hardlinks, symlinks and
//! device nodes (used by Copy mode, where each snapshot holds its whole merged tree).

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::fsmeta::{self, NodeKind};
use crate::whiteout::is_overlay_private_xattr;

/// Copy the contents of directory `src` into the existing directory `dst` and give `dst`
/// the metadata of `src`.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut dirs: Vec<(PathBuf, Metadata)> = Vec::new();
    let walker = walkdir::WalkDir::new(src)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(src).to_path_buf();
            crate::Error::Io {
                op: "walk",
                path,
                source: e.into(),
            }
        })?;
        let rel = entry.path().strip_prefix(src).unwrap_or(Path::new(""));
        let to = dst.join(rel);
        let from = entry.path();
        let md = fs::symlink_metadata(from).ctx("stat", from)?;
        let ft = md.file_type();
        if ft.is_dir() {
            if !rel.as_os_str().is_empty() {
                fs::create_dir(&to).ctx("create directory", &to)?;
            }
            dirs.push((to, md));
            continue;
        }
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &to).ctx("hard link", &to)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_file() {
            fs::copy(from, &to).ctx("copy", from)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(from).ctx("read link", from)?;
            std::os::unix::fs::symlink(&target, &to).ctx("create symlink", &to)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                NodeKind::Char
            } else if ft.is_block_device() {
                NodeKind::Block
            } else {
                NodeKind::Fifo
            };
            let (maj, min) = fsmeta::dev_major_minor(md.rdev());
            fsmeta::mknod(&to, kind, md.mode(), maj, min).ctx("mknod", &to)?;
        } else {
            // Sockets are not copied (they cannot be part of an image).
            continue;
        }
        copy_metadata(from, &to, &md)?;
    }
    for (to, md) in dirs.iter().rev() {
        let from = src.join(to.strip_prefix(dst).unwrap_or(Path::new("")));
        copy_metadata(&from, to, md)?;
    }
    Ok(())
}

/// Give `to` the owner, mode, xattrs (except overlayfs-private ones) and times of `from`
/// (`md` is `from`'s lstat).
pub(crate) fn copy_metadata(from: &Path, to: &Path, md: &Metadata) -> Result<()> {
    fsmeta::lchown(to, md.uid(), md.gid()).ctx("chown", to)?;
    let is_link = md.file_type().is_symlink();
    if !is_link {
        fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777)).ctx("chmod", to)?;
    }
    for (name, value) in fsmeta::list_xattrs(from).ctx("list xattrs", from)? {
        // Overlay bookkeeping (opaque markers...) belongs to the source layer only.
        if is_overlay_private_xattr(name.as_bytes()) {
            continue;
        }
        if let Err(e) = fsmeta::set_xattr(to, &name, &value) {
            // Symlinks cannot carry user.* xattrs; anything else is a real failure.
            if !is_link {
                return Err(e).ctx("set xattr", to);
            }
        }
    }
    fsmeta::set_times(to, md.mtime(), md.mtime_nsec() as u32).ctx("set times", to)?;
    Ok(())
}
