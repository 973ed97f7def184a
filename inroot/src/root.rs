//! [`Root`]: a directory that untrusted paths are resolved inside, as if it were `/`.
//!
//! Resolution has two engines that agree: `openat2(RESOLVE_IN_ROOT)` where the kernel has it
//! (Linux 5.6), and a walk of our own, one component at a time with `O_NOFOLLOW` on directory
//! descriptors, reading each symlink and resolving its target inside the root (absolute targets
//! from the root, `..` never above it). The walk also creates missing directories, allows 255
//! links (BuildKit's limit) where the kernel stops at 40, and reports where a path leads when
//! its end does not exist. The last directory reached is remembered, so resolving many paths
//! in one directory (or each one level below the last, as a tar lists them) costs one step each.

use crate::dir::{Dir, Shared};
use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::path::{clean, display, display_child, join, link_target};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// Most symlinks followed while resolving one path (BuildKit's and Docker's limit).
pub const MAX_SYMLINKS: u32 = 255;

/// Whether this kernel has `openat2`: 0 unknown, 1 yes, 2 no.
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// A root directory. Every path given to its methods is taken as a path inside it, cleaned
/// lexically first (`/a/../b` is `/b`); symlinks met on the way are resolved inside the root.
#[derive(Debug)]
pub struct Root {
    top: Dir,
    /// Never use `openat2` (tests of the fallback walk).
    walk_only: bool,
    /// Refuse every symlink met while resolving (`RESOLVE_NO_SYMLINKS`).
    no_symlinks: bool,
    cache: Mutex<Option<Cached>>,
}

/// The directory the last resolution reached.
#[derive(Debug)]
struct Cached {
    /// The cleaned input components that led there.
    comps: Vec<OsString>,
    dir: Dir,
    /// Where it is inside the root, when known (the kernel's `openat2` does not say).
    resolved: Option<Vec<OsString>>,
    /// The root's generation when it was resolved.
    generation: u64,
}

/// An entry a path resolved to: the directory that holds it and its name there.
#[derive(Debug)]
pub struct Resolved {
    /// The directory holding the entry (the root itself for the root).
    pub parent: Dir,
    /// The entry's name in `parent`; empty for the root itself.
    pub name: OsString,
    /// Its metadata (a symlink's own when it was not followed); `None` when the last component
    /// does not exist.
    pub meta: Option<Meta>,
    /// The in-root path it resolved to.
    pub path: Vec<OsString>,
}

impl Resolved {
    /// The entry as a directory.
    pub fn open_dir(&self) -> Result<Dir> {
        if self.name.is_empty() {
            self.parent.try_clone()
        } else {
            self.parent.open_dir(&self.name)
        }
    }

    /// The entry as a regular file opened for reading.
    pub fn open_file(&self) -> Result<File> {
        if self.name.is_empty() {
            return Err(Error::errno("open", "/", Errno::ISDIR));
        }
        self.parent.open_file(&self.name)
    }

    /// `/a/b` for messages.
    pub fn display(&self) -> String {
        display(&self.path)
    }

    /// The in-root path as `a/b` (empty for the root), for matching against rules.
    pub fn rel(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.path.iter().enumerate() {
            if i > 0 {
                s.push('/');
            }
            s.push_str(&c.to_string_lossy());
        }
        s
    }
}

/// What to do with a missing directory during a walk.
struct Create<'a> {
    perm: u32,
    on_create: &'a mut dyn FnMut(&Dir, &OsStr) -> Result<()>,
}

/// What the last component may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// A directory (symlinks to directories followed).
    Dir,
    /// Anything; a symlink is followed only if `follow`.
    Any { follow: bool },
}

/// The outcome of a walk.
enum Walked {
    Dir(Dir, Option<Vec<OsString>>),
    Entry(Resolved),
}

/// A walk started from a directory whose in-root path is unknown met a `..`: start again from
/// the root.
struct Restart;

impl Root {
    /// Open `path` (a trusted host path) as a root.
    pub fn open(path: impl AsRef<Path>) -> Result<Root> {
        Self::open_inner(path.as_ref(), false, false)
    }

