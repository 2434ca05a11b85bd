//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes, as
//! the toolkit does it (`web/handler.go`, `web/cache.go`):
//!
//! - an unknown user is checked against a fixed hash, so the answer takes
//!   as long as for a known one (no user enumeration by timing);
//! - one bcrypt comparison runs at a time (it is CPU-bound on purpose), off
//!   the async workers;
//! - outcomes are cached (up to [`CACHE_SIZE`], oldest dropped first) so a
//!   scrape every few seconds does not pay bcrypt's cost each time. The key
//!   is a SHA-256 over a per-process random salt, the user, the hash and the
//!   password: no password is kept, and a changed hash in the file is a new
//!   key, so a password change takes effect at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::http::HeaderValue;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::format::Secret;

/// Cached outcomes of bcrypt comparisons (the toolkit keeps 100).
pub const CACHE_SIZE: usize = 100;

/// A bcrypt hash (cost 10) of a random password nobody knows, compared
/// against for unknown users.
const UNKNOWN_USER_HASH: &str = "$2y$10$smaYTQ21TpYOfy3wMSMjvO/GwMjLXkF3xcTP4azNYtMP3aRZzEGXO";

/// Whether `hash` is a bcrypt hash the comparison can use (Go's
/// `bcrypt.Cost` check): `$2a$`, `$2b$`, `$2x$` or `$2y$`, cost 4 to 31.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|e: bcrypt::BcryptError| e.to_string())?;
    let cost = parts.get_cost();
    if !(4..=31).contains(&cost) {
        return Err(format!("cost {cost} is outside 4..31"));
    }
    Ok(())
}

/// `Authorization: Basic base64(user:password)`, as Go's `Request.BasicAuth`
/// reads it (scheme case-insensitive, standard base64 with padding, split
/// at the first colon).
pub fn parse_basic(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let v = value.as_bytes();
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&v[6..])
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[derive(Default)]
struct Cache {
    outcomes: HashMap<[u8; 32], bool>,
    order: VecDeque<[u8; 32]>,
}

impl Cache {
    fn insert(&mut self, key: [u8; 32], ok: bool) {
        if self.outcomes.len() >= CACHE_SIZE {
            // Drop a tenth at once, so a full cache is not trimmed on every
            // request (as the toolkit does).
            for _ in 0..(CACHE_SIZE / 10).max(1) {
                if let Some(old) = self.order.pop_front() {
                    self.outcomes.remove(&old);
                }
            }
        }
        if self.outcomes.insert(key, ok).is_none() {
            self.order.push_back(key);
        }
    }
}

/// The checker with its cache; one per web configuration file.
pub struct BasicAuth {
    salt: [u8; 32],
    cache: Mutex<Cache>,
    /// One bcrypt comparison at a time.
    turn: tokio::sync::Mutex<()>,
    comparisons: std::sync::atomic::AtomicU64,
}

impl Default for BasicAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl BasicAuth {
    pub fn new() -> Self {
        Self {
            salt: rand::random(),
            cache: Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            comparisons: Default::default(),
        }
    }

    /// bcrypt comparisons run so far (the cache's misses).
    pub fn comparisons(&self) -> u64 {
        self.comparisons.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn key(&self, user: &[u8], hash: &str, password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        for part in [user, hash.as_bytes(), password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .outcomes
            .get(key)
            .copied()
    }

    /// Whether `authorization` names one of `users` with the right password.
    pub async fn authorized(
        &self,
        users: &[(String, Secret)],
        authorization: Option<&HeaderValue>,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = users.iter().find(|(u, _)| u.as_bytes() == user.as_slice());
        let hash = known.map_or(UNKNOWN_USER_HASH, |(_, h)| h.0.as_str());
        let key = self.key(&user, hash, &password);
        if let Some(ok) = self.cached(&key) {
            return ok && known.is_some();
        }
        let _turn = self.turn.lock().await;
        // Another request may have compared the same credentials meanwhile.
        if let Some(ok) = self.cached(&key) {
            return ok && known.is_some();
        }
        self.comparisons
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hash_owned = hash.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            bcrypt::verify(&password, &hash_owned).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = matched && known.is_some();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, ok);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> HeaderValue {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        HeaderValue::from_str(&format!("Basic {b}")).unwrap()
    }

    #[test]
    fn parses_basic_credentials_as_go_does() {
        assert_eq!(
            parse_basic(&basic("alice", "pa:ss")),
            Some((b"alice".to_vec(), b"pa:ss".to_vec()))
        );
        let lower = HeaderValue::from_static("basic YWxpY2U6eA==");
        assert_eq!(parse_basic(&lower).unwrap().0, b"alice");
        assert!(parse_basic(&HeaderValue::from_static("Bearer abc")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic !!!")).is_none());
        // No colon: not credentials.
        assert!(parse_basic(&HeaderValue::from_static("Basic YWxpY2U=")).is_none());
    }

    #[test]
    fn hash_format_check() {
        assert!(check_hash(UNKNOWN_USER_HASH).is_ok());
        assert!(check_hash("doe").is_err());
        assert!(
            check_hash("$2y$03$smaYTQ21TpYOfy3wMSMjvO/GwMjLXkF3xcTP4azNYtMP3aRZzEGXO").is_err()
        );
        assert!(check_hash("$1$10$smaYTQ21TpYOfy3wMSMjvO/GwMjLXkF3xcTP4azNYtMP3aRZzEGXO").is_err());
    }

    #[tokio::test]
    async fn outcomes_are_cached_per_user_hash_and_password() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let users = vec![("alice".to_string(), Secret(hash.clone()))];
        let auth = BasicAuth::new();
        assert!(
            auth.authorized(&users, Some(&basic("alice", "right")))
                .await
        );
        assert!(
            auth.authorized(&users, Some(&basic("alice", "right")))
                .await
        );
        assert_eq!(auth.comparisons(), 1, "the second check is cached");
        assert!(
            !auth
                .authorized(&users, Some(&basic("alice", "wrong")))
                .await
        );
        assert!(
            !auth
                .authorized(&users, Some(&basic("alice", "wrong")))
                .await
        );
        assert_eq!(auth.comparisons(), 2, "failures are cached too");
        // An unknown user is compared (against the fixed hash), never let in.
        assert!(
            !auth
                .authorized(&users, Some(&basic("mallory", "right")))
                .await
        );
        assert_eq!(auth.comparisons(), 3);
        assert!(!auth.authorized(&users, None).await);
        // A new hash for the user (password changed): the old password fails.
        let users = vec![("alice".to_string(), Secret(bcrypt::hash("new", 4).unwrap()))];
        assert!(
            !auth
                .authorized(&users, Some(&basic("alice", "right")))
                .await
        );
        assert!(auth.authorized(&users, Some(&basic("alice", "new"))).await);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut c = Cache::default();
        for i in 0..(CACHE_SIZE as u32 * 3) {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            c.insert(k, true);
            assert!(c.outcomes.len() <= CACHE_SIZE);
            assert_eq!(c.outcomes.len(), c.order.len());
        }
    }
}
