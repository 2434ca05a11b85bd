//! `tls_server_config` on rustls: the toolkit's settings (`web/tls_config.go`,
//! Go's `crypto/tls`) mapped onto a [`rustls::ServerConfig`].
//!
//! - **Versions**: TLS 1.2 and 1.3 (`min_version` default TLS12,
//!   `max_version` default TLS13). rustls implements no older version, so
//!   TLS10 and TLS11 are an error, never quietly raised.
//! - **`cipher_suites`**: Go's names. As in Go they choose the TLS 1.2
//!   suites only (TLS 1.3 suites are not configurable in Go; naming one is
//!   accepted and changes nothing). The CBC suites Go still offers are not in
//!   rustls: naming one is an error. `prefer_server_cipher_suites` (default
//!   true) is rustls' `ignore_client_order`, so the list's order counts.
//!   With HTTP/2 on, a list must hold an AES-128-GCM suite (Go's
//!   `http2.ConfigureServer` check, RFC 7540 §9.2.2).
//! - **`curve_preferences`**: CurveP256, CurveP384, X25519 (CurveP521 is
//!   not in rustls: an error).
//! - **`client_auth_type`**: NoClientCert, RequestClientCert and
//!   RequireAnyClientCert (a certificate is asked for / required, its chain
//!   not checked, its handshake signature checked), VerifyClientCertIfGiven
//!   and RequireAndVerifyClientCert (checked against `client_ca_file` or
//!   `client_ca`, which are then required: Go would fall back to the
//!   system's CAs, which would let any publicly issued certificate in).
//! - **`client_allowed_sans`**: the client certificate must carry one of
//!   these DNS, e-mail, IP or URI SANs; with the list set a certificate is
//!   required (Go cannot check a certificate that is not there either).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};

use super::format::{Secret, TlsServerConfig};

/// Go's `client_auth_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" | "NoClientCert" => Self::NoClientCert,
            "RequestClientCert" => Self::RequestClientCert,
            // "RequireClientCert": the toolkit's backwards-compatible alias.
            "RequireAnyClientCert" | "RequireClientCert" => Self::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => Self::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => Self::RequireAndVerifyClientCert,
            other => {
                return Err(format!(
                    "tls_server_config.client_auth_type: invalid value {other:?}; use one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
                ));
            }
        })
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

/// The settings of `tls_server_config` that need no file, checked.
#[derive(Debug, Clone)]
pub struct Policy {
    versions: Vec<&'static SupportedProtocolVersion>,
    /// The TLS 1.2 suites to offer, in order; `None`: rustls' defaults.
    tls12_suites: Option<Vec<SupportedCipherSuite>>,
    kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    client_auth: ClientAuth,
    allowed_sans: Option<Vec<String>>,
    prefer_server_order: bool,
    http2: bool,
}

fn version(key: &str, value: &str, default: u8) -> Result<u8, String> {
    match value {
        "" => Ok(default),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key}: {value} is not supported (rustls implements TLS 1.2 and 1.3 only); use TLS12 or TLS13"
        )),
        other => Err(format!(
            "tls_server_config.{key}: unknown TLS version {other:?}; use TLS12 or TLS13"
        )),
    }
}

/// Go's `tls.CipherSuites()` names: `Some(suite)` for the TLS 1.2 suites
/// rustls has, `None` for TLS 1.3 suites (not configurable in Go either).
fn cipher(name: &str) -> Result<Option<SupportedCipherSuite>, String> {
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    Ok(Some(match name {
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Ok(None);
        }
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" => {
            return Err(format!(
                "tls_server_config.cipher_suites: {name} is not supported (rustls implements no CBC suite); use the AES_128_GCM, AES_256_GCM or CHACHA20_POLY1305 suites"
            ));
        }
        other => {
            return Err(format!(
                "tls_server_config.cipher_suites: unknown cipher {other:?}; use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ));
        }
    }))
}

fn curve(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    use rustls::crypto::aws_lc_rs::kx_group;
    match name {
        "CurveP256" => Ok(kx_group::SECP256R1),
        "CurveP384" => Ok(kx_group::SECP384R1),
        "X25519" => Ok(kx_group::X25519),
        "CurveP521" => Err(
            "tls_server_config.curve_preferences: CurveP521 is not supported by rustls; use CurveP256, CurveP384 or X25519"
                .into(),
        ),
        other => Err(format!(
            "tls_server_config.curve_preferences: unknown curve {other:?}; use CurveP256, CurveP384 or X25519"
        )),
    }
}

