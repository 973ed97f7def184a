//! Shared fixtures for the runtime's integration tests: a busybox rootfs and a collecting sink.

#![allow(dead_code)]

use kiln_runtime::{ContainerSpec, Output, OutputSink, Rootfs, Runtime};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// Where a static busybox may be installed (Debian's busybox-static).
const BUSYBOX: &[&str] = &["/bin/busybox", "/usr/bin/busybox"];

/// A static busybox binary, if there is one (a dynamic one would need its libraries in the rootfs).
pub fn busybox() -> Option<PathBuf> {
    BUSYBOX.iter().map(PathBuf::from).find(|p| {
        std::fs::read(p)
            .map(|b| is_static_elf64(&b))
            .unwrap_or(false)
    })
}

/// True for a 64-bit little-endian ELF file without a PT_INTERP program header (statically linked).
fn is_static_elf64(b: &[u8]) -> bool {
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
    };
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if !b.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).all(|i| u32_at(phoff as usize + i * phentsize) != Some(3))
}

/// Skip the test (with a clear message) unless we are root and have a static busybox.
#[macro_export]
macro_rules! require_env {
    () => {
        match common::environment() {
            Some(b) => b,
            None => return,
        }
    };
}

/// The busybox path, or `None` after printing why the test is skipped.
pub fn environment() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("SKIPPED: the runtime tests need root (namespaces, mounts)");
        return None;
    }
    let b = busybox();
    if b.is_none() {
        eprintln!(
            "SKIPPED: no static busybox found in {BUSYBOX:?} (apt-get install busybox-static)"
        );
    }
    b
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// The passwd file of the test rootfs.
pub const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
                          app:x:1000:1000:app:/home/app:/bin/sh\n";
/// The group file of the test rootfs.
pub const GROUP: &str =
    "root:x:0:\nwheel:x:10:root,app\naudio:x:29:app\napp:x:1000:\nnogroup:x:65534:\n";

/// A busybox root filesystem in a directory: bin/busybox plus one symlink per applet, etc/passwd, etc/group.
pub fn make_lower(busybox: &Path, dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let list = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
    std::fs::write(dir.join("etc/group"), GROUP).unwrap();
    for d in ["proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
}

/// A temp dir with `lower/` (the busybox rootfs), `upper/` and `work/`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(busybox: &Path) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        make_lower(busybox, &dir.path().join("lower"));
        for d in ["upper", "work"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        Fixture { dir }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn overlay(&self) -> Rootfs {
        Rootfs::Overlay {
            lowers: vec![self.path("lower")],
            upper: self.path("upper"),
            work: self.path("work"),
        }
    }
    /// A spec running `sh -c script` on the overlay rootfs with PATH=/bin.
    pub fn sh(&self, script: &str) -> ContainerSpec {
        let mut spec = ContainerSpec::new(
            self.overlay(),
            vec!["sh".into(), "-c".into(), script.into()],
        );
        spec.env = vec!["PATH=/bin".into()];
        spec
    }
}

/// Collects output per stream.
#[derive(Default)]
pub struct Collect {
    pub chunks: Mutex<Vec<(u8, Vec<u8>)>>,
}

impl OutputSink for Collect {
    fn output(&self, stream: u8, data: &[u8]) {
        self.chunks.lock().unwrap().push((stream, data.to_vec()));
    }
}

impl Collect {
    pub fn text(&self, stream: u8) -> String {
        let chunks = self.chunks.lock().unwrap();
        chunks
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect()
    }
}

/// The runtime with the crate's helper binary.
pub fn runtime() -> Runtime {
    Runtime::with_helper(PathBuf::from(env!("CARGO_BIN_EXE_kiln-runtime-helper")))
}

/// Run `spec`, returning (result, stdout, stderr).
pub fn run(spec: &ContainerSpec) -> (kiln_runtime::Result<i32>, String, String) {
    let sink = Collect::default();
    let cancel = AtomicBool::new(false);
    let r = runtime().run(spec, Output::Sink(&sink), &cancel);
    (r, sink.text(1), sink.text(2))
}

/// Run `spec`, expecting exit 0, and return stdout.
pub fn run_ok(spec: &ContainerSpec) -> String {
    let (r, out, err) = run(spec);
    match r {
        Ok(0) => out,
        other => panic!("container failed: {other:?}\nstdout: {out}\nstderr: {err}"),
    }
}

/// The sandbox probe (`runtime/tests/probe/sandbox_probe.c`), built once with `gcc -static`.
pub fn probe() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/sandbox_probe.c");
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("probe");
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join(format!("sandbox_probe-{}", std::process::id()));
            let st = std::process::Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .expect("gcc is needed to build the sandbox probe (scripts/test.sh installs it)");
            assert!(st.success(), "gcc -static failed (libc6-dev is needed)");
            out
        })
        .clone()
}

impl Fixture {
    /// The fixture with the sandbox probe at /bin/sandbox_probe in its lower layer.
    pub fn with_probe(busybox: &Path) -> Fixture {
        let f = Fixture::new(busybox);
        std::fs::copy(probe(), f.path("lower/bin/sandbox_probe")).unwrap();
        f
    }

    /// A spec running the probe with `args`.
    pub fn probe(&self, args: &[&str]) -> ContainerSpec {
        let mut argv = vec!["sandbox_probe".to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        let mut spec = ContainerSpec::new(self.overlay(), argv);
        spec.env = vec!["PATH=/bin".into()];
        spec
    }
}

/// The value of `key: ` in a probe report.
pub fn field<'a>(report: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    report
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key:?} in the report:\n{report}"))
}
