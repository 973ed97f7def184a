//! `ADD <git repository>`: `https://host/repo.git#ref:subdir`, `git://…`, `git@host:repo.git`,
//! `ssh://…`. The ref (a branch, a tag, a commit; the remote's HEAD when none) is resolved with
//! `git ls-remote`, and the commit it names is the cache key. The content is fetched (shallow
//! when the remote allows it) into a private repository under the store's temporary directory
//! and streamed as `git archive` (the `subdir` alone when given) into a new snapshot through
//! the layer applier, whose paths all go through `inroot`: nothing git writes lands in the
//! snapshot by itself. `--keep-git-dir` keeps the repository's `.git` (checked out, then archived
//! the same way).
//!
//! git runs with no terminal prompt and no system or global configuration; for ssh remotes,
//! the build's `--ssh default` agent is given as `SSH_AUTH_SOCK`.

use crate::root::Kiln;
use kiln_snapshot::SnapshotId;
use kiln_solver::{Digest, SourceOp};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// An `ADD <repository>` that went wrong.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git (install git): {0}")]
    Spawn(#[source] std::io::Error),
    /// git said no; its own words follow.
    #[error("{remote}: git {what} failed: {said}")]
    Failed {
        remote: String,
        what: &'static str,
        said: String,
    },
    /// BuildKit's words.
    #[error("{remote}: repository does not contain ref {reference}")]
    RefNotFound { remote: String, reference: String },
    #[error("{remote}: {what}: {source}")]
    Store {
        remote: String,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A parsed git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    /// What git is given to fetch from.
    pub remote: String,
    /// Branch, tag or commit; empty: the remote's HEAD.
    pub reference: String,
    /// Directory of the repository to add; empty: all of it.
    pub subdir: String,
}

/// Split `remote#ref:subdir`.
pub fn parse(identifier: &str) -> GitRef {
    let (remote, fragment) = identifier.split_once('#').unwrap_or((identifier, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    GitRef {
        remote: remote.to_string(),
        reference: reference.to_string(),
        subdir: subdir.trim_matches('/').to_string(),
    }
}

/// The repositories of one build.
#[derive(Default)]
pub struct GitSource {
    commits: Mutex<HashMap<String, String>>,
    snapshots: Mutex<HashMap<String, SnapshotId>>,
    ssh_sock: Option<PathBuf>,
}

impl GitSource {
    /// Use `sock` as the agent for ssh remotes.
    pub fn with_ssh_agent(mut self, sock: Option<PathBuf>) -> Self {
        self.ssh_sock = sock;
        self
    }

    /// The cache key part of `op`: the commit its ref names, the subdir, `--keep-git-dir`.
    pub fn key(&self, _kiln: &Kiln, op: &SourceOp) -> Result<Digest, GitError> {
        let r = parse(&op.identifier);
        let commit = self.commit(&r)?;
        let keep = keep_git_dir(op);
        Ok(Digest::sha256(
            format!("git\0{commit}\0{}\0{keep}", r.subdir).as_bytes(),
        ))
    }

    /// The snapshot of `op`'s tree.
    pub fn snapshot(&self, kiln: &Kiln, op: &SourceOp) -> Result<SnapshotId, GitError> {
        let r = parse(&op.identifier);
        let commit = self.commit(&r)?;
        let keep = keep_git_dir(op);
        let memo = format!("{}\0{commit}\0{}\0{keep}", r.remote, r.subdir);
        if let Some(s) = self
            .snapshots
            .lock()
            .ok()
            .and_then(|m| m.get(&memo).cloned())
        {
            return Ok(s);
        }
        let s = self.checkout(kiln, &r, &commit, keep)?;
        if let Ok(mut m) = self.snapshots.lock() {
            m.insert(memo, s.clone());
        }
        Ok(s)
    }

    fn git(&self, dir: Option<&Path>) -> Command {
        let mut c = Command::new("git");
        if let Some(d) = dir {
            c.arg("-C").arg(d);
        }
        c.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stdin(Stdio::null());
        match &self.ssh_sock {
            Some(s) => c.env("SSH_AUTH_SOCK", s),
            None => c.env_remove("SSH_AUTH_SOCK"),
        };
        c
    }

    fn run(&self, mut c: Command, remote: &str, what: &'static str) -> Result<Vec<u8>, GitError> {
        let out = c.output().map_err(GitError::Spawn)?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(GitError::Failed {
            remote: remote.into(),
            what,
            said: String::from_utf8_lossy(&out.stderr)
                .trim()
                .escape_debug()
                .to_string(),
        })
    }

    /// The commit `r` names (asked once per build).
    fn commit(&self, r: &GitRef) -> Result<String, GitError> {
        let memo = format!("{}#{}", r.remote, r.reference);
        if let Some(c) = self.commits.lock().ok().and_then(|m| m.get(&memo).cloned()) {
            return Ok(c);
        }
        let c = if is_commit(&r.reference) {
            r.reference.to_ascii_lowercase()
        } else {
            let mut cmd = self.git(None);
            cmd.args(["ls-remote", "--", &r.remote]);
            let listed = self.run(cmd, &r.remote, "ls-remote")?;
            pick(&String::from_utf8_lossy(&listed), &r.reference).ok_or_else(|| {
                GitError::RefNotFound {
                    remote: r.remote.clone(),
                    reference: if r.reference.is_empty() {
                        "HEAD".into()
                    } else {
                        r.reference.clone()
                    },
                }
            })?
        };
        if let Ok(mut m) = self.commits.lock() {
            m.insert(memo, c.clone());
        }
        Ok(c)
    }

    /// Fetch `commit` into a private repository and archive it into a new snapshot.
    fn checkout(
        &self,
        kiln: &Kiln,
        r: &GitRef,
        commit: &str,
        keep: bool,
    ) -> Result<SnapshotId, GitError> {
        let store = |what: &'static str| {
            let remote = r.remote.clone();
            move |e: std::io::Error| GitError::Store {
                remote,
                what,
                source: Box::new(e),
            }
        };
        let tmp = kiln.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(store("create a temporary directory"))?;
        let repo = tempfile::Builder::new()
            .prefix("git-")
            .tempdir_in(&tmp)
            .map_err(store("create a temporary directory"))?;
        let dir = repo.path();
        let mut init = self.git(None);
        init.args(["init", "-q"]).arg(dir);
        self.run(init, &r.remote, "init")?;
        // A shallow fetch of the ref (or the commit), else a whole one (dumb http, old servers).
        let wanted = if r.reference.is_empty() || is_commit(&r.reference) {
            commit.to_string()
        } else {
            r.reference.clone()
        };
        let mut shallow = self.git(Some(dir));
        shallow.args([
            "fetch",
            "-q",
            "--depth=1",
            "--no-tags",
            "--",
            &r.remote,
            &wanted,
        ]);
        if self.run(shallow, &r.remote, "fetch").is_err() {
            let mut full = self.git(Some(dir));
            full.args(["fetch", "-q", "--no-tags", "--", &r.remote, &wanted]);
            self.run(full, &r.remote, "fetch")?;
        }
        let mut verify = self.git(Some(dir));
        verify.args(["cat-file", "-e", &format!("{commit}^{{commit}}")]);
        self.run(verify, &r.remote, "fetch of the resolved commit")?;
        if keep {
            let mut co = self.git(Some(dir));
            co.args(["-c", "core.hooksPath=/dev/null", "checkout", "-q", commit]);
            self.run(co, &r.remote, "checkout")?;
            let root = if r.subdir.is_empty() {
                dir.to_path_buf()
            } else {
                dir.join(&r.subdir)
            };
            return apply_tar(kiln, &r.remote, |w| {
                let mut b = tar::Builder::new(w);
                b.follow_symlinks(false);
                b.append_dir_all(".", &root)?;
                b.into_inner().map(drop)
            });
        }
        let tree = if r.subdir.is_empty() {
            commit.to_string()
        } else {
            format!("{commit}:{}", r.subdir)
        };
        let mut archive = self.git(Some(dir));
        // Modes as a checkout with umask 022 makes them (git archive's default is 002).
        archive
            .args(["-c", "tar.umask=022", "archive", "--format=tar", &tree])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = archive.spawn().map_err(GitError::Spawn)?;
        let mut out = child.stdout.take().expect("piped");
        let applied = kiln.snapshots.apply_layer(None, &mut out);
        drop(out);
        let done = child.wait_with_output().map_err(GitError::Spawn)?;
        if !done.status.success() {
            if let Ok((id, _)) = &applied {
                let _ = kiln.snapshots.remove_broken(id);
            }
            return Err(GitError::Failed {
                remote: r.remote.clone(),
                what: "archive",
                said: String::from_utf8_lossy(&done.stderr)
                    .trim()
                    .escape_debug()
                    .to_string(),
            });
        }
        applied.map(|(id, _)| id).map_err(|e| GitError::Store {
            remote: r.remote.clone(),
            what: "unpack the checkout",
            source: Box::new(e),
        })
    }
}

/// Apply the tar `write` produces (on another thread) as a new snapshot.
fn apply_tar(
    kiln: &Kiln,
    remote: &str,
    write: impl FnOnce(std::io::PipeWriter) -> std::io::Result<()> + Send,
) -> Result<SnapshotId, GitError> {
    let fail = |what: &'static str, e: Box<dyn std::error::Error + Send + Sync>| GitError::Store {
        remote: remote.into(),
        what,
        source: e,
    };
    let (mut reader, writer) = std::io::pipe().map_err(|e| fail("make a pipe", Box::new(e)))?;
    std::thread::scope(|s| {
        let t = s.spawn(move || write(writer));
        let applied = kiln.snapshots.apply_layer(None, &mut reader);
        drop(reader);
        let written = t
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("panicked")));
        let (id, _) = applied.map_err(|e| fail("unpack the checkout", Box::new(e)))?;
        if let Err(e) = written {
            let _ = kiln.snapshots.remove_broken(&id);
            return Err(fail("archive the checkout", Box::new(e)));
        }
        Ok(id)
    })
}

