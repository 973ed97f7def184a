//! A corpus of hostile tar archives, and a sentinel directory on the host to prove that
//! extracting them changed nothing outside the target.
//!
//! Every path of kiln that extracts a tar (layer apply for `load`, `import` and pulls; `ADD` of
//! a local archive; `COPY --from` an image made of such layers) is fed every [`Case`] by the
//! tests of its crate: the case says whether the tar is refused or accepted on that path, and the
//! test checks that the [`Sentinel`] is byte for byte what it was.

mod names;
mod tarw;

pub use names::{url_names, UrlName};
pub use tarw::{kind, Header, Tar};

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What a path of kiln must do with a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It fails with an error (and keeps nothing of it).
    Refused,
    /// It succeeds.
    Accepted,
}

/// A check of an extracted tree (its root given).
pub type Check = fn(&Path) -> Result<(), String>;

/// One hostile archive.
pub struct Case {
    /// A short name for messages.
    pub name: &'static str,
    /// The archive (plain tar, or gzip for the bombs).
    pub tar: Vec<u8>,
    /// As an image layer (load, import, pull): entries never pass through symlinks.
    pub layer: Outcome,
    /// Unpacked by `ADD` into a directory: symlinks are followed inside the root.
    pub add: Outcome,
    /// Checks on the extracted tree when accepted (the layer's root, or `ADD`'s destination).
    pub check: Option<Check>,
}

/// A directory outside every target, with content the cases aim at.
pub struct Sentinel {
    dir: tempfile_lite::TempDir,
    before: Vec<String>,
}

impl Sentinel {
    /// Make the sentinel under `parent` (a host directory outside the targets).
    pub fn new(parent: &Path) -> Sentinel {
        let dir = tempfile_lite::TempDir::new(parent, "kiln-sentinel-");
        let p = dir.path();
        fs::write(p.join("secret"), b"host secret\n").unwrap();
        fs::set_permissions(p.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::create_dir(p.join("sub")).unwrap();
        fs::write(p.join("sub/file"), b"x").unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(0o700)).unwrap();
        let before = fingerprint(p);
        Sentinel { dir, before }
    }

    /// Its absolute host path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Its path without the leading `/` (for tar names that aim at it from a root).
    pub fn rel(&self) -> String {
        self.path()
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string()
    }

    /// `Err` with what changed, if anything.
    pub fn check(&self) -> Result<(), String> {
        let now = fingerprint(self.path());
        if now == self.before {
            return Ok(());
        }
        Err(format!(
            "the host directory {} changed:\n  before: {:?}\n  after:  {:?}",
            self.path().display(),
            self.before,
            now
        ))
    }
}