impl Policy {
    /// Checks the settings; `http2` is `http_server_config.http2`.
    pub fn from_config(t: &TlsServerConfig, http2: bool) -> Result<Policy, String> {
        let min = version("min_version", &t.min_version, 12)?;
        let max = version("max_version", &t.max_version, 13)?;
        if min > max {
            return Err(format!(
                "tls_server_config: min_version {} is above max_version {}",
                t.min_version, t.max_version
            ));
        }
        let versions: Vec<&'static SupportedProtocolVersion> = (min..=max)
            .map(|v| match v {
                12 => &rustls::version::TLS12,
                _ => &rustls::version::TLS13,
            })
            .collect();
        let tls12_suites = if t.cipher_suites.is_empty() {
            None
        } else {
            let mut suites = Vec::new();
            for name in &t.cipher_suites {
                if let Some(s) = cipher(name)? {
                    suites.push(s);
                }
            }
            if http2
                && min < 13
                && !t.cipher_suites.iter().any(|n| {
                    n == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
                        || n == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
                })
            {
                return Err("tls_server_config.cipher_suites lacks the suite HTTP/2 requires (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); add one, or set http_server_config.http2: false".into());
            }
            Some(suites)
        };
        let kx_groups = if t.curve_preferences.is_empty() {
            None
        } else {
            Some(
                t.curve_preferences
                    .iter()
                    .map(|c| curve(c))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let client_auth = ClientAuth::parse(&t.client_auth_type)?;
        let has_ca = !t.client_ca_file.is_empty() || !t.client_ca.is_empty();
        if has_ca && client_auth == ClientAuth::NoClientCert {
            return Err("tls_server_config: client_ca_file (or client_ca) is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert".into());
        }
        if client_auth.verifies() && !has_ca {
            return Err(format!(
                "tls_server_config: client_auth_type {} needs client_ca_file (or client_ca), the CA that issues the client certificates",
                t.client_auth_type
            ));
        }
        if let Some(sans) = &t.client_allowed_sans {
            if client_auth == ClientAuth::NoClientCert {
                return Err("tls_server_config: client_allowed_sans is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert".into());
            }
            if sans.is_empty() {
                return Err("tls_server_config.client_allowed_sans is empty, so no client could connect; list the allowed SANs or remove the key".into());
            }
        }
        Ok(Policy {
            versions,
            tls12_suites,
            kx_groups,
            client_auth,
            allowed_sans: t.client_allowed_sans.clone(),
            prefer_server_order: t.prefer_server_cipher_suites,
            http2,
        })
    }

    fn provider(&self) -> CryptoProvider {
        let mut p = rustls::crypto::aws_lc_rs::default_provider();
        if let Some(tls12) = &self.tls12_suites {
            p.cipher_suites.retain(|s| s.tls13().is_some());
            p.cipher_suites.extend(tls12.iter().copied());
        }
        if let Some(groups) = &self.kx_groups {
            p.kx_groups = groups.clone();
        }
        p
    }
}

/// The bytes of the certificate, key and client CA, read from their files
/// or taken inline. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    cert: (String, Vec<u8>),
    key: (String, Secret),
    ca: Option<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("cert", &self.cert.0)
            .field("key", &self.key.0)
            .field("ca", &self.ca.as_ref().map(|c| &c.0))
            .finish()
    }
}

impl Material {
    /// Everything read, for change detection.
    pub fn bytes(&self) -> impl Iterator<Item = &[u8]> {
        [
            self.cert.1.as_slice(),
            self.key.1.0.as_bytes(),
            self.ca.as_ref().map_or(&[][..], |c| c.1.as_slice()),
        ]
        .into_iter()
    }
}

fn read(key: &str, path: &str) -> Result<(String, Vec<u8>), String> {
    std::fs::read(path)
        .map(|b| (format!("{key} {path}"), b))
        .map_err(|e| format!("tls_server_config: cannot read {key} {path}: {e}"))
}

