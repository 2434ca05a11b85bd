//! The mapping from a [`Snapshot`] to the neutral family model
//! ([`Families`]), exactly as `CONTRACT.md` and `docs/metrics.md` describe
//! it. It runs once per snapshot; every output reads its result.
//!
//! A family's series may have different label sets (build-level series add
//! a `build` label). Labels are interned as they are made: the labels an
//! app, a metric or a dataset shares with its series are interned once and
//! copied as symbol pairs, so the cost per series is a few integer copies,
//! not a string allocation per label. Family names follow [`super::units`]
//! (data-derived) and [`super::names`] (fixed).

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::asc::BuildInfo;
use crate::asc::api::natural_cmp;
use crate::asc::model::XcodeMetrics;
use crate::refresh::snapshot::{
    ApiSnapshot, AppRef, AppSnapshot, BuildSnapshot, RefreshStatus, Snapshot,
};

use super::model::{Families, Family, Kind, Label, Sizes, Strings, Sym};
use super::names::*;
use super::units::UnitMapping;

mod metrics;
mod overview;

use metrics::{insight_series, metrics_series};

/// Build metadata for `asc_exporter_build_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildMeta {
    /// The exporter's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The source revision (git commit), or `unknown`.
    pub revision: String,
}

/// All metric families of a snapshot, sorted by name, series sorted by
/// their label values; families without series are left out.
pub fn families(snapshot: &Snapshot, meta: &BuildMeta) -> Families {
    families_sized(snapshot, meta, &Sizes::default())
}

/// [`families`], each family's arrays reserved at the size `sizes` gives
/// (those of the previous mapping of the same account, [`Families::sizes`]).
pub fn families_sized(snapshot: &Snapshot, meta: &BuildMeta, sizes: &Sizes) -> Families {
    let mut b = Builder::sized(sizes);
    exporter_series(&mut b, snapshot, meta);
    for app in &snapshot.apps {
        app_series(&mut b, app);
    }
    b.finish()
}

type Labels = Vec<Label>;

/// The label names, interned first (in this order) so their symbols are
/// known without a lookup.
const LABEL_NAMES: &[&str] = &[
    "app_id",
    "app",
    "bundle_id",
    "platform",
    "category",
    "version",
    "device",
    "device_name",
    "percentile",
    "build",
    "goal",
    "metric",
    "subsystem",
    "scope",
    "processing_state",
    "diagnostic_type",
    "signature_id",
    "signature",
    "latest_version",
    "high_impact",
    "revision",
    "endpoint",
    "status",
    "window",
    "source_file",
    "line",
    "trend",
    "account",
];

mod n {
    use super::Sym;
    pub const APP_ID: Sym = 0;
    pub const APP: Sym = 1;
    pub const BUNDLE_ID: Sym = 2;
    pub const PLATFORM: Sym = 3;
    pub const CATEGORY: Sym = 4;
    pub const VERSION: Sym = 5;
    pub const DEVICE: Sym = 6;
    pub const DEVICE_NAME: Sym = 7;
    pub const PERCENTILE: Sym = 8;
    pub const BUILD: Sym = 9;
    pub const GOAL: Sym = 10;
    pub const METRIC: Sym = 11;
    pub const SUBSYSTEM: Sym = 12;
    pub const SCOPE: Sym = 13;
    pub const PROCESSING_STATE: Sym = 14;
    pub const DIAGNOSTIC_TYPE: Sym = 15;
    pub const SIGNATURE_ID: Sym = 16;
    pub const SIGNATURE: Sym = 17;
    pub const LATEST_VERSION: Sym = 18;
    pub const HIGH_IMPACT: Sym = 19;
    pub const REVISION: Sym = 20;
    pub const ENDPOINT: Sym = 21;
    pub const STATUS: Sym = 22;
    pub const WINDOW: Sym = 23;
    pub const SOURCE_FILE: Sym = 24;
    pub const LINE: Sym = 25;
    pub const TREND: Sym = 26;
    pub const ACCOUNT: Sym = 27;
}

struct Entry {
    /// What produces the family (a fixed name, or a kind of data-derived
    /// family). Two different origins never share a family.
    origin: &'static str,
    family: Family,
}

struct Builder<'s> {
    strings: Strings,
    entries: Vec<Entry>,
    by_name: FxHashMap<String, usize>,
    sizes: &'s Sizes,
    /// Each Apple metric's family names, made once per metric and unit
    /// (every app and build has the same metrics): see
    /// [`metrics::MetricNames`].
    metric_names: FxHashMap<String, std::rc::Rc<metrics::MetricNames>>,
}

