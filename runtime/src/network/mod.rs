//! The container's network: none (a namespace with only `lo`), the host's, or the default: a
//! namespace of its own with outbound access through a user-space NAT helper (`pasta` or
//! `slirp4netns`, as podman and buildah do), where the host's loopback services are out of reach.
//! Also the generated `/etc/hosts` and `/etc/resolv.conf`.

mod loopback;
mod nat;

pub use loopback::loopback_up;
pub use nat::{nat_helper, NatHelper, RunningNat};

use serde::{Deserialize, Serialize};

/// What the runtime does for a container's network, decided in the parent.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Plan {
    /// The host's network namespace.
    Host,
    /// A new namespace with only `lo`.
    Loopback,
    /// A new namespace connected through a NAT helper, started by the parent.
    Nat(NatHelper),
}

impl Plan {
    /// Whether the container gets a network namespace of its own.
    pub fn new_namespace(self) -> bool {
        !matches!(self, Plan::Host)
    }
}

/// The plan for `network`: the default needs a NAT helper, and is the host's network without one.
pub fn plan(network: crate::spec::Network) -> Plan {
    match network {
        crate::spec::Network::Host => Plan::Host,
        crate::spec::Network::None => Plan::Loopback,
        crate::spec::Network::Default => match nat_helper() {
            Some(h) => Plan::Nat(h),
            None => Plan::Host,
        },
    }
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
/// none (as docker does). In a namespace of its own the host's loopback resolvers (such as
/// systemd-resolved's 127.0.0.53) are out of reach: they are dropped, as docker does, and the
/// NAT helper's DNS forwarder takes their place when it has one.
pub fn resolv_conf(host: Option<&str>, plan: Plan) -> String {
    let text = host.unwrap_or("");
    let is_loopback = |l: &str| {
        l.split_whitespace()
            .nth(1)
            .and_then(|a| a.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback())
    };
    let nameserver = |l: &str| l.trim_start().starts_with("nameserver");
    let own_namespace = plan.new_namespace();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !(own_namespace && nameserver(l) && is_loopback(l)))
        .collect();
    let dropped = text.lines().any(|l| nameserver(l) && is_loopback(l));
    let mut out: String = kept.iter().map(|l| format!("{l}\n")).collect();
    if kept.iter().any(|l| nameserver(l)) {
        return out;
    }
    match plan {
        Plan::Nat(h) if own_namespace && dropped => {
            out.push_str(&format!("nameserver {}\n", h.dns_forwarder()));
        }
        _ => out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n"),
    }
    out
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
            resolv_conf(Some("nameserver 1.1.1.1\n"), Plan::Host),
            "nameserver 1.1.1.1\n"
        );
        assert!(resolv_conf(Some("# empty\n"), Plan::Host).contains("8.8.8.8"));
        assert!(resolv_conf(None, Plan::Loopback).contains("8.8.8.8"));
    }

    #[test]
    fn resolv_conf_drops_loopback_resolvers_in_a_namespace_of_its_own() {
        let host = "search lan\nnameserver 127.0.0.53\n";
        assert_eq!(resolv_conf(Some(host), Plan::Host), host);
        assert_eq!(
            resolv_conf(Some(host), Plan::Nat(NatHelper::Pasta)),
            "search lan\nnameserver 169.254.1.1\n"
        );
        assert_eq!(
            resolv_conf(Some(host), Plan::Nat(NatHelper::Slirp4netns)),
            "search lan\nnameserver 10.0.2.3\n"
        );
        let two = "nameserver 127.0.0.1\nnameserver 10.1.1.1\n";
        assert_eq!(
            resolv_conf(Some(two), Plan::Nat(NatHelper::Pasta)),
            "nameserver 10.1.1.1\n"
        );
    }
}
