//! The container's seccomp filter: docker's default profile, kept as data in
//! `seccomp_default.profile` (its header says where it comes from and how to read it), compiled
//! with `seccompiler` for the capabilities the process will have, as docker does.
//!
//! The filter is installed without `no_new_privs` (docker leaves `NoNewPrivs: 0`, so setuid
//! programs keep working), which the kernel allows while the process still has `CAP_SYS_ADMIN`:
//! it is installed before the capabilities are dropped, and everything the process does from
//! there to `execve` is allowed by the profile.

use super::capabilities;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// docker's default profile, translated.
pub const DEFAULT_PROFILE: &str = include_str!("seccomp_default.profile");

/// Why a profile could not be read or compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A line of the profile is not of the documented form.
    #[error("seccomp profile line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A system call name that is neither an x86_64 system call nor a known other-arch one.
    #[error("seccomp profile: unknown system call {0:?}")]
    UnknownSyscall(String),
    /// The filter could not be built.
    #[error("seccomp filter: {0}")]
    Compile(#[source] seccompiler::BackendError),
    /// There is no system call table for this architecture.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    #[error("seccomp: no system call table for architecture {0}")]
    Arch(&'static str),
}

/// What a rule does to the calls it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Allow,
    Errno(u32),
}

/// When a rule applies, or what the call's arguments must be.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cond {
    Cap(u32),
    NoCap(u32),
    KernelAtLeast(u32, u32),
    Arch(String),
    Arg { index: u8, op: ArgOp, value: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArgOp {
    Eq,
    Ne,
    MaskedEq(u64),
}

#[derive(Clone, Debug)]
struct Rule {
    action: Action,
    conds: Vec<Cond>,
    names: Vec<String>,
}

/// A parsed profile.
#[derive(Clone, Debug)]
pub struct Profile {
    rules: Vec<Rule>,
}

/// The filters to install, in order (a later one takes precedence on ties: see [`install`]).
pub struct Filters(Vec<BpfProgram>);

impl Profile {
    /// Parse the profile format described in `seccomp_default.profile`.
    pub fn parse(text: &str) -> Result<Profile, SeccompError> {
        let mut rules: Vec<Rule> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            if line.trim().is_empty() {
                continue;
            }
            let err = |message: String| SeccompError::Syntax {
                line: i + 1,
                message,
            };
            let names_part = if line.starts_with(char::is_whitespace) {
                line
            } else {
                let (head, rest) = line
                    .split_once(':')
                    .ok_or_else(|| err("a rule head must end with ':'".into()))?;
                let mut words = head.split_whitespace();
                let action = parse_action(words.next().unwrap_or("")).map_err(err)?;
                let conds = words
                    .map(parse_cond)
                    .collect::<Result<_, _>>()
                    .map_err(err)?;
                rules.push(Rule {
                    action,
                    conds,
                    names: Vec::new(),
                });
                rest
            };
            let rule = rules
                .last_mut()
                .ok_or_else(|| err("system call names before any rule".into()))?;
            rule.names
                .extend(names_part.split_whitespace().map(String::from));
        }
        if let Some(r) = rules.iter().find(|r| r.names.is_empty()) {
            return Err(SeccompError::Syntax {
                line: 0,
                message: format!("a rule ({:?}) names no system call", r.action),
            });
        }
        Ok(Profile { rules })
    }

    /// docker's default profile.
    pub fn docker_default() -> &'static Profile {
        static PROFILE: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
        PROFILE.get_or_init(|| {
            Profile::parse(DEFAULT_PROFILE).expect("the built-in seccomp profile parses")
        })
    }

    /// The filters for a process with capabilities `caps` on a kernel of version `kernel`.
    pub fn compile(&self, caps: u64, kernel: (u32, u32)) -> Result<Filters, SeccompError> {
        let arch = target_arch()?;
        // Per action: per system call number, the alternatives (an empty list: unconditional).
        let mut by_action: BTreeMap<Action, BTreeMap<i64, Option<Vec<SeccompRule>>>> =
            BTreeMap::new();
        for rule in &self.rules {
            if !applies(rule, caps, kernel) {
                continue;
            }
            let args: Vec<SeccompCondition> = rule
                .conds
                .iter()
                .filter_map(|c| match c {
                    Cond::Arg { index, op, value } => Some(condition(*index, *op, *value)),
                    _ => None,
                })
                .collect::<Result<_, _>>()?;
            let table = by_action.entry(rule.action).or_default();
            for name in &rule.names {
                let Some(nr) = syscall_number(name)? else {
                    continue;
                };
                let slot = table.entry(nr).or_insert_with(|| Some(Vec::new()));
                match (slot.as_mut(), args.is_empty()) {
                    // Unconditional: matches whatever the other alternatives say.
                    (_, true) => *slot = None,
                    (Some(alts), false) => {
                        alts.push(SeccompRule::new(args.clone()).map_err(SeccompError::Compile)?)
                    }
                    (None, false) => {}
                }
            }
        }
        let mut programs = Vec::new();
        // The allow-list first: everything else fails with EPERM.
        let allow = by_action.remove(&Action::Allow).unwrap_or_default();
        programs.push(program(
            allow,
            SeccompAction::Errno(libc::EPERM as u32),
            SeccompAction::Allow,
            arch,
        )?);
        // Then one filter per other errno: matching calls fail with it, others pass on to the
        // allow-list (the kernel keeps the most recently installed filter's answer on a tie).
        for (action, table) in by_action {
            if let Action::Errno(e) = action {
                programs.push(program(
                    table,
                    SeccompAction::Allow,
                    SeccompAction::Errno(e),
                    arch,
                )?);
            }
        }
        Ok(Filters(programs))
    }

    /// The names the profile mentions (for tests).
    #[cfg(test)]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|r| r.names.iter().map(String::as_str))
    }
}