impl<'s> Builder<'s> {
    #[cfg(test)]
    fn new() -> Builder<'static> {
        static NONE: std::sync::LazyLock<Sizes> = std::sync::LazyLock::new(Sizes::default);
        Builder::sized(&NONE)
    }

    fn sized(sizes: &'s Sizes) -> Self {
        let mut strings = Strings::with_capacity(sizes.strings());
        for (i, name) in LABEL_NAMES.iter().enumerate() {
            let sym = strings.intern(name);
            debug_assert_eq!(sym as usize, i);
        }
        let mut b = Self {
            strings,
            entries: Vec::new(),
            by_name: FxHashMap::default(),
            sizes,
            metric_names: FxHashMap::default(),
        };
        for name in FIXED {
            let reserved = std::iter::once((*name).to_string()).chain(openmetrics_names(name));
            for key in reserved {
                // Reserved names (without series) are left out by `finish`.
                b.insert(key, name, Kind::Gauge, fixed_unit(name));
            }
        }
        b
    }

    fn insert(&mut self, name: String, origin: &'static str, kind: Kind, unit: UnitMapping) {
        self.by_name.insert(name.clone(), self.entries.len());
        let (series, labels) = self.sizes.family(&name);
        let mut family = Family::new(name, String::new(), kind, unit);
        family.reserve_exact(series, labels);
        self.entries.push(Entry { origin, family });
    }

    fn sym(&mut self, s: &str) -> Sym {
        self.strings.intern(s)
    }

    fn label(&mut self, name: Sym, value: &str) -> Label {
        (name, self.sym(value))
    }

    /// Adds a series to a fixed family.
    fn fixed(&mut self, name: &'static str, kind: Kind, help: &str, labels: &[Label], value: f64) {
        self.fixed_cached(&mut None, name, kind, help, labels, value);
    }

    /// [`Self::fixed`] for a caller that adds many series to one family:
    /// `slot` keeps its index after the first (as [`Self::add_cached`]).
    fn fixed_cached(
        &mut self,
        slot: &mut Option<usize>,
        name: &'static str,
        kind: Kind,
        help: &str,
        labels: &[Label],
        value: f64,
    ) {
        if !value.is_finite() {
            return;
        }
        let index = match *slot {
            Some(i) => i,
            // Every fixed name is made in `new`: the unit is built only if not.
            None => *slot.insert(self.index_of(name, name, kind, || fixed_unit(name))),
        };
        self.push_at(index, kind, || help.to_string(), labels, value);
    }

    /// Adds a gauge series to a data-derived family.
    fn gauge(
        &mut self,
        name: &str,
        origin: &'static str,
        unit: &UnitMapping,
        help: impl FnOnce() -> String,
        labels: &[Label],
        value: f64,
    ) {
        self.add(name, origin, Kind::Gauge, unit, help, labels, value);
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        name: &str,
        origin: &'static str,
        kind: Kind,
        unit: &UnitMapping,
        help: impl FnOnce() -> String,
        labels: &[Label],
        value: f64,
    ) {
        let mut slot = None;
        self.add_cached(&mut slot, name, origin, kind, unit, help, labels, value);
    }

    /// [`Self::add`] for a caller that adds many series to one family:
    /// `slot` keeps the family's index after the first series, so the
    /// others skip the name lookup. The family is still made only when a
    /// series arrives (a name collision resolves as it would otherwise).
    #[allow(clippy::too_many_arguments)]
    fn add_cached(
        &mut self,
        slot: &mut Option<usize>,
        name: &str,
        origin: &'static str,
        kind: Kind,
        unit: &UnitMapping,
        help: impl FnOnce() -> String,
        labels: &[Label],
        value: f64,
    ) {
        if !value.is_finite() {
            return;
        }
        let index = match *slot {
            Some(i) => i,
            None => {
                let i = self.index_of(name, origin, kind, || unit.clone());
                *slot = Some(i);
                i
            }
        };
        self.push_at(index, kind, help, labels, value);
    }

    fn push_at(
        &mut self,
        index: usize,
        kind: Kind,
        help: impl FnOnce() -> String,
        labels: &[Label],
        value: f64,
    ) {
        let family = &mut self.entries[index].family;
        if family.help.is_empty() {
            family.help = help();
            family.kind = kind;
        }
        family.push(labels, value);
    }

    /// The index of the family `name` of `origin`, made (with `unit()`) if
    /// new.
    fn index_of(
        &mut self,
        name: &str,
        origin: &'static str,
        kind: Kind,
        unit: impl FnOnce() -> UnitMapping,
    ) -> usize {
        // A data-derived name that collides with a family of another origin
        // (pathological: an Apple metric named like one of ours) moves to
        // `<name>_2`, `<name>_3`, ... instead of being dropped or merged.
        match self.by_name.get(name) {
            Some(&i) if self.entries[i].origin == origin => i,
            None => {
                self.insert(name.to_string(), origin, kind, unit());
                self.entries.len() - 1
            }
            Some(_) => {
                let mut n = 2;
                loop {
                    let candidate = format!("{name}_{n}");
                    match self.by_name.get(&candidate) {
                        Some(&i) if self.entries[i].origin == origin => break i,
                        Some(_) => n += 1,
                        None => {
                            self.insert(candidate, origin, kind, unit());
                            break self.entries.len() - 1;
                        }
                    }
                }
            }
        }
    }

    fn finish(self) -> Families {
        let mut set = Families::with_strings(self.strings);
        set.families = self.entries.into_iter().map(|e| e.family).collect();
        for f in &mut set.families {
            if INFO.contains(&f.name.as_str()) {
                f.kind = Kind::Info;
            }
        }
        set.finish();
        set
    }
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn exporter_series(b: &mut Builder, s: &Snapshot, meta: &BuildMeta) {
    let labels = vec![
        b.label(n::VERSION, &meta.version),
        b.label(n::REVISION, &meta.revision),
    ];
    b.fixed(
        EXPORTER_BUILD_INFO,
        Kind::Gauge,
        "Exporter build: always 1, version and revision in labels.",
        &labels,
        1.0,
    );
    for (account, refresh, api) in s.account_statuses() {
        account_series(b, account, refresh, api);
    }
}

