//! Shared simulator state: scenario, released versions, removed apps,
//! injected faults (and how many of each kind were served), request counters
//! and the rate-limit windows.
//!
//! [`SimControl`] is cheap to clone and shared between the test (or the
//! `/_sim` admin API) and the HTTP handlers. The [`Account`] is regenerated
//! whenever the scenario, a release or a removal changes it, and handed to
//! handlers as an `Arc` snapshot.
//!
//! Faults ([`super::faults`]): [`SimControl::inject`] adds one (any kind),
//! [`SimControl::fail`] is the shorthand for a status,
//! [`SimControl::faults_served`] counts what was served per kind (counted
//! when a request is given the fault, whether or not the client read it all).
//!
//! Budget: each window is fixed (an hour, a minute) and resets whole; besides
//! spending, [`SimControl::set_rate_remaining`] sets what is left and
//! [`SimControl::set_rate_resets_in`] when the window ends, so a test can
//! exhaust the budget at once and get it back after a chosen time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::SimConfig;
use super::data::Account;
pub use super::faults::Fault;
use super::faults::FaultKind;

/// What the synthetic account looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// A healthy account: every metric steady across versions, in its good
    /// or fair band; no insight, so no alert fires.
    #[default]
    Baseline,
    /// The healthy account, and every app ships one more version whose
    /// `launchTime`, `hangRate` and `scrollHitchRate` regress sharply (high
    /// impact): the regression alerts fire.
    Regression,
    /// A lived-in account, as a real one usually is: standing insights
    /// (app 0, 3, …: `peakMemory` and `launchTime` steps that persist; app 1, 4, …:
    /// `batteryUsage` (into its poor band) and `scrollHitchRate` trends; app 2, 5, …: a high-impact
    /// `logicalWrites` spike), so every dashboard panel has something to show.
    Mixed,
}

impl Scenario {
    pub fn parse(s: &str) -> Option<Scenario> {
        match s.trim().to_ascii_lowercase().as_str() {
            "baseline" => Some(Scenario::Baseline),
            "regression" => Some(Scenario::Regression),
            "mixed" => Some(Scenario::Mixed),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::Regression => "regression",
            Scenario::Mixed => "mixed",
        }
    }
}

/// The [`SimControl::faults_served`] key of the 429s an exhausted budget
/// answers.
pub const RATE_LIMIT: &str = "rate_limit";

/// Outcome of spending one request from the budget.
#[derive(Debug, Clone)]
pub struct RateDecision {
    /// The `X-Rate-Limit` header value.
    pub header: String,
    /// `Some(seconds)` when the request is over budget.
    pub retry_after: Option<u64>,
}

/// A fixed rate-limit window: `limit` requests until `resets_at`, then a
/// fresh window of `len`.
struct Window {
    limit: u64,
    len: Duration,
    resets_at: Instant,
    used: u64,
}

impl Window {
    fn new(limit: u64, len: Duration) -> Self {
        Self {
            limit,
            len,
            resets_at: Instant::now() + len,
            used: 0,
        }
    }
    fn roll(&mut self, now: Instant) {
        if now >= self.resets_at {
            self.resets_at = now + self.len;
            self.used = 0;
        }
    }
    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
    fn retry_after(&self, now: Instant) -> u64 {
        let left = self.resets_at.saturating_duration_since(now);
        left.as_secs_f64().ceil().max(1.0) as u64
    }
    fn set_remaining(&mut self, remaining: u64) {
        self.used = self.limit - remaining.min(self.limit);
    }
}

struct State {
    scenario: Scenario,
    released: BTreeMap<String, usize>,
    removed: BTreeSet<String>,
    account: Arc<Account>,
    faults: Vec<Fault>,
    served: BTreeMap<&'static str, u64>,
    requests: BTreeMap<String, u64>,
    hour: Window,
    minute: Option<Window>,
}

pub(crate) struct Inner {
    config: SimConfig,
    state: Mutex<State>,
}

/// Handle on the running simulator's state. Clones share it.
#[derive(Clone)]
pub struct SimControl {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("scenario", &self.scenario())
            .finish_non_exhaustive()
    }
}

