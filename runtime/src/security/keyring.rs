//! A private session keyring per container, as runc makes: the container's processes do not
//! share the caller's session keyring (and through it the keys of whoever started kiln).

use std::io;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;
/// `KEY_USR_SEARCH`: the owner may search the keyring (runc adds it, see below).
const KEY_USR_SEARCH: u32 = 0x0008_0000;

/// Join a new, anonymous session keyring and let its owner search it (the kernel's default
/// for a new keyring lacks "search" for the user, which `request_key` from inside needs).
/// Kernels without keyrings (`ENOSYS`) are left alone, as runc does.
pub fn join_private_session_keyring() -> io::Result<()> {
    // SAFETY: a NULL name asks for a new anonymous keyring; no memory is passed.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if id < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOSYS) {
            Ok(())
        } else {
            Err(e)
        };
    }
    let perm = describe_perm(id)?;
    // SAFETY: integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            id,
            (perm | KEY_USR_SEARCH) as libc::c_ulong,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The permission mask of key `id`, from `KEYCTL_DESCRIBE` ("type;uid;gid;perm;description").
fn describe_perm(id: libc::c_long) -> io::Result<u32> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = (n as usize).min(buf.len());
    let text = String::from_utf8_lossy(&buf[..len]);
    text.trim_end_matches('\0')
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or_else(|| io::Error::other(format!("unexpected key description {text:?}")))
}
