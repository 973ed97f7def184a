//! The sandbox against hostile images and callers: kernel filesystems that an image's symlinks
//! cannot redirect, masks that hold, descriptors that stay outside, the device policy, the
//! session keyring and the default network's isolation.

mod common;

use common::{field, run, run_ok, Fixture};
use kiln_runtime::{ContainerSpec, Error, Network, Rootfs, Security};
use std::net::TcpListener;
use std::os::unix::fs::symlink;

/// A fixture whose image has `/name` as a symlink to an empty `/k<name>`.
fn with_symlinked(bb: &std::path::Path, names: &[&str]) -> Fixture {
    let f = Fixture::with_probe(bb);
    for name in names {
        let lower = f.path("lower");
        std::fs::remove_dir(lower.join(name)).unwrap();
        std::fs::create_dir(lower.join(format!("k{name}"))).unwrap();
        symlink(format!("/k{name}"), lower.join(name)).unwrap();
    }
    f
}

#[test]
fn an_image_whose_proc_is_a_symlink_gets_a_masked_read_only_proc() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = with_symlinked(&bb, &["proc"]);
    let mut spec = f.probe(&["report"]);
    spec.args = vec![
        "sh".into(),
        "-c".into(),
        "sandbox_probe report; echo kproc: $(ls /kproc | wc -l); \
         test -L /proc && echo proc-is-a-link; grep ' /proc ' /proc/self/mountinfo | wc -l"
            .into(),
    ];
    let out = run_ok(&spec);
    assert_eq!(field(&out, "masked /proc/timer_list"), "chr 1:3");
    assert_eq!(field(&out, "masked /proc/keys"), "chr 1:3");
    assert_eq!(field(&out, "readonly /proc/sys"), "ro");
    assert_eq!(field(&out, "write /proc/sys/kernel/domainname"), "EROFS");
    assert_eq!(
        field(&out, "kproc"),
        "0",
        "procfs went where the image's link points"
    );
    assert!(!out.contains("proc-is-a-link"), "{out}");
    let upper: Vec<_> = std::fs::read_dir(f.path("upper")).unwrap().collect();
    assert!(upper.is_empty(), "nothing written to the upper: {upper:?}");
}

#[test]
fn symlinked_sys_and_dev_are_replaced_too() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = with_symlinked(&bb, &["sys", "dev"]);
    let mut spec = f.probe(&["report"]);
    spec.args = vec![
        "sh".into(),
        "-c".into(),
        "sandbox_probe report; echo ksys: $(ls /ksys | wc -l) kdev: $(ls /kdev | wc -l)".into(),
    ];
    let out = run_ok(&spec);
    assert_eq!(field(&out, "readonly /sys"), "ro");
    assert_eq!(field(&out, "masked /sys/firmware"), "dir entries=0 ro");
    assert_eq!(field(&out, "open /dev/null"), "ok");
    assert!(out.contains("ksys: 0 kdev: 0"), "{out}");
}

#[test]
fn a_directory_rootfs_whose_proc_is_a_symlink_does_not_start() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = with_symlinked(&bb, &["proc"]);
    let spec = ContainerSpec {
        rootfs: Rootfs::Dir(f.path("lower")),
        ..f.probe(&["report"])
    };
    let err = run(&spec).0.unwrap_err();
    assert!(matches!(err, Error::Init(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("must be mounted on an ordinary directory"),
        "{err}"
    );
    assert!(std::fs::read_dir(f.path("lower/kproc"))
        .unwrap()
        .next()
        .is_none());
}

#[test]
fn every_masked_and_read_only_path_holds() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let out = run_ok(&f.probe(&["report"]));
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("masked ") {
            let (path, state) = rest.split_once(": ").unwrap();
            let hidden = state == "absent" || state == "chr 1:3" || state == "dir entries=0 ro";
            assert!(hidden, "{path} is exposed: {state}");
        }
        if let Some(rest) = line.strip_prefix("readonly ") {
            let (path, state) = rest.split_once(": ").unwrap();
            assert!(state == "ro" || state == "ENOENT", "{path} is {state}");
        }
    }
}

#[test]
fn only_stdin_stdout_and_stderr_reach_the_container() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    // A host directory open without close-on-exec, as a shell's `exec 8</some/dir` leaves it.
    let dir = std::ffi::CString::new(f.path("lower").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; the descriptor is closed below.
    let fd = unsafe { libc::open(dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(fd > 2);
    let out = run_ok(&f.probe(&["fds"]));
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    assert_eq!(field(&out, "fds"), "0 1 2");
}

#[test]
fn only_dockers_default_devices_can_be_opened() {
    let Some(bb) = common::environment() else {
        return;
    };
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
}

#[test]
fn a_privileged_container_gets_the_hosts_devices() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let mut spec = f.probe(&["report"]);
    spec.security = Security::Privileged;
    let out = run_ok(&spec);
    // No device cgroup: a node opens whenever the kernel has its driver.
    assert_eq!(
        field(&out, "device loop-control 10:237"),
        "mknod ok, open ok"
    );
    if std::path::Path::new("/dev/kvm").exists() {
        assert_eq!(
            field(&out, "open /dev/kvm"),
            "ok",
            "the host's devices are there"
        );
    }
    assert_eq!(field(&out, "readonly /sys"), "rw");
    assert_eq!(field(&out, "masked /proc/timer_list"), "readable data");
}

/// This process's session keyring id.
fn own_session_keyring() -> i64 {
    // SAFETY: KEYCTL_GET_KEYRING_ID(KEY_SPEC_SESSION_KEYRING, create) with integers only.
    unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 1) }
}

