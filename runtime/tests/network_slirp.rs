//! The default network through the other NAT helper, slirp4netns (`KILN_NAT_HELPER`), which
//! `scripts/test.sh` installs beside pasta. One test per binary: the variable is set first.

mod common;

use common::{field, run_ok, Fixture};
use std::net::TcpListener;

#[test]
fn slirp4netns_gives_an_isolated_default_network() {
    let Some(bb) = common::environment() else {
        return;
    };
    // SAFETY: the only test of this binary, before any other thread reads the environment.
    unsafe { std::env::set_var("KILN_NAT_HELPER", "slirp4netns") };
    if kiln_runtime::nat_helper() != Some(kiln_runtime::NatHelper::Slirp4netns) {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "slirp4netns is not installed (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: no slirp4netns");
        return;
    }
    let f = Fixture::with_probe(&bb);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    assert_eq!(
        run_ok(&f.probe(&["connect", "127.0.0.1", &port])).trim(),
        "ECONNREFUSED"
    );
    // Nor through slirp's address for the host (10.0.2.2, disabled for loopback).
    assert_ne!(
        run_ok(&f.probe(&["connect", "10.0.2.2", &port])).trim(),
        "connected"
    );
    assert_eq!(
        field(&run_ok(&f.probe(&["interfaces"])), "interfaces"),
        "lo eth0"
    );
}
