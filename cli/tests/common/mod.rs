//! Shared helpers of the end-to-end tests: a private kiln root per test with a busybox base
//! image imported into it, and ways to run `kiln` and read what a user would see.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Kiln {
    pub root: tempfile::TempDir,
}

/// The project's top directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `testdata/<name>`.
pub fn testdata(name: &str) -> PathBuf {
    repo().join("testdata").join(name)
}

pub fn kiln_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kiln"))
}

/// Tests need root (namespaces, overlay mounts) and a static busybox.
pub fn require_env() {
    assert!(
        rustix_is_root(),
        "these tests need root: run them with sudo or as root (see README)"
    );
    assert!(
        Path::new("/bin/busybox").exists(),
        "these tests need Debian's busybox-static (/bin/busybox): run scripts/test.sh, which installs it"
    );
}

fn rustix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Kiln {
    /// A new kiln root with `busybox:latest` imported.
    pub fn new() -> Kiln {
        require_env();
        let k = Kiln::empty();
        let rootfs = tempfile::tempdir().unwrap();
        let st = Command::new(repo().join("scripts/busybox-rootfs.sh"))
            .arg(rootfs.path())
            .status()
            .unwrap();
        assert!(st.success(), "busybox-rootfs.sh failed");
        let out = k.run(&["import", rootfs.path().to_str().unwrap(), "busybox:latest"]);
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        k
    }

    /// A new, empty kiln root.
    pub fn empty() -> Kiln {
        require_env();
        Kiln {
            root: tempfile::Builder::new()
                .prefix("kiln-test-")
                .tempdir_in(test_tmp())
                .unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(kiln_bin());
        c.env("KILN_ROOT", self.root.path())
            .env_remove("SOURCE_DATE_EPOCH");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kiln build --progress=plain -t TAG DIR` with extra args; returns (success, stderr).
    pub fn build(&self, dir: &Path, tag: &str, extra: &[&str]) -> (bool, String) {
        let mut args = vec!["build", "--progress=plain", "-t", tag];
        args.extend_from_slice(extra);
        let d = dir.to_str().unwrap();
        args.push(d);
        let out = self.run(&args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn build_ok(&self, dir: &Path, tag: &str, extra: &[&str]) -> String {
        let (ok, err) = self.build(dir, tag, extra);
        assert!(ok, "build of {} failed:\n{err}", dir.display());
        err
    }

    /// `kiln inspect IMAGE` parsed.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", image]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    }

    /// stdout of `kiln run --rm IMAGE ARGS...`.
    pub fn sh(&self, image: &str, script: &str) -> String {
        self.ok(&["run", "--rm", image, "sh", "-c", script])
    }

    /// Every mount under this root still mounted (there must be none after a command).
    pub fn leftover_mounts(&self) -> Vec<String> {
        let root = self.root.path().to_str().unwrap().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&root))
            .map(String::from)
            .collect()
    }
}

/// Where test roots live: on the same disk as the project (overlay needs a real filesystem,
/// not tmpfs's xattr-less layers).
pub fn test_tmp() -> PathBuf {
    let d = repo().join("target").join("test-roots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copy a testdata directory to a temp dir the test may modify.
pub fn scratch_copy(name: &str) -> tempfile::TempDir {
    let dst = tempfile::Builder::new()
        .prefix("ctx-")
        .tempdir_in(test_tmp())
        .unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", testdata(name).display()))
        .arg(dst.path())
        .status()
        .unwrap();
    assert!(st.success());
    dst
}

/// Write a context directory from (path, content) pairs.
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("ctx-")
        .tempdir_in(test_tmp())
        .unwrap();
    for (p, c) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    dir
}

/// Did a step print `text` as an output line (`#N 0.123 text`) in this plain progress?
pub fn printed(progress: &str, text: &str) -> bool {
    progress.lines().any(|l| {
        let mut parts = l.splitn(3, ' ');
        let (Some(n), Some(t), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        n.starts_with('#') && t.parse::<f64>().is_ok() && rest == text
    })
}

/// `/usr/bin/docker ARGS…` with BuildKit on (the peer of the comparison tests).
pub fn docker(args: &[&str]) -> Output {
    Command::new("/usr/bin/docker")
        .args(args)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .expect("run /usr/bin/docker")
}

/// Does a docker daemon answer? When not, the test is skipped — unless KILN_REQUIRE_PEERS is
/// set (scripts/test.sh sets it), and then it fails.
pub fn docker_available() -> bool {
    let up = Path::new("/usr/bin/docker").exists() && docker(&["info"]).status.success();
    if !up {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "KILN_REQUIRE_PEERS is set but no docker daemon answers"
        );
        eprintln!("SKIPPED: no docker daemon (scripts/test.sh starts one)");
    }
    up
}

/// The test busybox root filesystem `docker import`ed as `PREFIX:<pid>`; its name.
pub fn docker_busybox(prefix: &str) -> String {
    let rootfs = tempfile::tempdir().unwrap();
    let st = Command::new(repo().join("scripts/busybox-rootfs.sh"))
        .arg(rootfs.path())
        .status()
        .unwrap();
    assert!(st.success(), "busybox-rootfs.sh failed");
    let tar = rootfs.path().with_extension("tar");
    assert!(Command::new("tar")
        .args(["-C", rootfs.path().to_str().unwrap(), "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let base = format!("{prefix}:{}", std::process::id());
    let imported = docker(&["import", tar.to_str().unwrap(), &base]);
    let _ = std::fs::remove_file(&tar);
    assert!(imported.status.success(), "{imported:?}");
    base
}

/// Every regular file of a tar: name → bytes.
pub fn tar_files(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut a = tar::Archive::new(bytes);
    let mut out = std::collections::BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            out.insert(name, v);
        }
    }
    out
}

/// A context whose `rand` file holds `size` bytes that do not compress (xorshift from `seed`),
/// copied by its Dockerfile before one RUN (so compressed and plain layer sizes differ).
pub fn random_context(size: usize, seed: u64) -> tempfile::TempDir {
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY rand /rand\nRUN echo made > /made\n",
    )]);
    let mut data = vec![0u8; size];
    let mut x = seed;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(ctx.path().join("rand"), data).unwrap();
    ctx
}

/// A scratch directory for a test's outputs.
pub fn out_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("out-")
        .tempdir_in(test_tmp())
        .unwrap()
}