    /// Like [`Root::open`], but every symlink met while resolving a path is an error (`ELOOP`)
    /// instead of being followed inside the root: for trees whose paths must be literal (layer
    /// tars, whose entries never pass through links).
    pub fn open_no_symlinks(path: impl AsRef<Path>) -> Result<Root> {
        Self::open_inner(path.as_ref(), false, true)
    }

    /// Like [`Root::open`], but resolving only with the fallback walk, as on kernels without
    /// `openat2` (for tests).
    #[doc(hidden)]
    pub fn open_walk_only(path: impl AsRef<Path>) -> Result<Root> {
        Self::open_inner(path.as_ref(), true, false)
    }

    fn open_inner(path: &Path, walk_only: bool, no_symlinks: bool) -> Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::errno("open root", path.display().to_string(), e))?;
        let shared = Arc::new(Shared {
            root: fd
                .try_clone()
                .map_err(|e| Error::io("open root", path.display().to_string(), e))?,
            host: path.to_path_buf(),
            generation: Default::default(),
        });
        Ok(Root {
            top: Dir::new(fd, shared, "/".into()),
            walk_only,
            no_symlinks,
            cache: Mutex::new(None),
        })
    }

    /// The host path of the root (for messages: never open paths under it yourself).
    pub fn host_path(&self) -> &Path {
        &self.top.shared.host
    }

    /// The root directory.
    pub fn dir(&self) -> Result<Dir> {
        self.top.try_clone()
    }

    /// The host path of `path` inside the root, *for messages only*.
    pub fn shown_host_path(&self, path: impl AsRef<OsStr>) -> PathBuf {
        let mut p = self.host_path().to_path_buf();
        p.extend(clean(path.as_ref()));
        p
    }

    fn generation(&self) -> u64 {
        self.top.shared.generation.load(Ordering::SeqCst)
    }

    /// The existing directory at `path` (symlinks followed inside the root).
    pub fn open_dir(&self, path: impl AsRef<OsStr>) -> Result<Dir> {
        let comps = clean(path.as_ref());
        self.walk_dirs(&comps, None)
    }

    /// `mkdir -p` inside the root: the directory at `path`, with the missing ones created with
    /// permissions `perm` (the umask does not apply); `on_create(parent, name)` is called for
    /// each directory made, before anything is made in it (to set its owner or times).
    /// Symlinks on the way are followed inside the root, dangling ones included (their
    /// targets are created), as BuildKit's `MkdirAll` on a `RootPath` does.
    pub fn mkdir_all(
        &self,
        path: impl AsRef<OsStr>,
        perm: u32,
        on_create: &mut dyn FnMut(&Dir, &OsStr) -> Result<()>,
    ) -> Result<Dir> {
        let comps = clean(path.as_ref());
        let mut create = Create { perm, on_create };
        self.walk_dirs(&comps, Some(&mut create))
    }

    /// The directory that holds `path`'s last component (symlinks before it followed inside
    /// the root), and that component's name, not followed. The root itself has no parent:
    /// that is an [`Error::InvalidName`].
    pub fn parent(&self, path: impl AsRef<OsStr>) -> Result<(Dir, OsString)> {
        let mut comps = clean(path.as_ref());
        let Some(name) = comps.pop() else {
            return Err(Error::InvalidName {
                name: "/".into(),
                reason: "the root has no parent",
            });
        };
        Ok((self.walk_dirs(&comps, None)?, name))
    }

    /// `mkdir -p` of `path`'s parent (see [`Root::mkdir_all`]) and the last component's name.
    pub fn create_parent(
        &self,
        path: impl AsRef<OsStr>,
        perm: u32,
        on_create: &mut dyn FnMut(&Dir, &OsStr) -> Result<()>,
    ) -> Result<(Dir, OsString)> {
        let mut comps = clean(path.as_ref());
        let Some(name) = comps.pop() else {
            return Err(Error::InvalidName {
                name: "/".into(),
                reason: "the root has no parent",
            });
        };
        let mut create = Create { perm, on_create };
        Ok((self.walk_dirs(&comps, Some(&mut create))?, name))
    }

    /// What `path` leads to: every directory before the last component must exist; the last
    /// one may be missing (`meta` is then `None`), and a symlink there is followed only if
    /// `follow` (inside the root).
    pub fn resolve(&self, path: impl AsRef<OsStr>, follow: bool) -> Result<Resolved> {
        let comps = clean(path.as_ref());
        let Some((last, parents)) = comps.split_last() else {
            return self.root_entry();
        };
        let (dir, resolved) = self.walk_dirs_resolved(parents)?;
        let mut links = 0;
        let shown = display(&comps);
        let start = (dir, resolved);
        let walked = match self.walk(
            start,
            vec![last.clone()],
            None,
            Last::Any { follow },
            &mut links,
            &shown,
        ) {
            Ok(w) => w,
            Err(Ok(e)) => return Err(e),
            Err(Err(Restart)) => self
                .walk(
                    (self.dir()?, Some(Vec::new())),
                    rev(&comps),
                    None,
                    Last::Any { follow },
                    &mut 0,
                    &shown,
                )
                .map_err(|e| e.unwrap_or_else(|Restart| unreachable_restart(&shown)))?,
        };
        match walked {
            Walked::Entry(r) => Ok(r),
            Walked::Dir(..) => unreachable!("a walk for any entry returns an entry"),
        }
    }

    /// `lstat` (or `stat` inside the root, if `follow`) of `path`; `None` when it or a
    /// directory on the way does not exist.
    pub fn stat(&self, path: impl AsRef<OsStr>, follow: bool) -> Result<Option<Meta>> {
        match self.resolve(path, follow) {
            Ok(r) => Ok(r.meta),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The regular file at `path`, opened for reading (a final symlink followed inside the
    /// root).
    pub fn open_file(&self, path: impl AsRef<OsStr>) -> Result<File> {
        let r = self.resolve(path, true)?;
        if r.meta.is_none() {
            return Err(Error::errno("open", r.display(), Errno::NOENT));
        }
        r.open_file()
    }

    /// Where `path` leads inside the root, as `a/b` (empty for the root), without requiring
    /// that it exists: symlinks that exist are followed (the last one only if `follow`), and
    /// missing components are kept as written. For matching paths against rules and for
    /// messages; to act on the entry, use [`Root::resolve`].
    pub fn real_path(&self, path: impl AsRef<OsStr>, follow: bool) -> Result<String> {
        let comps = clean(path.as_ref());
        // Resolve the longest existing prefix, then append the rest literally.
        for split in (0..=comps.len()).rev() {
            let (head, tail) = comps.split_at(split);
            let r = if head.is_empty() {
                self.root_entry()
            } else if tail.is_empty() {
                self.resolve(join(head), follow)
            } else {
                self.resolve(join(head), true)
            };
            match r {
                Ok(r) if r.meta.is_some() || tail.is_empty() || head.is_empty() => {
                    let mut path = r.path;
                    path.extend(tail.iter().cloned());
                    let mut s = String::new();
                    for (i, c) in path.iter().enumerate() {
                        if i > 0 {
                            s.push('/');
                        }
                        s.push_str(&c.to_string_lossy());
                    }
                    return Ok(s);
                }
                Ok(_) => continue,
                Err(e) if e.is_not_found() || e.raw_os_error() == Some(libc::ENOTDIR) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(String::new())
    }

    fn root_entry(&self) -> Result<Resolved> {
        let meta = self.top.stat(OsStr::new(""))?;
        Ok(Resolved {
            parent: self.dir()?,
            name: OsString::new(),
            meta,
            path: Vec::new(),
        })
    }

    /// The directory at `comps` (cleaned), creating missing ones if `create`.
    fn walk_dirs(&self, comps: &[OsString], create: Option<&mut Create<'_>>) -> Result<Dir> {
        self.walk_dirs_inner(comps, create, false).map(|(d, _)| d)
    }

    /// Like [`Self::walk_dirs`], also saying where the directory is.
    fn walk_dirs_resolved(&self, comps: &[OsString]) -> Result<(Dir, Option<Vec<OsString>>)> {
        self.walk_dirs_inner(comps, None, true)
    }

    fn walk_dirs_inner(
        &self,
        comps: &[OsString],
        mut create: Option<&mut Create<'_>>,
        need_resolved: bool,
    ) -> Result<(Dir, Option<Vec<OsString>>)> {
        if comps.is_empty() {
            return Ok((self.dir()?, Some(Vec::new())));
        }
        let generation = self.generation();
        let shown = display(comps);
        let mut start = None;
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.as_ref() {
                if c.generation == generation
                    && c.comps.len() <= comps.len()
                    && comps.starts_with(&c.comps)
                    && (!need_resolved || c.resolved.is_some())
                {
                    start = Some((c.dir.try_clone()?, c.resolved.clone(), c.comps.len()));
                }
            }
        }
        let (dir, resolved) = match start {
            Some((dir, resolved, n)) if n == comps.len() => return Ok((dir, resolved)),
            Some((dir, resolved, n)) => match self.walk(
                (dir, resolved),
                rev(&comps[n..]),
                create.as_deref_mut(),
                Last::Dir,
                &mut 0,
                &shown,
            ) {
                Ok(Walked::Dir(d, r)) => (d, r),
                Ok(Walked::Entry(_)) => unreachable!("a directory walk returns a directory"),
                Err(Ok(e)) => return Err(e),
                Err(Err(Restart)) => self.walk_from_root(comps, create, &shown)?,
            },
            None => match need_resolved {
                false => match self.openat2_dir(comps) {
                    Some(d) => (d, None),
                    None => self.walk_from_root(comps, create, &shown)?,
                },
                true => self.walk_from_root(comps, create, &shown)?,
            },
        };
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some(Cached {
                comps: comps.to_vec(),
                dir: dir.try_clone()?,
                resolved: resolved.clone(),
                generation,
            });
        }
        Ok((dir, resolved))
    }

    fn walk_from_root(
        &self,
        comps: &[OsString],
        create: Option<&mut Create<'_>>,
        shown: &str,
    ) -> Result<(Dir, Option<Vec<OsString>>)> {
        match self.walk(
            (self.dir()?, Some(Vec::new())),
            rev(comps),
            create,
            Last::Dir,
            &mut 0,
            shown,
        ) {
            Ok(Walked::Dir(d, r)) => Ok((d, r)),
            Ok(Walked::Entry(_)) => unreachable!("a directory walk returns a directory"),
            Err(Ok(e)) => Err(e),
            Err(Err(Restart)) => Err(unreachable_restart(shown)),
        }
    }

    /// The kernel's resolution of an existing directory: `None` when it cannot answer
    /// (no `openat2`, a missing component, more than 40 links, ...) and the walk must.
    fn openat2_dir(&self, comps: &[OsString]) -> Option<Dir> {
        if self.walk_only || OPENAT2.load(Ordering::Relaxed) == 2 {
            return None;
        }
        let path = join(comps);
        let path = path.as_bytes();
        let mut how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        if self.no_symlinks {
            how |= ResolveFlags::NO_SYMLINKS;
        }
        let r = rustix::fs::openat2(
            &self.top.fd,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            how,
        );
        match r {
            Ok(fd) => {
                OPENAT2.store(1, Ordering::Relaxed);
                Some(Dir::new(fd, self.top.shared.clone(), display(comps)))
            }
            Err(Errno::NOSYS) | Err(Errno::PERM) if OPENAT2.load(Ordering::Relaxed) == 0 => {
                OPENAT2.store(2, Ordering::Relaxed);
                None
            }
            // Missing or not a directory (the walk says which, and may create), too many
            // links for the kernel, a rename race: let the walk decide.
            Err(_) => None,
        }
    }

    /// Re-open the directory at `resolved` (components with no symlink in them).
    fn reopen(&self, resolved: &[OsString]) -> Result<Dir> {
        let mut cur = self.dir()?;
        for c in resolved {
            cur = cur.open_dir(c)?;
        }
        Ok(cur)
    }

    /// The walk. `pending` is a stack (next component last); `resolved` is where `dir` is
    /// inside the root, if known.
    fn walk(
        &self,
        start: (Dir, Option<Vec<OsString>>),
        mut pending: Vec<OsString>,
        mut create: Option<&mut Create<'_>>,
        last: Last,
        links: &mut u32,
        shown: &str,
    ) -> std::result::Result<Walked, std::result::Result<Error, Restart>> {
        let (mut cur, mut resolved) = start;
        while let Some(c) = pending.pop() {
            let is_last = pending.is_empty();
            if c.as_bytes() == b".." {
                let Some(res) = resolved.as_mut() else {
                    return Err(Err(Restart));
                };
                if res.pop().is_some() {
                    cur = self.reopen(res).map_err(Ok)?;
                }
                continue;
            }
            if let (true, Last::Any { follow }) = (is_last, last) {
                let meta = cur.stat(&c).map_err(Ok)?;
                if follow && meta.is_some_and(|m| m.is_symlink()) {
                    self.expand_link(&mut cur, &mut resolved, &mut pending, &c, links, shown)?;
                    continue;
                }
                let path = match &resolved {
                    Some(r) => {
                        let mut p = r.clone();
                        p.push(c.clone());
                        p
                    }
                    None => return Err(Err(Restart)),
                };
                return Ok(Walked::Entry(Resolved {
                    parent: cur,
                    name: c,
                    meta,
                    path,
                }));
            }
            match cur.open_dir(&c) {
                Ok(d) => {
                    cur = d;
                    if let Some(r) = resolved.as_mut() {
                        r.push(c);
                    }
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                    match cur.stat(&c).map_err(Ok)? {
                        Some(m) if m.is_symlink() => {
                            self.expand_link(
                                &mut cur,
                                &mut resolved,
                                &mut pending,
                                &c,
                                links,
                                shown,
                            )?;
                        }
                        _ => {
                            let at = match &resolved {
                                Some(r) => display_child(r, &c),
                                None => shown.to_string(),
                            };
                            return Err(Ok(Error::errno("resolve", at, Errno::NOTDIR)));
                        }
                    }
                }
                Err(e) if e.is_not_found() => {
                    let Some(cr) = create.as_deref_mut() else {
                        return Err(Ok(e));
                    };
                    match cur.mkdir(&c, cr.perm) {
                        Ok(()) => {
                            cur.chmod(&c, cr.perm).map_err(Ok)?;
                            (cr.on_create)(&cur, &c).map_err(Ok)?;
                        }
                        // Made meanwhile by someone else: use it.
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(Ok(e)),
                    }
                    pending.push(c);
                }
                Err(e) => return Err(Ok(e)),
            }
        }
        match last {
            Last::Dir => Ok(Walked::Dir(cur, resolved)),
            Last::Any { .. } => {
                // The path ended on a directory reached through `..` or a link to one.
                let Some(res) = resolved else {
                    return Err(Err(Restart));
                };
                let mut parent_path = res.clone();
                let Some(name) = parent_path.pop() else {
                    return self.root_entry().map(Walked::Entry).map_err(Ok);
                };
                let parent = self.reopen(&parent_path).map_err(Ok)?;
                let meta = parent.stat(&name).map_err(Ok)?;
                Ok(Walked::Entry(Resolved {
                    parent,
                    name,
                    meta,
                    path: res,
                }))
            }
        }
    }

    /// Replace the symlink `name` in `cur` by its target on the pending stack.
    fn expand_link(
        &self,
        cur: &mut Dir,
        resolved: &mut Option<Vec<OsString>>,
        pending: &mut Vec<OsString>,
        name: &OsStr,
        links: &mut u32,
        shown: &str,
    ) -> std::result::Result<(), std::result::Result<Error, Restart>> {
        if self.no_symlinks {
            let at = match resolved {
                Some(r) => display_child(r, name),
                None => shown.to_string(),
            };
            return Err(Ok(Error::errno("resolve", at, Errno::LOOP)));
        }
        *links += 1;
        if *links > MAX_SYMLINKS {
            return Err(Ok(Error::TooManyLinks {
                path: shown.to_string(),
            }));
        }
        let target = cur.readlink(name).map_err(Ok)?;
        let (absolute, comps) = link_target(&target);
        if absolute {
            *cur = self.dir().map_err(Ok)?;
            *resolved = Some(Vec::new());
        }
        pending.extend(comps.into_iter().rev());
        Ok(())
    }
}

/// A component list as a stack (next component last).
fn rev(comps: &[OsString]) -> Vec<OsString> {
    comps.iter().rev().cloned().collect()
}

fn unreachable_restart(shown: &str) -> Error {
    Error::Moved {
        path: shown.to_string(),
    }
}