impl SimControl {
    /// New state for `config` (baseline, nothing released).
    pub fn new(config: SimConfig) -> Self {
        let account = Arc::new(Account::generate(
            &config,
            Scenario::Baseline,
            &BTreeMap::new(),
            &BTreeSet::new(),
        ));
        let minute = (config.minute_limit > 0)
            .then(|| Window::new(config.minute_limit, Duration::from_secs(60)));
        let state = State {
            scenario: Scenario::Baseline,
            released: BTreeMap::new(),
            removed: BTreeSet::new(),
            account,
            faults: Vec::new(),
            served: BTreeMap::new(),
            requests: BTreeMap::new(),
            hour: Window::new(config.hour_limit, Duration::from_secs(3600)),
            minute,
        };
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    fn regenerate(&self, st: &mut State) {
        st.account = Arc::new(Account::generate(
            &self.inner.config,
            st.scenario,
            &st.released,
            &st.removed,
        ));
    }

    /// The current account snapshot.
    pub fn account(&self) -> Arc<Account> {
        self.lock().account.clone()
    }

    pub fn set_scenario(&self, s: Scenario) {
        let mut st = self.lock();
        if st.scenario != s {
            st.scenario = s;
            self.regenerate(&mut st);
        }
    }

    pub fn scenario(&self) -> Scenario {
        self.lock().scenario
    }

    /// Shorthand for a [`FaultKind::Status`] fault: requests whose path
    /// starts with `path_prefix` get `status` (with an `ErrorResponse`)
    /// `times` times, or until [`clear_faults`](Self::clear_faults). 429s
    /// carry `Retry-After: 1`. Unlike [`inject`](Self::inject) the status is
    /// not checked.
    pub fn fail(&self, path_prefix: &str, status: u16, times: Option<u32>) {
        self.lock().faults.push(Fault {
            path_prefix: path_prefix.to_string(),
            kind: FaultKind::status(status),
            times,
        });
    }

    /// Adds a fault after the first matching ones (the first match serves a
    /// request). Fails, adding nothing, with the same one-line message as
    /// `POST /_sim/faults` when a parameter is out of range.
    pub fn inject(&self, fault: Fault) -> Result<(), String> {
        fault.validate()?;
        self.lock().faults.push(fault);
        Ok(())
    }

    /// Removes every active fault (the served counters stay).
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The active faults, with their remaining `times`.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Faults served since the start, per kind ([`FaultKind::name`]), plus
    /// `rate_limit` for the 429s of an exhausted budget. A kind never served
    /// is absent.
    pub fn faults_served(&self) -> BTreeMap<String, u64> {
        self.lock()
            .served
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }

    /// Faults of `kind` served since the start (0 when none).
    pub fn served(&self, kind: &str) -> u64 {
        self.lock().served.get(kind).copied().unwrap_or(0)
    }

    /// Takes one use of the first fault matching `path` and counts it.
    pub(crate) fn take_fault(&self, path: &str) -> Option<FaultKind> {
        let mut st = self.lock();
        let i = st
            .faults
            .iter()
            .position(|f| path.starts_with(&f.path_prefix))?;
        let kind = st.faults[i].kind.clone();
        if let Some(t) = st.faults[i].times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                st.faults.remove(i);
            }
        }
        *st.served.entry(kind.name()).or_default() += 1;
        Some(kind)
    }

    /// The app ships a new marketing version with one build; the oldest
    /// version leaves the metrics window. Returns the new version, or an
    /// empty string when the app does not exist.
    pub fn release_version(&self, app_id: &str) -> String {
        let mut st = self.lock();
        if st.account.app(app_id).is_none() {
            return String::new();
        }
        *st.released.entry(app_id.to_string()).or_default() += 1;
        self.regenerate(&mut st);
        st.account
            .app(app_id)
            .and_then(|a| a.latest_version())
            .map(|v| v.version.clone())
            .unwrap_or_default()
    }

    /// Removes an app: it disappears from every route (404 afterwards).
    pub fn remove_app(&self, app_id: &str) {
        let mut st = self.lock();
        if st.removed.insert(app_id.to_string()) {
            self.regenerate(&mut st);
        }
    }

    pub(crate) fn is_removed(&self, app_id: &str) -> bool {
        self.lock().removed.contains(app_id)
    }

    /// API requests received (everything but `/_sim`).
    pub fn request_count(&self) -> u64 {
        self.lock().requests.values().sum()
    }

    /// API requests per route template (`/v1/apps/{id}`, ...; `unknown` for
    /// paths that are not routes).
    pub fn requests_by_route(&self) -> BTreeMap<String, u64> {
        self.lock().requests.clone()
    }

    pub(crate) fn count(&self, route: &str) {
        *self.lock().requests.entry(route.to_string()).or_default() += 1;
    }

    /// Ids of the apps `/v1/apps` lists (synthetic, then fixture-only ones).
    pub fn app_ids(&self) -> Vec<String> {
        let st = self.lock();
        let mut ids: Vec<String> = st.account.apps.iter().map(|a| a.id.clone()).collect();
        for id in super::fixtures::fixture_app_ids(&self.inner.config.fixtures) {
            if !ids.contains(&id) && !st.removed.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Spends one request of the budget (or reports that none is left).
    pub(crate) fn spend(&self) -> RateDecision {
        let now = Instant::now();
        let mut st = self.lock();
        let State {
            hour,
            minute,
            served,
            ..
        } = &mut *st;
        hour.roll(now);
        if let Some(m) = minute.as_mut() {
            m.roll(now);
        }
        let mut retry_after = None;
        if hour.remaining() == 0 {
            retry_after = Some(hour.retry_after(now));
        } else if let Some(m) = minute.as_ref().filter(|m| m.remaining() == 0) {
            retry_after = Some(m.retry_after(now));
        } else {
            hour.used += 1;
            if let Some(m) = minute.as_mut() {
                m.used += 1;
            }
        }
        if retry_after.is_some() {
            *served.entry(RATE_LIMIT).or_default() += 1;
        }
        RateDecision {
            header: Self::header(hour, minute.as_ref()),
            retry_after,
        }
    }

    /// Sets what is left of the current hour and minute windows (`None`
    /// leaves a window as it is; values above the limit mean "all of it").
    /// With 1 left, the next response reports `user-hour-rem:0`; with 0, the
    /// next request gets 429 `RATE_LIMIT_EXCEEDED` with `Retry-After` = the
    /// seconds until that window resets. Without a minute window
    /// (`minute_limit` 0) `minute` is ignored.
    pub fn set_rate_remaining(&self, hour: Option<u64>, minute: Option<u64>) {
        let now = Instant::now();
        let mut st = self.lock();
        let State {
            hour: h, minute: m, ..
        } = &mut *st;
        h.roll(now);
        if let Some(rem) = hour {
            h.set_remaining(rem);
        }
        if let Some(w) = m.as_mut() {
            w.roll(now);
            if let Some(rem) = minute {
                w.set_remaining(rem);
            }
        }
    }

    /// Makes the current hour and/or minute window end after the given time
    /// (at most the window's length: 1 h, 1 min), so a spent budget comes
    /// back then. Nothing changes when a value is out of range.
    pub fn set_rate_resets_in(
        &self,
        hour: Option<Duration>,
        minute: Option<Duration>,
    ) -> Result<(), String> {
        let now = Instant::now();
        let mut st = self.lock();
        let State {
            hour: h, minute: m, ..
        } = &mut *st;
        if let Some(d) = hour
            && d > h.len
        {
            return Err(format!(
                "the hour window resets within {} ms, got {} ms",
                h.len.as_millis(),
                d.as_millis()
            ));
        }
        if let (Some(d), Some(w)) = (minute, m.as_ref())
            && d > w.len
        {
            return Err(format!(
                "the minute window resets within {} ms, got {} ms",
                w.len.as_millis(),
                d.as_millis()
            ));
        }
        h.roll(now);
        if let Some(d) = hour {
            h.resets_at = now + d;
        }
        if let Some(w) = m.as_mut() {
            w.roll(now);
            if let Some(d) = minute {
                w.resets_at = now + d;
            }
        }
        Ok(())
    }

    /// The current `X-Rate-Limit` value (spends nothing).
    pub fn rate_limit_header(&self) -> String {
        self.peek_rate()
    }

    /// The current `X-Rate-Limit` without spending anything.
    pub(crate) fn peek_rate(&self) -> String {
        let now = Instant::now();
        let mut st = self.lock();
        let State { hour, minute, .. } = &mut *st;
        hour.roll(now);
        if let Some(m) = minute.as_mut() {
            m.roll(now);
        }
        Self::header(hour, minute.as_ref())
    }

    fn header(hour: &Window, minute: Option<&Window>) -> String {
        use crate::asc::ratelimit::{RateLimit, Window as W};
        RateLimit {
            hour: W {
                limit: Some(hour.limit),
                remaining: Some(hour.remaining()),
            },
            minute: minute
                .map(|m| W {
                    limit: Some(m.limit),
                    remaining: Some(m.remaining()),
                })
                .unwrap_or_default(),
        }
        .to_header()
    }

    /// JSON for `GET /_sim/state`.
    pub fn state_json(&self) -> serde_json::Value {
        let ids = self.app_ids();
        let st = self.lock();
        serde_json::json!({
            "scenario": st.scenario.as_str(),
            "seed": self.inner.config.seed,
            "apps": ids,
            "released": st.released,
            "removed": st.removed,
            "faults": st.faults,
            "faults_served": st.served,
            "requests": st.requests.values().sum::<u64>(),
            "requests_by_route": st.requests,
            "rate_limit": Self::header(&st.hour, st.minute.as_ref()),
        })
    }
}
