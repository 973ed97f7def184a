//! A real CNCF registry (Debian's `docker-registry`, `docker-registry serve CONFIG`) on
//! 127.0.0.1 with a free port and a storage folder of its own, in one of four set-ups:
//! anonymous, htpasswd basic auth, TLS (with a CA made at start, optionally requiring client
//! certificates), token auth (with a [`TokenServer`] of its own). Stopped when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci::Digest;

use crate::pki::{self, Pki};
use crate::token::{TokenPolicy, TokenServer, ISSUER, SERVICE};

/// Where Debian installs the registry.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// Who may use the registry.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anyone, for anything.
    Anonymous,
    /// htpasswd users (name, password), bcrypt-hashed.
    Basic(Vec<(String, String)>),
    /// Bearer tokens from the harness's token service.
    Token(TokenPolicy),
}

/// How to start a registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// Its authentication.
    pub auth: Auth,
    /// Serve HTTPS with a certificate from a CA made for it.
    pub tls: bool,
    /// With `tls`: require a client certificate signed by that CA.
    pub client_certs: bool,
    /// Refuse every write (distribution's read-only maintenance mode: 405 to pushes).
    pub readonly: bool,
}

impl Default for Options {
    /// Anonymous, plain HTTP, writable.
    fn default() -> Options {
        Options {
            auth: Auth::Anonymous,
            tls: false,
            client_certs: false,
            readonly: false,
        }
    }
}

/// One request in the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// GET, HEAD, PUT, PATCH, POST, DELETE.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// The bytes of body answered.
    pub bytes: u64,
}

/// Is the registry installed? When it is not and `KILN_REQUIRE_PEERS` is set (as
/// `scripts/test.sh` sets it), this panics: CI must not skip these tests.
pub fn available() -> bool {
    let ok = Path::new(REGISTRY_BINARY).is_file();
    if !ok {
        assert!(
            std::env::var_os("KILN_REQUIRE_PEERS").is_none(),
            "KILN_REQUIRE_PEERS is set but {REGISTRY_BINARY} is missing (apt-get install docker-registry)"
        );
        eprintln!("SKIPPED: {REGISTRY_BINARY} is missing (scripts/test.sh installs it)");
    }
    ok
}

/// A running registry.
pub struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    tls: bool,
    token: Option<TokenServer>,
    sentinel: std::sync::atomic::AtomicU32,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Registry {
    /// Anonymous, plain HTTP.
    pub fn anonymous() -> Registry {
        Registry::start(Options::default())
    }

    /// htpasswd basic auth, plain HTTP.
    pub fn basic(users: &[(&str, &str)]) -> Registry {
        let users = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        Registry::start(Options {
            auth: Auth::Basic(users),
            ..Options::default()
        })
    }

    /// Anonymous over HTTPS with a CA of its own ([`Registry::certs_d`] trusts it).
    pub fn tls(client_certs: bool) -> Registry {
        Registry::start(Options {
            tls: true,
            client_certs,
            ..Options::default()
        })
    }

    /// Token auth, plain HTTP, with its token service.
    pub fn token(policy: TokenPolicy) -> Registry {
        Registry::start(Options {
            auth: Auth::Token(policy),
            ..Options::default()
        })
    }

    /// Start one as `opts` say; waits until it accepts connections.
    pub fn start(opts: Options) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("kiln-registry-")
            .tempdir()
            .expect("a temp dir");
        let (auth, mut token) = auth_section(&opts.auth, dir.path());
        let tls = if opts.tls {
            tls_section(dir.path(), opts.client_certs)
        } else {
            String::new()
        };
        for _ in 0..5 {
            let port = free_port();
            let storage = if opts.readonly {
                "  maintenance:\n    readonly:\n      enabled: true\n"
            } else {
                ""
            };
            if let Some(child) = spawn(dir.path(), port, storage, &format!("{tls}{auth}")) {
                let mut r = Registry {
                    child,
                    port,
                    dir,
                    tls: opts.tls,
                    token: token.take(),
                    sentinel: Default::default(),
                };
                r.make_certs_d(opts.tls);
                return r;
            }
        }
        let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        panic!("the registry did not start:\n{log}");
    }

    fn make_certs_d(&mut self, tls: bool) {
        let host = self.certs_d().join(self.host());
        std::fs::create_dir_all(&host).expect("certs.d");
        if tls {
            let d = self.dir.path();
            std::fs::copy(d.join("ca.pem"), host.join("ca.crt")).expect("copy the CA");
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `certs.d` folder as docker reads it: `<host>/ca.crt` trusts this registry's CA.
    pub fn certs_d(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// Put the client certificate into `certs.d/<host>/` (as `client.cert` and `client.key`).
    pub fn install_client_cert(&self) {
        let d = self.dir.path();
        let host = self.certs_d().join(self.host());
        std::fs::copy(d.join("client.cert"), host.join("client.cert")).expect("copy");
        std::fs::copy(d.join("client.key"), host.join("client.key")).expect("copy");
    }

    /// The CA's certificate (PEM), with TLS.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The client certificate and key (PEM), with TLS.
    pub fn client_pair(&self) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        (d.join("client.cert"), d.join("client.key"))
    }

    /// The token service, with token auth.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// The registry's storage folder (tests break it to make the registry fail).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data/docker/registry/v2")
    }

    /// Where the registry keeps blob `digest` on its disk.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs")
            .join(digest.algorithm().name())
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's own log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Every request served so far, in order. Over plain HTTP, a sentinel request is sent
    /// first and waited for, so that every earlier request is in the log.
    pub fn access_log(&self) -> Vec<Access> {
        let path = self.dir.path().join("access.log");
        let mut wanted = None;
        if !self.tls {
            let n = self
                .sentinel
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let q = format!("/v2/?kiln-sentinel={n}");
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = write!(
                    s,
                    "GET {q} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    self.host()
                );
                let _ = s.read_to_end(&mut Vec::new());
            }
            wanted = Some(q);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<Access> = text.lines().filter_map(parse_access).collect();
            match &wanted {
                Some(q) if !all.iter().any(|a| &a.path == q) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    return all
                        .into_iter()
                        .filter(|a| !a.path.contains("kiln-sentinel="))
                        .collect()
                }
            }
        }
    }
}