/// Reads the files `t` names (the toolkit reads them on every handshake).
pub fn read_material(t: &TlsServerConfig) -> Result<Material, String> {
    let cert = if t.cert_file.is_empty() {
        ("cert".to_string(), t.cert.clone().into_bytes())
    } else {
        read("cert_file", &t.cert_file)?
    };
    let key = if t.key_file.is_empty() {
        ("key".to_string(), t.key.clone())
    } else {
        let (what, bytes) = read("key_file", &t.key_file)?;
        (
            what,
            Secret(String::from_utf8(bytes).map_err(|_| {
                format!("tls_server_config: key_file {} is not PEM text", t.key_file)
            })?),
        )
    };
    let ca = if !t.client_ca_file.is_empty() {
        Some(read("client_ca_file", &t.client_ca_file)?)
    } else if !t.client_ca.is_empty() {
        Some(("client_ca".to_string(), t.client_ca.clone().into_bytes()))
    } else {
        None
    };
    Ok(Material { cert, key, ca })
}

/// The rustls configuration for `policy` with `material`. `h2` is offered
/// over ALPN when the policy allows HTTP/2.
pub fn server_config(policy: &Policy, m: &Material) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(policy.provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&m.cert.1)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "tls_server_config: {} is not a PEM certificate: {e}",
                m.cert.0
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "tls_server_config: {} holds no PEM certificate",
            m.cert.0
        ));
    }
    // The error of a key parse is never shown: it could quote the key.
    let key = PrivateKeyDer::from_pem_slice(m.key.1.0.as_bytes()).map_err(|_| {
        format!(
            "tls_server_config: {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            m.key.0
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "tls_server_config: the private key ({}) does not match the certificate ({})",
            m.key.0, m.cert.0
        ),
        _ => format!(
            "tls_server_config: cannot use the private key ({}): unsupported key type",
            m.key.0
        ),
    })?;

    let verifier = client_verifier(policy, m.ca.as_ref(), &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&policy.versions)
        .map_err(|e| format!("tls_server_config: no cipher suite is left for the TLS versions allowed ({e}); check cipher_suites, min_version and max_version"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.ignore_client_order = policy.prefer_server_order;
    config.alpn_protocols = if policy.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

fn client_verifier(
    policy: &Policy,
    ca: Option<&(String, Vec<u8>)>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let algs = provider.signature_verification_algorithms;
    let base: Arc<dyn ClientCertVerifier> = match policy.client_auth {
        ClientAuth::NoClientCert => return Ok(WebPkiClientVerifier::no_client_auth()),
        ClientAuth::RequestClientCert => Arc::new(AnyCert {
            mandatory: false,
            algs,
        }),
        ClientAuth::RequireAnyClientCert => Arc::new(AnyCert {
            mandatory: true,
            algs,
        }),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let (what, pem) = ca.ok_or("tls_server_config: client_ca_file is required")?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| format!("tls_server_config: {what} is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_server_config: {what}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "tls_server_config: {what} holds no PEM certificate"
                ));
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if policy.client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| format!("tls_server_config: {what}: {e}"))?
        }
    };
    Ok(match &policy.allowed_sans {
        Some(sans) => Arc::new(SanCheck {
            inner: base,
            allowed: sans.clone(),
        }),
        None => base,
    })
}

/// RequestClientCert / RequireAnyClientCert: any certificate is taken (no
/// chain check, as in Go); the handshake signature is still verified, so
/// the client holds the certificate's key.
#[derive(Debug)]
struct AnyCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `client_allowed_sans` over another verifier: after it accepts the
/// certificate, one of its SANs must be in the list (the toolkit's
/// `VerifyPeerCertificate`).
#[derive(Debug)]
struct SanCheck {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

/// The SANs of a DER certificate as Go renders them (`DNSNames`,
/// `EmailAddresses`, `IPAddresses` with IPv4-mapped IPv6 as IPv4, `URIs`).
pub fn cert_sans(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("cannot parse the client certificate: {e}"))?;
    let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| format!("cannot parse the client certificate's SANs: {e}"))?
    else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some(s.to_string())
            }
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                16 => {
                    let a: [u8; 16] = (*b).try_into().ok()?;
                    let v6 = std::net::Ipv6Addr::from(a);
                    Some(match v6.to_ipv4_mapped() {
                        Some(v4) => v4.to_string(),
                        None => v6.to_string(),
                    })
                }
                _ => None,
            },
            _ => None,
        })
        .collect())
}

