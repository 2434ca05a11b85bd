//! The web configuration file while the server runs: re-read as the
//! toolkit re-reads it, cheaply, and kept usable when it turns bad.
//!
//! - **Per request** the file is read and hashed (SHA-256; it is a few
//!   hundred bytes) and parsed again only when the hash changed, so a new
//!   password, user or header applies to the next request.
//! - **Per connection** (TLS only) the certificate, key and client CA are
//!   read too and the rustls configuration is rebuilt only when one of them
//!   changed, so a renewed certificate is served from the next handshake.
//! - **An invalid file** (bad YAML, an unknown key, a bad hash...) is logged
//!   once (per distinct content) and every request gets `500 Internal Server
//!   Error`, as in the toolkit; it is not a reason to fall back to an older
//!   password list. TLS handshakes keep the last good certificate so the
//!   client gets that 500 instead of a bare handshake failure. When the file
//!   is fixed, the next request uses it.
//! - **Bad TLS material** with a good file (an unreadable key, a certificate
//!   that does not match its key, as in the middle of a renewal) keeps the
//!   last good certificate; logged once.
//! - `http_server_config.http2` and switching TLS on or off are read at
//!   start only (the toolkit cannot change them either): a change is logged,
//!   and turning TLS on or off makes the file invalid until a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use super::auth::BasicAuth;
use super::format::WebConfigFile;
use super::tls::{self, Policy};

/// A web configuration file that cannot be used at start; one line.
#[derive(Debug, thiserror::Error)]
#[error("web configuration file {path}: {reason}; fix it or leave --web.config.file unset")]
pub struct WebConfigError {
    pub path: PathBuf,
    pub reason: String,
}

/// One good reading of the file.
#[derive(Debug)]
pub struct Active {
    /// SHA-256 of the file's bytes.
    hash: [u8; 32],
    pub file: WebConfigFile,
    headers: Vec<(HeaderName, HeaderValue)>,
    policy: Option<Policy>,
}

