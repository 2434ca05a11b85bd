//! The snapshot: everything one refresh learned, as one immutable value.
//!
//! The refresh loop builds a new `Snapshot` app by app and publishes it as
//! it goes: after each app a partial one ([`Snapshot::is_partial`]) in
//! which every app is whole, old data or new, never a mix; at the end the
//! complete one. The outputs read both (a cold start serves its first app
//! within seconds), the state file only complete ones. It is plain serde
//! data, since the state file persists it.
//!
//! With several accounts each account's refresh loop makes its own
//! snapshot (and state file), and [`super::merge`] makes the one the
//! outputs read: every account's apps, and each account's status in
//! [`Snapshot::accounts`].
//!
//! Each app's data is shared (`Arc<AppSnapshot>`): a new snapshot takes the
//! apps it did not refresh from the previous one without copying them, and
//! a refresh replaces the previous data of each app as soon as its new data
//! is in, so the process holds about one snapshot's data, not two (see
//! `Refresher::refresh_with`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::asc::BuildInfo;
use crate::asc::model::{DiagnosticLogs, DiagnosticSignature, XcodeMetrics, XcodeOverview};
use crate::asc::ratelimit::RateLimit;

/// Bumped when the state file layout changes incompatibly.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// Apps sorted by id.
    pub apps: Vec<Arc<AppSnapshot>>,
    pub refresh: RefreshStatus,
    pub api: ApiSnapshot,
    /// Each account's own refresh status and API counters, by name (what
    /// [`super::merge`] makes of the accounts' snapshots). Empty in one
    /// account's snapshot (the state file's), where `refresh` and `api`
    /// are the account's: see [`Snapshot::account_statuses`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountStatus>,
}

/// One account's refresh status and API counters in a merged snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    pub name: String,
    pub refresh: RefreshStatus,
    pub api: ApiSnapshot,
}

/// The account of the single-key settings (`asc.*`), and of apps in state
/// files written before accounts existed.
pub const DEFAULT_ACCOUNT: &str = "default";

fn default_account() -> String {
    DEFAULT_ACCOUNT.to_string()
}

/// Outcome of the exporter's refreshes as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshStatus {
    /// Unix seconds when the latest refresh finished.
    pub last_attempt_unix: f64,
    /// Whether the latest refresh succeeded for every app.
    pub last_success: bool,
    /// Unix seconds of the latest fully successful refresh.
    pub last_success_unix: Option<f64>,
    /// Wall-clock duration of the latest refresh.
    pub duration_seconds: f64,
    /// The configured refresh interval, so that alerts can say "two intervals".
    #[serde(default)]
    pub interval_seconds: f64,
    /// Unix seconds when the next refresh is due (later than the interval
    /// while the rate limit holds requests back).
    #[serde(default)]
    pub next_attempt_unix: Option<f64>,
    /// While a refresh is under way (`Refresher::refresh_with` publishes
    /// the apps it has replaced so far): how far it is. `None` in a
    /// complete snapshot, the only kind the outputs map and the state file
    /// holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RefreshProgress>,
    /// Why the latest refresh failed as a whole (listing the apps failed, so
    /// no app was refreshed); `None` when it got as far as the apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Entries of the allow-list (`refresh.apps`, or the account's `apps:`)
    /// that match no app the key sees, as of the latest listing. Kept here
    /// rather than recomputed by `/ready` from the apps served, since a
    /// shard serves only its own apps: an entry another shard owns is seen,
    /// not missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen_apps: Vec<String>,
}

/// Apps done (refreshed or failed) of all the apps a refresh in progress
/// works on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshProgress {
    pub done: usize,
    pub total: usize,
    /// API requests the refresh has sent so far.
    #[serde(default)]
    pub requests: u64,
    /// Unix seconds when the refresh started.
    #[serde(default)]
    pub started_unix: f64,
}