impl ClientCertVerifier for SanCheck {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match cert_sans(end_entity) {
            Ok(sans) if sans.iter().any(|s| self.allowed.contains(s)) => Ok(verified),
            Ok(sans) => {
                tracing::debug!(
                    ?sans,
                    "TLS: client certificate has no SAN in tls_server_config.client_allowed_sans"
                );
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
            Err(e) => {
                tracing::debug!(error = %e, "TLS: client certificate rejected");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::BadEncoding,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(yaml: &str) -> TlsServerConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    fn policy(yaml: &str) -> Result<Policy, String> {
        Policy::from_config(&t(yaml), true)
    }

    #[test]
    fn versions_rustls_lacks_are_errors_not_raised_quietly() {
        let e = policy("cert_file: a\nkey_file: b\nmin_version: TLS10\n").unwrap_err();
        assert!(e.contains("TLS10") && e.contains("rustls"), "{e}");
        let e = policy("cert_file: a\nkey_file: b\nmax_version: TLS11\n").unwrap_err();
        assert!(e.contains("TLS11"), "{e}");
        // web/testdata/web_config_noAuth_wrongTLSVersion.bad.yml
        let e = policy("cert_file: a\nkey_file: b\nmin_version: TLS111\n").unwrap_err();
        assert!(e.contains("unknown TLS version"), "{e}");
        let e = policy("cert_file: a\nkey_file: b\nmin_version: TLS13\nmax_version: TLS12\n")
            .unwrap_err();
        assert!(e.contains("above"), "{e}");
        let p = policy("cert_file: a\nkey_file: b\nmin_version: TLS13\n").unwrap();
        assert_eq!(p.versions.len(), 1);
    }

    #[test]
    fn cipher_suites_follow_go_names() {
        // web/testdata/web_config_noAuth_someCiphers.good.yml
        let p = Policy::from_config(
            &t("cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\nmax_version: TLS12\n"),
            true,
        )
        .unwrap();
        let provider = p.provider();
        let names: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        assert!(provider.cipher_suites.iter().any(|s| s.tls13().is_some()));
        // A CBC suite Go has and rustls lacks.
        let e = policy("cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n").unwrap_err();
        assert!(e.contains("CBC"), "{e}");
        // web/testdata/web_config_noAuth_inventedCiphers.bad.yml
        let e = policy("cipher_suites: [TLS_RSA_WITH_DES_CBC_SHA]\n").unwrap_err();
        assert!(e.contains("unknown cipher"), "{e}");
        // web/testdata/web_config_noAuth_noHTTP2Cipher.bad.yml
        let e =
            policy("cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\nmax_version: TLS12\n")
                .unwrap_err();
        assert!(e.contains("HTTP/2"), "{e}");
        assert!(
            Policy::from_config(
                &t("cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n"),
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn curves() {
        let p = policy("curve_preferences: [X25519, CurveP256, CurveP384]\n").unwrap();
        assert_eq!(p.kx_groups.unwrap().len(), 3);
        let e = policy("curve_preferences: [CurveP521]\n").unwrap_err();
        assert!(e.contains("CurveP521") && e.contains("rustls"), "{e}");
        let e = policy("curve_preferences: [CurveP999]\n").unwrap_err();
        assert!(e.contains("unknown curve"), "{e}");
    }

    #[test]
    fn client_auth_policies() {
        let e = policy("client_auth_type: Sometimes\n").unwrap_err();
        assert!(e.contains("RequireAndVerifyClientCert"), "{e}");
        // web/testdata/web_config_noAuth.bad.yml: a CA without a policy.
        let e = policy("client_ca_file: /dev/null\n").unwrap_err();
        assert!(e.contains("NoClientCert"), "{e}");
        let e = policy("client_auth_type: RequireAndVerifyClientCert\n").unwrap_err();
        assert!(e.contains("client_ca_file"), "{e}");
        let p = policy("client_auth_type: RequireClientCert\n").unwrap();
        assert_eq!(p.client_auth, ClientAuth::RequireAnyClientCert);
        let e = policy("client_auth_type: RequireAnyClientCert\nclient_allowed_sans: []\n")
            .unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = policy("client_allowed_sans: [a]\n").unwrap_err();
        assert!(e.contains("client_allowed_sans"), "{e}");
    }
}