fn parse_action(word: &str) -> Result<Action, String> {
    if word == "allow" {
        return Ok(Action::Allow);
    }
    let name = word
        .strip_prefix("errno=")
        .ok_or_else(|| format!("unknown action {word:?}"))?;
    errno_by_name(name)
        .map(Action::Errno)
        .ok_or_else(|| format!("unknown errno {name:?}"))
}

fn errno_by_name(name: &str) -> Option<u32> {
    let e = match name {
        "EPERM" => libc::EPERM,
        "ENOSYS" => libc::ENOSYS,
        "EACCES" => libc::EACCES,
        "EINVAL" => libc::EINVAL,
        _ => return None,
    };
    Some(e as u32)
}

fn parse_number(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("bad number {s:?}"))
}

fn parse_cond(word: &str) -> Result<Cond, String> {
    let cap =
        |name: &str| capabilities::by_name(name).ok_or(format!("unknown capability {name:?}"));
    if let Some(c) = word.strip_prefix("cap=") {
        return Ok(Cond::Cap(cap(c)?));
    }
    if let Some(c) = word.strip_prefix("nocap=") {
        return Ok(Cond::NoCap(cap(c)?));
    }
    if let Some(a) = word.strip_prefix("arch=") {
        return Ok(Cond::Arch(a.to_string()));
    }
    if let Some(v) = word.strip_prefix("kernel>=") {
        let (maj, min) = v
            .split_once('.')
            .ok_or(format!("bad kernel version {v:?}"))?;
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("bad kernel version {v:?}"))
        };
        return Ok(Cond::KernelAtLeast(num(maj)?, num(min)?));
    }
    let rest = word
        .strip_prefix("arg")
        .ok_or(format!("unknown condition {word:?}"))?;
    let index = rest
        .get(..1)
        .and_then(|d| d.parse::<u8>().ok())
        .filter(|i| *i < 6)
        .ok_or(format!("bad argument index in {word:?}"))?;
    let expr = &rest[1..];
    if let Some(v) = expr.strip_prefix("==") {
        return Ok(Cond::Arg {
            index,
            op: ArgOp::Eq,
            value: parse_number(v)?,
        });
    }
    if let Some(v) = expr.strip_prefix("!=") {
        return Ok(Cond::Arg {
            index,
            op: ArgOp::Ne,
            value: parse_number(v)?,
        });
    }
    if let Some(m) = expr.strip_prefix('&') {
        let (mask, v) = m
            .split_once("==")
            .ok_or(format!("bad masked comparison {word:?}"))?;
        return Ok(Cond::Arg {
            index,
            op: ArgOp::MaskedEq(parse_number(mask)?),
            value: parse_number(v)?,
        });
    }
    Err(format!("unknown comparison in {word:?}"))
}

/// Does `rule` apply to a process with `caps` on `kernel`?
fn applies(rule: &Rule, caps: u64, kernel: (u32, u32)) -> bool {
    rule.conds.iter().all(|c| match c {
        Cond::Cap(n) => caps & (1u64 << n) != 0,
        Cond::NoCap(n) => caps & (1u64 << n) == 0,
        Cond::KernelAtLeast(maj, min) => kernel >= (*maj, *min),
        Cond::Arch(a) => a == std::env::consts::ARCH,
        Cond::Arg { .. } => true,
    })
}

