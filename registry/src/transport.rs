//! The HTTP client of one registry host: TLS with the system's roots plus the CAs docker reads
//! from `/etc/docker/certs.d/<host[:port]>/*.crt` and kiln's `ca`, client certificates from
//! the same folder (`*.cert` + `*.key`) or kiln's `keypair`, and the schemes to try (plain
//! HTTP only for loopback hosts and registries configured `http` or `insecure`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::HostConfig;
use crate::error::{Error, Result};
use crate::hosts;

/// A scheme to reach a host with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// How to reach one host.
pub(crate) struct Transport {
    pub http: reqwest::Client,
    /// In order: HTTPS, then HTTP when allowed.
    pub schemes: Vec<Scheme>,
}

/// Settings every host's client shares.
#[derive(Debug, Clone)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            log::debug!("system certificates: {e}");
        }
        found.certs
    })
}

fn tls_err(registry: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Tls {
        registry: registry.to_string(),
        path: Some(path.to_path_buf()),
        source: e.to_string().into(),
    }
}

fn read_certs(registry: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(registry, path, e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_err(registry, path, e))?;
    if certs.is_empty() {
        return Err(tls_err(registry, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn read_key(registry: &str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| tls_err(registry, path, e))
}

/// What a host's certificate folder and configuration give.
#[derive(Default)]
struct Material {
    cas: Vec<CertificateDer<'static>>,
    client: Option<(
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        PathBuf,
    )>,
}

/// Read `dir` as docker reads a `certs.d/<host>` folder.
fn read_certs_dir(registry: &str, dir: &Path, m: &mut Material) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(tls_err(registry, dir, e)),
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for p in &names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => m.cas.extend(read_certs(registry, p)?),
            Some("cert") => {
                let key = p.with_extension("key");
                if !key.is_file() {
                    return Err(tls_err(registry, p, "client certificate without its .key"));
                }
                if m.client.is_none() {
                    m.client = Some((
                        read_certs(registry, p)?,
                        read_key(registry, &key)?,
                        p.clone(),
                    ));
                }
            }
            Some("key") if !p.with_extension("cert").is_file() => {
                return Err(tls_err(registry, p, "client key without its .cert"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The rustls configuration: the system's roots and `m`'s CAs (or no verification at all for
/// an `insecure` registry), and `m`'s client certificate.
fn tls_config(name: &str, insecure: bool, m: Material) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls {
            registry: name.to_string(),
            path: None,
            source: Box::new(e),
        })?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        for ca in m.cas {
            roots.add(ca).map_err(|e| Error::Tls {
                registry: name.to_string(),
                path: None,
                source: Box::new(e),
            })?;
        }
        builder.with_root_certificates(roots)
    };
    let tls = match m.client {
        Some((chain, key, path)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(name, &path, e))?,
        None => builder.with_no_client_auth(),
    };
    Ok(tls)
}

/// The TLS configuration for plain web downloads (`ADD https://…`): the system's roots, the
/// same crypto provider as registries, HTTP/1.1. For `reqwest`'s `tls_backend_preconfigured`.
pub fn web_tls_config() -> Result<rustls::ClientConfig> {
    let mut tls = tls_config("web", false, Material::default())?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Build the client for registry `name` (whose API is at `api`).
pub(crate) fn build(
    name: &str,
    api: &str,
    cfg: &HostConfig,
    certs_d: &Path,
    user_agent: &str,
    timeouts: &Timeouts,
) -> Result<Transport> {
    let mut m = Material::default();
    let mut dirs = vec![certs_d.join(name)];
    if api != name {
        dirs.push(certs_d.join(api));
    }
    for d in &dirs {
        read_certs_dir(name, d, &mut m)?;
    }
    for ca in &cfg.ca {
        m.cas.extend(read_certs(name, ca)?);
    }
    if m.client.is_none() {
        if let Some(kp) = cfg.keypair.first() {
            m.client = Some((
                read_certs(name, &kp.cert)?,
                read_key(name, &kp.key)?,
                kp.cert.clone(),
            ));
        }
    }
    let mut tls = tls_config(name, cfg.insecure, m)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(user_agent)
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Tls {
            registry: name.to_string(),
            path: None,
            source: Box::new(e),
        })?;
    let schemes = if cfg.http {
        vec![Scheme::Http]
    } else if cfg.insecure || hosts::is_loopback(api) {
        vec![Scheme::Https, Scheme::Http]
    } else {
        vec![Scheme::Https]
    };
    Ok(Transport { http, schemes })
}

/// What a failed request says about TLS.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The host speaks TLS and the handshake failed (certificate, name, client certificate):
    /// neither retrying nor plain HTTP will help.
    Handshake(String),
    /// What came back was not TLS: the host may speak plain HTTP.
    NotTls,
}

/// Find a TLS failure in the causes of `e`.
pub(crate) fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(match t {
                rustls::Error::InvalidMessage(_) => TlsFailure::NotTls,
                other => TlsFailure::Handshake(other.to_string()),
            });
        }
        // An io::Error's `source()` skips the error it wraps: descend into that one.
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// `insecure = true`: accept any certificate (the registry was configured so), still checking
/// that the handshake is signed by the certificate presented.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
        }
    }

    #[test]
    fn schemes_follow_dockers_rule() {
        let d = tempfile::tempdir().unwrap();
        let s = |name: &str, cfg: HostConfig| {
            build(
                name,
                &hosts::api_host(name),
                &cfg,
                d.path(),
                "t",
                &timeouts(),
            )
            .unwrap()
            .schemes
        };
        assert_eq!(s("example.com", HostConfig::default()), [Scheme::Https]);
        assert_eq!(s("docker.io", HostConfig::default()), [Scheme::Https]);
        assert_eq!(
            s("127.0.0.1:5000", HostConfig::default()),
            [Scheme::Https, Scheme::Http]
        );
        assert_eq!(
            s("localhost", HostConfig::default()),
            [Scheme::Https, Scheme::Http]
        );
        let insecure = HostConfig {
            insecure: true,
            ..Default::default()
        };
        assert_eq!(s("10.1.1.1:5000", insecure), [Scheme::Https, Scheme::Http]);
        let http = HostConfig {
            http: true,
            ..Default::default()
        };
        assert_eq!(s("example.com", http), [Scheme::Http]);
    }

    #[test]
    fn bad_certificate_folders_are_tls_errors_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("reg.example:5000");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "not a certificate").unwrap();
        let e = build(
            "reg.example:5000",
            "reg.example:5000",
            &HostConfig::default(),
            d.path(),
            "t",
            &timeouts(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&e, Error::Tls { path: Some(p), .. } if p.ends_with("ca.crt")),
            "{e}"
        );
        std::fs::remove_file(host.join("ca.crt")).unwrap();
        std::fs::write(host.join("client.key"), "x").unwrap();
        let e = build(
            "reg.example:5000",
            "reg.example:5000",
            &HostConfig::default(),
            d.path(),
            "t",
            &timeouts(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("client.key"), "{e}");
        let cfg = HostConfig {
            ca: vec![d.path().join("missing.pem")],
            ..Default::default()
        };
        let e = build("x", "x", &cfg, d.path(), "t", &timeouts())
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::Tls { path: Some(p), .. } if p.ends_with("missing.pem")),
            "{e}"
        );
    }
}