/// One account's refresh status and API counters, labelled `account`.
fn account_series(b: &mut Builder, account: &str, refresh: &RefreshStatus, api: &ApiSnapshot) {
    let acc = b.label(n::ACCOUNT, account);
    let one = [acc];
    b.fixed(
        EXPORTER_PROGRESS,
        Kind::Gauge,
        "Apps done of the account's refresh under way, as a fraction (1 between refreshes, 0 before the first).",
        &one,
        refresh
            .progress
            .map_or(bool_value(refresh.last_attempt_unix > 0.0), |p| p.ratio()),
    );
    b.fixed(
        EXPORTER_LAST_SUCCESS,
        Kind::Gauge,
        "1 if the latest refresh succeeded for every app, else 0 (also 0 before the first refresh).",
        &one,
        bool_value(refresh.last_success),
    );
    if let Some(ts) = refresh.last_success_unix {
        b.fixed(
            EXPORTER_LAST_SUCCESS_TS,
            Kind::Gauge,
            "Unix time of the latest refresh that succeeded for every app.",
            &one,
            ts,
        );
    }
    if refresh.last_attempt_unix > 0.0 {
        b.fixed(
            EXPORTER_LAST_ATTEMPT_TS,
            Kind::Gauge,
            "Unix time the latest refresh finished, whether it succeeded or not.",
            &one,
            refresh.last_attempt_unix,
        );
        b.fixed(
            EXPORTER_DURATION,
            Kind::Gauge,
            "Wall-clock duration of the latest refresh.",
            &one,
            refresh.duration_seconds,
        );
        if let Some(ts) = refresh.next_attempt_unix {
            b.fixed(
                EXPORTER_NEXT_TS,
                Kind::Gauge,
                "Unix time the next refresh is due (later than the interval while the App Store Connect rate limit holds requests back).",
                &one,
                ts,
            );
        }
        if refresh.interval_seconds > 0.0 {
            b.fixed(
                EXPORTER_INTERVAL,
                Kind::Gauge,
                "The configured time between refreshes (refresh.interval).",
                &one,
                refresh.interval_seconds,
            );
        }
    }
    for (endpoint, status, count) in &api.requests {
        let labels = vec![
            acc,
            b.label(n::ENDPOINT, endpoint),
            b.label(n::STATUS, status),
        ];
        b.fixed(
            API_REQUESTS,
            Kind::Counter,
            "App Store Connect API requests since the exporter started, by route template and HTTP status (or error/timeout).",
            &labels,
            *count as f64,
        );
    }
    b.fixed(
        API_RETRIES,
        Kind::Counter,
        "App Store Connect API requests retried since the exporter started.",
        &one,
        api.retries as f64,
    );
    type PerEndpoint<'a> = (&'static str, &'a str, &'a [(String, u64)]);
    let per_endpoint: [PerEndpoint<'_>; 3] = [
        (
            API_AUTH_FAILURES,
            "App Store Connect 401 responses that persisted after a freshly minted token (the key, key id or issuer id is wrong or revoked), by route template.",
            &api.auth_failures,
        ),
        (
            API_AUTH_RECOVERED,
            "App Store Connect 401 responses that a freshly minted token cured (not a failure), by route template.",
            &api.auth_recovered,
        ),
        (
            API_DECODE_ERRORS,
            "App Store Connect responses whose body could not be understood (malformed, empty, cut off, or missing the keys that carry data), by route template; the app keeps its last good data.",
            &api.decode_errors,
        ),
    ];
    for (name, help, counts) in per_endpoint {
        for (endpoint, n) in counts.iter() {
            let labels = vec![acc, b.label(n::ENDPOINT, endpoint)];
            b.fixed(name, Kind::Counter, help, &labels, *n as f64);
        }
    }
    if let Some(ts) = api.resume_unix {
        b.fixed(
            API_RL_RESUME_TS,
            Kind::Gauge,
            "While the rate-limit budget is spent or a Retry-After is honoured: the Unix time requests may go out again (absent otherwise).",
            &one,
            ts,
        );
    }
    if let Some(rl) = &api.rate_limit {
        let windows = [
            ("hour", rl.hour_remaining, rl.hour_limit),
            ("minute", rl.minute_remaining, rl.minute_limit),
        ];
        for (window, remaining, limit) in windows {
            let labels = vec![acc, b.label(n::WINDOW, window)];
            if let Some(r) = remaining {
                b.fixed(
                    API_RL_REMAINING,
                    Kind::Gauge,
                    "Requests left in the App Store Connect rate-limit window, from the latest X-Rate-Limit header.",
                    &labels,
                    r as f64,
                );
            }
            if let Some(l) = limit {
                b.fixed(
                    API_RL_LIMIT,
                    Kind::Gauge,
                    "Requests allowed in the App Store Connect rate-limit window, from the latest X-Rate-Limit header.",
                    &labels,
                    l as f64,
                );
            }
        }
    }
}

