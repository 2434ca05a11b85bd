//! Helpers for the web configuration tests (`tests/web_config.rs`,
//! `tests/e2e.rs`): certificates made at test time with `rcgen`, bcrypt
//! hashes made by an independent implementation (Apache's `htpasswd -B`),
//! and HTTPS clients (reqwest on rustls) that trust only the test CA.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate authority made for one test.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Leaf {
    /// Certificate and key in one PEM (what `reqwest::Identity::from_pem` reads).
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes())
            .expect("identity PEM")
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap()
    }

    fn leaf(&self, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, sans.first().copied().unwrap_or("leaf"));
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Leaf {
        self.leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate whose SANs are `sans` (DNS names or IPs).
    pub fn client(&self, sans: &[&str]) -> Leaf {
        self.leaf(sans, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A bcrypt hash of `password` made by `htpasswd -B` (cost 5, fast in
/// tests); `None`, after a loud warning, when `htpasswd` is missing outside
/// CI. With `CI` set a missing `htpasswd` fails the test.
pub fn htpasswd_hash(password: &str) -> Option<String> {
    let out = match Command::new("htpasswd")
        .args(["-nbB", "-C", "5", "user", password])
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            let msg = format!(
                "htpasswd cannot run ({e}); install Debian's apache2-utils package (bash .ci/run does)"
            );
            if std::env::var_os("CI").is_some() {
                panic!("CI is set and the basic-auth test cannot run: {msg}");
            }
            eprintln!("\n!!! WARNING: basic-auth test SKIPPED: {msg}\n");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let hash = line
        .trim()
        .strip_prefix("user:")
        .expect("user:hash")
        .to_string();
    assert!(hash.starts_with("$2y$05$"), "{hash}");
    Some(hash)
}

/// An HTTPS client trusting only `ca`, presenting `identity` if given, and
/// opening a new connection per request (so each one does a handshake with
/// the server's current configuration).
pub fn https_client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca.certificate()])
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .timeout(std::time::Duration::from_secs(20));
    if let Some(id) = identity {
        b = b.identity(id.identity());
    }
    b.build().unwrap()
}

/// Writes `text` to `dir/name`, replacing it in one step (write, then
/// rename), as a deployment tool or a Kubernetes secret update does.
pub fn put(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}
