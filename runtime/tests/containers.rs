//! End-to-end tests of the runtime: real namespaces, overlay mounts and a busybox rootfs.
//! They need root and a static busybox; without them they print SKIPPED and pass.

mod common;

use common::{run, run_ok, Collect, Fixture};
use kiln_runtime::{ContainerSpec, Error, MountKind, MountSpec, Network, Output, Rootfs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[test]
fn stdout_and_stderr_are_captured_line_by_line() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let sink = Collect::default();
    let cancel = AtomicBool::new(false);
    let spec = f.sh("echo one; echo two; echo oops >&2; printf tail");
    let code = common::runtime()
        .run(&spec, Output::Sink(&sink), &cancel)
        .unwrap();
    assert_eq!(code, 0);
    let chunks = sink.chunks.lock().unwrap().clone();
    let stdout: Vec<&[u8]> = chunks
        .iter()
        .filter(|(s, _)| *s == 1)
        .map(|(_, d)| d.as_slice())
        .collect();
    assert_eq!(stdout, vec![&b"one\n"[..], b"two\n", b"tail"]);
    assert_eq!(sink.text(2), "oops\n");
}

#[test]
fn exit_codes_propagate() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    assert_eq!(run(&f.sh("exit 7")).0.unwrap(), 7);
    assert_eq!(run(&f.sh("kill -9 $$")).0.unwrap(), 137);
    // The init's own failure code is still a plain exit code when the command returns it.
    assert_eq!(run(&f.sh("exit 126")).0.unwrap(), 126);
}

#[test]
fn inherited_output_still_reports_the_exit_code() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let cancel = AtomicBool::new(false);
    assert_eq!(
        common::runtime()
            .run(&f.sh("exit 3"), Output::Inherit, &cancel)
            .unwrap(),
        3
    );
}

#[test]
fn env_and_cwd_are_applied() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("pwd; echo \"$FOO\"; echo \"$HOME\"; env | grep -c .");
    spec.env.push("FOO=bar baz".into());
    spec.cwd = "/work/sub".into();
    let out = run_ok(&spec);
    // PATH, FOO, HOME (default from passwd) and the shell's own PWD/SHLVL at most.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], &["/work/sub", "bar baz", "/root"]);
    assert!(
        f.path("upper/work/sub").is_dir(),
        "the created cwd lands in the upper dir"
    );
}

#[test]
fn user_by_name_gets_ids_groups_and_owns_the_new_cwd() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("id -u; id -g; id -G; echo $HOME; stat -c %u:%g .");
    spec.user = "app".into();
    spec.cwd = "/home/app/src".into();
    let out = run_ok(&spec);
    assert_eq!(out, "1000\n1000\n1000 10 29\n/home/app\n1000:1000\n");
}

#[test]
fn user_by_uid_and_gid() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("id -u; id -g; id -G");
    spec.user = "1000:29".into();
    assert_eq!(run_ok(&spec), "1000\n29\n29\n");
    spec.user = "4242".into();
    assert_eq!(run_ok(&spec), "4242\n0\n0\n");
}

#[test]
fn unknown_user_is_an_init_error() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("true");
    spec.user = "ghost".into();
    let err = run(&spec).0.unwrap_err();
    assert!(matches!(err, Error::Init(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[test]
fn missing_executable_is_a_clear_error() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("");
    spec.args = vec!["nosuchcmd".into(), "x".into()];
    let err = run(&spec).0.unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"nosuchcmd\": executable file not found in $PATH"
    );
    spec.args = vec!["/bin/nope".into()];
    let err = run(&spec).0.unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"/bin/nope\": stat /bin/nope: no such file or directory"
    );
}

#[test]
fn hostname_and_etc_files_are_generated_without_touching_the_upper() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f
        .sh("hostname; cat /etc/hostname; cat /etc/hosts; test -s /etc/resolv.conf && echo resolv");
    spec.hostname = "box".into();
    spec.extra_hosts = vec![("db.local".into(), "10.1.2.3".into())];
    let out = run_ok(&spec);
    assert!(out.starts_with("box\nbox\n127.0.0.1\tlocalhost\n"), "{out}");
    assert!(out.contains("10.1.2.3\tdb.local\n"), "{out}");
    assert!(out.ends_with("resolv\n"), "{out}");
    let upper: Vec<_> = std::fs::read_dir(f.path("upper")).unwrap().collect();
    assert!(upper.is_empty(), "nothing written to the upper: {upper:?}");
}

