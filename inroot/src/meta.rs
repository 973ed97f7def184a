//! What `lstat` says of an entry, in a form that does not tie callers to `rustix`.

use rustix::fs::{FileType, Stat};

/// The type of a file-system entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// Metadata of an entry (never of what a symlink points at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Its type.
    pub kind: Kind,
    /// Permission bits, with setuid/setgid/sticky (`mode & 0o7777`).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Device of the file system it is on.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Device number, for device nodes.
    pub rdev: u64,
    /// Last access (seconds, nanoseconds).
    pub atime: (i64, u32),
    /// Last modification (seconds, nanoseconds).
    pub mtime: (i64, u32),
    /// Last status change (seconds, nanoseconds).
    pub ctime: (i64, u32),
}

impl Meta {
    pub(crate) fn from_stat(st: &Stat) -> Meta {
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::CharacterDevice => Kind::Char,
            FileType::BlockDevice => Kind::Block,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            _ => Kind::File,
        };
        Meta {
            kind,
            perm: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            rdev: st.st_rdev,
            atime: (st.st_atime, st.st_atime_nsec as u32),
            mtime: (st.st_mtime, st.st_mtime_nsec as u32),
            ctime: (st.st_ctime, st.st_ctime_nsec as u32),
        }
    }

    /// Is it a directory?
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// Is it a regular file?
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// Is it a symbolic link?
    pub fn is_symlink(&self) -> bool {
        self.kind == Kind::Symlink
    }

    /// `(dev, ino)`: what identifies the inode.
    pub fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}