fn keep_git_dir(op: &SourceOp) -> bool {
    op.attrs.get("keep_git_dir").map(String::as_str) == Some("true")
}

/// 40 (sha1) or 64 (sha256) hex digits.
fn is_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `reference` names in `git ls-remote` output: HEAD when empty; else a branch, a
/// tag (peeled), or a full ref name.
fn pick(listing: &str, reference: &str) -> Option<String> {
    let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    let find = |name: &str| {
        refs.iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| c.to_string())
    };
    if reference.is_empty() {
        return find("HEAD");
    }
    find(&format!("refs/heads/{reference}"))
        .or_else(|| find(&format!("refs/tags/{reference}^{{}}")))
        .or_else(|| find(&format!("refs/tags/{reference}")))
        .or_else(|| find(reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        let r = parse("https://h/r.git#v1:sub/dir/");
        assert_eq!(
            (r.remote.as_str(), r.reference.as_str(), r.subdir.as_str()),
            ("https://h/r.git", "v1", "sub/dir")
        );
        let r = parse("git@github.com:o/r.git");
        assert_eq!(
            (r.remote.as_str(), r.reference.as_str()),
            ("git@github.com:o/r.git", "")
        );
    }

    #[test]
    fn refs_resolve_as_buildkit_picks_them() {
        let l = "aaa\tHEAD\nbbb\trefs/heads/main\nccc\trefs/tags/v1\nddd\trefs/tags/v1^{}\n";
        assert_eq!(pick(l, "").as_deref(), Some("aaa"));
        assert_eq!(pick(l, "main").as_deref(), Some("bbb"));
        assert_eq!(pick(l, "v1").as_deref(), Some("ddd"));
        assert_eq!(pick(l, "refs/heads/main").as_deref(), Some("bbb"));
        assert_eq!(pick(l, "nope"), None);
    }
}