#[test]
fn mount_points_missing_from_the_image_come_from_stubs() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    for d in ["proc", "sys", "dev"] {
        std::fs::remove_dir(f.path("lower").join(d)).unwrap();
    }
    let mut spec = f.sh("test -e /proc/self/stat && test -c /dev/null && echo ok");
    spec.mounts.push(MountSpec {
        source: PathBuf::new(),
        dest: "/cache/x".into(),
        kind: MountKind::Tmpfs { size: None },
    });
    assert_eq!(run_ok(&spec), "ok\n");
    let upper: Vec<_> = std::fs::read_dir(f.path("upper")).unwrap().collect();
    assert!(upper.is_empty(), "nothing written to the upper: {upper:?}");
}

#[test]
fn the_command_is_pid_2_under_our_init_in_a_new_pid_namespace() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let out = run_ok(&f.sh("echo $$; ls /proc | grep -c '^[0-9]'"));
    let lines: Vec<u32> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(lines[0], 2);
    assert!(
        lines[1] <= 4,
        "only init, sh and its pipeline are visible: {out}"
    );
}

#[test]
fn dev_is_minimal_and_works() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let out = run_ok(&f.sh(
        "echo x > /dev/null; wc -c < /dev/null; head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; \
         ls /dev | tr '\\n' ' '; echo; grep -c ' /dev/pts \\| /dev/shm ' /proc/self/mountinfo",
    ));
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(&lines[..3], &["0", "4", "4"]);
    for name in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "fd", "stdin", "stdout",
        "stderr", "ptmx",
    ] {
        assert!(
            lines[3].split(' ').any(|n| n == name),
            "/dev lacks {name}: {}",
            lines[3]
        );
    }
    assert_eq!(lines[4], "2");
}

#[test]
fn writes_land_in_the_upper_dir_only() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    run_ok(&f.sh("echo hi > /newfile; rm /etc/group"));
    assert_eq!(
        std::fs::read_to_string(f.path("upper/newfile")).unwrap(),
        "hi\n"
    );
    assert!(!f.path("lower/newfile").exists());
    assert!(f.path("lower/etc/group").exists(), "the lower is untouched");
}

#[test]
fn network_none_has_only_loopback_and_it_is_up() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh(
        "ls /sys/class/net; cat /sys/class/net/lo/flags; tail -n +3 /proc/net/dev | cut -d: -f1",
    );
    spec.network = Network::None;
    let out = run_ok(&spec);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "lo");
    let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up");
    assert_eq!(&lines[2..], &["lo"]);
}

#[test]
fn cancel_kills_the_container_quickly_and_leaves_nothing_behind() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let spec = f.sh("sleep 100 & sleep 101; echo kiln-cancel-marker");
    let cancel = AtomicBool::new(false);
    let sink = Collect::default();
    let start = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            cancel.store(true, Ordering::SeqCst);
        });
        common::runtime().run(&spec, Output::Sink(&sink), &cancel)
    });
    assert_eq!(result.unwrap(), 137);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert!(sink.text(1).is_empty());
    let leftovers = processes_with_arg(b"kiln-cancel-marker");
    assert!(leftovers.is_empty(), "processes left: {leftovers:?}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(f.dir.path().to_str().unwrap()),
        "mounts left in the host namespace"
    );
}

/// Pids whose command line contains `needle`.
fn processes_with_arg(needle: &[u8]) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn background_processes_die_with_the_command() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let out = run_ok(&f.sh("sleep 1234 & echo started"));
    assert_eq!(out, "started\n");
    assert!(processes_with_arg(b"1234").iter().all(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| c != b"sleep\x001234\x00")
            .unwrap_or(true)
    }));
}

