//! The refresh loop: one complete refresh per interval (with jitter), apps
//! in parallel up to a bound, optional work dropped when the hourly budget
//! runs low, and per-app isolation: an app whose refresh fails keeps its
//! last good data while the others move on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::shard::Shard;
use super::snapshot::DEFAULT_ACCOUNT;
use super::snapshot::{
    ApiSnapshot, AppRef, AppSnapshot, RefreshProgress, RefreshStatus, SNAPSHOT_FORMAT, Snapshot,
};
use super::state::StateStore;
use crate::asc::client::AppsQuery;
use crate::asc::client::human;
use crate::asc::model::App;
use crate::asc::{AscClient, AscError};
use crate::config::{Config, DiagnosticsConfig, RefreshConfig};

mod fetch;
mod progress;

use progress::ProgressLog;
pub use progress::estimate_left;

/// After a refresh with failures, the next one comes sooner than the interval.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// What a refresh fetches: the `refresh` and `diagnostics` sections of
/// [`Config`], for one account and this replica's shard.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    pub refresh: RefreshConfig,
    pub diagnostics: DiagnosticsConfig,
    /// The account's name: every app's `account` label.
    pub account: String,
    /// The apps this replica keeps (`shard`).
    pub shard: Shard,
}

impl From<&Config> for RefreshOptions {
    fn from(c: &Config) -> Self {
        Self {
            refresh: c.refresh.clone(),
            diagnostics: c.diagnostics.clone(),
            account: DEFAULT_ACCOUNT.to_string(),
            // A loaded configuration was validated: the shard parses.
            shard: c.shard.parse().unwrap_or_default(),
        }
    }
}

pub use crate::clock::unix_now;

/// Fetches one complete snapshot.
#[derive(Debug, Clone)]
pub struct Refresher {
    client: AscClient,
    opts: Arc<RefreshOptions>,
}

impl Refresher {
    pub fn new(client: AscClient, opts: RefreshOptions) -> Self {
        Self {
            client,
            opts: Arc::new(opts),
        }
    }

    pub fn options(&self) -> &RefreshOptions {
        &self.opts
    }

    pub fn client(&self) -> &AscClient {
        &self.client
    }

    /// One refresh. Never fails as a whole: failures are recorded per app
    /// and the previous data of a failed app is carried over. An app that
    /// takes longer than `refresh.app_timeout`, or is not done when the
    /// refresh reaches `refresh.timeout`, keeps its last good data too, and
    /// the apps that finished are published on time.
    pub async fn refresh(&self, previous: &Snapshot) -> Snapshot {
        self.refresh_with(Arc::new(previous.clone()), &mut |_| {})
            .await
    }

