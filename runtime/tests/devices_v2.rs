//! The device policy on cgroup v2 (an eBPF device program), forced with
//! `KILN_DEVICE_CGROUP=v2`: on this machine's hybrid hierarchy the v2 path runs alone, without
//! the v1 devices controller. One test per binary: the variable is set before anything runs.

mod common;

use common::{field, run_ok, Fixture};

#[test]
fn the_ebpf_device_program_allows_only_dockers_devices() {
    let Some(bb) = common::environment() else {
        return;
    };
    let unified = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - cgroup2 ");
    if !unified {
        eprintln!("SKIPPED: no cgroup2 hierarchy");
        return;
    }
    // SAFETY: the only test of this binary, before any other thread reads the environment.
    unsafe { std::env::set_var("KILN_DEVICE_CGROUP", "v2") };
    let f = Fixture::with_probe(&bb);
    let out = run_ok(&f.probe(&["report"]));
    for dev in ["kvm 10:232", "loop-control 10:237", "mem 1:1", "loop0 7:0"] {
        assert_eq!(
            field(&out, &format!("device {dev}")),
            "mknod ok, open EPERM",
            "{dev}"
        );
    }
    for dev in ["null 1:3", "urandom 1:9"] {
        assert_eq!(field(&out, &format!("device {dev}")), "mknod ok, open ok");
    }
    for dev in [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/ptmx",
    ] {
        assert_eq!(field(&out, &format!("open {dev}")), "ok", "{dev}");
    }
    // The container's processes were in a v2 cgroup of kiln's, not in a v1 devices one.
    let cg = run_ok(&f.sh("cat /proc/self/cgroup"));
    assert!(
        cg.lines()
            .any(|l| l.starts_with("0::") && l.contains("/kiln/kiln-")),
        "{cg}"
    );
    assert!(
        !cg.lines()
            .any(|l| l.contains(":devices:") && l.contains("/kiln/")),
        "{cg}"
    );
}