fn app_labels(b: &mut Builder, app: &AppRef) -> Labels {
    vec![
        b.label(n::APP_ID, &app.id),
        b.label(n::APP, &app.name),
        b.label(n::BUNDLE_ID, &app.bundle_id),
        b.label(n::ACCOUNT, &app.account),
    ]
}

/// Where a metrics document came from.
#[derive(Clone, Copy)]
enum Scope<'a> {
    App,
    /// A build, and its number interned.
    Build(&'a BuildInfo, Sym),
}

impl<'a> Scope<'a> {
    /// Adds the `build` label to build-level series.
    fn push_build(self, labels: &mut Labels) {
        if let Scope::Build(_, number) = self {
            labels.push((n::BUILD, number));
        }
    }

    /// The version of a point without one: the build's marketing version
    /// (none at app level).
    fn fallback_version(self) -> &'a str {
        match self {
            Scope::App => "",
            Scope::Build(build, _) => build.version.as_deref().unwrap_or_default(),
        }
    }
}

fn app_series(b: &mut Builder, a: &AppSnapshot) {
    let app = &a.app;
    let labels = app_labels(b, app);
    if let Some(ts) = a.last_success_unix {
        b.fixed(
            APP_LAST_SUCCESS_TS,
            Kind::Gauge,
            "Unix time of the latest successful refresh of the app's data.",
            &labels,
            ts,
        );
    }
    b.fixed(
        APP_REFRESH_FAILED,
        Kind::Gauge,
        "1 if the latest attempt to refresh the app failed (its series are then the last good data), else 0.",
        &labels,
        bool_value(a.last_attempt_failed),
    );
    if let Some(m) = &a.metrics {
        data_available(b, &labels, None, m.has_data());
        latest_version(b, &labels, a, m);
        metrics_series(b, &labels, Scope::App, m);
        insight_series(b, &labels, Scope::App, m);
    }
    if let Some(o) = &a.overview {
        overview::overview_series(b, &labels, a.metrics.as_ref(), o);
    }
    for build in &a.builds {
        build_series(b, &labels, build);
    }
}

