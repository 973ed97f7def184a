//! The seccomp filter, one test per system call family docker's default profile blocks. Each
//! call is made by the sandbox probe with arguments the kernel would reject with another errno
//! (EFAULT, EINVAL, EBADF, ENOSYS...) had the call reached it: EPERM proves the filter stopped it
//! (see `probe/sandbox_probe.c` for the arguments and what the kernel answers without a filter).

mod common;

use common::{field, run_ok, Fixture};
use kiln_runtime::Security;

/// `sandbox_probe call NAME` in a default container.
fn call(name: &str) -> String {
    let bb = common::environment().expect("root and a static busybox");
    let f = Fixture::with_probe(&bb);
    let out = run_ok(&f.probe(&["call", name]));
    field(&out, name).to_string()
}

macro_rules! blocked {
    ($($test:ident: $name:literal => $want:literal;)*) => {$(
        #[test]
        fn $test() {
            if common::environment().is_none() {
                return;
            }
            assert_eq!(call($name), $want, "{}", $name);
        }
    )*};
}

blocked! {
    keyring_keyctl: "keyctl" => "EPERM";
    keyring_add_key: "add_key" => "EPERM";
    keyring_request_key: "request_key" => "EPERM";
    unshare_of_a_new_user_namespace: "unshare-user" => "EPERM";
    unshare_at_all: "unshare" => "EPERM";
    clone_of_a_new_user_namespace: "clone-newuser" => "EPERM";
    clone3_falls_back_to_clone: "clone3" => "ENOSYS";
    mount_inside_a_new_user_namespace: "userns-mount" => "unshare EPERM";
    mount: "mount" => "EPERM";
    umount: "umount2" => "EPERM";
    new_mount_api: "open_tree" => "EPERM";
    setns: "setns" => "EPERM";
    kexec_load: "kexec_load" => "EPERM";
    kexec_file_load: "kexec_file_load" => "EPERM";
    open_by_handle_at: "open_by_handle_at" => "EPERM";
    bpf: "bpf" => "EPERM";
    perf_event_open: "perf_event_open" => "EPERM";
    kcmp: "kcmp" => "EPERM";
    init_module: "init_module" => "EPERM";
    finit_module: "finit_module" => "EPERM";
    delete_module: "delete_module" => "EPERM";
    settimeofday: "settimeofday" => "EPERM";
    clock_settime: "clock_settime" => "EPERM";
    iopl: "iopl" => "EPERM";
    ioperm: "ioperm" => "EPERM";
    quotactl: "quotactl" => "EPERM";
    userfaultfd: "userfaultfd" => "EPERM";
    personality_other_than_dockers: "personality" => "EPERM";
    vsock_sockets: "socket-vsock" => "EPERM";
    // Not blocked by the filter, but out of reach all the same: PID 1 is kiln's init, which is
    // not dumpable and has more capabilities than the command.
    ptrace_of_the_init_outside_the_sandbox: "ptrace-init" => "EPERM";
}

#[test]
fn what_the_profile_allows_still_reaches_the_kernel() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let out = run_ok(&f.probe(&["calls"]));
    // chroot (CAP_SYS_CHROOT is in docker's set), name_to_handle_at and process_vm_readv
    // (allowed by the profile) get the kernel's own answers.
    assert_eq!(field(&out, "chroot"), "ENOENT");
    assert_eq!(field(&out, "name_to_handle_at"), "EOPNOTSUPP");
    assert_eq!(field(&out, "process_vm_readv"), "EINVAL");
}

#[test]
fn status_shows_a_filter_without_no_new_privs() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let out = run_ok(&f.probe(&["report"]));
    assert_eq!(field(&out, "Seccomp"), "2");
    assert_eq!(field(&out, "NoNewPrivs"), "0");
}

#[test]
fn a_privileged_container_has_no_filter_and_every_capability() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let mut spec = f.probe(&["report"]);
    spec.security = Security::Privileged;
    let out = run_ok(&spec);
    assert_eq!(field(&out, "Seccomp"), "0");
    assert_eq!(field(&out, "call keyctl"), "ok");
    assert_eq!(field(&out, "call mount"), "EFAULT");
    // Every capability kiln has itself, as docker's --privileged.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let own = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(field(&out, "CapEff"), own);
    assert_eq!(field(&out, "CapBnd"), own);
}