#[test]
fn bind_mounts_readonly_and_readwrite() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let ro = f.path("ro");
    let rw = f.path("rw");
    std::fs::create_dir(&ro).unwrap();
    std::fs::create_dir(&rw).unwrap();
    std::fs::write(ro.join("in"), "data\n").unwrap();
    let mut spec =
        f.sh("cat /ro/in; touch /ro/x 2>/dev/null && echo wrote-ro; echo out > /mnt/rw/file");
    spec.mounts = vec![
        MountSpec {
            source: ro.clone(),
            dest: "/ro".into(),
            kind: MountKind::Bind { readonly: true },
        },
        MountSpec {
            source: rw.clone(),
            dest: "/mnt/rw".into(),
            kind: MountKind::Bind { readonly: false },
        },
    ];
    assert_eq!(run_ok(&spec), "data\n");
    assert!(!ro.join("x").exists());
    assert_eq!(std::fs::read_to_string(rw.join("file")).unwrap(), "out\n");
}

#[test]
fn bind_mount_of_a_file() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let src = f.path("secret.txt");
    std::fs::write(&src, "s3cret\n").unwrap();
    let mut spec = f.sh("cat /run/secrets/token");
    spec.mounts = vec![MountSpec {
        source: src,
        dest: "/run/secrets/token".into(),
        kind: MountKind::Bind { readonly: true },
    }];
    assert_eq!(run_ok(&spec), "s3cret\n");
}

#[test]
fn tmpfs_mount_works_and_is_discarded() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("echo x > /scratch/a && cat /scratch/a && grep ' /scratch ' /proc/self/mountinfo | grep -c tmpfs");
    spec.mounts = vec![MountSpec {
        source: PathBuf::new(),
        dest: "/scratch".into(),
        kind: MountKind::Tmpfs {
            size: Some(1 << 20),
        },
    }];
    assert_eq!(run_ok(&spec), "x\n1\n");
    assert!(!f.path("upper/scratch/a").exists());
}

#[test]
fn overlay_mounts_ro_and_scratch() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let (a, b) = (f.path("la"), f.path("lb"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(a.join("top"), "a\n").unwrap();
    std::fs::write(b.join("top"), "b\n").unwrap();
    std::fs::write(b.join("bottom"), "b\n").unwrap();
    let mut spec = f.sh(
        "cat /ro/top /ro/bottom; touch /ro/new 2>/dev/null && echo wrote-ro; \
         echo s > /sc/new && cat /sc/new /sc/top",
    );
    spec.mounts = vec![
        MountSpec {
            source: PathBuf::new(),
            dest: "/ro".into(),
            kind: MountKind::OverlayRo {
                lowers: vec![a.clone(), b.clone()],
            },
        },
        MountSpec {
            source: PathBuf::new(),
            dest: "/sc".into(),
            kind: MountKind::OverlayScratch {
                lowers: vec![a.clone(), b.clone()],
            },
        },
    ];
    assert_eq!(run_ok(&spec), "a\nb\ns\na\n");
    assert!(!a.join("new").exists() && !b.join("new").exists());
}

#[test]
fn many_long_layers_use_the_new_mount_api() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut lowers = Vec::new();
    for i in 0..40 {
        let l = f.path(&format!("layer-{i:03}-{}", "x".repeat(100)));
        std::fs::create_dir(&l).unwrap();
        std::fs::write(l.join(format!("f{i}")), "").unwrap();
        lowers.push(l);
    }
    lowers.push(f.path("lower"));
    let spec = ContainerSpec {
        rootfs: Rootfs::Overlay {
            lowers,
            upper: f.path("upper"),
            work: f.path("work"),
        },
        ..f.sh("ls / | grep -c '^f'")
    };
    assert_eq!(run_ok(&spec), "40\n");
}

#[test]
fn dir_rootfs_is_used_in_place() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let spec = ContainerSpec {
        rootfs: Rootfs::Dir(f.path("lower")),
        ..f.sh("echo hi > /tmp/out; cat /etc/hostname")
    };
    assert_eq!(run_ok(&spec), "kiln\n");
    assert_eq!(
        std::fs::read_to_string(f.path("lower/tmp/out")).unwrap(),
        "hi\n"
    );
}