/// `asc_data_available`: `scope="app"` for the app's metrics, or
/// `scope="build"` and the build number in `build` (the last label, as on
/// every build-level series) for a build's.
fn data_available(b: &mut Builder, app: &Labels, build: Option<Sym>, available: bool) {
    let mut labels = app.clone();
    match build {
        None => labels.push(b.label(n::SCOPE, "app")),
        Some(number) => {
            labels.push(b.label(n::SCOPE, "build"));
            labels.push((n::BUILD, number));
        }
    }
    b.fixed(
        DATA_AVAILABLE,
        Kind::Gauge,
        "1 if App Store Connect returned metrics for the app (scope app) or for the build in the build label (scope build), 0 if it returned none yet (not measured: no value series then).",
        &labels,
        bool_value(available),
    );
}

/// `asc_app_latest_version_info`: the newest version per platform among the
/// app-level points, or the insights' latest version when there are no
/// points; and `asc_app_version_rank`: every version's place counted from
/// the newest (0 = latest, 1 = previous, ...), because PromQL cannot order
/// version strings.
fn latest_version(b: &mut Builder, app: &Labels, a: &AppSnapshot, m: &XcodeMetrics) {
    // Each distinct version once (every point names one), then sorted.
    let mut distinct: BTreeMap<&str, FxHashSet<&str>> = BTreeMap::new();
    for (platform, _, metric) in m.metrics() {
        let set = distinct.entry(platform).or_default();
        set.extend(
            metric
                .datasets
                .iter()
                .flat_map(|d| d.points.iter())
                .filter_map(|p| p.version.as_deref()),
        );
    }
    let mut versions: BTreeMap<&str, Vec<&str>> = distinct
        .into_iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(platform, set)| (platform, set.into_iter().collect()))
        .collect();
    let fallback;
    if versions.is_empty() {
        fallback = a.latest_version();
        if let Some(v) = fallback.as_deref() {
            let platform = m
                .product_data
                .iter()
                .find_map(|p| p.platform.as_deref())
                .unwrap_or("");
            versions.insert(platform, vec![v]);
        }
    }
    for (platform, mut list) in versions {
        // Newest first; ties in natural order broken by the string itself.
        list.sort_by(|x, y| natural_cmp(y, x).then_with(|| y.cmp(x)));
        let platform = b.label(n::PLATFORM, platform);
        for (rank, version) in list.iter().enumerate() {
            let mut labels = app.clone();
            labels.push(platform);
            labels.push(b.label(n::VERSION, version));
            if rank == 0 {
                b.fixed(
                    APP_LATEST_VERSION,
                    Kind::Gauge,
                    "The newest app version in the app's metrics: always 1, for joins in dashboards and alerts.",
                    &labels,
                    1.0,
                );
            }
            b.fixed(
                APP_VERSION_RANK,
                Kind::Gauge,
                "Place of the version among the app's versions in the metrics, counted from the newest: 0 = latest, 1 = previous, ...",
                &labels,
                rank as f64,
            );
        }
    }
}

fn build_series(b: &mut Builder, app: &Labels, bs: &BuildSnapshot) {
    let build = &bs.build;
    let number = b.sym(&build.number);
    let version = b.label(n::VERSION, build.version.as_deref().unwrap_or_default());
    if let Some(ts) = build
        .uploaded_date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
    {
        let mut labels = app.clone();
        labels.push((n::BUILD, number));
        labels.push(version);
        labels.push(b.label(
            n::PROCESSING_STATE,
            build.processing_state.as_deref().unwrap_or_default(),
        ));
        b.fixed(
            BUILD_UPLOADED,
            Kind::Gauge,
            "Unix time the build was uploaded to App Store Connect.",
            &labels,
            ts.timestamp_millis() as f64 / 1000.0,
        );
    }
    let has_data = bs.metrics.as_ref().is_some_and(XcodeMetrics::has_data);
    data_available(b, app, Some(number), has_data);
    let scope = Scope::Build(build, number);
    if let Some(m) = &bs.metrics {
        metrics_series(b, app, scope, m);
        insight_series(b, app, scope, m);
    }
    for sig in &bs.signatures {
        let Some(weight) = sig.attributes.weight else {
            continue;
        };
        let mut labels = app.clone();
        labels.push((n::BUILD, number));
        labels.push(version);
        labels.push(b.label(n::DIAGNOSTIC_TYPE, sig.diagnostic_type()));
        labels.push(b.label(n::SIGNATURE_ID, &sig.id));
        labels.push(b.label(n::SIGNATURE, sig.signature()));
        b.fixed(
            SIGNATURE_WEIGHT,
            Kind::Gauge,
            "Weight of a diagnostic signature as a fraction of its build's total for the diagnostic type.",
            &labels,
            weight,
        );
    }
}