    /// [`Self::refresh`], replacing each app's previous data as soon as its
    /// new data is in. `previous` is taken, not borrowed: once the apps are
    /// listed the refresh keeps only a working copy (the previous apps'
    /// shared data), and each app's old data is let go when its new data
    /// replaces it. `progress` sees the working copy after each app: every
    /// app whole, old or new, marked partial (`refresh.progress`); on a
    /// cold start, the apps done so far. Whoever holds the previous snapshot
    /// (the published one) lets go of each app's old data by taking these,
    /// so a refresh holds about one snapshot's data instead of two.
    pub async fn refresh_with(
        &self,
        previous: Arc<Snapshot>,
        progress: &mut (dyn FnMut(&Snapshot) + Send),
    ) -> Snapshot {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.opts.refresh.timeout;
        let listed = match tokio::time::timeout_at(deadline, self.apps(&previous)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "listing apps did not finish within refresh.timeout ({})",
                human(self.opts.refresh.timeout)
            )),
        };
        let (mut apps, unseen_apps) = match listed {
            Ok(listed) => listed,
            Err(e) => {
                tracing::error!(error = %e, "listing apps failed; keeping the previous data of every app");
                let mut next = (*previous).clone();
                next.format = SNAPSHOT_FORMAT;
                for a in &mut next.apps {
                    let a = Arc::make_mut(a);
                    a.last_attempt_failed = true;
                    a.last_error = Some(e.clone());
                }
                next.refresh = RefreshStatus {
                    last_attempt_unix: unix_now(),
                    last_success: false,
                    last_success_unix: previous.refresh.last_success_unix,
                    duration_seconds: started.elapsed().as_secs_f64(),
                    interval_seconds: self.opts.refresh.interval.as_secs_f64(),
                    next_attempt_unix: None,
                    progress: None,
                    error: Some(e),
                    unseen_apps: previous.refresh.unseen_apps.clone(),
                };
                next.api = self.api_snapshot();
                return next;
            }
        };
        for gone in previous
            .apps
            .iter()
            .filter(|p| !apps.iter().any(|a| a.id == p.app.id))
        {
            tracing::warn!(app_id = %gone.app.id, app = %gone.app.name, "app is no longer visible to this API key; its series are removed");
        }
        refresh_order(&mut apps, &previous);

        // The working copy: the listed apps' previous data (shared), which
        // each app's result replaces. Apps no longer listed are gone from
        // it; new apps join it when their data is in.
        let last_success_unix = previous.refresh.last_success_unix;
        let stats = self.client.stats().clone();
        let requests_before = stats.total_requests();
        let mut working = Snapshot {
            format: SNAPSHOT_FORMAT,
            apps: previous
                .apps
                .iter()
                .filter(|p| apps.iter().any(|a| a.id == p.app.id))
                .cloned()
                .collect(),
            refresh: RefreshStatus {
                progress: Some(RefreshProgress {
                    done: 0,
                    total: apps.len(),
                    requests: 0,
                    started_unix: unix_now(),
                }),
                ..previous.refresh.clone()
            },
            api: previous.api.clone(),
            accounts: Vec::new(),
        };
        drop(previous);
        let mut log = ProgressLog::default();

        let app_timeout = self.opts.refresh.app_timeout;
        let mut pending: Vec<AppRef> = apps.clone();
        let prevs: Vec<Option<Arc<AppSnapshot>>> = apps
            .iter()
            .map(|a| working.app_shared(&a.id).cloned())
            .collect();
        let mut stream = futures::stream::iter(apps.into_iter().zip(prevs))
            .map(|(app, prev)| async move {
                let r = match tokio::time::timeout(
                    app_timeout,
                    self.refresh_app(&app, prev.as_deref()),
                )
                .await
                {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "the app's refresh did not finish within refresh.app_timeout ({}); raise it if the account is large or the API slow",
                        human(app_timeout)
                    )),
                };
                (app, r)
            })
            .buffer_unordered(self.opts.refresh.concurrency.max(1));
        let mut all_ok = true;
        let mut done = |working: &mut Snapshot, app: AppRef, r: Result<AppSnapshot, String>| {
            let slot = working.apps.iter().position(|a| a.app.id == app.id);
            let next = match r {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    all_ok = false;
                    tracing::warn!(app_id = %app.id, app = %app.name, error = %e, "refreshing app failed; keeping its last good data");
                    let mut kept = match slot {
                        Some(i) => working.apps[i].clone(),
                        None => Arc::default(),
                    };
                    let k = Arc::make_mut(&mut kept);
                    k.app = app;
                    k.last_attempt_failed = true;
                    k.last_error = Some(e);
                    kept
                }
            };
            match slot {
                Some(i) => working.apps[i] = next,
                None => working.apps.push(next),
            }
            if let Some(p) = &mut working.refresh.progress {
                p.done += 1;
            }
        };
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some((app, r))) => {
                    pending.retain(|p| p.id != app.id);
                    done(&mut working, app, r);
                    if let Some(p) = &mut working.refresh.progress {
                        p.requests = stats.total_requests().saturating_sub(requests_before);
                        log.report(self, p, started.elapsed());
                    }
                    // The API counters as of now: a partial snapshot's
                    // `asc_api_*` is not the previous refresh's (on a cold
                    // start, none at all).
                    working.api = self.api_snapshot();
                    progress(&working);
                }
                Ok(None) => break,
                Err(_) => {
                    let e = format!(
                        "the refresh reached refresh.timeout ({}) before this app finished",
                        human(self.opts.refresh.timeout)
                    );
                    for app in pending.drain(..) {
                        done(&mut working, app, Err(e.clone()));
                    }
                    break;
                }
            }
        }
        drop(stream);

        working.apps.sort_by(|a, b| a.app.id.cmp(&b.app.id));
        let now = unix_now();
        working.refresh = RefreshStatus {
            last_attempt_unix: now,
            last_success: all_ok,
            last_success_unix: if all_ok { Some(now) } else { last_success_unix },
            duration_seconds: started.elapsed().as_secs_f64(),
            interval_seconds: self.opts.refresh.interval.as_secs_f64(),
            next_attempt_unix: None,
            progress: None,
            error: None,
            unseen_apps,
        };
        working.api = self.api_snapshot();
        working
    }

    /// How long the rest of a refresh should take: see [`estimate_left`].
    fn estimate_left(&self, p: &RefreshProgress, elapsed: Duration) -> Option<Duration> {
        let limit = self.client.stats().rate_limit().map(|o| o.limit);
        estimate_left(
            p,
            elapsed,
            limit.as_ref(),
            self.client.config().budget_share,
        )
    }

    fn api_snapshot(&self) -> ApiSnapshot {
        let stats = self.client.stats();
        ApiSnapshot {
            requests: stats
                .requests()
                .into_iter()
                .map(|((e, s), n)| (e, s, n))
                .collect(),
            retries: stats.retries(),
            rate_limit: stats.rate_limit().map(|o| o.limit.into()),
            auth_failures: stats.auth_failures(),
            auth_recovered: stats.auth_recovered(),
            decode_errors: stats.decode_errors(),
            resume_unix: stats.hold().map(|h| {
                unix_now()
                    + h.until
                        .saturating_duration_since(Instant::now())
                        .as_secs_f64()
            }),
        }
    }

    /// The apps to refresh: every app the key sees, or the allow-list, of
    /// this shard; and the allow-list entries the key does not see. An
    /// identity attribute (name, bundle id) that vanishes from the listing
    /// keeps its previous value, with a warning, instead of relabelling the
    /// app's series.
    async fn apps(&self, previous: &Snapshot) -> Result<(Vec<AppRef>, Vec<String>), AscError> {
        let apps: Vec<App> = self.client.list_apps(&AppsQuery::default()).await?;
        let shard = self.opts.shard;
        let account = self.opts.account.as_str();
        let allowed: Vec<&App> = apps
            .iter()
            .filter(|a| {
                self.opts.refresh.apps.is_empty()
                    || self.opts.refresh.apps.iter().any(|w| {
                        w == &a.id
                            || w == a.bundle_id()
                            || kept_bundle_id(previous, a) == Some(w.as_str())
                    })
            })
            .collect();
        let refs: Vec<AppRef> = allowed
            .iter()
            .filter(|a| shard.owns(account, &a.id))
            .map(|a| app_ref(a, previous.app(&a.id).map(|p| &p.app), account))
            .collect();
        if !shard.is_whole() {
            tracing::debug!(account, shard = %shard, kept = refs.len(), of = allowed.len(), "apps of this shard");
        }
        let mut unseen = Vec::new();
        for wanted in &self.opts.refresh.apps {
            if !apps.iter().any(|a| {
                wanted == &a.id
                    || wanted == a.bundle_id()
                    || kept_bundle_id(previous, a) == Some(wanted.as_str())
            }) {
                tracing::warn!(account, app = %wanted, "app in the allow-list is not visible to this API key");
                unseen.push(wanted.clone());
            }
        }
        Ok((refs, unseen))
    }
}

