//! End-to-end: `ADD <git repository>` (issue 10), from a `git daemon` on 127.0.0.1 serving
//! repositories the test makes: refs, tags, commits and subdirectories, `--keep-git-dir`, the
//! resolved commit as the cache key, a missing ref, and a symlink aimed at the host.

mod common;

use common::{context, Kiln};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn have_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "KILN_REQUIRE_PEERS is set but git is missing (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: no git (apt-get install git)");
    }
    ok
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A work repository, its bare copy served by `git daemon`.
struct Daemon {
    child: Child,
    port: u16,
    base: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start() -> Daemon {
        let base = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.path().display()))
            .arg(base.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Daemon { child, port, base }
    }

    /// A new work repository `name` (served as `name.git` after [`Self::publish`]).
    fn work(&self, name: &str) -> PathBuf {
        let w = self.base.path().join(format!("{name}-work"));
        std::fs::create_dir(&w).unwrap();
        git(&w, &["init", "-q", "-b", "main"]);
        w
    }

    fn publish(&self, work: &Path, name: &str) {
        let bare = self.base.path().join(format!("{name}.git"));
        if !bare.exists() {
            git(
                self.base.path(),
                &[
                    "clone",
                    "-q",
                    "--bare",
                    work.to_str().unwrap(),
                    bare.to_str().unwrap(),
                ],
            );
        } else {
            git(
                work,
                &[
                    "push",
                    "-q",
                    "--tags",
                    "--force",
                    bare.to_str().unwrap(),
                    "main",
                ],
            );
        }
    }

    fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

fn commit_files(work: &Path, files: &[(&str, &str)], msg: &str) -> String {
    for (p, c) in files {
        let path = work.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", msg]);
    git(work, &["rev-parse", "HEAD"])
}

/// Was the step named `step` CACHED in this plain progress?
fn cached(progress: &str, step: &str) -> bool {
    let number = progress.lines().find_map(|l| {
        let (n, rest) = l.split_once(' ')?;
        (n.starts_with('#') && rest.starts_with(step)).then(|| n.to_string())
    });
    let number = number.unwrap_or_else(|| panic!("no step {step:?} in:\n{progress}"));
    progress.lines().any(|l| l == format!("{number} CACHED"))
}

#[test]
fn add_git_refs_subdirs_and_the_git_dir() {
    if !have_git() {
        return;
    }
    let k = Kiln::new();
    let d = Daemon::start();
    let w = d.work("repo");
    let first = commit_files(&w, &[("a.txt", "a\n"), ("sub/s.txt", "s\n")], "one");
    std::os::unix::fs::symlink("a.txt", w.join("link")).unwrap();
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "link"]);
    git(&w, &["tag", "v1"]);
    commit_files(&w, &[("b.txt", "b\n")], "two");
    d.publish(&w, "repo");
    let url = d.url("repo");
    let df = format!(
        "FROM busybox
ADD {url} /all
ADD {url}#v1 /v1
ADD {url}#main:sub /sub
ADD {url}#{first} /first
ADD --keep-git-dir=true {url}#v1 /kept
RUN cd /all && stat -c '%n %a %F' * sub/s.txt | sed 's/^/all: /'; readlink /all/link
RUN ls /v1 | tr '\\n' ' '; echo; ls -A /sub; ls /first | tr '\\n' ' '; echo
RUN test -d /all/.git && echo all-has-git || echo all-no-git; test -f /kept/.git/HEAD && echo kept-has-git
"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let err = k.build_ok(ctx.path(), "git:1", &[]);
    for line in [
        "all: a.txt 644 regular file",
        "all: b.txt 644 regular file",
        "all: link 777 symbolic link",
        "all: sub 755 directory",
        "all: sub/s.txt 644 regular file",
        "a.txt",
        "a.txt link sub ",
        "s.txt",
        "a.txt sub ",
        "all-no-git",
        "kept-has-git",
    ] {
        assert!(common::printed(&err, line), "{line:?} in:\n{err}");
    }
}

#[test]
fn the_resolved_commit_is_the_cache_key() {
    if !have_git() {
        return;
    }
    let k = Kiln::new();
    let d = Daemon::start();
    let w = d.work("repo");
    commit_files(&w, &[("f.txt", "one\n")], "one");
    git(&w, &["tag", "v1"]);
    d.publish(&w, "repo");
    let url = d.url("repo");
    let df = format!(
        "FROM busybox\nADD {url}#main /m\nRUN cat /m/f.txt\nADD {url}#v1 /t\nRUN cat /t/f.txt\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    k.build_ok(ctx.path(), "git:c", &[]);
    let again = k.build_ok(ctx.path(), "git:c", &[]);
    assert!(cached(&again, "[5/5] RUN"), "{again}");
    // main moves: what follows its ADD reruns and sees the new commit.
    commit_files(&w, &[("f.txt", "two\n")], "two");
    d.publish(&w, "repo");
    let moved = k.build_ok(ctx.path(), "git:c", &[]);
    assert!(!cached(&moved, "[3/5] RUN"), "{moved}");
    assert!(common::printed(&moved, "two"), "{moved}");
    // The tag did not move: its file is still the first.
    assert!(common::printed(&moved, "one"), "{moved}");
}

#[test]
fn a_missing_ref_or_repository_gets_one_error_and_stores_nothing() {
    if !have_git() {
        return;
    }
    let k = Kiln::new();
    let d = Daemon::start();
    let w = d.work("repo");
    commit_files(&w, &[("f.txt", "x\n")], "one");
    d.publish(&w, "repo");
    let before = k.ok(&["images", "-q"]);
    let cases = [
        (
            format!("{}#nope", d.url("repo")),
            format!("{}: repository does not contain ref nope", d.url("repo")),
        ),
        (
            d.url("missing"),
            format!("{}: git ls-remote failed", d.url("missing")),
        ),
        (
            format!("{}#main:no/such/dir", d.url("repo")),
            "git archive failed".to_string(),
        ),
    ];
    for (src, message) in cases {
        let ctx = context(&[("Dockerfile", &format!("FROM busybox\nADD {src} /x\n"))]);
        let (ok, err) = k.build(ctx.path(), "bad:git", &[]);
        assert!(!ok, "{src}: {err}");
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with("ERROR: ") && last.contains(&message),
            "{src}: {message:?} in {err}"
        );
    }
    assert_eq!(k.ok(&["images", "-q"]), before, "nothing stored");
}

/// A repository is remote input: a symlink in it aimed at a host directory (the hostile
/// corpus's sentinel) stays a symlink in the image, and nothing is written through it.
#[test]
fn a_symlink_to_the_host_in_a_repository_stays_inside_the_image() {
    if !have_git() {
        return;
    }
    let k = Kiln::new();
    let sentinel = kiln_hostile::Sentinel::new(&common::test_tmp());
    let d = Daemon::start();
    let w = d.work("evil");
    std::os::unix::fs::symlink(sentinel.path(), w.join("escape")).unwrap();
    commit_files(&w, &[("plain.txt", "p\n")], "evil");
    d.publish(&w, "evil");
    let df = format!(
        "FROM busybox\nADD {} /r\nADD {} /r/escape/\nRUN readlink /r/escape; ls /r/escape/ 2>&1 | head -3\n",
        d.url("evil"),
        d.url("evil")
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let err = k.build_ok(ctx.path(), "git:evil", &[]);
    assert!(
        common::printed(&err, &sentinel.path().display().to_string()),
        "{err}"
    );
    sentinel.check().unwrap();
}