/// Names, types, modes, owners, sizes, times and contents of everything under `dir`.
pub fn fingerprint(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let md = fs::symlink_metadata(dir).unwrap();
    out.push(format!(
        ".: {:o} {}:{} {}",
        md.mode(),
        md.uid(),
        md.gid(),
        md.mtime()
    ));
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut names: Vec<PathBuf> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let md = fs::symlink_metadata(&p).unwrap();
            let content = if md.is_file() {
                String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned()
            } else {
                String::new()
            };
            out.push(format!(
                "{}: {:o} {}:{} {} {} {content:?}",
                p.strip_prefix(dir).unwrap().display(),
                md.mode(),
                md.uid(),
                md.gid(),
                md.len(),
                md.mtime()
            ));
            if md.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// What an `ADD` target holds before the archive is unpacked: a symlink to the sentinel and the
/// common `/var/run -> /run`, as a base image may have them.
pub fn prepare_add_target(root: &Path, s: &Sentinel) {
    fs::create_dir_all(root.join("var")).unwrap();
    fs::create_dir_all(root.join("run")).unwrap();
    let _ = std::os::unix::fs::symlink("/run", root.join("var/run"));
    let _ = std::os::unix::fs::symlink(s.path(), root.join("hostlink"));
}

fn exists(p: &Path) -> Result<(), String> {
    fs::symlink_metadata(p)
        .map(drop)
        .map_err(|e| format!("{} should exist: {e}", p.display()))
}

fn deep_name(depth: usize) -> String {
    let mut s = "d/".repeat(depth);
    s.push_str("leaf");
    s
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Depth of the deep-path case.
pub const DEEP: usize = 1500;
/// Size of the zero file in the compression bomb (bounded so tests stay small).
pub const BOMB_BYTES: usize = 64 << 20;

/// Every case, aimed at `s`.
pub fn corpus(s: &Sentinel) -> Vec<Case> {
    use Outcome::{Accepted, Refused};
    let out = s.path().to_string_lossy().into_owned();
    let rel = s.rel();
    let up = "../".repeat(40);
    let mut v = Vec::new();
    let mut case = |name, tar: Vec<u8>, layer, add, check: Option<Check>| {
        v.push(Case {
            name,
            tar,
            layer,
            add,
            check,
        })
    };
    case(
        "absolute name",
        Tar::new().file(&format!("/{rel}/pwned"), b"x").finish(),
        Accepted,
        Accepted,
        None,
    );
    case(
        "dotdot name",
        Tar::new().file(&format!("{up}{rel}/pwned"), b"x").finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "dotdot in the middle",
        Tar::new()
            .file(&format!("a/{up}{rel}/pwned"), b"x")
            .finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "symlink then a file through it",
        Tar::new()
            .symlink("evil", &out)
            .file("evil/pwned", b"x")
            .finish(),
        Refused,
        Accepted,
        None,
    );
    case(
        "symlink then a directory entry of the same name",
        Tar::new()
            .symlink("evil", &out)
            .dir("evil/", 0o777)
            .finish(),
        Accepted,
        Accepted,
        Some(|root| {
            let m = fs::symlink_metadata(root.join("evil")).map_err(|e| e.to_string())?;
            m.is_dir()
                .then_some(())
                .ok_or_else(|| "evil should be a real directory".into())
        }),
    );
    case(
        "symlink then a directory below it",
        Tar::new()
            .symlink("evil", &out)
            .dir("evil/sub/", 0o777)
            .file("evil/sub/secret", b"overwritten")
            .finish(),
        Refused,
        Accepted,
        None,
    );
    case(
        "relative symlink climbing out",
        Tar::new()
            .symlink("up", &format!("{up}{rel}"))
            .file("up/pwned", b"x")
            .finish(),
        Refused,
        Accepted,
        None,
    );
    case(
        "hardlink to an absolute host path",
        Tar::new().hardlink("pw", &format!("{out}/secret")).finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "hardlink climbing out",
        Tar::new()
            .hardlink("pw", &format!("{up}{rel}/secret"))
            .finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "hardlink through a symlinked directory",
        Tar::new()
            .symlink("l", &out)
            .hardlink("pw", "l/secret")
            .finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "hardlink to a symlink that points out",
        Tar::new()
            .symlink("l", &format!("{out}/secret"))
            .hardlink("h", "l")
            .finish(),
        Accepted,
        Accepted,
        Some(|root| {
            let m = fs::symlink_metadata(root.join("h")).map_err(|e| e.to_string())?;
            m.file_type()
                .is_symlink()
                .then_some(())
                .ok_or_else(|| "h should be a link to the symlink itself".into())
        }),
    );
    case(
        "symlink overwritten by a file",
        Tar::new()
            .symlink("target", &format!("{out}/secret"))
            .file("target", b"overwritten")
            .finish(),
        Accepted,
        Accepted,
        Some(|root| {
            let got = fs::read(root.join("target")).map_err(|e| e.to_string())?;
            (got == b"overwritten")
                .then_some(())
                .ok_or_else(|| "target should be the archive's file".into())
        }),
    );
    case(
        "symlink loop",
        Tar::new()
            .symlink("a", "b")
            .symlink("b", "a")
            .file("a/x", b"x")
            .finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "device nodes and a fifo",
        Tar::new()
            .node("null", kind::CHAR, 0o666, (1, 3))
            .node("loop0", kind::BLOCK, 0o660, (7, 0))
            .node("fifo", kind::FIFO, 0o644, (0, 0))
            .finish(),
        Accepted,
        Accepted,
        None,
    );
    case(
        "setuid root binary",
        Tar::new()
            .file_with("suid", b"#!/bin/sh\n", 0o4755, 0, 0)
            .finish(),
        Accepted,
        Accepted,
        Some(|root| {
            let m = fs::metadata(root.join("suid")).map_err(|e| e.to_string())?;
            (m.mode() & 0o7777 == 0o4755)
                .then_some(())
                .ok_or_else(|| format!("suid mode {:o}", m.mode() & 0o7777))
        }),
    );
    case(
        "whiteout of ..",
        Tar::new().file(".wh...", b"").finish(),
        Refused,
        Accepted,
        None,
    );
    case(
        "whiteout climbing out",
        Tar::new()
            .file(&format!("{up}{rel}/.wh.secret"), b"")
            .finish(),
        Refused,
        Refused,
        None,
    );
    case(
        "whiteout with an empty name",
        Tar::new().file("a/.wh.", b"").finish(),
        Refused,
        Accepted,
        None,
    );
    case(
        "PAX path climbing out",
        {
            let mut t = Tar::new();
            let p = format!("{up}{rel}/pwned");
            t.pax(&[("path", p.as_bytes())]).file("innocent", b"x");
            t.finish()
        },
        Refused,
        Refused,
        None,
    );
    case(
        "PAX linkpath to the host, then a file through it",
        {
            let mut t = Tar::new();
            t.pax(&[("linkpath", out.as_bytes())])
                .symlink("l", "harmless")
                .file("l/pwned", b"x");
            t.finish()
        },
        Refused,
        Accepted,
        None,
    );
    case(
        "GNU long name climbing out",
        {
            let mut t = Tar::new();
            let p = format!("{up}{rel}/pwned");
            t.gnu_longname(p.as_bytes()).file("short", b"x");
            t.finish()
        },
        Refused,
        Refused,
        None,
    );
    case(
        "huge PAX header",
        {
            let mut t = Tar::new();
            let big = vec![b'a'; 8 << 20];
            t.pax(&[("comment", &big)]).file("f", b"x");
            t.finish()
        },
        Refused,
        Refused,
        None,
    );
    case(
        "PAX header claiming a terabyte",
        {
            let mut t = Tar::new();
            let mut h = Header::new(b"././@PaxHeader", kind::PAX);
            h.size = 1 << 40;
            t.raw(&h, b"30 comment=truncated long one\n");
            t.bytes().to_vec()
        },
        Refused,
        Refused,
        None,
    );
    case(
        "truncated file",
        {
            let mut t = Tar::new().file("big", &vec![7u8; 10_000]).finish();
            t.truncate(2048);
            t
        },
        Refused,
        Refused,
        None,
    );
    case(
        "garbage header",
        {
            let mut t = vec![0xffu8; 512];
            t.extend_from_slice(&[0u8; 1024]);
            t
        },
        Refused,
        // Not an archive: ADD copies it as a file, as docker does.
        Accepted,
        None,
    );
    case(
        "a file 1500 directories deep",
        Tar::new().file(&deep_name(DEEP), b"deep").finish(),
        Accepted,
        Accepted,
        Some(|root| exists(&root.join(deep_name(DEEP)))),
    );
    case(
        "1500 nested directories, each listed",
        {
            let mut t = Tar::new();
            for i in 1..=DEEP {
                t.dir(&"d/".repeat(i), 0o755);
            }
            t.file(&deep_name(DEEP), b"deep");
            t.finish()
        },
        Accepted,
        Accepted,
        Some(|root| exists(&root.join(deep_name(DEEP)))),
    );
    case(
        "old GNU sparse file",
        Tar::new()
            .gnu_sparse(
                "sparse",
                3 << 20,
                // GNU tar ends the map with an empty block at the end of the file.
                &[
                    (0, sparse_head()),
                    (TAIL_AT, b"tail".to_vec()),
                    (3 << 20, Vec::new()),
                ],
            )
            .finish(),
        Accepted,
        Accepted,
        Some(|root| sparse_content(&root.join("sparse"))),
    );
    case(
        "PAX 1.0 sparse file",
        Tar::new()
            .pax_sparse(
                "sparse",
                3 << 20,
                &[(0, sparse_head()), (TAIL_AT, b"tail".to_vec())],
            )
            .finish(),
        Accepted,
        Accepted,
        Some(|root| sparse_content(&root.join("sparse"))),
    );
    case(
        "compression bomb (bounded)",
        gzip(&Tar::new().file("zeros", &vec![0u8; BOMB_BYTES]).finish()),
        Accepted,
        Accepted,
        Some(|root| {
            let m = fs::metadata(root.join("zeros")).map_err(|e| e.to_string())?;
            (m.len() == BOMB_BYTES as u64)
                .then_some(())
                .ok_or_else(|| format!("zeros has {} bytes", m.len()))
        }),
    );
    case(
        "directory over a file, file over a directory",
        Tar::new()
            .file("x", b"file")
            .dir("x/", 0o755)
            .file("x/y", b"y")
            .dir("d/", 0o755)
            .file("d/f", b"f")
            .file("d", b"now a file")
            .finish(),
        Accepted,
        Accepted,
        Some(|root| {
            exists(&root.join("x/y"))?;
            let d = fs::read(root.join("d")).map_err(|e| e.to_string())?;
            (d == b"now a file")
                .then_some(())
                .ok_or_else(|| "d should be the last entry's file".into())
        }),
    );
    v
}

/// Where the sparse cases' second data block starts (old GNU sparse blocks are whole 512-byte
/// blocks, but the last).
const TAIL_AT: u64 = (2 << 20) + 512;

/// The sparse cases' first data block: `head` and zeros, one 512-byte block.
fn sparse_head() -> Vec<u8> {
    let mut v = b"head".to_vec();
    v.resize(512, 0);
    v
}

/// The sparse cases' file: `head` at 0, `tail` at [`TAIL_AT`], zeros elsewhere, 3 MiB long.
fn sparse_content(p: &Path) -> Result<(), String> {
    let got = fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if got.len() != 3 << 20 {
        return Err(format!("sparse file has {} bytes", got.len()));
    }
    let tail_at = TAIL_AT as usize;
    if &got[..4] != b"head" || &got[tail_at..tail_at + 4] != b"tail" {
        return Err("sparse file data blocks are not where they belong".into());
    }
    if got[4..tail_at].iter().any(|b| *b != 0) || got[tail_at + 4..].iter().any(|b| *b != 0) {
        return Err("sparse file holes are not zeros".into());
    }
    Ok(())
}

/// A minimal temporary directory (the corpus has no dependencies beyond flate2).
mod tempfile_lite {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(parent: &Path, prefix: &str) -> TempDir {
            for n in 0u32.. {
                let p = parent.join(format!("{prefix}{}-{n}", std::process::id()));
                if std::fs::create_dir(&p).is_ok() {
                    return TempDir(p);
                }
            }
            unreachable!()
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