#[test]
fn stdin_null_reads_nothing() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    assert_eq!(run_ok(&f.sh("cat | wc -c")).trim(), "0");
}

#[test]
fn tty_is_unsupported_for_now() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let spec = ContainerSpec {
        tty: true,
        ..f.sh("true")
    };
    assert!(matches!(run(&spec).0, Err(Error::Unsupported(_))));
}

#[test]
fn signals_are_forwarded_and_init_exits_with_the_command() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    // The command asks PID 1 to deliver SIGTERM back to it; the trap proves it was forwarded.
    let out = run_ok(&f.sh("trap 'echo got-term; exit 0' TERM; kill -TERM 1; sleep 5 & wait"));
    assert_eq!(out, "got-term\n");
}

#[test]
fn root_gets_dockers_default_capabilities_and_kernel_paths_are_masked() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let out = run_ok(&f.sh(
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status | tr -s '\\t' ' '; if test -e /proc/timer_list; then wc -c < /proc/timer_list; else echo 0; fi; \
         echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo wrote-sys; \
         mount -t tmpfs none /tmp 2>/dev/null && echo mounted; echo end",
    ));
    assert_eq!(
        out,
        "CapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\n0\nend\n"
    );
}

#[test]
fn non_root_users_have_no_capabilities() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let mut spec = f.sh("grep -E '^Cap(Eff|Prm)' /proc/self/status | tr -s '\\t' ' '");
    spec.user = "app".into();
    assert_eq!(
        run_ok(&spec),
        "CapPrm: 0000000000000000\nCapEff: 0000000000000000\n"
    );
}

#[test]
fn cancel_during_setup_or_before_start_reports_a_kill() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let spec = f.sh("echo should-not-run");
    let cancel = AtomicBool::new(true);
    let sink = Collect::default();
    assert_eq!(
        common::runtime()
            .run(&spec, Output::Sink(&sink), &cancel)
            .unwrap(),
        137
    );
    assert!(sink.text(1).is_empty());
    // Cancelled while the helper is starting up.
    let cancel = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(2));
            cancel.store(true, Ordering::SeqCst);
        });
        common::runtime().run(&f.sh("sleep 100"), Output::Sink(&sink), &cancel)
    });
    assert_eq!(result.unwrap(), 137);
}

#[test]
fn overlay_mounts_of_a_path_inside_the_layers() {
    let bb = require_env!();
    let f = Fixture::new(&bb);
    let (a, b) = (f.path("sa"), f.path("sb"));
    std::fs::create_dir_all(a.join("data")).unwrap();
    std::fs::create_dir_all(b.join("data")).unwrap();
    std::fs::write(a.join("data/top"), "a\n").unwrap();
    std::fs::write(b.join("data/bottom"), "b\n").unwrap();
    std::fs::write(b.join("outside"), "o\n").unwrap();
    // A symlink in the layers resolves inside them, not on the host.
    std::os::unix::fs::symlink("/data/bottom", a.join("link")).unwrap();
    let mut spec = f.sh(
        "ls /sub; cat /file; touch /sub/new 2>/dev/null && echo wrote-ro; \
         echo s > /scr/new && cat /scr/new; test -e /scr/outside || echo no-outside",
    );
    let mount = |src: &str, dest: &str, ro: bool| MountSpec {
        source: PathBuf::from(src),
        dest: dest.into(),
        kind: if ro {
            MountKind::OverlayRo {
                lowers: vec![a.clone(), b.clone()],
            }
        } else {
            MountKind::OverlayScratch {
                lowers: vec![a.clone(), b.clone()],
            }
        },
    };
    spec.mounts = vec![
        mount("/data", "/sub", true),
        mount("/link", "/file", true),
        mount("data/", "/scr", false),
    ];
    assert_eq!(run_ok(&spec), "bottom\ntop\nb\ns\nno-outside\n");
    assert!(!a.join("data/new").exists() && !b.join("data/new").exists());

    spec.mounts = vec![mount("/missing", "/sub", true)];
    let err = run(&spec).0.unwrap_err().to_string();
    assert!(
        err.contains("/missing") && err.contains("does not exist"),
        "{err}"
    );
}
