//! `kiln version` and `kiln info` (issue 9, item 19): what a user pastes into a bug report, in
//! the shape of docker's. Docker 20.10.24 on this machine prints `Client:` then `Server:` /
//! ` Engine:` blocks of ` Key:   value` lines (Version, API version, Go version, Git commit,
//! Built, OS/Arch), and `docker info` prints `Containers: N` / ` Running:` / ` Stopped:`,
//! `Images: N`, `Storage Driver: overlay2` / ` Backing Filesystem: extfs`, `Cgroup Version: 1`,
//! `Kernel Version`, `Operating System`, `Docker Root Dir: /var/lib/docker`. kiln has no
//! daemon and no API: its blocks say so and name the git commit and the compiler instead.

mod common;

use common::Kiln;

/// The value of ` Key: value` in `text`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}:")))
        .map(str::trim)
}

#[test]
fn version_names_the_release_and_the_commit() {
    let k = Kiln::empty();
    let out = k.ok(&["version"]);
    assert!(out.starts_with("Client:\n"), "{out}");
    assert!(out.contains("\nEngine:\n"), "{out}");
    assert_eq!(field(&out, "Version"), Some(env!("CARGO_PKG_VERSION")));
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(common::repo())
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&git.stdout).trim().to_string();
    if git.status.success() {
        assert_eq!(field(&out, "Git commit"), Some(head.as_str()), "{out}");
    }
    assert!(
        field(&out, "Rust version").unwrap().starts_with("rustc "),
        "{out}"
    );
    assert_eq!(field(&out, "OS/Arch"), Some("linux/amd64"));
    // docker version --format '{{.Client.Version}}'
    assert_eq!(
        k.ok(&[
            "version",
            "--format",
            "{{.Client.Version}} {{.Client.GitCommit}}"
        ]),
        format!(
            "{} {}\n",
            env!("CARGO_PKG_VERSION"),
            field(&out, "Git commit").unwrap()
        )
    );
}

#[test]
fn info_reports_the_store_the_machine_and_the_emulators() {
    let k = Kiln::new();
    k.ok(&["run", "--network", "none", "busybox", "true"]);
    let out = k.ok(&["info"]);
    assert_eq!(field(&out, "Containers"), Some("1"), "{out}");
    assert_eq!(field(&out, "Running"), Some("0"));
    assert_eq!(field(&out, "Stopped"), Some("1"));
    assert_eq!(field(&out, "Images"), Some("1"));
    let root = k.root.path().canonicalize().unwrap();
    let shown = std::path::PathBuf::from(field(&out, "Kiln Root Dir").unwrap());
    assert_eq!(shown.canonicalize().unwrap(), root, "{out}");
    // The driver in use: overlay where the kernel mounts it (as here), copy otherwise.
    assert_eq!(field(&out, "Storage Driver"), Some("overlay"), "{out}");
    // docker on this machine: `Backing Filesystem: extfs`, `Cgroup Version: 1`.
    assert_eq!(field(&out, "Backing Filesystem"), Some("extfs"), "{out}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(
        field(&out, "Cgroup Version"),
        Some(if v2 { "2" } else { "1" })
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(field(&out, "Kernel Version"), Some(kernel.trim()));
    // The emulators registered with binfmt_misc, as the kernel lists them.
    let binfmt = std::path::Path::new("/proc/sys/fs/binfmt_misc");
    if binfmt.join("status").exists() {
        for e in std::fs::read_dir(binfmt).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "status" && name != "register" {
                assert!(out.contains(&format!(" {name}: ")), "{name} not in {out}");
            }
        }
    } else {
        assert_eq!(
            field(&out, "Binfmt Emulators"),
            Some("binfmt_misc is not mounted")
        );
    }
    // docker info --format '{{.Images}} {{.Driver}}'
    assert_eq!(
        k.ok(&[
            "info",
            "--format",
            "{{.Images}} {{.Containers}} {{.Driver}}"
        ]),
        "1 1 overlay\n"
    );
}