impl RefreshProgress {
    /// Apps done as a fraction of all (1 when there are none).
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

/// What the client saw of the API: request counts and the rate limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiSnapshot {
    /// `(endpoint route template, status, count)`; status is the HTTP code or
    /// `error` / `timeout`. Counts are totals since the process started.
    pub requests: Vec<(String, String, u64)>,
    pub retries: u64,
    pub rate_limit: Option<RateLimitSnapshot>,
    /// `(endpoint, count)`: 401s that persisted after a freshly minted token.
    #[serde(default)]
    pub auth_failures: Vec<(String, u64)>,
    /// `(endpoint, count)`: 401s that a freshly minted token cured.
    #[serde(default)]
    pub auth_recovered: Vec<(String, u64)>,
    /// `(endpoint, count)`: responses whose body could not be understood.
    #[serde(default)]
    pub decode_errors: Vec<(String, u64)>,
    /// Unix seconds when requests may go out again, while the rate-limit
    /// budget is spent or a `Retry-After` is being honoured.
    #[serde(default)]
    pub resume_unix: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitSnapshot {
    pub hour_limit: Option<u64>,
    pub hour_remaining: Option<u64>,
    pub minute_limit: Option<u64>,
    pub minute_remaining: Option<u64>,
}

impl From<RateLimit> for RateLimitSnapshot {
    fn from(r: RateLimit) -> Self {
        Self {
            hour_limit: r.hour.limit,
            hour_remaining: r.hour.remaining,
            minute_limit: r.minute.limit,
            minute_remaining: r.minute.remaining,
        }
    }
}

/// Identity of an app: the labels every per-app series carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppRef {
    pub id: String,
    pub name: String,
    pub bundle_id: String,
    /// The configured account whose key sees the app (its `account` label).
    #[serde(default = "default_account")]
    pub account: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppSnapshot {
    pub app: AppRef,
    /// App-level perfPowerMetrics (with insights). `None`: never fetched.
    /// `Some` with empty `productData`: Apple has no data yet ("not measured").
    pub metrics: Option<XcodeMetrics>,
    /// The performance overview (API 4.5): top call sites, relevance,
    /// datasets. `None`: not fetched (`refresh.overview` off, an older
    /// state file), or Apple answered 404 or an empty document ("not
    /// measured").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview: Option<XcodeOverview>,
    /// The newest builds, newest first.
    pub builds: Vec<BuildSnapshot>,
    /// Unix seconds when this app's data was last fetched successfully.
    pub last_success_unix: Option<f64>,
    /// Whether the latest attempt to refresh this app failed (its data is
    /// then the last good data).
    pub last_attempt_failed: bool,
    /// The latest failure's message, if the latest attempt failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildSnapshot {
    pub build: BuildInfo,
    /// Build-level perfPowerMetrics. `None`: Apple answered 404 or an empty
    /// document ("not measured yet"), or it was not fetched.
    pub metrics: Option<XcodeMetrics>,
    /// Top signatures by weight.
    pub signatures: Vec<DiagnosticSignature>,
    /// Logs of the top signatures, keyed by signature id.
    pub logs: Vec<(String, DiagnosticLogs)>,
}

impl Snapshot {
    pub fn app(&self, id: &str) -> Option<&AppSnapshot> {
        self.app_shared(id).map(|a| &**a)
    }

    /// The app's shared data (to keep it without copying).
    pub fn app_shared(&self, id: &str) -> Option<&Arc<AppSnapshot>> {
        self.apps.iter().find(|a| a.app.id == id)
    }

    /// Whether this is a refresh's intermediate state (see
    /// [`RefreshStatus::progress`]).
    pub fn is_partial(&self) -> bool {
        self.refresh.progress.is_some()
    }

    /// `(account, refresh status, API counters)` of each account: the
    /// merged snapshot's [`Snapshot::accounts`], or this snapshot's own
    /// status as the account its apps belong to (`default` without apps).
    pub fn account_statuses(&self) -> Vec<(&str, &RefreshStatus, &ApiSnapshot)> {
        if self.accounts.is_empty() {
            let name = self
                .apps
                .first()
                .map(|a| a.app.account.as_str())
                .unwrap_or(DEFAULT_ACCOUNT);
            vec![(name, &self.refresh, &self.api)]
        } else {
            self.accounts
                .iter()
                .map(|a| (a.name.as_str(), &a.refresh, &a.api))
                .collect()
        }
    }
}

impl AppSnapshot {
    /// The newest marketing version in the app-level data (the version of
    /// the last point, ordered by version number), if any.
    pub fn latest_version(&self) -> Option<String> {
        let m = self.metrics.as_ref()?;
        let from_insights = m
            .insights
            .iter()
            .flat_map(|i| i.regressions.iter().chain(i.trending_up.iter()))
            .filter_map(|i| i.latest_version.clone());
        m.metrics()
            .flat_map(|(_, _, metric)| metric.datasets.iter())
            .flat_map(|d| d.points.iter())
            .filter_map(|p| p.version.as_deref().map(str::to_string))
            .chain(from_insights)
            .max_by(|a, b| crate::asc::api::natural_cmp(a, b))
    }
}