/// The bundle id the previous snapshot knew for an app whose listing lost it.
fn kept_bundle_id<'a>(previous: &'a Snapshot, app: &App) -> Option<&'a str> {
    if app
        .attributes
        .bundle_id
        .as_deref()
        .is_some_and(|b| !b.is_empty())
    {
        return None;
    }
    previous
        .app(&app.id)
        .map(|p| p.app.bundle_id.as_str())
        .filter(|b| !b.is_empty())
}

/// An app's identity labels. A name or bundle id missing from the listing
/// (schema drift, a partial response) keeps the previous value, with a
/// warning, so the app's series are not relabelled.
pub fn app_ref(app: &App, previous: Option<&AppRef>, account: &str) -> AppRef {
    let keep = |field: &str, now: Option<&str>, before: Option<&str>| -> String {
        match (
            now.filter(|v| !v.is_empty()),
            before.filter(|v| !v.is_empty()),
        ) {
            (Some(v), _) => v.to_string(),
            (None, Some(b)) => {
                tracing::warn!(app_id = %app.id, field, kept = %b, "the app listing has no {field} for this app; keeping the previous value");
                b.to_string()
            }
            (None, None) => {
                tracing::warn!(app_id = %app.id, field, "the app listing has no {field} for this app");
                String::new()
            }
        }
    };
    AppRef {
        id: app.id.clone(),
        name: keep(
            "name",
            app.attributes.name.as_deref(),
            previous.map(|p| p.name.as_str()),
        ),
        bundle_id: keep(
            "bundleId",
            app.attributes.bundle_id.as_deref(),
            previous.map(|p| p.bundle_id.as_str()),
        ),
        account: account.to_string(),
    }
}