/// `rate_limit`'s token bucket, as Go's `rate.NewLimiter(rate.Every(interval),
/// burst)` with `Allow()`: full at start, one token per `interval`, at most
/// `burst`. Written here: a dozen lines, with Go's exact semantics.
#[derive(Debug, Clone)]
struct TokenBucket {
    every: Duration,
    burst: u32,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(every: Duration, burst: u32, now: Instant) -> Self {
        Self {
            every,
            burst,
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() / self.every.as_secs_f64())
            .min(f64::from(self.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Reloads {
    /// Hash of the bytes last seen (or of the read error).
    seen: [u8; 32],
    /// What those bytes gave: the active config, or why they are invalid.
    current: Result<Arc<Active>, Arc<str>>,
    /// The last good config (equal to `current` when it is good).
    good: Arc<Active>,
    /// The rustls configuration and the hash (config + material) it was
    /// built from.
    tls: Option<([u8; 32], Arc<ServerConfig>)>,
    /// The (config + material) hash whose TLS build failed, not retried.
    tls_failed: Option<[u8; 32]>,
    limiter: Option<TokenBucket>,
    http2_warned: bool,
}

/// The web configuration file of a running server.
pub struct WebConfigSource {
    path: PathBuf,
    tls: bool,
    http2: bool,
    auth: BasicAuth,
    state: Mutex<Reloads>,
}

impl std::fmt::Debug for WebConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfigSource")
            .field("path", &self.path)
            .field("tls", &self.tls)
            .field("http2", &self.http2)
            .finish_non_exhaustive()
    }
}

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// Parses `bytes`; `http2` is the setting fixed at start (`None`: the
/// file's own, at start).
fn activate(bytes: &[u8], path: &Path, http2: Option<bool>) -> Result<Active, String> {
    let file = WebConfigFile::parse(bytes, path)?;
    let http2 = http2.unwrap_or(file.http_server_config.http2);
    let headers = file
        .http_server_config
        .headers
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            Ok((
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                HeaderValue::from_str(v).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let policy = if file.tls_server_config.is_enabled() {
        Some(Policy::from_config(&file.tls_server_config, http2)?)
    } else {
        None
    };
    Ok(Active {
        hash: sha(&[bytes]),
        file,
        headers,
        policy,
    })
}

impl WebConfigSource {
    /// Reads and checks the file (and the TLS material it names) at start;
    /// any problem is an error.
    pub fn load(path: &Path) -> Result<Arc<Self>, WebConfigError> {
        let err = |reason: String| WebConfigError {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let active = Arc::new(activate(&bytes, path, None).map_err(err)?);
        let http2 = active.file.http_server_config.http2;
        let tls_config = match &active.policy {
            Some(policy) => {
                let material = tls::read_material(&active.file.tls_server_config).map_err(err)?;
                let config = tls::server_config(policy, &material).map_err(err)?;
                let mut parts: Vec<&[u8]> = vec![&active.hash];
                parts.extend(material.bytes());
                Some((sha(&parts), config))
            }
            None => {
                let ignored = active.file.tls_server_config.ignored_without_tls();
                if !ignored.is_empty() {
                    tracing::warn!(
                        file = %path.display(),
                        settings = ignored.join(", "),
                        "tls_server_config sets TLS options but no certificate, so TLS is off and they do nothing; set cert_file and key_file to turn TLS on"
                    );
                }
                None
            }
        };
        let limiter = limiter_for(&active.file, None);
        let users = active.file.basic_auth_users.len();
        tracing::info!(
            file = %path.display(),
            tls = tls_config.is_some(),
            http2 = tls_config.is_some() && http2,
            basic_auth_users = users,
            "web configuration loaded"
        );
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            tls: tls_config.is_some(),
            http2,
            auth: BasicAuth::new(),
            state: Mutex::new(Reloads {
                seen: sha(&[&bytes]),
                current: Ok(active.clone()),
                good: active,
                tls: tls_config,
                tls_failed: None,
                limiter,
                http2_warned: false,
            }),
        }))
    }

    /// Whether the server speaks TLS (fixed at start).
    pub fn tls_enabled(&self) -> bool {
        self.tls
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// bcrypt comparisons run so far (for tests of the cache).
    pub fn bcrypt_comparisons(&self) -> u64 {
        self.auth.comparisons()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reloads> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration for a request: the file re-read (and parsed again
    /// if it changed); `Err` while the file is invalid.
    pub fn for_request(&self) -> Result<Arc<Active>, Arc<str>> {
        let read = std::fs::read(&self.path);
        let seen = match &read {
            Ok(bytes) => sha(&[bytes]),
            Err(e) => sha(&[b"\0unreadable\0", e.to_string().as_bytes()]),
        };
        let mut st = self.lock();
        if st.seen == seen {
            return st.current.clone();
        }
        st.seen = seen;
        let result = match read {
            Ok(bytes) => activate(&bytes, &self.path, Some(self.http2)).and_then(|a| {
                if a.policy.is_some() != self.tls {
                    Err(if self.tls {
                        "tls_server_config no longer enables TLS; switching from HTTPS to HTTP needs a restart".to_string()
                    } else {
                        "tls_server_config now enables TLS; switching from HTTP to HTTPS needs a restart".to_string()
                    })
                } else {
                    Ok(a)
                }
            }),
            Err(e) => Err(format!("cannot read it: {e}")),
        };
        match result {
            Ok(active) => {
                if active.file.http_server_config.http2 != self.http2 && !st.http2_warned {
                    st.http2_warned = true;
                    tracing::warn!(
                        file = %self.path.display(),
                        "http_server_config.http2 changed: it takes effect after a restart"
                    );
                }
                let active = Arc::new(active);
                let previous = st.limiter.take();
                let limiter = limiter_for(&active.file, previous.map(|l| (l, &st.good.file)));
                st.limiter = limiter;
                st.current = Ok(active.clone());
                st.good = active;
                tracing::info!(file = %self.path.display(), "web configuration reloaded");
            }
            Err(reason) => {
                tracing::error!(
                    file = %self.path.display(),
                    error = %reason,
                    "the web configuration file is invalid: every request answers 500 until it is fixed (TLS handshakes keep the last good certificate)"
                );
                st.current = Err(reason.into());
            }
        }
        st.current.clone()
    }

    /// The rustls configuration for a new connection: the last good one,
    /// rebuilt first if the file or the certificate, key or CA changed.
    /// `None` when TLS is off.
    pub fn for_connection(&self) -> Option<Arc<ServerConfig>> {
        if !self.tls {
            return None;
        }
        let _ = self.for_request();
        let active = self.lock().good.clone();
        let policy = active.policy.as_ref()?;
        let material = tls::read_material(&active.file.tls_server_config);
        let key = match &material {
            Ok(m) => {
                let mut parts: Vec<&[u8]> = vec![&active.hash];
                parts.extend(m.bytes());
                sha(&parts)
            }
            Err(e) => sha(&[&active.hash, b"\0unreadable\0", e.as_bytes()]),
        };
        let mut st = self.lock();
        let last = st.tls.as_ref().map(|(_, c)| c.clone());
        if st.tls.as_ref().is_some_and(|(h, _)| *h == key) || st.tls_failed == Some(key) {
            return last;
        }
        match material.and_then(|m| tls::server_config(policy, &m)) {
            Ok(config) => {
                st.tls = Some((key, config.clone()));
                st.tls_failed = None;
                tracing::info!(file = %self.path.display(), "TLS configuration reloaded (certificate, key or client CA changed)");
                Some(config)
            }
            Err(reason) => {
                st.tls_failed = Some(key);
                tracing::error!(
                    file = %self.path.display(),
                    error = %reason,
                    "cannot reload the TLS certificate: new connections keep the last good one"
                );
                last
            }
        }
    }

    /// Whether `rate_limit` lets a request through now.
    fn rate_allows(&self) -> bool {
        match &mut self.lock().limiter {
            Some(bucket) => bucket.allow(Instant::now()),
            None => true,
        }
    }
}

/// The bucket for `file`'s `rate_limit`, keeping `previous` (with the file
/// it came from) when the settings did not change.
fn limiter_for(
    file: &WebConfigFile,
    previous: Option<(TokenBucket, &WebConfigFile)>,
) -> Option<TokenBucket> {
    let r = &file.rate_limit;
    if r.interval.is_zero() {
        return None;
    }
    match previous {
        Some((bucket, old)) if old.rate_limit == *r => Some(bucket),
        _ => Some(TokenBucket::new(r.interval, r.burst, Instant::now())),
    }
}

/// A response as Go's `http.Error` writes it.
pub fn plain_error(status: StatusCode) -> Response {
    let text = format!("{}\n", status.canonical_reason().unwrap_or(""));
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}

/// The middleware in front of every route: the file re-read (500 while it
/// is invalid), `rate_limit` (429), the configured headers, basic auth
/// (401 with `WWW-Authenticate: Basic`), in the toolkit's order.
pub async fn guard(
    State(source): State<Arc<WebConfigSource>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(active) = source.for_request() else {
        return plain_error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    if !source.rate_allows() {
        return plain_error(StatusCode::TOO_MANY_REQUESTS);
    }
    let users = &active.file.basic_auth_users;
    let allowed = users.is_empty()
        || source
            .auth
            .authorized(users, request.headers().get(header::AUTHORIZATION))
            .await;
    let mut response = if allowed {
        next.run(request).await
    } else {
        let mut r = plain_error(StatusCode::UNAUTHORIZED);
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        r
    };
    for (name, value) in &active.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_is_gos_limiter() {
        let start = Instant::now();
        let mut b = TokenBucket::new(Duration::from_secs(1), 2, start);
        assert!(b.allow(start));
        assert!(b.allow(start));
        assert!(!b.allow(start), "burst spent");
        assert!(!b.allow(start + Duration::from_millis(500)));
        assert!(
            b.allow(start + Duration::from_millis(1000)),
            "one token a second"
        );
        assert!(!b.allow(start + Duration::from_millis(1001)));
        // Never more than the burst, however long it waited.
        let later = start + Duration::from_secs(60);
        assert!(b.allow(later) && b.allow(later) && !b.allow(later));
        let mut none = TokenBucket::new(Duration::from_secs(1), 0, start);
        assert!(
            !none.allow(start + Duration::from_secs(5)),
            "burst 0 allows nothing"
        );
    }

    #[test]
    fn plain_errors_look_like_gos() {
        let r = plain_error(StatusCode::UNAUTHORIZED);
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}