fn condition(index: u8, op: ArgOp, value: u64) -> Result<SeccompCondition, SeccompError> {
    let op = match op {
        ArgOp::Eq => SeccompCmpOp::Eq,
        ArgOp::Ne => SeccompCmpOp::Ne,
        ArgOp::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(SeccompError::Compile)
}

fn program(
    table: BTreeMap<i64, Option<Vec<SeccompRule>>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram, SeccompError> {
    let rules = table
        .into_iter()
        .map(|(nr, alts)| (nr, alts.unwrap_or_default()))
        .collect();
    let filter =
        SeccompFilter::new(rules, mismatch, matched, arch).map_err(SeccompError::Compile)?;
    filter.try_into().map_err(SeccompError::Compile)
}

#[cfg(target_arch = "x86_64")]
fn target_arch() -> Result<TargetArch, SeccompError> {
    Ok(TargetArch::x86_64)
}

#[cfg(not(target_arch = "x86_64"))]
fn target_arch() -> Result<TargetArch, SeccompError> {
    Err(SeccompError::Arch(std::env::consts::ARCH))
}

/// The number of system call `name` on this architecture; `None` for a name the profile lists
/// for other architectures.
#[cfg(target_arch = "x86_64")]
fn syscall_number(name: &str) -> Result<Option<i64>, SeccompError> {
    use super::syscalls_x86_64::{NOT_ON_THIS_ARCH, SYSCALLS};
    if let Some((_, nr)) = SYSCALLS.iter().find(|(n, _)| *n == name) {
        return Ok(Some(*nr));
    }
    if NOT_ON_THIS_ARCH.contains(&name) {
        return Ok(None);
    }
    Err(SeccompError::UnknownSyscall(name.to_string()))
}

#[cfg(not(target_arch = "x86_64"))]
fn syscall_number(_name: &str) -> Result<Option<i64>, SeccompError> {
    Err(SeccompError::Arch(std::env::consts::ARCH))
}

/// The running kernel's `(major, minor)` version (`(0, 0)` when it cannot be read).
pub fn kernel_version() -> (u32, u32) {
    let release = rustix::system::uname();
    let release = release.release().to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Install `filters` on the calling thread (single-threaded process) without `no_new_privs`:
/// the caller must still have `CAP_SYS_ADMIN`. Async-signal-safe (no allocation).
pub fn install(filters: &Filters) -> std::io::Result<()> {
    for prog in &filters.0 {
        let fprog = libc::sock_fprog {
            len: prog.len() as libc::c_ushort,
            // seccompiler's sock_filter is #[repr(C)] with libc's layout.
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: fprog points to a valid BPF program that outlives the call; the kernel copies it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::capabilities::{all_mask, default_mask};

    #[test]
    fn the_default_profile_parses_and_names_only_known_syscalls() {
        let p = Profile::docker_default();
        let n = p.names().count();
        assert!(n > 350, "{n} names");
        for name in p.names() {
            syscall_number(name).unwrap();
        }
    }

    #[test]
    fn it_compiles_for_docker_caps_and_for_all_caps() {
        let p = Profile::docker_default();
        let f = p.compile(default_mask(), (6, 1)).unwrap();
        // The allow-list and the ENOSYS filter for clone3.
        assert_eq!(f.0.len(), 2);
        let all = p.compile(all_mask(), (6, 1)).unwrap();
        // With CAP_SYS_ADMIN, clone3 is allowed: no ENOSYS filter.
        assert_eq!(all.0.len(), 1);
        assert!(all.0[0].len() > f.0[0].len());
    }

    #[test]
    fn conditions_follow_caps_and_kernel() {
        let p = Profile::parse(
            "allow: read\nallow cap=CAP_SYS_BOOT: reboot\nallow nocap=CAP_SYS_BOOT: kill\n\
             allow kernel>=4.8:\n    ptrace\nerrno=ENOSYS: clone3\n",
        )
        .unwrap();
        let boot = 1u64 << 22;
        let rules = |caps, kernel| {
            p.rules
                .iter()
                .filter(|r| applies(r, caps, kernel))
                .flat_map(|r| r.names.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(rules(0, (4, 4)), ["read", "kill", "clone3"]);
        assert_eq!(rules(boot, (5, 0)), ["read", "reboot", "ptrace", "clone3"]);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = Profile::parse("allow: read\nbogus: write\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "seccomp profile line 2: unknown action \"bogus\""
        );
        let e = Profile::parse("allow arg9==1: read\n").unwrap_err();
        assert!(e.to_string().contains("bad argument index"), "{e}");
        let e = Profile::parse("allow cap=CAP_NOPE: read\n").unwrap_err();
        assert!(e.to_string().contains("unknown capability"), "{e}");
        let e = Profile::parse("allow: no_such_call\n")
            .unwrap()
            .compile(0, (6, 0))
            .err()
            .unwrap();
        assert!(matches!(e, SeccompError::UnknownSyscall(_)), "{e}");
    }

    #[test]
    fn kernel_version_is_read() {
        assert!(kernel_version() >= (3, 0));
    }
}
