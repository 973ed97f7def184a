//! Bringing `lo` up in a fresh network namespace.

use crate::error::{Error, Result};
use std::io;

/// Bring the loopback interface up (in a fresh network namespace it starts down).
pub fn loopback_up() -> Result<()> {
    let fail = |e: io::Error| Error::io("bring up the loopback interface lo", e);
    // SAFETY: plain socket(2) call.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain data; zeroed is valid. The name fits (3 bytes with the NUL).
    let result = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: we own sock.
    unsafe { libc::close(sock) };
    result.map_err(fail)
}