/// How long to wait before the next request given the latest rate-limit
/// report, seen `age` ago: nothing while the minute window has room for
/// every request that may be in flight; otherwise until a minute has passed
/// since the report, when a fixed or rolling window has room again.
pub fn pace_delay(
    limit: &crate::asc::ratelimit::RateLimit,
    age: Duration,
    concurrency: usize,
) -> Duration {
    match limit.minute.remaining {
        Some(remaining) if remaining <= concurrency as u64 + 1 => {
            Duration::from_secs(60).saturating_sub(age)
        }
        _ => Duration::ZERO,
    }
}

/// How long to wait before the next refresh.
pub fn next_delay(opts: &RefreshOptions, last: &Snapshot) -> Duration {
    let base = if last.refresh.last_success {
        opts.refresh.interval
    } else {
        opts.refresh.interval.min(RETRY_AFTER_FAILURE)
    };
    let jitter = if opts.refresh.jitter > 0.0 {
        base.mul_f64(rand::thread_rng().gen_range(0.0..=opts.refresh.jitter))
    } else {
        Duration::ZERO
    };
    base + jitter
}

/// Delay before the first refresh: none, unless a loaded snapshot is
/// younger than the interval (then no API call is spent until it ages).
pub fn initial_delay(opts: &RefreshOptions, loaded: Option<&Snapshot>, now_unix: f64) -> Duration {
    let Some(s) = loaded else {
        return Duration::ZERO;
    };
    let Some(ok_at) = s
        .refresh
        .last_success_unix
        .filter(|_| s.refresh.last_success)
    else {
        return Duration::ZERO;
    };
    let age = (now_unix - ok_at).max(0.0);
    Duration::from_secs_f64((opts.refresh.interval.as_secs_f64() - age).max(0.0))
}

/// Runs refreshes until `shutdown`, publishing each snapshot on `publish`
/// and persisting it to `store`. A refresh in progress at shutdown is
/// abandoned (its partial data is never published); a state write in
/// progress is finished first.
pub async fn run(
    refresher: Refresher,
    store: Option<StateStore>,
    publish: watch::Sender<Option<Arc<Snapshot>>>,
    shutdown: CancellationToken,
) {
    let loaded = publish.borrow().clone();
    let mut current: Arc<Snapshot> = loaded.clone().unwrap_or_default();
    let mut delay = initial_delay(refresher.options(), loaded.as_deref(), unix_now());
    // Only `current` keeps the loaded data: a refresh lets go of each app's
    // old data as it replaces it.
    drop(loaded);
    if !delay.is_zero() {
        tracing::info!(delay = %human(delay), "saved data is fresh; first refresh deferred");
    }
    let stats = refresher.client().stats().clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
        let requests_before = stats.total_requests();
        // The refresh takes the current snapshot and publishes each app's
        // new data as it comes in (a partial snapshot: every app whole, old
        // or new), so a cold start serves its first app within seconds and
        // the old data of an app is freed once replaced.
        let previous = std::mem::take(&mut current);
        let mut partial = |working: &Snapshot| {
            publish.send_replace(Some(Arc::new(working.clone())));
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            s = refresher.refresh_with(previous, &mut partial) => s,
        };
        let failed = next.apps.iter().filter(|a| a.last_attempt_failed).count();
        tracing::info!(
            apps = next.apps.len(),
            failed,
            duration_seconds = next.refresh.duration_seconds,
            requests = stats.total_requests().saturating_sub(requests_before),
            "refresh finished"
        );
        delay = next_delay(refresher.options(), &next);
        if let Some(hold) = stats.hold() {
            let wait = hold.until.saturating_duration_since(Instant::now());
            if wait > delay {
                tracing::warn!(next_refresh_in = %human(wait), reason = hold.reason.describe(), "rate limit: the next refresh waits until App Store Connect accepts requests again");
                delay = wait;
            }
        }
        let mut next = next;
        next.refresh.next_attempt_unix = Some(unix_now() + delay.as_secs_f64());
        current = Arc::new(next);
        publish.send_replace(Some(current.clone()));
        if let Some(store) = &store {
            let store = store.clone();
            let shared = current.clone();
            // Not cancelled by shutdown: the write always completes.
            match tokio::task::spawn_blocking(move || store.save(&shared)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "saving state failed; the data is still served, and saving is tried again after the next refresh")
                }
                Err(e) => tracing::error!(error = %e, "state writer panicked"),
            }
        }
    }
    tracing::info!("refresh loop stopped");
}

