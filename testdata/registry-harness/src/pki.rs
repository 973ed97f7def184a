//! Certificates made at test time with rcgen: a CA, a server certificate for 127.0.0.1 and
//! localhost, a client certificate, and the token service's signing certificate.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, as PEM and DER.
pub struct Pair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 PEM (empty for the CA, whose key stays inside).
    pub key_pem: String,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

/// A certificate authority with a server and a client certificate it signed.
pub struct Pki {
    /// The CA.
    pub ca: Pair,
    /// For 127.0.0.1, ::1 and localhost.
    pub server: Pair,
    /// A client certificate.
    pub client: Pair,
}

fn pair(cert: &rcgen::Certificate, key: &KeyPair) -> Pair {
    Pair {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

impl Pki {
    /// A new CA and its two certificates.
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("generate a key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kiln test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");
        let ca = Pair {
            cert_pem: issuer.pem(),
            cert_der: issuer.der().to_vec(),
            key_pem: String::new(),
            key_der: Vec::new(),
        };
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, cn: &str| {
            let key = KeyPair::generate().expect("generate a key");
            let mut p = CertificateParams::new(names).expect("leaf params");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![usage];
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let cert = p.signed_by(&key, &issuer).expect("sign a leaf");
            pair(&cert, &key)
        };
        let server = leaf(
            vec!["127.0.0.1".into(), "::1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "127.0.0.1",
        );
        let client = leaf(
            vec![],
            ExtendedKeyUsagePurpose::ClientAuth,
            "kiln test client",
        );
        Pki { ca, server, client }
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

/// A self-signed certificate for the token service's signing key (the registry trusts it
/// through `rootcertbundle`).
pub fn token_signer() -> Pair {
    let key = KeyPair::generate().expect("generate a key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name
        .push(DnType::CommonName, "kiln test token issuer");
    let cert = p.self_signed(&key).expect("self-sign");
    pair(&cert, &key)
}
