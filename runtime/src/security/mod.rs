//! What confines a container's process, docker's default sandbox piece by piece: the
//! capability set, the seccomp profile (kept as data), the device allow-list, the masked and
//! read-only kernel paths, and a private session keyring. `Security::Privileged` turns them
//! off as docker's `--privileged` does.

pub mod capabilities;
pub mod device_bpf;
pub mod devices;
pub mod kernel_paths;
pub mod keyring;
pub mod seccomp;
#[cfg(target_arch = "x86_64")]
mod syscalls_x86_64;