/// The order a refresh works through its apps: never-refreshed apps first,
/// then the oldest data first; the listing's order among equals (a cold
/// start goes down the listing). A refresh stopped where the budget ran out
/// (a long hold fails the rest) then leaves the freshest apps behind, and
/// the next one starts with the apps it did not reach, instead of always
/// the same first apps and never the last.
fn refresh_order(apps: &mut [AppRef], previous: &Snapshot) {
    apps.sort_by(|a, b| {
        let age = |app: &AppRef| previous.app(&app.id).and_then(|p| p.last_success_unix);
        match (age(a), age(b)) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.total_cmp(&y),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::ratelimit::RateLimit;

    #[test]
    fn a_refresh_starts_with_the_apps_it_did_not_reach_last_time() {
        let r = |id: &str| AppRef {
            id: id.into(),
            ..Default::default()
        };
        let done = |id: &str, at: Option<f64>| {
            Arc::new(AppSnapshot {
                app: r(id),
                last_success_unix: at,
                ..Default::default()
            })
        };
        // The last refresh got through "1" and "2" before the budget ran
        // out; "3" and "4" keep older data, "5" never had any.
        let previous = Snapshot {
            apps: vec![
                done("1", Some(300.0)),
                done("2", Some(310.0)),
                done("3", Some(100.0)),
                done("4", Some(50.0)),
            ],
            ..Default::default()
        };
        let mut apps: Vec<AppRef> = ["1", "2", "3", "4", "5"].map(r).to_vec();
        refresh_order(&mut apps, &previous);
        let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["5", "4", "3", "1", "2"]);
        // A cold start keeps the listing's order.
        let mut apps: Vec<AppRef> = ["9", "1", "5"].map(r).to_vec();
        refresh_order(&mut apps, &Snapshot::default());
        let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["9", "1", "5"]);
    }

    #[test]
    fn identity_labels_that_vanish_keep_their_previous_value() {
        let app = |name: Option<&str>, bundle: Option<&str>| App {
            kind: "apps".into(),
            id: "1".into(),
            attributes: crate::asc::model::AppAttributes {
                name: name.map(str::to_string),
                bundle_id: bundle.map(str::to_string),
                ..Default::default()
            },
            ..Default::default()
        };
        let before = AppRef {
            id: "1".into(),
            name: "Old".into(),
            bundle_id: "com.old".into(),
            account: "default".into(),
        };
        // A renamed app keeps its new name; a vanished bundle id its old one.
        assert_eq!(
            app_ref(&app(Some("New"), None), Some(&before), "default"),
            AppRef {
                id: "1".into(),
                name: "New".into(),
                bundle_id: "com.old".into(),
                account: "default".into(),
            }
        );
        assert_eq!(
            app_ref(&app(None, Some("")), Some(&before), "default"),
            before
        );
        // Without a previous value there is nothing to keep.
        assert_eq!(app_ref(&app(None, None), None, "x").bundle_id, "");
    }

    #[test]
    fn pacing_waits_out_a_spent_minute_window() {
        let rl = |h: &str| RateLimit::parse([h]).unwrap();
        let roomy =
            rl("user-hour-lim:3600;user-hour-rem:3000;user-minute-lim:150;user-minute-rem:40;");
        assert_eq!(pace_delay(&roomy, Duration::ZERO, 4), Duration::ZERO);
        let spent =
            rl("user-hour-lim:3600;user-hour-rem:3000;user-minute-lim:150;user-minute-rem:5;");
        assert_eq!(
            pace_delay(&spent, Duration::from_secs(10), 4),
            Duration::from_secs(50)
        );
        assert_eq!(
            pace_delay(&spent, Duration::from_secs(61), 4),
            Duration::ZERO
        );
        let hour_only = rl("user-hour-lim:3600;user-hour-rem:1;");
        assert_eq!(pace_delay(&hour_only, Duration::ZERO, 4), Duration::ZERO);
    }

    #[test]
    fn a_fresh_saved_snapshot_defers_the_first_refresh() {
        let opts = RefreshOptions::from(&Config::default());
        let mut s = Snapshot::default();
        assert_eq!(initial_delay(&opts, None, 1000.0), Duration::ZERO);
        s.refresh.last_success = true;
        s.refresh.last_success_unix = Some(1000.0);
        assert_eq!(
            initial_delay(&opts, Some(&s), 1600.0),
            Duration::from_secs(3000)
        );
        assert_eq!(initial_delay(&opts, Some(&s), 99999.0), Duration::ZERO);
        s.refresh.last_success = false;
        assert_eq!(
            initial_delay(&opts, Some(&s), 1600.0),
            Duration::ZERO,
            "a failed last refresh is retried at once"
        );
    }
}
