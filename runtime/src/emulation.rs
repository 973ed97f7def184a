//! Which platforms' programs this machine can run: natively, or through an emulator the kernel
//! starts for foreign executables (`binfmt_misc`, as Debian's `qemu-user-static` registers
//! QEMU). A container of another architecture then runs as any other: its `execve` of a
//! foreign ELF makes the kernel run the registered interpreter on it.
//!
//! A handler is matched against the ELF header a program of the platform starts with (its
//! magic and mask), not by its name, and must be enabled and carry the `F` ("fix binary") flag:
//! the kernel then opens the interpreter when it is registered, so it runs inside a container
//! whose root filesystem does not hold it.

use oci::Platform;
use std::path::{Path, PathBuf};

/// Where binfmt_misc is mounted, unless `KILN_BINFMT_MISC_DIR` names another directory laid out
/// the same way (for tests).
pub fn binfmt_dir() -> PathBuf {
    std::env::var_os("KILN_BINFMT_MISC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/sys/fs/binfmt_misc"))
}

/// How to install and register QEMU's emulators on Debian.
pub const INSTALL_HINT: &str = "apt-get install qemu-user-static binfmt-support";

/// How programs of a platform run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// On this CPU.
    Native,
    /// Through the binfmt_misc handler `handler`, which runs `interpreter`.
    Emulated {
        /// The handler's name (`qemu-aarch64`).
        handler: String,
        /// The emulator it starts.
        interpreter: String,
    },
}

/// Why programs of a platform cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulationError {
    /// Not a Linux platform.
    #[error("cannot run {platform} programs: kiln runs Linux containers only")]
    NotLinux {
        /// The platform asked for.
        platform: String,
    },
    /// No ELF machine is known for the architecture.
    #[error("cannot run {platform} programs on this {host} machine: kiln knows no emulator for the {arch} architecture")]
    UnknownArchitecture {
        /// The platform asked for.
        platform: String,
        /// This machine's platform.
        host: String,
        /// Its architecture.
        arch: String,
    },
    /// binfmt_misc is not mounted (or not enabled).
    #[error("cannot run {platform} programs on this {host} machine: binfmt_misc is not {state} at {dir} ({fix}), and an emulator for {platform} must be registered there: {INSTALL_HINT}")]
    NoBinfmt {
        /// The platform asked for.
        platform: String,
        /// This machine's platform.
        host: String,
        /// Where binfmt_misc was looked for.
        dir: String,
        /// `mounted` or `enabled`.
        state: &'static str,
        /// How to mount or enable it.
        fix: String,
    },
    /// No handler matches programs of the platform.
    #[error("cannot run {platform} programs on this {host} machine: no emulator for {platform} is registered in {dir}; register QEMU's with: {INSTALL_HINT}")]
    NoEmulator {
        /// The platform asked for.
        platform: String,
        /// This machine's platform.
        host: String,
        /// Where binfmt_misc was read.
        dir: String,
    },
    /// A handler matches but is disabled.
    #[error("cannot run {platform} programs on this {host} machine: the emulator {handler} ({interpreter}) is registered but disabled; enable it with: echo 1 > {path}")]
    Disabled {
        /// The platform asked for.
        platform: String,
        /// This machine's platform.
        host: String,
        /// The handler's name.
        handler: String,
        /// Its interpreter.
        interpreter: String,
        /// Its file under binfmt_misc.
        path: String,
    },
    /// A handler matches but lacks the `F` flag: its interpreter would be looked for inside the
    /// container.
    #[error("cannot run {platform} programs on this {host} machine: the emulator {handler} ({interpreter}) is registered without the F (fix binary) flag, so it cannot start inside a container; register it with the F flag (Debian's qemu-user-static does: {INSTALL_HINT})")]
    NotFixed {
        /// The platform asked for.
        platform: String,
        /// This machine's platform.
        host: String,
        /// The handler's name.
        handler: String,
        /// Its interpreter.
        interpreter: String,
    },
}

/// One registered binfmt_misc handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// Its name (the file under binfmt_misc).
    pub name: String,
    /// The program the kernel starts.
    pub interpreter: String,
    /// Is it enabled?
    pub enabled: bool,
    /// Its flags (`PF`, `POCF`...).
    pub flags: String,
    /// Offset of the magic in the file.
    pub offset: usize,
    /// The magic bytes (empty for an extension handler).
    pub magic: Vec<u8>,
    /// The mask (all ones when none is given).
    pub mask: Vec<u8>,
}