/// Origins of data-derived families (see [`Builder::add`]).
const O_VALUE: &str = "metric value";
const O_MARGIN: &str = "metric error margin";
const O_GOAL_LOWER: &str = "metric goal lower bound";
const O_GOAL_UPPER: &str = "metric goal upper bound";
const O_RECOMMENDED: &str = "metric recommended goal";
const O_INSIGHT_LATEST: &str = "insight latest value";
const O_INSIGHT_REFERENCE: &str = "insight reference value";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::units::unit_mapping;

    fn names(set: &Families) -> Vec<String> {
        set.families.iter().map(|f| f.name.clone()).collect()
    }

    #[test]
    fn label_names_are_interned_first() {
        let b = Builder::new();
        for (i, name) in LABEL_NAMES.iter().enumerate() {
            assert_eq!(b.strings.get(i as Sym), *name);
        }
        assert_eq!(b.strings.get(n::WINDOW), "window");
        assert_eq!(b.strings.get(n::BUILD), "build");
    }

    #[test]
    fn colliding_names_are_kept_apart() {
        let mut b = Builder::new();
        let s = unit_mapping("seconds", "");
        b.gauge(DATA_AVAILABLE, O_VALUE, &s, || "h".into(), &[], 1.0);
        b.gauge("asc_x_seconds", O_VALUE, &s, || "v".into(), &[], 1.0);
        b.gauge("asc_x_seconds", O_MARGIN, &s, || "m".into(), &[], 2.0);
        assert_eq!(
            names(&b.finish()),
            ["asc_data_available_2", "asc_x_seconds", "asc_x_seconds_2"]
        );
    }

    /// Names OpenMetrics derives from a fixed counter or info family are
    /// taken too: a data-derived gauge never clashes with one.
    #[test]
    fn openmetrics_family_names_are_reserved() {
        let mut b = Builder::new();
        let none = UnitMapping::none();
        for name in [
            "asc_api_requests",
            "asc_api_requests_created",
            "asc_exporter_build",
            "asc_app_latest_version",
            "asc_metric_goal",
        ] {
            b.gauge(name, O_VALUE, &none, || "v".into(), &[], 1.0);
        }
        b.fixed(API_REQUESTS, Kind::Counter, "r", &[], 1.0);
        assert_eq!(
            names(&b.finish()),
            [
                "asc_api_requests_2",
                "asc_api_requests_created_2",
                "asc_api_requests_total",
                "asc_app_latest_version_2",
                "asc_exporter_build_2",
                "asc_metric_goal_2",
            ]
        );
    }

    /// Every fixed counter is named `*_total` (its OpenMetrics samples are
    /// then the text format's), every info family `*_info`.
    #[test]
    fn fixed_counter_and_info_names() {
        let mut b = Builder::new();
        exporter_series(&mut b, &Snapshot::default(), &BuildMeta::default());
        let mut counters = 0;
        for f in b.finish().families {
            if f.kind == Kind::Counter {
                assert!(f.name.ends_with("_total"), "{}", f.name);
                counters += 1;
            }
            if f.name == EXPORTER_BUILD_INFO {
                assert_eq!(f.kind, Kind::Info);
            }
        }
        assert!(counters >= 1);
        for name in FIXED.iter().filter(|n| n.ends_with("_total")) {
            // A counter's OpenMetrics family is the name without `_total`:
            // no unit suffix would be left to match a `# UNIT`.
            assert_eq!(fixed_unit(name).suffix, "", "{name}");
        }
        for name in INFO {
            assert!(name.ends_with("_info") && FIXED.contains(name), "{name}");
        }
    }

    #[test]
    fn empty_snapshot() {
        let meta = BuildMeta {
            version: "0.1.0".into(),
            revision: "abc".into(),
        };
        let set = families(&Snapshot::default(), &meta);
        assert_eq!(
            names(&set),
            [
                "asc_api_retries_total",
                "asc_exporter_build_info",
                "asc_exporter_last_refresh_success",
                "asc_exporter_refresh_progress_ratio"
            ]
        );
        let info = set.get(EXPORTER_BUILD_INFO).unwrap();
        let labels: Vec<_> = set.labels(info, &info.series[0]).collect();
        assert_eq!(labels, [("version", "0.1.0"), ("revision", "abc")]);
    }
}
