//! The App Store Connect HTTP client (reqwest + rustls).
//!
//! One place does every request: bearer token, vendor `Accept` types, the
//! response-size cap, `X-Rate-Limit` bookkeeping and the rate-limit gate (no
//! request while the budget is spent or a `Retry-After` runs), bounded
//! retries with exponential backoff and jitter on 429/5xx/transport errors
//! and failed bodies (the backoff is a floor under `Retry-After`), one token
//! re-mint on 401, and `ErrorResponse` decoding. Paging follows `links.next`
//! and refuses to leave the configured origin, so the bearer token is never
//! sent anywhere else. The typed endpoints are in [`super::endpoints`], the
//! counters in [`super::stats`], the API contract (routes, media types,
//! [`BuildInfo`], the version order) in [`super::api`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER, USER_AGENT,
};
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::TokenProvider;
// The API contract, at the paths it had before it moved to `asc::api`.
pub use super::api::{
    BuildInfo, DEFAULT_BASE_URL, DIAGNOSTIC_LOGS_JSON, JSON, MAX_PAGE, XCODE_METRICS_JSON,
    XCODE_OVERVIEW_JSON, join_builds, natural_cmp, routes,
};
pub use super::endpoints::{AppsQuery, MetricsFilter, OverviewFilter};
use super::error::AscError;
use super::model::{Document, ErrorResponse, Included};
use super::ratelimit::{RateLimit, RateLimitObservation};
pub use super::stats::{ALL_ROUTES, ApiStats};

/// Guard against a server that keeps handing out `links.next`.
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: Url,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Cap on a decoded (decompressed) response body.
    pub max_response_bytes: usize,
    /// Retries after the first attempt on 429, 5xx and transport errors.
    pub max_retries: u32,
    /// First backoff delay; doubles each retry up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the error is returned.
    pub max_retry_after: Duration,
    pub user_agent: String,
    /// The fraction of the key's budget this client may spend (shards of
    /// one account share the key): see [`Share`](super::ratelimit::Share).
    pub budget_share: f64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("default base URL parses"),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 64 * 1024 * 1024,
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            user_agent: concat!("asc-perf-exporter/", env!("CARGO_PKG_VERSION")).to_string(),
            budget_share: 1.0,
        }
    }
}

/// Parses and checks a base URL: absolute http(s), no query or fragment.
pub fn parse_base_url(s: &str) -> Result<Url, AscError> {
    let bad = |reason: &str| AscError::InvalidUrl {
        url: s.to_string(),
        reason: format!(
            "{reason}; expected e.g. {DEFAULT_BASE_URL} (ASC_API_BASE_URL / --base-url)"
        ),
    };
    let url = Url::parse(s.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment"));
    }
    Ok(url)
}

/// A decoded document together with the exact bytes Apple sent (for `--save`).
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub value: T,
    pub body: Vec<u8>,
}

