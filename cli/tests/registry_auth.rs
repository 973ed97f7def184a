//! `kiln login`/`logout` and authenticated, TLS and mirrored registries, as a docker user
//! meets them: htpasswd basic auth, token auth, a private CA named in kiln.toml, a Docker Hub
//! mirror.

mod common;
mod registry_support;

use base64::Engine as _;
use common::Kiln;
use registry_harness::{Registry, TokenPolicy};
use registry_support::{at, Env};
use std::io::Write;
use std::process::Stdio;

fn login_stdin(
    env: &Env,
    k: &Kiln,
    server: &str,
    user: &str,
    password: &str,
) -> std::process::Output {
    let mut child = env
        .cmd(k)
        .args(["login", "-u", user, "--password-stdin", server])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// Push, remove, pull back: the whole path through the registry's auth.
fn push_and_pull_back(env: &Env, k: &Kiln, name: &str) {
    k.ok(&["tag", "busybox", name]);
    env.ok(k, &["push", name]);
    k.ok(&["rmi", name]);
    env.ok(k, &["pull", name]);
    assert_eq!(env.ok(k, &["run", "--rm", name, "echo", "ok"]), "ok\n");
}

#[test]
fn basic_auth_login_push_pull_logout() {
    let Some(reg) = registry_support::registry(|| Registry::basic(&[("alice", "s3cret")])) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let host = reg.host();
    let name = at(&reg, "alice/app:1");
    k.ok(&["tag", "busybox", &name]);
    let err = env.fails(&k, &["push", &name]);
    assert!(
        err.contains(&format!("authentication required for {host}")),
        "{err}"
    );

    let bad = login_stdin(&env, &k, &host, "alice", "wrong");
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(
        env.config_json()["auths"][&host].is_null(),
        "nothing stored"
    );

    let good = login_stdin(&env, &k, &host, "alice", "s3cret");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&good.stdout), "Login Succeeded\n");
    let auth = env.config_json()["auths"][&host]["auth"].clone();
    assert_eq!(
        auth.as_str().unwrap(),
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );
    k.ok(&["rmi", &name]);
    push_and_pull_back(&env, &k, &name);

    let out = env.ok(&k, &["logout", &host]);
    assert_eq!(out, format!("Removing login credentials for {host}\n"));
    assert!(env.config_json()["auths"][&host].is_null());
    let err = env.fails(&k, &["pull", &name]);
    assert!(err.contains("authentication required"), "{err}");
    assert_eq!(
        env.ok(&k, &["logout", &host]),
        format!("Not logged in to {host}\n")
    );
    // No password and no terminal: docker's refusal.
    let out = env
        .cmd(&k)
        .args(["login", "-u", "alice", &host])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Cannot perform an interactive login from a non TTY device"));
}

#[test]
fn token_auth_login_push_pull() {
    let Some(reg) = registry_support::registry(|| Registry::token(TokenPolicy::user("bob", "pw")))
    else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let host = reg.host();
    let name = at(&reg, "bob/app:1");
    k.ok(&["tag", "busybox", &name]);
    let err = env.fails(&k, &["push", &name]);
    assert!(err.contains("unauthorized"), "{err}");
    let good = login_stdin(&env, &k, &host, "bob", "pw");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    k.ok(&["rmi", &name]);
    push_and_pull_back(&env, &k, &name);
    let scopes: Vec<String> = reg
        .token_server()
        .unwrap()
        .requests()
        .iter()
        .flat_map(|r| r.scopes.clone())
        .collect();
    assert!(
        scopes.iter().any(|s| s == "repository:bob/app:pull,push"),
        "{scopes:?}"
    );
}

#[test]
fn tls_with_the_ca_named_in_kiln_toml() {
    let Some(reg) = registry_support::registry(|| Registry::tls(false)) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    let name = at(&reg, "secure/app:1");
    k.ok(&["tag", "busybox", &name]);
    let err = env.fails(&k, &["push", &name]);
    assert!(
        err.contains(&format!("TLS with {} failed", reg.host())),
        "{err}"
    );
    env.set_kiln_toml(&format!(
        "[registry.\"{}\"]\nca = [\"{}\"]\n",
        reg.host(),
        reg.ca_pem().display()
    ));
    k.ok(&["rmi", &name]);
    push_and_pull_back(&env, &k, &name);
}

#[test]
fn docker_hub_names_are_served_by_the_configured_mirror() {
    let Some(reg) = registry_support::registry(Registry::anonymous) else {
        return;
    };
    let k = Kiln::new();
    let env = Env::new();
    // The mirror holds busybox as Docker Hub would (library/busybox).
    let mirrored = at(&reg, "library/busybox:latest");
    k.ok(&["tag", "busybox", &mirrored]);
    env.ok(&k, &["push", &mirrored]);
    env.set_kiln_toml(&format!(
        "[registry.\"docker.io\"]\nmirrors = [\"{}\"]\n",
        reg.host()
    ));
    let fresh = Kiln::empty();
    let out = env.ok(&fresh, &["pull", "busybox"]);
    assert!(
        out.starts_with("Using default tag: latest\nlatest: Pulling from library/busybox\n"),
        "{out}"
    );
    assert!(out.ends_with("docker.io/library/busybox:latest\n"), "{out}");
    assert_eq!(
        env.ok(&fresh, &["run", "--rm", "busybox", "echo", "hub"]),
        "hub\n"
    );
    // A build naming a Docker Hub image gets it from the mirror too.
    let other = Kiln::empty();
    let ctx = common::context(&[("Dockerfile", "FROM busybox:latest\nRUN echo from-mirror\n")]);
    let (ok, log) = env.build(&other, ctx.path(), "m", &[]);
    assert!(ok, "{log}");
    assert!(log.contains("from-mirror"), "{log}");
}
