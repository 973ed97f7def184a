//! Capabilities of the container's process: docker's default set (or every one, privileged).

use std::io;

/// Capability names (without `CAP_`) by number, as `capabilities(7)` lists them.
const NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The number of capability `name` (`CAP_SYS_ADMIN` or `SYS_ADMIN`, any case).
pub fn by_name(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// Docker's default capabilities (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
/// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP), as capability numbers.
pub const DEFAULT_CAPS: &[u32] = &[0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// The capability mask of [`DEFAULT_CAPS`] (all below 32).
pub fn default_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0u64, |m, c| m | (1u64 << c))
}

/// Every capability this process may hand on: its bounding set (docker's `--privileged`
/// gives every capability the daemon has).
pub fn all_mask() -> u64 {
    (0..=last_cap().min(63))
        // SAFETY: prctl with integer arguments only.
        .filter(
            |c| unsafe { libc::prctl(libc::PR_CAPBSET_READ, *c as libc::c_ulong, 0, 0, 0) } == 1,
        )
        .fold(0u64, |m, c| m | (1u64 << c))
}

/// The highest capability number the kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drop every capability outside `keep` from the bounding set (needs CAP_SETPCAP).
pub fn limit_bounding_set(keep: u64) -> io::Result<()> {
    for cap in 0..=last_cap().min(63) {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
    }
    // SAFETY: as above; clearing the ambient set cannot fail on kernels that have it.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Ok(())
}

/// Set the effective and permitted sets to `mask` and the inheritable set to empty.
pub fn set_caps(mask: u64) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let lo = Data {
        effective: mask as u32,
        permitted: mask as u32,
        inheritable: 0,
    };
    let hi = Data {
        effective: (mask >> 32) as u32,
        permitted: (mask >> 32) as u32,
        inheritable: 0,
    };
    let data = [lo, hi];
    // SAFETY: header and data have the layout capset(2) expects for version 3 (two data words).
    let r = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mask_matches_docker() {
        // What `grep CapBnd /proc/self/status` shows in a default docker container.
        assert_eq!(default_mask(), 0x0000_0000_a804_25fb);
    }

    #[test]
    fn names_resolve_with_or_without_prefix() {
        assert_eq!(by_name("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(by_name("sys_chroot"), Some(18));
        assert_eq!(by_name("CAP_BPF"), Some(39));
        assert_eq!(by_name("CAP_NOPE"), None);
        for c in DEFAULT_CAPS {
            assert!(by_name(NAMES[*c as usize]) == Some(*c));
        }
    }
}
