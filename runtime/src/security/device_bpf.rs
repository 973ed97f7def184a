//! The device policy on cgroup v2, which has no devices controller: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's cgroup, assembled here from the
//! same rules as the v1 allow-list (runc's `devicefilter` does the same).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// `bpf_cgroup_dev_ctx.access_type`: the device type in the low 16 bits...
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// ... and the access asked for in the high 16 bits.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One allow rule: type (`b`/`c`), major and minor (`None`: any), access (`rwm` letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    block: bool,
    major: Option<u32>,
    minor: Option<u32>,
    access: i32,
}

impl Rule {
    /// Parse a rule in the v1 `devices.allow` form (`c 1:3 rwm`, `b *:* m`).
    pub fn parse(text: &str) -> Option<Rule> {
        let mut parts = text.split_whitespace();
        let block = match parts.next()? {
            "b" => true,
            "c" => false,
            _ => return None,
        };
        let (maj, min) = parts.next()?.split_once(':')?;
        let num = |s: &str| -> Option<Option<u32>> {
            if s == "*" {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        let mut access = 0;
        for c in parts.next()?.chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return None,
            };
        }
        Some(Rule {
            block,
            major: num(maj)?,
            minor: num(min)?,
            access,
        })
    }
}

/// One eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // r[dst] = *(u32 *)(r[src] + off)
const MOV_X: u8 = 0xbf; // r[dst] = r[src]
const MOV_K: u8 = 0xb7; // r[dst] = imm
const AND_K: u8 = 0x57; // r[dst] &= imm
const RSH_K: u8 = 0x77; // r[dst] >>= imm
const JNE_K: u8 = 0x55; // if r[dst] != imm: pc += off
const EXIT: u8 = 0x95;

/// The program: 1 (allow) when a rule matches the device and the access, else 0 (deny).
fn assemble(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context).
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV_X, 3, 2, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut block = vec![insn(
            JNE_K,
            2,
            0,
            0,
            if r.block { DEV_BLOCK } else { DEV_CHAR },
        )];
        // Access asked for outside the rule's: r6 = access & !allowed; skip unless 0.
        block.push(insn(MOV_X, 6, 3, 0, 0));
        block.push(insn(AND_K, 6, 0, 0, !r.access & 0x7));
        block.push(insn(JNE_K, 6, 0, 0, 0));
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Every jump goes past the end of this rule's block.
        let n = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = (n - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Load the program for `rules` and attach it to the cgroup (v2) open as `cgroup`. The
/// returned descriptor is the program's; the attachment lives as long as the cgroup.
pub fn attach(cgroup: BorrowedFd<'_>, rules: &[Rule]) -> io::Result<OwnedFd> {
    let prog = assemble(rules);
    let license = c"Apache-2.0";
    // union bpf_attr for BPF_PROG_LOAD (the fields up to kern_version; the rest zero).
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        _pad: [u8; 108],
    }
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        _pad: [0; 108],
    };
    // SAFETY: attr is a valid, fully initialised bpf_attr prefix of the size passed; the
    // instructions and the license outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that we now own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    #[repr(C)]
    struct ProgAttach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        _pad: [u8; 104],
    }
    let attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        _pad: [0; 104],
    };
    // SAFETY: as above.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(prog_fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_like_devices_allow() {
        assert_eq!(
            Rule::parse("c 1:3 rwm"),
            Some(Rule {
                block: false,
                major: Some(1),
                minor: Some(3),
                access: 7
            })
        );
        let any = Rule::parse("b *:* m").unwrap();
        assert!(any.block && any.major.is_none() && any.access == ACC_MKNOD);
        assert_eq!(Rule::parse("x 1:3 r"), None);
        assert_eq!(Rule::parse("c 1:3 q"), None);
        for r in super::super::devices::ALLOWED {
            assert!(Rule::parse(r).is_some(), "{r}");
        }
    }

    #[test]
    fn every_jump_lands_on_the_next_rule() {
        let rules = [
            Rule::parse("c 1:3 rwm").unwrap(),
            Rule::parse("c *:* m").unwrap(),
        ];
        let p = assemble(&rules);
        // prologue 6, rule 1: type, mov, and, jne, major, minor, mov, exit = 8; rule 2: 6.
        assert_eq!(p.len(), 6 + 8 + 6 + 2);
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JNE_K {
                let to = i as i16 + 1 + ins.off;
                assert!(to == 14 || to == 20, "jump from {i} to {to}");
            }
        }
    }
}
