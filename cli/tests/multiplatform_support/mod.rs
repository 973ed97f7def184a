//! The arm64 busybox base of the multi-platform tests (see `scripts/test.sh`).
#![allow(dead_code)]

use crate::common::{self, Kiln};
use std::path::PathBuf;

/// The arm64 static busybox, or `None` (skipping) when this machine cannot run the tests;
/// under `KILN_REQUIRE_PEERS=1` (scripts/test.sh) a missing piece fails instead.
pub fn arm64_busybox() -> Option<PathBuf> {
    let why = if std::env::consts::ARCH != "x86_64" {
        "this is not an x86-64 machine".to_string()
    } else if !std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() {
        "no qemu-aarch64 emulator is registered (apt-get install qemu-user-static binfmt-support)"
            .to_string()
    } else {
        let p = std::env::var_os("KILN_ARM64_BUSYBOX")
            .map(PathBuf::from)
            .unwrap_or_else(|| common::repo().join("target/arm64-busybox/bin/busybox"));
        if p.exists() {
            return Some(p);
        }
        format!("no arm64 busybox at {}", p.display())
    };
    if std::env::var("KILN_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("multi-platform tests cannot run: {why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// A store with `busybox:latest` for linux/amd64 and linux/arm64 (an index).
pub fn two_platform_busybox() -> Option<Kiln> {
    let bb = arm64_busybox()?;
    let k = Kiln::new();
    let rootfs = tempfile::tempdir_in(common::test_tmp()).unwrap();
    let st = std::process::Command::new(common::repo().join("scripts/busybox-rootfs.sh"))
        .arg(rootfs.path())
        .arg(&bb)
        .status()
        .unwrap();
    assert!(st.success());
    k.ok(&[
        "import",
        "--platform",
        "linux/arm64",
        rootfs.path().to_str().unwrap(),
        "busybox:latest",
    ]);
    Some(k)
}
