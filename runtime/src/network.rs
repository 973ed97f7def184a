//! Network setup inside the container: bringing `lo` up and the contents of `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname`.

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

/// `/etc/hosts` for the container: localhost entries, the hostname, then the extra hosts.
pub fn hosts_file(hostname: &str, extra_hosts: &[(String, String)]) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if !hostname.is_empty() && hostname != "localhost" {
        s.push_str(&format!("127.0.0.1\t{hostname}\n"));
    }
    for (name, ip) in extra_hosts {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

/// `/etc/resolv.conf` for the container: the host's, or a public-resolver fallback when the host has
/// none (as docker does).
pub fn resolv_conf(host: Option<&str>) -> String {
    match host {
        Some(text)
            if text
                .lines()
                .any(|l| l.trim_start().starts_with("nameserver")) =>
        {
            text.to_string()
        }
        _ => "nameserver 8.8.8.8\nnameserver 8.8.4.4\n".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lists_localhost_hostname_and_extras() {
        let h = hosts_file("box", &[("db".to_string(), "10.0.0.5".to_string())]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("127.0.0.1\tbox\n"));
        assert!(h.ends_with("10.0.0.5\tdb\n"));
    }

    #[test]
    fn resolv_conf_falls_back_without_nameservers() {
        assert_eq!(
            resolv_conf(Some("nameserver 1.1.1.1\n")),
            "nameserver 1.1.1.1\n"
        );
        assert!(resolv_conf(Some("# empty\n")).contains("8.8.8.8"));
        assert!(resolv_conf(None).contains("8.8.8.8"));
    }
}
