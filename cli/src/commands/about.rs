//! `kiln version` and `kiln info`: what a user pastes into a bug report, in the shape of
//! docker's (`Client:`/`Engine:` blocks; `Key: value` lines), or through `--format`.

use crate::format::Template;
use kiln_builder::run::{list_containers, nat_helper};
use kiln_builder::SnapshotMode as Mode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct VersionArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
}

/// `GOOS/GOARCH` names of this build.
fn os_arch() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// Render `data` with `--format`, or print `text`.
fn emit(format: Option<&str>, data: &Value, text: &str) -> anyhow::Result<ExitCode> {
    match format {
        Some(f) => println!("{}", Template::parse(f)?.render(data)?),
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn version(a: VersionArgs) -> anyhow::Result<ExitCode> {
    let nat = nat_helper().map(|h| h.program()).unwrap_or("none found");
    let data = json!({
        "Client": {
            "Version": env!("CARGO_PKG_VERSION"),
            "GitCommit": env!("KILN_GIT_COMMIT"),
            "RustVersion": env!("KILN_RUSTC_VERSION"),
            "Os": std::env::consts::OS,
            "Arch": os_arch().split('/').nth(1).unwrap_or_default(),
        },
        "Engine": {
            "Runtime": "built-in (namespaces, seccomp, no daemon)",
            "NatHelper": nat,
        },
    });
    let text = format!(
        "Client:\n Version:           {}\n Git commit:        {}\n Rust version:      {}\n OS/Arch:           {}\n\nEngine:\n Daemon:            none (kiln runs in the calling process)\n Runtime:           built-in (namespaces, seccomp)\n NAT helper:        {nat}\n",
        env!("CARGO_PKG_VERSION"),
        env!("KILN_GIT_COMMIT"),
        env!("KILN_RUSTC_VERSION"),
        os_arch(),
    );
    emit(a.format.as_deref(), &data, &text)
}

/// The name docker gives the filesystem a path is on (`statfs` magic).
fn backing_filesystem(path: &Path) -> String {
    match rustix_statfs_type(path) {
        Some(0xEF53) => "extfs".into(),
        Some(0x5846_5342) => "xfs".into(),
        Some(0x9123_683E) => "btrfs".into(),
        Some(0x0102_1994) => "tmpfs".into(),
        Some(0x794C_7630) => "overlayfs".into(),
        Some(0x2FC1_2FC1) => "zfs".into(),
        Some(other) => format!("unknown (0x{other:x})"),
        None => "unknown".into(),
    }
}

fn rustix_statfs_type(path: &Path) -> Option<i64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a zeroed statfs is a valid out buffer; c is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::statfs(c.as_ptr(), &mut st) == 0).then_some(st.f_type as i64)
    }
}

/// 2 when /sys/fs/cgroup is the unified hierarchy, 1 otherwise (docker's rule).
fn cgroup_version() -> u32 {
    match rustix_statfs_type(Path::new("/sys/fs/cgroup")) {
        Some(0x6367_7270) => 2,
        _ => 1,
    }
}

/// The binfmt_misc handlers registered: (name, interpreter, enabled); `None` when
/// binfmt_misc is not mounted.
fn binfmt_emulators() -> Option<Vec<(String, String, bool)>> {
    let handlers = kiln_builder::emulation::handlers()?;
    Some(
        handlers
            .into_iter()
            .map(|h| (h.name, h.interpreter, h.enabled))
            .collect(),
    )
}

/// `PRETTY_NAME` of /etc/os-release.
fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// docker's binary sizes (`23.54GiB`).
fn human_binary(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i])
}

pub fn info(root: &Path, a: InfoArgs) -> anyhow::Result<ExitCode> {
    let kiln = super::open(root)?;
    let images = kiln.images.list()?.len();
    let containers = list_containers(&kiln)?;
    let running = containers.iter().filter(|c| c.is_running(&kiln)).count();
    let driver = match kiln.snapshots.mode() {
        Mode::Overlay => "overlay",
        Mode::Copy => "copy (no overlayfs: every snapshot is a full copy)",
    };
    let backing = backing_filesystem(&kiln.root);
    let emulators = binfmt_emulators();
    // What RUN and `kiln run` can execute: natively, then through a registered emulator.
    let platforms = kiln_builder::emulation::runnable_platforms();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let nat = nat_helper().map(|h| h.program()).unwrap_or("none found");
    let data = json!({
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersStopped": containers.len() - running,
        "Images": images,
        "KilnVersion": env!("CARGO_PKG_VERSION"),
        "GitCommit": env!("KILN_GIT_COMMIT"),
        "Driver": driver,
        "BackingFilesystem": backing,
        "CgroupVersion": cgroup_version().to_string(),
        "KernelVersion": kernel_version(),
        "OperatingSystem": operating_system(),
        "OSType": std::env::consts::OS,
        "Architecture": std::env::consts::ARCH,
        "NCPU": cpus,
        "MemTotal": total_memory(),
        "KilnRootDir": kiln.root.display().to_string(),
        "NatHelper": nat,
        "Platforms": platforms.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "Binfmt": emulators.as_ref().map(|e| e.iter().map(|(n, i, on)| json!({"Name": n, "Interpreter": i, "Enabled": on})).collect::<Vec<_>>()),
    });
    let mut t = String::new();
    t.push_str(&format!(
        "Containers: {}\n Running: {running}\n Stopped: {}\nImages: {images}\n",
        containers.len(),
        containers.len() - running
    ));
    t.push_str(&format!(
        "Kiln Version: {} ({})\n",
        env!("CARGO_PKG_VERSION"),
        env!("KILN_GIT_COMMIT")
    ));
    t.push_str(&format!(
        "Storage Driver: {driver}\n Backing Filesystem: {backing}\n"
    ));
    t.push_str(&format!("Cgroup Version: {}\n", cgroup_version()));
    t.push_str(&format!(
        "Network: default (NAT helper: {nat}), host, none\n"
    ));
    t.push_str("Security Options:\n seccomp\n  Profile: default\n");
    t.push_str(&format!(
        "Platforms: {}\n",
        platforms
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    match &emulators {
        None => t.push_str("Binfmt Emulators: binfmt_misc is not mounted\n"),
        Some(e) if e.is_empty() => t.push_str("Binfmt Emulators: none registered\n"),
        Some(e) => {
            t.push_str("Binfmt Emulators:\n");
            for (name, interp, on) in e {
                let state = if *on { "" } else { " (disabled)" };
                t.push_str(&format!(" {name}: {interp}{state}\n"));
            }
        }
    }
    t.push_str(&format!(
        "Kernel Version: {}\nOperating System: {}\nOSType: {}\nArchitecture: {}\nCPUs: {cpus}\nTotal Memory: {}\nKiln Root Dir: {}\n",
        kernel_version(),
        operating_system(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        human_binary(total_memory()),
        kiln.root.display()
    ));
    emit(a.format.as_deref(), &data, &t)
}