/// The App Store Connect client. Cheap to clone; clones share the token
/// cache, the connection pool and the stats.
#[derive(Clone)]
pub struct AscClient {
    http: reqwest::Client,
    auth: Arc<TokenProvider>,
    config: Arc<ClientConfig>,
    stats: Arc<ApiStats>,
    /// Held by the one request in flight while the budget is low.
    low_budget_lane: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AscClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AscClient")
            .field("base_url", &self.config.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl AscClient {
    pub fn new(config: ClientConfig, auth: TokenProvider) -> Result<Self, AscError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AscError::Transport {
                base: config.base_url.to_string(),
                endpoint: "client setup".into(),
                reason: e.to_string(),
            })?;
        let stats = ApiStats::default();
        stats.lock().share = super::ratelimit::Share::new(config.budget_share);
        Ok(Self {
            http,
            auth: Arc::new(auth),
            config: Arc::new(config),
            stats: Arc::new(stats),
            low_budget_lane: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }
    pub fn stats(&self) -> &Arc<ApiStats> {
        &self.stats
    }
    pub fn auth(&self) -> &TokenProvider {
        &self.auth
    }

    /// `base_url` + path segments (each percent-encoded, so an id can never
    /// change the path).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.config.base_url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("base URL was checked to be http(s)");
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    fn check_origin(&self, url: &Url) -> Result<(), AscError> {
        if url.origin() != self.config.base_url.origin() {
            return Err(AscError::InvalidUrl {
                url: url.to_string(),
                reason: format!(
                    "the server pointed outside {} ; refusing to send credentials there",
                    self.config.base_url.origin().ascii_serialization()
                ),
            });
        }
        Ok(())
    }

    /// The retry delay after `attempt` failed attempts: "equal jitter"
    /// exponential backoff between half the cap and the cap.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.config.backoff_max);
        let half = cap / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    /// Waits out a rate-limit hold that ends within `max_retry_after`;
    /// a longer one fails at once, without contacting Apple.
    async fn respect_hold(&self, endpoint: &str) -> Result<(), AscError> {
        while let Some(hold) = self.stats.hold() {
            let wait = hold.until.saturating_duration_since(Instant::now());
            if wait > self.config.max_retry_after {
                return Err(AscError::RateLimited {
                    endpoint: endpoint.to_string(),
                    reason: hold.reason.describe(),
                    wait,
                });
            }
            tracing::info!(endpoint, wait = %human(wait), reason = hold.reason.describe(), "holding requests for the rate limit");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// One GET with auth, retries and the size cap; returns the body of a 2xx.
    ///
    /// Retried (at most `max_retries` times, each after at least the backoff
    /// delay, longer when `Retry-After` says so): 429, 5xx, transport errors
    /// and 2xx bodies that time out or are cut off. A 401 is retried once
    /// with a freshly minted token. No request goes out while the rate-limit
    /// gate holds (see [`Gate`](super::ratelimit::Gate)).
    pub async fn get_bytes(
        &self,
        endpoint: &str,
        url: Url,
        accept: &str,
    ) -> Result<Vec<u8>, AscError> {
        self.check_origin(&url)?;
        let mut attempt: u32 = 0;
        let mut reminted = false;
        // The attempt after a re-mint tells whether the 401 was cured.
        let mut remint_pending = false;
        loop {
            self.respect_hold(endpoint).await?;
            // Near the end of a budget, one request at a time: each answer's
            // X-Rate-Limit then says whether another may go, and the one
            // that spends the last unit closes the gate before a concurrent
            // request could earn a 429.
            let _lane = if self.stats.budget_low() {
                let lane = self.low_budget_lane.lock().await;
                self.respect_hold(endpoint).await?;
                Some(lane)
            } else {
                None
            };
            // This replica's share of the key's budget: when it is spent,
            // the gate holds (as for a spent budget) until it has room.
            {
                let mut st = self.stats.lock();
                let limit = st.rate_limit.map(|o| o.limit);
                if let Err(until) = st.share.take(Instant::now(), limit.as_ref()) {
                    st.gate
                        .extend(until, super::ratelimit::HoldReason::ShareSpent);
                    continue;
                }
            }
            let token = self.auth.token()?;
            let sent = self
                .http
                .get(url.clone())
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .header(ACCEPT, accept)
                .header(USER_AGENT, &self.config.user_agent)
                .send()
                .await;
            let failure = match sent {
                Err(e) => Failure::Transport(e),
                Ok(resp) => {
                    let status = resp.status();
                    let rate_limit = self.observe_rate_limit(resp.headers());
                    let retry_after = parse_retry_after(resp.headers());
                    self.stats.lock().gate.observe(
                        Instant::now(),
                        rate_limit.as_ref(),
                        status.as_u16(),
                        retry_after,
                    );
                    if std::mem::take(&mut remint_pending) && status != StatusCode::UNAUTHORIZED {
                        ApiStats::bump(&mut self.stats.lock().auth_recovered, endpoint);
                    }
                    if status.is_success() {
                        match self.read_capped(resp).await {
                            Ok(body) => {
                                self.stats.record(endpoint, status.as_str());
                                return Ok(body);
                            }
                            Err(BodyError::TooLarge) => {
                                self.stats.record(endpoint, "too_large");
                                return Err(AscError::TooLarge {
                                    endpoint: endpoint.to_string(),
                                    limit: self.config.max_response_bytes,
                                });
                            }
                            Err(BodyError::Transport(e)) => Failure::Body(e),
                        }
                    } else {
                        self.stats.record(endpoint, status.as_str());
                        let request_id = resp
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        if status == StatusCode::UNAUTHORIZED && !reminted {
                            tracing::info!(
                                endpoint,
                                "401 from App Store Connect, minting a new token and retrying once"
                            );
                            self.auth.invalidate();
                            reminted = true;
                            remint_pending = true;
                            continue;
                        }
                        if status == StatusCode::UNAUTHORIZED {
                            ApiStats::bump(&mut self.stats.lock().auth_failures, endpoint);
                        }
                        let retryable =
                            status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                        if retryable && attempt < self.config.max_retries {
                            // The backoff is a floor: `Retry-After: 0` is no
                            // reason to hammer the API; a longer Retry-After
                            // is honoured (and, past max_retry_after, ends
                            // the retries through the gate).
                            let delay = retry_after.unwrap_or_default().max(self.backoff(attempt));
                            if delay <= self.config.max_retry_after {
                                // Retries are counted (asc_api_retries_total);
                                // only the final failure is worth a warning.
                                tracing::debug!(
                                    endpoint,
                                    status = status.as_u16(),
                                    attempt,
                                    delay = %human(delay),
                                    "retrying"
                                );
                                self.sleep_retry(delay).await;
                                attempt += 1;
                                continue;
                            }
                        }
                        let content_type = resp
                            .headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let location = resp
                            .headers()
                            .get(LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let body = self.read_capped(resp).await.unwrap_or_default();
                        let errors = serde_json::from_slice::<ErrorResponse>(&body)
                            .map(|e| e.errors)
                            .unwrap_or_default();
                        let note = if !errors.is_empty() {
                            None
                        } else if let Some(loc) = location.filter(|_| status.is_redirection()) {
                            Some(redirect_note(&self.config.base_url, &loc))
                        } else {
                            Some(format!(
                                "the body is not an App Store Connect ErrorResponse ({}, {} bytes): a proxy or load balancer may have answered",
                                content_type.as_deref().unwrap_or("no content type"),
                                body.len()
                            ))
                        };
                        return Err(AscError::Api {
                            status: status.as_u16(),
                            endpoint: endpoint.to_string(),
                            errors,
                            request_id,
                            note,
                        });
                    }
                }
            };
            // No complete response: the request or the body failed.
            let (timeout, reason) = match &failure {
                Failure::Transport(e) => (e.is_timeout(), without_url(e)),
                Failure::Body(e) => (
                    e.is_timeout(),
                    format!("the response body failed: {}", without_url(e)),
                ),
            };
            self.stats
                .record(endpoint, if timeout { "timeout" } else { "error" });
            if attempt < self.config.max_retries {
                let delay = self.backoff(attempt);
                tracing::debug!(endpoint, attempt, delay = %human(delay), error = %reason, "request failed, retrying");
                self.sleep_retry(delay).await;
                attempt += 1;
                continue;
            }
            return Err(if timeout {
                AscError::Timeout {
                    endpoint: endpoint.to_string(),
                    timeout: self.config.request_timeout,
                }
            } else {
                AscError::Transport {
                    base: self.config.base_url.to_string(),
                    endpoint: endpoint.to_string(),
                    reason,
                }
            });
        }
    }

    async fn sleep_retry(&self, delay: Duration) {
        self.stats.lock().retries += 1;
        tokio::time::sleep(delay).await;
    }

    fn observe_rate_limit(&self, headers: &HeaderMap) -> Option<RateLimit> {
        let values: Vec<&str> = headers
            .get_all("x-rate-limit")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let limit = RateLimit::parse(values)?;
        self.stats.lock().rate_limit = Some(RateLimitObservation {
            limit,
            at: Instant::now(),
        });
        Some(limit)
    }

    /// Reads the whole body, refusing more than `max_response_bytes`.
    async fn read_capped(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, BodyError> {
        let limit = self.config.max_response_bytes;
        if resp.content_length().is_some_and(|l| l > limit as u64) {
            return Err(BodyError::TooLarge);
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(BodyError::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err(BodyError::Transport(e)),
            }
        }
    }

    /// GET and decode one JSON document. A body that cannot be understood
    /// is counted in [`ApiStats::decode_errors`].
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        url: Url,
        accept: &str,
    ) -> Result<Fetched<T>, AscError> {
        let body = self.get_bytes(endpoint, url, accept).await?;
        match decode(endpoint, &body) {
            Ok(value) => Ok(Fetched { value, body }),
            Err(e) => {
                ApiStats::bump(&mut self.stats.lock().decode_errors, endpoint);
                Err(e)
            }
        }
    }

    /// GET every page of a JSON:API collection, following `links.next`,
    /// until `max_items` resources are collected (if given).
    pub async fn get_paged<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        url: Url,
        max_items: Option<usize>,
    ) -> Result<(Vec<T>, Vec<Included>), AscError> {
        let mut data = Vec::new();
        let mut included = Vec::new();
        let mut next = Some(url);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let doc: Document<T> = self.get_json(endpoint, url.clone(), JSON).await?.value;
            data.extend(doc.data);
            included.extend(doc.included);
            if max_items.is_some_and(|m| data.len() >= m) {
                break;
            }
            if let Some(n) = doc.links.next.filter(|n| !n.is_empty()) {
                let n = url.join(&n).map_err(|e| AscError::InvalidUrl {
                    url: n.clone(),
                    reason: e.to_string(),
                })?;
                if n == url || pages >= MAX_PAGES {
                    return Err(AscError::Decode {
                        endpoint: endpoint.to_string(),
                        reason: format!("paging did not terminate after {pages} pages"),
                    });
                }
                next = Some(n);
            }
        }
        if let Some(m) = max_items {
            data.truncate(m);
        }
        Ok((data, included))
    }
}

/// What went wrong when no complete response arrived.
enum Failure {
    /// The request failed (connect, timeout before the head, ...).
    Transport(reqwest::Error),
    /// A 2xx head arrived but its body timed out or was cut off.
    Body(reqwest::Error),
}

enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Explains a redirect (never followed: the bearer token stays on the
/// configured origin).
fn redirect_note(base: &Url, location: &str) -> String {
    let target = base
        .join(location)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "an unparseable location".to_string());
    format!(
        "a redirect to {target}, not followed (redirects are never followed, so the token is not sent elsewhere); check ASC_API_BASE_URL / --base-url or a proxy in between"
    )
}

/// A duration for log lines, to the second (`59m 12s`), or in ms below one.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, AscError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AscError::Decode {
            endpoint: endpoint.to_string(),
            reason: "the body is empty".to_string(),
        });
    }
    // The model's one decoder (deep call stacks, required keys, JSON path).
    crate::asc::model::decode::json(body).map_err(|e| AscError::Decode {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })
}

/// reqwest errors print the URL; ours carry the route instead, and URLs
/// never contain secrets anyway, but keep messages short and uniform.
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = String::from(if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "response body failed"
    } else {
        "request failed"
    });
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_strict() {
        assert!(parse_base_url("https://api.appstoreconnect.apple.com").is_ok());
        assert!(parse_base_url("http://127.0.0.1:8080/prefix").is_ok());
        for bad in ["ftp://x", "not a url", "https://x/?q=1", "/v1/apps"] {
            let e = parse_base_url(bad).unwrap_err().to_string();
            assert!(e.contains("ASC_API_BASE_URL"), "{e}");
        }
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }
}