/// The `auth:` section (and the token service it names).
fn auth_section(auth: &Auth, d: &Path) -> (String, Option<TokenServer>) {
    match auth {
        Auth::Anonymous => (String::new(), None),
        Auth::Basic(users) => {
            let mut lines = String::new();
            for (u, p) in users {
                let h = bcrypt::hash_with_result(p, 5).expect("bcrypt");
                let h = h.format_for_version(bcrypt::Version::TwoY);
                lines.push_str(&format!("{u}:{h}\n"));
            }
            write(&d.join("htpasswd"), &lines);
            let path = d.join("htpasswd");
            let section = format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                path.display()
            );
            (section, None)
        }
        Auth::Token(policy) => {
            let signer = pki::token_signer();
            write(&d.join("token.crt"), &signer.cert_pem);
            let t = TokenServer::start(policy.clone(), &signer);
            let section = format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                t.realm(),
                d.join("token.crt").display()
            );
            (section, Some(t))
        }
    }
}

/// Make the CA and certificates; the `tls:` lines of the `http:` section.
fn tls_section(d: &Path, client_certs: bool) -> String {
    let pki = Pki::new();
    write(&d.join("ca.pem"), &pki.ca.cert_pem);
    write(&d.join("server.crt"), &pki.server.cert_pem);
    write(&d.join("server.key"), &pki.server.key_pem);
    write(&d.join("client.cert"), &pki.client.cert_pem);
    write(&d.join("client.key"), &pki.client.key_pem);
    let mut tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        d.join("server.crt").display(),
        d.join("server.key").display()
    );
    if client_certs {
        tls.push_str(&format!(
            "    clientcas:\n      - {}\n",
            d.join("ca.pem").display()
        ));
    }
    tls
}

/// Start the registry on `port`; `None` if it exits (the port was taken) or never listens.
fn spawn(d: &Path, port: u16, storage: &str, sections: &str) -> Option<Child> {
    let config = format!(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{storage}\
         http:\n  addr: 127.0.0.1:{port}\n  secret: kiln-test-secret\n{sections}",
        d.join("data").display()
    );
    write(&d.join("config.yml"), &config);
    let out = std::fs::File::create(d.join("access.log")).expect("access log");
    let err = std::fs::File::create(d.join("registry.log")).expect("registry log");
    let mut child = Command::new(REGISTRY_BINARY)
        .arg("serve")
        .arg(d.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {REGISTRY_BINARY}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "agent"`.
fn parse_access(line: &str) -> Option<Access> {
    let (_, rest) = line.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut req = request.split(' ');
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let mut nums = rest.split_whitespace();
    let status = nums.next()?.parse().ok()?;
    let bytes = nums.next()?.parse().unwrap_or(0);
    Some(Access {
        method,
        path,
        status,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_lines() {
        let a = super::parse_access(
            r#"127.0.0.1 - - [01/Dec/2026:09:31:37 +0000] "GET /v2/x/blobs/sha256:ab HTTP/1.1" 206 12 "" "kiln/0.1.0""#,
        )
        .unwrap();
        assert_eq!(
            (a.method.as_str(), a.path.as_str(), a.status, a.bytes),
            ("GET", "/v2/x/blobs/sha256:ab", 206, 12)
        );
        assert_eq!(super::parse_access("time=\"x\" level=info"), None);
    }
}