#[test]
fn the_container_has_a_session_keyring_of_its_own() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    // Without the filter (privileged), so that the probe may look at its keyring.
    let mut spec = f.probe(&["keyring"]);
    spec.security = Security::Privileged;
    let out = run_ok(&spec);
    let ours = own_session_keyring();
    assert!(ours > 0);
    let theirs = field(&out, "session keyring");
    let id: i64 = theirs.split(' ').next().unwrap().parse().unwrap();
    assert_ne!(id, ours, "{theirs}");
    assert!(
        theirs.ends_with(";_ses"),
        "an anonymous session keyring: {theirs}"
    );
    // And a second container does not share the first one's.
    let again = run_ok(&spec);
    assert_ne!(field(&again, "session keyring"), theirs);
}

/// A listener on the host's 127.0.0.1.
fn host_loopback_service() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn the_default_network_cannot_reach_the_hosts_loopback() {
    let Some(bb) = common::environment() else {
        return;
    };
    if kiln_runtime::nat_helper().is_none() {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "no NAT helper (pasta or slirp4netns): scripts/test.sh installs passt"
        );
        eprintln!("SKIPPED: no NAT helper");
        return;
    }
    let f = Fixture::with_probe(&bb);
    let (_l, port) = host_loopback_service();
    let port = port.to_string();
    let mut spec = f.probe(&["connect", "127.0.0.1", &port]);
    assert_eq!(run_ok(&spec).trim(), "ECONNREFUSED");
    spec.args = vec!["sandbox_probe".into(), "interfaces".into()];
    let ifs = run_ok(&spec);
    assert_eq!(field(&ifs, "interfaces"), "lo eth0", "its own interfaces");
    spec.network = Network::Host;
    spec.args = vec![
        "sandbox_probe".into(),
        "connect".into(),
        "127.0.0.1".into(),
        port,
    ];
    assert_eq!(run_ok(&spec).trim(), "connected");
}

#[test]
fn network_none_has_only_loopback() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let (_l, port) = host_loopback_service();
    let mut spec = f.probe(&["interfaces"]);
    spec.network = Network::None;
    assert_eq!(field(&run_ok(&spec), "interfaces"), "lo");
    spec.args = vec![
        "sandbox_probe".into(),
        "connect".into(),
        "127.0.0.1".into(),
        port.to_string(),
    ];
    assert_eq!(run_ok(&spec).trim(), "ECONNREFUSED");
}

/// The first http archive of the machine's apt sources: (host, `http://...` URL, suite).
fn apt_mirror() -> Option<(String, String, String)> {
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<_> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    files.iter().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let first = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
        };
        let (url, suite) = match (first("URIs:"), first("Suites:")) {
            (Some(u), Some(s)) => (u.to_string(), s.to_string()),
            _ => {
                let deb = lines.iter().find(|l| l.starts_with("deb "))?;
                let w: Vec<&str> = deb.split_whitespace().collect();
                (w.get(1)?.to_string(), w.get(2)?.to_string())
            }
        };
        let host = url.strip_prefix("http://")?.split('/').next()?.to_string();
        Some((host, url, suite))
    })
}

#[test]
fn the_default_network_reaches_the_outside_like_apt_does() {
    let Some(bb) = common::environment() else {
        return;
    };
    let (Some(_), Some((host, url, suite))) = (kiln_runtime::nat_helper(), apt_mirror()) else {
        eprintln!("SKIPPED: no NAT helper or no http apt mirror");
        return;
    };
    // Only meaningful where the host itself reaches the mirror.
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 80))
        .ok()
        .and_then(|mut a| a.next())
        .and_then(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(5)).ok()
        })
        .is_some();
    if !reachable {
        eprintln!("SKIPPED: the host cannot reach {host}");
        return;
    }
    let f = Fixture::new(&bb);
    // Name resolution through the container's resolv.conf and the request `apt-get update`
    // starts with, through NAT.
    let spec = f.sh(&format!(
        "wget -q -O /tmp/Release {url}/dists/{suite}/Release && grep -m 1 '^Suite:' /tmp/Release"
    ));
    let out = run_ok(&spec);
    assert!(
        out.starts_with("Suite:"),
        "no Release file from {url}: {out:?}"
    );
}

#[test]
fn mount_destinations_through_the_images_symlinks_stay_inside_and_out_of_proc() {
    let Some(bb) = common::environment() else {
        return;
    };
    let f = Fixture::with_probe(&bb);
    let lower = f.path("lower");
    let outside = format!("/kiln-test-outside-{}", std::process::id());
    symlink(&outside, lower.join("data")).unwrap();
    symlink("/proc/sys", lower.join("sysctl")).unwrap();
    let tmpfs = |dest: &str| kiln_runtime::MountSpec {
        source: std::path::PathBuf::new(),
        dest: dest.into(),
        kind: kiln_runtime::MountKind::Tmpfs { size: None },
    };
    let mut spec = f.sh("echo in > /data/file && cat /data/file");
    spec.mounts = vec![tmpfs("/data")];
    assert_eq!(run_ok(&spec), "in\n");
    assert!(
        !std::path::Path::new(&outside).exists(),
        "the image's absolute symlink was followed on the host"
    );
    spec.mounts = vec![tmpfs("/sysctl/kernel")];
    let err = run(&spec).0.unwrap_err().to_string();
    assert!(
        err.contains("cannot be mounted because it is inside /proc"),
        "{err}"
    );
}
