//! ES256 JWTs for App Store Connect (API-NOTES §6).
//!
//! Team keys carry `iss`; individual keys carry `sub: "user"` and no `iss`.
//! Tokens are cached and re-minted a minute before they expire. The private
//! key never appears in `Debug` output, logs or error messages.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::clock::unix_secs;

/// Audience every App Store Connect token carries.
pub const AUDIENCE: &str = "appstoreconnect-v1";
/// Apple rejects tokens that expire more than 20 minutes ahead.
pub const MAX_LIFETIME: Duration = Duration::from_secs(20 * 60);
/// Default lifetime: re-minted every 15 minutes, well inside Apple's limit.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// A cached token is replaced when it has less than this left.
const REMINT_MARGIN: Duration = Duration::from_secs(60);

/// Where the `.p8` private key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// A path to the `.p8` file (`ASC_PRIVATE_KEY_PATH`).
    Path(PathBuf),
    /// The PEM text itself (`ASC_PRIVATE_KEY`).
    Inline(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            KeySource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// The one precedence rule for the key, used by every command: the key's
/// contents (`ASC_PRIVATE_KEY`) win over a path (`ASC_PRIVATE_KEY_PATH` /
/// `--private-key-path` / `asc.private_key_path`); empty values count as
/// unset. When both are set, a warning says which one is used.
pub fn choose_key(inline: Option<&str>, path: Option<&Path>) -> Option<KeySource> {
    let inline = inline.filter(|k| !k.trim().is_empty());
    let path = path.filter(|p| !p.as_os_str().is_empty());
    match (inline, path) {
        (Some(pem), Some(p)) => {
            tracing::warn!(path = %p.display(), "both ASC_PRIVATE_KEY and a private key path are set; using ASC_PRIVATE_KEY (unset one of them to silence this)");
            Some(KeySource::Inline(pem.to_string()))
        }
        (Some(pem), None) => Some(KeySource::Inline(pem.to_string())),
        (None, Some(p)) => Some(KeySource::Path(p.to_path_buf())),
        (None, None) => None,
    }
}

/// Everything needed to mint tokens.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Issuer id (team keys). `None` means an individual key (`sub: "user"`).
    pub issuer_id: Option<String>,
    /// The 10-character key id, sent as `kid`.
    pub key_id: String,
    pub key: KeySource,
    /// Token lifetime; at most [`MAX_LIFETIME`].
    pub lifetime: Duration,
    /// Optional `scope` claim restricting the token.
    pub scope: Vec<String>,
}

impl AuthConfig {
    pub fn new(issuer_id: Option<String>, key_id: impl Into<String>, key: KeySource) -> Self {
        Self {
            issuer_id,
            key_id: key_id.into(),
            key,
            lifetime: DEFAULT_LIFETIME,
            scope: Vec::new(),
        }
    }
}

/// What can go wrong before a request is ever sent. Messages name the cause
/// and the fix, and never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no private key configured: set ASC_PRIVATE_KEY_PATH to the .p8 file (or ASC_PRIVATE_KEY to its contents), or pass --private-key-path"
    )]
    MissingKey,
    #[error(
        "no key id configured: set ASC_KEY_ID (the 10-character id from the Keys page) or pass --key-id"
    )]
    MissingKeyId,
    #[error(
        "cannot read private key file {path}: {reason}; check the path in ASC_PRIVATE_KEY_PATH / --private-key-path"
    )]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "private key {origin} is not a PEM-encoded PKCS#8 key (expected '-----BEGIN PRIVATE KEY-----' as in the .p8 file Apple lets you download once)"
    )]
    NotPem { origin: String },
    #[error(
        "private key {origin} is not an EC P-256 key (App Store Connect keys are ES256 / P-256 .p8 files): {reason}"
    )]
    WrongKeyType { origin: String, reason: String },
    #[error("token lifetime {0:?} is longer than the 20 minutes App Store Connect accepts")]
    LifetimeTooLong(Duration),
    #[error("could not sign token: {0}")]
    Sign(String),
}

/// JWT claims. `iss` is omitted for individual keys, `sub` for team keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub iat: u64,
    pub exp: u64,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
}

struct Cached {
    token: String,
    expires_at: u64,
}

/// Mints and caches tokens.
pub struct TokenProvider {
    config: AuthConfig,
    key: EncodingKey,
    cache: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("issuer_id", &self.config.issuer_id)
            .field("key_id", &self.config.key_id)
            .finish_non_exhaustive()
    }
}

/// Loads and checks a `.p8` key: PEM, PKCS#8, EC P-256.
pub fn load_key(source: &KeySource) -> Result<EncodingKey, AuthError> {
    let (pem, origin) = read_key_text(source)?;
    let key = parse_p8(&pem, &origin)?;
    // Only a key that works is worth protecting; a wrong file gets the one
    // error line that says so.
    if let KeySource::Path(path) = source {
        warn_if_exposed(path);
    }
    Ok(key)
}