impl Handler {
    /// Does a file starting with `header` run through this handler?
    pub fn matches(&self, header: &[u8]) -> bool {
        if self.magic.is_empty() || header.len() < self.offset + self.magic.len() {
            return false;
        }
        self.magic.iter().enumerate().all(|(i, m)| {
            let mask = self.mask.get(i).copied().unwrap_or(0xff);
            header[self.offset + i] & mask == m & mask
        })
    }

    /// Is the interpreter opened at registration (`F`)?
    pub fn fixed(&self) -> bool {
        self.flags.contains('F')
    }
}

/// The handlers registered in binfmt_misc, by name; `None` when it is not mounted.
pub fn handlers() -> Option<Vec<Handler>> {
    read_handlers(&binfmt_dir())
}

fn read_handlers(dir: &Path) -> Option<Vec<Handler>> {
    if !dir.join("status").exists() {
        return None;
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "register" || name == "status" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        out.push(parse_handler(&name, &text));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

/// Read a handler's file (`enabled`, `interpreter …`, `flags: …`, `offset …`, `magic …`,
/// `mask …`).
fn parse_handler(name: &str, text: &str) -> Handler {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let magic = unhex(&field("magic "));
    let mask = match unhex(&field("mask ")) {
        m if m.is_empty() => vec![0xff; magic.len()],
        m => m,
    };
    Handler {
        name: name.to_string(),
        interpreter: field("interpreter "),
        enabled: text.lines().next() == Some("enabled"),
        flags: field("flags:"),
        offset: field("offset ").parse().unwrap_or(0),
        magic,
        mask,
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The first 20 bytes of an executable of `arch` (`e_ident`, `e_type` = EXEC, `e_machine`).
fn elf_header(arch: &str) -> Option<[u8; 20]> {
    // (64-bit, big-endian, machine)
    let (wide, big, machine): (bool, bool, u16) = match arch {
        "amd64" => (true, false, 62),
        "386" => (false, false, 3),
        "arm64" => (true, false, 183),
        "arm" => (false, false, 40),
        "ppc64le" => (true, false, 21),
        "ppc64" => (true, true, 21),
        "s390x" => (true, true, 22),
        "riscv64" => (true, false, 243),
        "mips64le" => (true, false, 8),
        "mips64" => (true, true, 8),
        "mipsle" => (false, false, 8),
        "mips" => (false, true, 8),
        "loong64" => (true, false, 258),
        _ => return None,
    };
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = if wide { 2 } else { 1 };
    h[5] = if big { 2 } else { 1 };
    h[6] = 1;
    let (t, m) = if big {
        (2u16.to_be_bytes(), machine.to_be_bytes())
    } else {
        (2u16.to_le_bytes(), machine.to_le_bytes())
    };
    h[16..18].copy_from_slice(&t);
    h[18..20].copy_from_slice(&m);
    Some(h)
}

/// Does this CPU run programs of `platform` itself (its architecture, or 32-bit x86 on x86-64)?
pub fn is_native(platform: &Platform) -> bool {
    let host = Platform::host();
    let p = platform.normalized();
    p.os == host.os
        && (p.architecture == host.architecture
            || (host.architecture == "amd64" && p.architecture == "386"))
}

/// How programs of `platform` run here, or why they cannot.
pub fn runner_for(platform: &Platform) -> Result<Runner, EmulationError> {
    runner_in(&binfmt_dir(), platform)
}

fn runner_in(dir: &Path, platform: &Platform) -> Result<Runner, EmulationError> {
    let host = Platform::host().to_string();
    let p = platform.normalized();
    let name = p.to_string();
    if p.os != "linux" {
        return Err(EmulationError::NotLinux { platform: name });
    }
    if is_native(&p) {
        return Ok(Runner::Native);
    }
    let Some(header) = elf_header(&p.architecture) else {
        return Err(EmulationError::UnknownArchitecture {
            platform: name,
            host,
            arch: p.architecture.clone(),
        });
    };
    let shown = dir.display().to_string();
    let Some(handlers) = read_handlers(dir) else {
        return Err(EmulationError::NoBinfmt {
            platform: name,
            host,
            fix: format!("mount it: mount -t binfmt_misc binfmt_misc {shown}"),
            dir: shown,
            state: "mounted",
        });
    };
    let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
    if status.trim() != "enabled" {
        return Err(EmulationError::NoBinfmt {
            platform: name,
            host,
            fix: format!("enable it: echo 1 > {shown}/status"),
            dir: shown,
            state: "enabled",
        });
    }
    let matching: Vec<&Handler> = handlers.iter().filter(|h| h.matches(&header)).collect();
    let usable = matching.iter().find(|h| h.enabled && h.fixed());
    if let Some(h) = usable {
        return Ok(Runner::Emulated {
            handler: h.name.clone(),
            interpreter: h.interpreter.clone(),
        });
    }
    match matching.first() {
        None => Err(EmulationError::NoEmulator {
            platform: name,
            host,
            dir: shown,
        }),
        Some(h) if !h.enabled => Err(EmulationError::Disabled {
            platform: name,
            host,
            handler: h.name.clone(),
            interpreter: h.interpreter.clone(),
            path: dir.join(&h.name).display().to_string(),
        }),
        Some(h) => Err(EmulationError::NotFixed {
            platform: name,
            host,
            handler: h.name.clone(),
            interpreter: h.interpreter.clone(),
        }),
    }
}

/// Linux platforms whose programs run here, natively first (`kiln info`).
pub fn runnable_platforms() -> Vec<Platform> {
    let mut out = vec![Platform::host()];
    if Platform::host().architecture == "amd64" {
        out.push(Platform::new("linux", "386", None));
    }
    for arch in [
        "amd64", "arm64", "arm", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
        "mipsle", "mips", "loong64", "386",
    ] {
        let p = Platform::new("linux", arch, None).normalized();
        if !out.contains(&p) && matches!(runner_for(&p), Ok(Runner::Emulated { .. })) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
    const S390X: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c4602020100000000000000000000020016\nmask fffffffffffffffcfffffffffffffffffffeffff\n";
    const ARM: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("status"), "enabled\n").unwrap();
        for (n, t) in files {
            std::fs::write(d.path().join(n), t).unwrap();
        }
        d
    }

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn debians_qemu_handlers_match_their_architectures_only() {
        let d = dir(&[
            ("qemu-aarch64", AARCH64),
            ("qemu-s390x", S390X),
            ("qemu-arm", ARM),
        ]);
        let r = |s: &str| runner_in(d.path(), &p(s));
        if Platform::host().architecture != "amd64" {
            return;
        }
        assert_eq!(r("linux/amd64"), Ok(Runner::Native));
        assert_eq!(r("linux/386"), Ok(Runner::Native));
        for (plat, handler) in [
            ("linux/arm64", "qemu-aarch64"),
            ("linux/arm64/v8", "qemu-aarch64"),
            ("linux/s390x", "qemu-s390x"),
            ("linux/arm/v7", "qemu-arm"),
            ("linux/arm/v6", "qemu-arm"),
        ] {
            match r(plat) {
                Ok(Runner::Emulated { handler: h, .. }) => assert_eq!(h, handler, "{plat}"),
                other => panic!("{plat}: {other:?}"),
            }
        }
        let e = r("linux/riscv64").unwrap_err();
        assert!(matches!(e, EmulationError::NoEmulator { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("cannot run linux/riscv64 programs on this linux/amd64 machine: no emulator for linux/riscv64 is registered in {}; register QEMU's with: apt-get install qemu-user-static binfmt-support", d.path().display())
        );
        assert!(matches!(
            r("windows/amd64"),
            Err(EmulationError::NotLinux { .. })
        ));
    }

    #[test]
    fn a_disabled_or_unfixed_handler_is_named_with_the_fix() {
        let d = dir(&[
            ("qemu-aarch64", &AARCH64.replace("enabled\n", "disabled\n")),
            ("qemu-s390x", &S390X.replace("flags: PF", "flags: P")),
        ]);
        if Platform::host().architecture != "amd64" {
            return;
        }
        let e = runner_in(d.path(), &p("linux/arm64")).unwrap_err();
        assert!(
            e.to_string().contains("the emulator qemu-aarch64 (/usr/libexec/qemu-binfmt/aarch64-binfmt-P) is registered but disabled; enable it with: echo 1 > "),
            "{e}"
        );
        let e = runner_in(d.path(), &p("linux/s390x")).unwrap_err();
        assert!(
            e.to_string()
                .contains("is registered without the F (fix binary) flag"),
            "{e}"
        );
        // Not mounted, or switched off as a whole.
        let none = tempfile::tempdir().unwrap();
        let e = runner_in(&none.path().join("absent"), &p("linux/arm64")).unwrap_err();
        assert!(
            e.to_string().contains("binfmt_misc is not mounted at"),
            "{e}"
        );
        std::fs::write(d.path().join("status"), "disabled\n").unwrap();
        let e = runner_in(d.path(), &p("linux/arm64")).unwrap_err();
        assert!(
            e.to_string().contains("binfmt_misc is not enabled at"),
            "{e}"
        );
    }
}
