//! What the client saw of the API, for the exporter's own metrics:
//! requests per route and status, retries, 401s cured or persistent,
//! undecodable bodies, the latest `X-Rate-Limit` report and the rate-limit
//! gate every request passes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use super::api::routes;
use super::ratelimit::{Gate, Hold, RateLimitObservation, Share};

/// Below this many requests left in a rate-limit window, requests go out
/// one at a time (more than any sensible `refresh.concurrency` could have in
/// flight).
const SERIAL_BELOW: u64 = 16;

/// Per-route request counts, retries, authentication and decode failures,
/// the latest rate-limit report and the rate-limit gate: what the exporter
/// turns into its own metrics.
#[derive(Debug, Default)]
pub struct ApiStats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct StatsInner {
    pub(super) requests: BTreeMap<(String, String), u64>,
    pub(super) retries: u64,
    /// 401s that persisted after a freshly minted token, per route.
    pub(super) auth_failures: BTreeMap<String, u64>,
    /// 401s that a freshly minted token cured, per route.
    pub(super) auth_recovered: BTreeMap<String, u64>,
    /// Bodies that could not be understood, per route.
    pub(super) decode_errors: BTreeMap<String, u64>,
    pub(super) rate_limit: Option<RateLimitObservation>,
    pub(super) gate: Gate,
    pub(super) share: Share,
}

/// Every route template, so that counters exist (at 0) before their first
/// increment: `increase()` cannot see a series' first sample.
pub const ALL_ROUTES: &[&str] = &[
    routes::APPS,
    routes::APP,
    routes::APP_BUILDS,
    routes::BUILDS,
    routes::BUILD,
    routes::APP_METRICS,
    routes::APP_OVERVIEW,
    routes::BUILD_METRICS,
    routes::BUILD_SIGNATURES,
    routes::SIGNATURE_LOGS,
];

impl ApiStats {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, StatsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(super) fn record(&self, endpoint: &str, status: &str) {
        *self
            .lock()
            .requests
            .entry((endpoint.to_string(), status.to_string()))
            .or_default() += 1;
    }
    pub(super) fn bump(map: &mut BTreeMap<String, u64>, endpoint: &str) {
        *map.entry(endpoint.to_string()).or_default() += 1;
    }
    /// `((endpoint, status), count)`; status is the HTTP code, or `error` /
    /// `timeout` when no complete response arrived, or `too_large`.
    pub fn requests(&self) -> Vec<((String, String), u64)> {
        self.lock()
            .requests
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
    pub fn total_requests(&self) -> u64 {
        self.lock().requests.values().sum()
    }
    pub fn retries(&self) -> u64 {
        self.lock().retries
    }
    /// 401s that persisted after a fresh token, per route (every route, 0 included).
    pub fn auth_failures(&self) -> Vec<(String, u64)> {
        with_all_routes(&self.lock().auth_failures)
    }
    /// 401s that a fresh token cured, per route (every route, 0 included).
    pub fn auth_recovered(&self) -> Vec<(String, u64)> {
        with_all_routes(&self.lock().auth_recovered)
    }
    /// Responses that could not be decoded, per route (every route, 0 included).
    pub fn decode_errors(&self) -> Vec<(String, u64)> {
        with_all_routes(&self.lock().decode_errors)
    }
    pub fn rate_limit(&self) -> Option<RateLimitObservation> {
        self.lock().rate_limit
    }
    /// Whether the latest `X-Rate-Limit` leaves so few requests in either
    /// window that concurrent requests could overspend it.
    pub(super) fn budget_low(&self) -> bool {
        self.lock().rate_limit.is_some_and(|o| {
            let w = |r: Option<u64>| r.is_some_and(|r| r <= SERIAL_BELOW);
            w(o.limit.hour.remaining) || w(o.limit.minute.remaining)
        })
    }
    /// The rate-limit hold in force now, if any: no request is sent before
    /// it ends.
    pub fn hold(&self) -> Option<Hold> {
        self.lock().gate.hold(Instant::now())
    }
}

fn with_all_routes(map: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut all: BTreeMap<String, u64> = ALL_ROUTES.iter().map(|r| (r.to_string(), 0)).collect();
    all.extend(map.iter().map(|(k, v)| (k.clone(), *v)));
    all.into_iter().collect()
}