/// The PEM text of a key source and a description of where it came from
/// (for error messages; never the key itself).
fn read_key_text(source: &KeySource) -> Result<(String, String), AuthError> {
    Ok(match source {
        KeySource::Path(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| AuthError::Unreadable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            (text, format!("file {}", path.display()))
        }
        KeySource::Inline(text) => (text.clone(), "from ASC_PRIVATE_KEY".to_string()),
    })
}

/// Warns when a key file can be read by its group or by others: whoever can
/// read it can act as the key's App Store Connect role.
fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if let Some(msg) = exposed_key_warning(path, mode) {
                tracing::warn!("{msg}");
            }
        }
    }
}

/// The warning for a key file with permission bits `mode`, if it is exposed.
pub fn exposed_key_warning(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "private key file {} is readable by {} (mode {:o}); restrict it with: chmod 600 {}",
            path.display(),
            if mode & 0o007 != 0 {
                "other users"
            } else {
                "its group"
            },
            mode & 0o777,
            path.display()
        )
    })
}

/// Names the algorithm of a PKCS#8 key that is not P-256 ("found an RSA
/// key"), so the error says what the file really holds.
fn describe_pkcs8_algorithm(pem: &str) -> Option<String> {
    use p256::pkcs8::der::Document;
    use p256::pkcs8::{ObjectIdentifier, PrivateKeyInfo};
    let (_, doc) = Document::from_pem(pem).ok()?;
    let info = PrivateKeyInfo::try_from(doc.as_bytes()).ok()?;
    let oid = info.algorithm.oid.to_string();
    let curve = info
        .algorithm
        .parameters_oid()
        .ok()
        .map(|o: ObjectIdentifier| o.to_string());
    let what = match (oid.as_str(), curve.as_deref()) {
        ("1.2.840.113549.1.1.1", _) | ("1.2.840.113549.1.1.10", _) => "an RSA key".to_string(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "an EC key on curve P-384".to_string(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.35")) => "an EC key on curve P-521".to_string(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.10")) => "an EC key on curve secp256k1".to_string(),
        ("1.2.840.10045.2.1", Some(c)) => format!("an EC key on curve OID {c}"),
        ("1.3.101.112", _) => "an Ed25519 key".to_string(),
        (o, _) => format!("a key with algorithm OID {o}"),
    };
    Some(format!("found {what}"))
}

/// Normalises pasted PEM text (literal `\n` sequences, surrounding space).
fn normalise_pem(pem: &str) -> String {
    let pem = if !pem.contains('\n') && pem.contains("\\n") {
        pem.replace("\\n", "\n")
    } else {
        pem.to_string()
    };
    pem.trim().to_string()
}

/// The SPKI public-key PEM (`-----BEGIN PUBLIC KEY-----`) of a `.p8`
/// private key, e.g. for a simulator that must verify tokens the CLI signs.
pub fn public_key_pem_from_private(pem: &str) -> Result<String, AuthError> {
    public_key_pem_with_origin(pem, "(inline)")
}

/// [`public_key_pem_from_private`] for a [`KeySource`]: reads the file or
/// the inline text, with the same checks and messages as [`load_key`].
pub fn public_key_pem(source: &KeySource) -> Result<String, AuthError> {
    let (pem, origin) = read_key_text(source)?;
    public_key_pem_with_origin(&pem, &origin)
}

fn public_key_pem_with_origin(pem: &str, origin: &str) -> Result<String, AuthError> {
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    // Same validation (PEM, PKCS#8, P-256) and messages as token minting.
    parse_p8(pem, origin)?;
    let secret = p256::SecretKey::from_pkcs8_pem(&normalise_pem(pem)).map_err(|e| {
        AuthError::WrongKeyType {
            origin: origin.to_string(),
            reason: e.to_string(),
        }
    })?;
    secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| AuthError::WrongKeyType {
            origin: origin.to_string(),
            reason: e.to_string(),
        })
}

fn parse_p8(pem: &str, origin: &str) -> Result<EncodingKey, AuthError> {
    use p256::pkcs8::DecodePrivateKey;
    // Accept keys pasted into an env var with literal "\n" sequences.
    let pem = normalise_pem(pem);
    let pem = pem.as_str();
    if !pem.starts_with("-----BEGIN") {
        return Err(AuthError::NotPem {
            origin: origin.to_string(),
        });
    }
    if !pem.starts_with("-----BEGIN PRIVATE KEY-----") {
        let label = pem.lines().next().unwrap_or_default();
        return Err(AuthError::WrongKeyType {
            origin: origin.to_string(),
            reason: format!("found '{label}', expected '-----BEGIN PRIVATE KEY-----' (PKCS#8)"),
        });
    }
    // Validate the curve ourselves: jsonwebtoken would accept the PEM and
    // only fail (or mis-sign) at the first encode.
    p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| AuthError::WrongKeyType {
        origin: origin.to_string(),
        reason: describe_pkcs8_algorithm(pem).unwrap_or_else(|| e.to_string()),
    })?;
    EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| AuthError::WrongKeyType {
        origin: origin.to_string(),
        reason: e.to_string(),
    })
}

