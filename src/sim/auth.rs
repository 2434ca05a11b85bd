//! JWT verification as App Store Connect does it (API-NOTES §6).
//!
//! Checks, in order: a `Bearer` token is present; the header names `ES256`
//! (and the configured `kid`); the signature verifies with the configured
//! public key; `aud` is `appstoreconnect-v1`; `exp` is in the future; a token
//! with `iat` lives at most 20 minutes; `iss` matches when configured (an
//! individual key has `sub: "user"` instead). Failures name the cause but
//! never echo the token.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::asc::auth::{AUDIENCE, MAX_LIFETIME};

/// Verifies client tokens.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    key_id: Option<String>,
    issuer_id: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("key_id", &self.key_id)
            .field("issuer_id", &self.issuer_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

impl Verifier {
    /// Fails when the public key is not an EC PEM.
    pub fn new(
        public_key_pem: &str,
        key_id: Option<String>,
        issuer_id: Option<String>,
    ) -> Result<Self, String> {
        let key = DecodingKey::from_ec_pem(public_key_pem.trim().as_bytes())
            .map_err(|e| format!("simulator public key is not an EC public key PEM: {e}"))?;
        Ok(Self {
            key,
            key_id,
            issuer_id,
        })
    }

    /// Verifies an `Authorization` header value; `Err` is the 401 detail.
    pub fn verify(&self, authorization: Option<&str>) -> Result<(), String> {
        let value =
            authorization.ok_or("missing Authorization header (expected 'Bearer <JWT>')")?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("Authorization header is not 'Bearer <JWT>'")?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "token is not a well-formed JWT")?;
        if header.alg != Algorithm::ES256 {
            return Err(format!(
                "token algorithm must be ES256, not {:?}",
                header.alg
            ));
        }
        match (&self.key_id, &header.kid) {
            (_, None) => return Err("token header has no kid".into()),
            (Some(want), Some(got)) if want != got => {
                return Err("token kid does not name this API key".into());
            }
            _ => {}
        }
        // Signature only; the claims are checked below with precise messages.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<RawClaims>(token, &self.key, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "token signature does not verify with this API key".to_string()
                }
                jsonwebtoken::errors::ErrorKind::Json(_) => {
                    "token claims are not valid JSON claims".to_string()
                }
                _ => "token could not be verified".to_string(),
            },
        )?;
        let c = data.claims;
        let aud_ok = match &c.aud {
            Some(serde_json::Value::String(s)) => s == AUDIENCE,
            Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(AUDIENCE)),
            _ => false,
        };
        if !aud_ok {
            return Err(format!("token aud must be '{AUDIENCE}'"));
        }
        let now = crate::clock::unix_now();
        let exp = c.exp.ok_or("token has no exp claim")?;
        if exp <= now {
            return Err("token expired".into());
        }
        if let Some(iat) = c.iat {
            if exp - iat > MAX_LIFETIME.as_secs_f64() {
                return Err("token lifetime (exp - iat) exceeds 20 minutes".into());
            }
            if iat > now + 60.0 {
                return Err("token iat is in the future".into());
            }
        } else if exp - now > MAX_LIFETIME.as_secs_f64() {
            return Err("token expires more than 20 minutes from now".into());
        }
        match (&self.issuer_id, &c.iss) {
            (Some(want), Some(got)) if want == got => {}
            (Some(_), Some(_)) => return Err("token iss does not match the issuer id".into()),
            (Some(_), None) => return Err("token has no iss claim".into()),
            (None, Some(_)) => {}
            (None, None) if c.sub.as_deref() == Some("user") => {}
            (None, None) => {
                return Err("token needs iss (team key) or sub 'user' (individual key)".into());
            }
        }
        Ok(())
    }
}