impl TokenProvider {
    /// Loads the key and checks the configuration; no token is minted yet.
    pub fn new(config: AuthConfig) -> Result<Self, AuthError> {
        if config.key_id.trim().is_empty() {
            return Err(AuthError::MissingKeyId);
        }
        if config.lifetime > MAX_LIFETIME {
            return Err(AuthError::LifetimeTooLong(config.lifetime));
        }
        let key = load_key(&config.key)?;
        Ok(Self {
            config,
            key,
            cache: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Claims for a token minted at `now`.
    pub fn claims_at(&self, now: u64) -> Claims {
        let (iss, sub) = match &self.config.issuer_id {
            Some(iss) if !iss.trim().is_empty() => (Some(iss.clone()), None),
            _ => (None, Some("user".to_string())),
        };
        Claims {
            iss,
            sub,
            iat: now,
            exp: now + self.config.lifetime.as_secs(),
            aud: AUDIENCE.to_string(),
            scope: self.config.scope.clone(),
        }
    }

    /// Mints a new token, bypassing the cache.
    pub fn mint(&self) -> Result<String, AuthError> {
        self.mint_at(unix_secs()).map(|(t, _)| t)
    }

    /// Mints a new token, bypassing the cache, and returns it with its `exp`
    /// (unix seconds). Used by the `token` command.
    pub fn mint_with_expiry(&self) -> Result<(String, u64), AuthError> {
        self.mint_at(unix_secs())
    }

    fn mint_at(&self, now: u64) -> Result<(String, u64), AuthError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.config.key_id.clone());
        header.typ = Some("JWT".to_string());
        let claims = self.claims_at(now);
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        Ok((token, claims.exp))
    }

    /// A valid token: the cached one, or a fresh one when it is about to expire.
    pub fn token(&self) -> Result<String, AuthError> {
        let now = unix_secs();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref()
            && c.expires_at > now + REMINT_MARGIN.as_secs()
        {
            return Ok(c.token.clone());
        }
        let (token, expires_at) = self.mint_at(now)?;
        *cache = Some(Cached {
            token: token.clone(),
            expires_at,
        });
        Ok(token)
    }

    /// Drops the cached token so that the next call mints a new one (after a 401).
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// A freshly generated P-256 key pair as (PKCS#8 private PEM, SPKI public PEM).
/// Used by `serve --demo` and tests: the simulator verifies with the public half.
pub fn generate_key_pair() -> (String, String) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let private = secret
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a fresh P-256 key always encodes")
        .to_string();
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a fresh P-256 public key always encodes");
    (private, public)
}

/// Writes a PEM to `path` with owner-only permissions.
pub fn write_private_key(path: &Path, pem: &str) -> std::io::Result<()> {
    std::fs::write(path, pem)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_token_is_reused_and_individual_keys_use_sub() {
        let (private, _) = generate_key_pair();
        let p = TokenProvider::new(AuthConfig::new(
            None,
            "KEY1234567",
            KeySource::Inline(private),
        ))
        .unwrap();
        assert_eq!(p.token().unwrap(), p.token().unwrap());
        let c = p.claims_at(1000);
        assert_eq!(
            (c.iss, c.sub.as_deref(), c.exp),
            (None, Some("user"), 1000 + 900)
        );
    }

    #[test]
    fn public_key_is_derived_from_private() {
        let (private, public) = generate_key_pair();
        assert_eq!(public_key_pem_from_private(&private).unwrap(), public);
        assert!(matches!(
            public_key_pem_from_private("nope"),
            Err(AuthError::NotPem { .. })
        ));
    }

    #[test]
    fn escaped_newlines_in_env_value_are_accepted() {
        let (private, _) = generate_key_pair();
        let escaped = private.replace('\n', "\\n");
        assert!(parse_p8(&escaped, "test").is_ok());
    }

    #[test]
    fn the_inline_key_wins_everywhere_and_empty_values_are_unset() {
        let p = Path::new("/keys/AuthKey.p8");
        assert!(matches!(
            choose_key(Some("PEM"), Some(p)),
            Some(KeySource::Inline(k)) if k == "PEM"
        ));
        assert!(matches!(
            choose_key(Some("  "), Some(p)),
            Some(KeySource::Path(q)) if q == p
        ));
        assert!(choose_key(None, Some(Path::new(""))).is_none());
        assert!(matches!(
            choose_key(Some("PEM"), None),
            Some(KeySource::Inline(_))
        ));
    }

    #[test]
    fn keys_readable_by_others_are_reported_with_the_fix() {
        let p = Path::new("/k/AuthKey.p8");
        assert_eq!(exposed_key_warning(p, 0o600), None);
        assert_eq!(exposed_key_warning(p, 0o400), None);
        let w = exposed_key_warning(p, 0o644).unwrap();
        assert!(
            w.contains("other users") && w.contains("644") && w.contains("chmod 600 /k/AuthKey.p8"),
            "{w}"
        );
        assert!(exposed_key_warning(p, 0o640).unwrap().contains("its group"));
    }
}
