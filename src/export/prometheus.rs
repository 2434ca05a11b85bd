//! The Prometheus output: a pure mapping from a [`Snapshot`] to the
//! exposition, exactly as `CONTRACT.md` and `docs/metrics.md` describe it.
//!
//! Families are built directly as [`MetricFamily`] protos (a family's series
//! may have different label sets: build-level series add a `build` label),
//! each with its unit and OpenMetrics type, and encoded once per refresh in
//! both formats by [`Exposition::encode`] (text 0.0.4 and OpenMetrics
//! 1.0.0, each with a gzip copy); every scrape serves those buffers.
//!
//! The naming and unit rules live in [`super::units`] (shared with the OTLP
//! output) and are re-exported here.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use ::prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::asc::BuildInfo;
use crate::asc::client::natural_cmp;
use crate::asc::model::{
    Metric as AscMetric, MetricCategory, MetricsInsight, XcodeMetrics, percentile_label,
};
use crate::export::stats::ExportStatsSnapshot;
use crate::refresh::snapshot::{AppRef, AppSnapshot, BuildSnapshot, Snapshot};
use crate::refresh::state::StateStatsSnapshot;

pub use super::exposition::{Encodable, Exposition, TEXT_CONTENT_TYPE as CONTENT_TYPE};
use super::openmetrics::Kind;
pub use super::units::{UnitMapping, metric_family_name, snake_case, unit_mapping};
use super::units::{compose_name, scale};

/// Build metadata for `asc_exporter_build_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildMeta {
    /// The exporter's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The source revision (git commit), or `unknown`.
    pub revision: String,
}

// ---------------------------------------------------------------------------
// Family names that do not depend on the data.

const EXPORTER_BUILD_INFO: &str = "asc_exporter_build_info";
const EXPORTER_LAST_SUCCESS: &str = "asc_exporter_last_refresh_success";
const EXPORTER_LAST_SUCCESS_TS: &str = "asc_exporter_last_refresh_success_timestamp_seconds";
const EXPORTER_LAST_ATTEMPT_TS: &str = "asc_exporter_last_refresh_timestamp_seconds";
const EXPORTER_DURATION: &str = "asc_exporter_refresh_duration_seconds";
const EXPORTER_INTERVAL: &str = "asc_exporter_refresh_interval_seconds";
const EXPORTER_NEXT_TS: &str = "asc_exporter_next_refresh_timestamp_seconds";
const API_REQUESTS: &str = "asc_api_requests_total";
const API_RETRIES: &str = "asc_api_retries_total";
const API_RL_REMAINING: &str = "asc_api_rate_limit_remaining";
const API_RL_LIMIT: &str = "asc_api_rate_limit_limit";
const APP_LAST_SUCCESS_TS: &str = "asc_app_last_refresh_success_timestamp_seconds";
const APP_REFRESH_FAILED: &str = "asc_app_refresh_failed";
const APP_LATEST_VERSION: &str = "asc_app_latest_version_info";
const APP_VERSION_RANK: &str = "asc_app_version_rank";
const DATA_AVAILABLE: &str = "asc_data_available";
const BUILD_UPLOADED: &str = "asc_build_uploaded_timestamp_seconds";
const SIGNATURE_WEIGHT: &str = "asc_diagnostic_signature_weight_ratio";
const METRIC_GOAL_INFO: &str = "asc_metric_goal_info";
const METRIC_BREAKDOWN: &str = "asc_metric_breakdown_ratio";
const INSIGHT_REGRESSION_DELTA: &str = "asc_insight_regression_delta_ratio";
const INSIGHT_TRENDING_UP_DELTA: &str = "asc_insight_trending_up_delta_ratio";
const API_AUTH_FAILURES: &str = "asc_api_auth_failures_total";
const API_AUTH_RECOVERED: &str = "asc_api_auth_recovered_total";
const API_DECODE_ERRORS: &str = "asc_api_decode_errors_total";
const API_RL_RESUME_TS: &str = "asc_api_rate_limit_resume_timestamp_seconds";
const STATE_WRITE_FAILURES: &str = "asc_exporter_state_write_failures_total";
const STATE_LAST_WRITE_TS: &str = "asc_exporter_state_last_write_success_timestamp_seconds";
const OTLP_EXPORTS: &str = "asc_otlp_exports_total";
const OTLP_LAST_SUCCESS_TS: &str = "asc_otlp_last_export_success_timestamp_seconds";
const OTLP_LOG_RECORDS: &str = "asc_otlp_log_records_sent_total";

/// Every fixed family name; data-derived names never take one of these.
const FIXED: &[&str] = &[
    EXPORTER_BUILD_INFO,
    EXPORTER_LAST_SUCCESS,
    EXPORTER_LAST_SUCCESS_TS,
    EXPORTER_LAST_ATTEMPT_TS,
    EXPORTER_DURATION,
    EXPORTER_INTERVAL,
    EXPORTER_NEXT_TS,
    API_REQUESTS,
    API_RETRIES,
    API_RL_REMAINING,
    API_RL_LIMIT,
    API_AUTH_FAILURES,
    API_AUTH_RECOVERED,
    API_DECODE_ERRORS,
    API_RL_RESUME_TS,
    STATE_WRITE_FAILURES,
    STATE_LAST_WRITE_TS,
    APP_LAST_SUCCESS_TS,
    APP_REFRESH_FAILED,
    APP_LATEST_VERSION,
    APP_VERSION_RANK,
    DATA_AVAILABLE,
    BUILD_UPLOADED,
    SIGNATURE_WEIGHT,
    METRIC_GOAL_INFO,
    METRIC_BREAKDOWN,
    INSIGHT_REGRESSION_DELTA,
    INSIGHT_TRENDING_UP_DELTA,
    OTLP_EXPORTS,
    OTLP_LAST_SUCCESS_TS,
    OTLP_LOG_RECORDS,
];

/// The fixed families that are OpenMetrics `info` families: gauges named
/// `*_info` whose value is always 1 (version, goal band and build in
/// labels). Data-derived families are never typed info.
const INFO: &[&str] = &[EXPORTER_BUILD_INFO, APP_LATEST_VERSION, METRIC_GOAL_INFO];

/// The names OpenMetrics gives a fixed counter or info family besides its
/// own: `foo_total` is the family `foo` with samples `foo_total` and
/// `foo_created`, `foo_info` the family `foo`. A data-derived family taking
/// one of these names would clash in OpenMetrics (spec §"Suffixes"), so they
/// are reserved for the fixed family.
fn openmetrics_names(name: &str) -> Vec<String> {
    if let Some(family) = name.strip_suffix("_total") {
        vec![family.to_string(), format!("{family}_created")]
    } else if let Some(family) = name.strip_suffix("_info").filter(|_| INFO.contains(&name)) {
        vec![family.to_string()]
    } else {
        Vec::new()
    }
}

/// The unit of a fixed family, from the suffix its name carries. Counters
/// get a UCUM annotation (`{request}`) and no suffix: `_total` is the
/// counter's, not a unit.
fn fixed_unit(name: &str) -> UnitMapping {
    match name {
        API_REQUESTS => UnitMapping::annotation("{request}"),
        API_RETRIES => UnitMapping::annotation("{retry}"),
        API_AUTH_FAILURES | API_AUTH_RECOVERED => UnitMapping::annotation("{response}"),
        API_DECODE_ERRORS => UnitMapping::annotation("{response}"),
        STATE_WRITE_FAILURES => UnitMapping::annotation("{write}"),
        OTLP_EXPORTS => UnitMapping::annotation("{export}"),
        OTLP_LOG_RECORDS => UnitMapping::annotation("{record}"),
        _ if name.ends_with("_seconds") => UnitMapping::known("seconds", 1.0, "s"),
        _ if name.ends_with("_bytes") => UnitMapping::known("bytes", 1.0, "By"),
        _ if name.ends_with("_ratio") => UnitMapping::known("ratio", 1.0, "1"),
        _ => UnitMapping::none(),
    }
}

// ---------------------------------------------------------------------------
// Building families.

type Labels = Vec<(&'static str, String)>;

struct Series {
    labels: Labels,
    value: f64,
}

struct Family {
    /// What produces the family (a fixed name, or a kind of data-derived
    /// family). Two different origins never share a family.
    origin: String,
    help: String,
    kind: MetricType,
    /// The family's unit (name suffix and UCUM), for the OTLP output.
    unit: UnitMapping,
    series: Vec<Series>,
}

#[derive(Default)]
struct Builder {
    families: BTreeMap<String, Family>,
}

impl Builder {
    fn new() -> Self {
        let mut b = Self::default();
        for name in FIXED {
            let reserved = std::iter::once((*name).to_string()).chain(openmetrics_names(name));
            for key in reserved {
                // Reserved names (without series) are left out by `finish`.
                b.families.insert(
                    key,
                    Family {
                        origin: (*name).to_string(),
                        help: String::new(),
                        kind: MetricType::GAUGE,
                        unit: fixed_unit(name),
                        series: Vec::new(),
                    },
                );
            }
        }
        b
    }

    /// Adds a series to a fixed family.
    fn fixed(&mut self, name: &str, kind: MetricType, help: &str, labels: Labels, value: f64) {
        self.add(
            name,
            name,
            kind,
            &fixed_unit(name),
            || help.to_string(),
            labels,
            value,
        );
    }

    /// Adds a gauge series to a data-derived family.
    fn gauge(
        &mut self,
        name: &str,
        origin: &str,
        unit: &UnitMapping,
        help: impl FnOnce() -> String,
        labels: Labels,
        value: f64,
    ) {
        self.add(name, origin, MetricType::GAUGE, unit, help, labels, value);
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        name: &str,
        origin: &str,
        kind: MetricType,
        unit: &UnitMapping,
        help: impl FnOnce() -> String,
        labels: Labels,
        value: f64,
    ) {
        if !value.is_finite() {
            return;
        }
        // A data-derived name that collides with a family of another origin
        // (pathological: an Apple metric named like one of ours) moves to
        // `<name>_2`, `<name>_3`, ... instead of being dropped or merged.
        let mut n = 1;
        let key = loop {
            let candidate = if n == 1 {
                name.to_string()
            } else {
                format!("{name}_{n}")
            };
            match self.families.get(&candidate) {
                Some(f) if f.origin != origin => n += 1,
                _ => break candidate,
            }
        };
        let family = self.families.entry(key).or_insert_with(|| Family {
            origin: origin.to_string(),
            help: String::new(),
            kind,
            unit: unit.clone(),
            series: Vec::new(),
        });
        if family.help.is_empty() {
            family.help = help();
            family.kind = kind;
        }
        family.series.push(Series { labels, value });
    }

    fn finish(self) -> Vec<MetricFamily> {
        self.finish_with_units()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    fn finish_with_units(self) -> Vec<(MetricFamily, UnitMapping)> {
        self.families
            .into_iter()
            .filter(|(_, f)| !f.series.is_empty())
            .map(|(name, mut f)| {
                let unit = std::mem::replace(&mut f.unit, UnitMapping::none());
                (to_proto(name, f), unit)
            })
            .collect()
    }
}

/// The order of [`natural_cmp`] (alphanumeric runs, numbers by value),
/// without allocating: sorting calls it for every comparison.
fn natural_order(a: &str, b: &str) -> Ordering {
    let not_alnum = |c: char| !c.is_ascii_alphanumeric();
    let number = |p: &str| p.parse::<u64>().unwrap_or(u64::MAX);
    let (mut ai, mut bi) = (a.split(not_alnum), b.split(not_alnum));
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = number(x).cmp(&number(y)).then_with(|| x.cmp(y));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Orders label values naturally (`1.9` < `1.10`), ties broken bytewise.
fn cmp_labels(a: &Labels, b: &Labels) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
        if an == bn && av == bv {
            continue;
        }
        let o = an
            .cmp(bn)
            .then_with(|| natural_order(av, bv))
            .then_with(|| av.cmp(bv));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn to_proto(name: String, mut f: Family) -> MetricFamily {
    // Stable sort, then drop exact label-set duplicates (keeping the first
    // in input order): a valid exposition has unique series.
    f.series.sort_by(|a, b| cmp_labels(&a.labels, &b.labels));
    f.series
        .dedup_by(|later, first| later.labels == first.labels);
    let metrics = f
        .series
        .into_iter()
        .map(|s| {
            let mut m = Metric::from_label(
                s.labels
                    .into_iter()
                    .map(|(k, v)| {
                        let mut lp = LabelPair::default();
                        lp.set_name(k.to_string());
                        lp.set_value(v);
                        lp
                    })
                    .collect(),
            );
            if f.kind == MetricType::COUNTER {
                let mut c = Counter::default();
                c.set_value(s.value);
                m.set_counter(c);
            } else {
                let mut g = Gauge::default();
                g.set_value(s.value);
                m.set_gauge(g);
            }
            m
        })
        .collect();
    let mut mf = MetricFamily::default();
    mf.set_name(name);
    mf.set_help(f.help);
    mf.set_field_type(f.kind);
    mf.set_metric(metrics);
    mf
}

// ---------------------------------------------------------------------------
// The mapping.

/// All metric families of a snapshot, sorted by name, series sorted by
/// their label values; families without series are left out.
pub fn families(snapshot: &Snapshot, meta: &BuildMeta) -> Vec<MetricFamily> {
    let mut b = Builder::new();
    exporter_series(&mut b, snapshot, meta);
    for app in &snapshot.apps {
        app_series(&mut b, app);
    }
    b.finish()
}

/// [`families`] with each family's unit ([`UnitMapping::suffix`] is the
/// suffix the family name ends with, [`UnitMapping::ucum`] its UCUM unit):
/// what the OTLP output maps from.
pub fn families_with_units(
    snapshot: &Snapshot,
    meta: &BuildMeta,
) -> Vec<(MetricFamily, UnitMapping)> {
    let mut b = Builder::new();
    exporter_series(&mut b, snapshot, meta);
    for app in &snapshot.apps {
        app_series(&mut b, app);
    }
    b.finish_with_units()
}

/// Encodes a snapshot in both formats, each with its gzip copy.
pub fn encode(snapshot: &Snapshot, meta: &BuildMeta) -> Exposition {
    encode_with_stats(snapshot, meta, &LiveStats::default())
}

/// Self-metrics that change between refreshes and are shown on `/metrics`
/// only (never pushed over OTLP): the OTLP output's export outcomes and the
/// state writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveStats {
    pub otlp: Option<ExportStatsSnapshot>,
    pub state: Option<StateStatsSnapshot>,
}

/// [`encode`], plus the self-metrics that change between refreshes.
pub fn encode_with_stats(snapshot: &Snapshot, meta: &BuildMeta, live: &LiveStats) -> Exposition {
    Exposition::encode(&encodable_with_stats(snapshot, meta, live))
}

/// The families [`encode_with_stats`] encodes, each with its OpenMetrics
/// type and unit.
fn encodable_with_stats(snapshot: &Snapshot, meta: &BuildMeta, live: &LiveStats) -> Vec<Encodable> {
    let mut b = Builder::new();
    exporter_series(&mut b, snapshot, meta);
    if let Some(st) = &live.otlp {
        stats_series(&mut b, st);
    }
    if let Some(st) = &live.state {
        state_series(&mut b, st);
    }
    for app in &snapshot.apps {
        app_series(&mut b, app);
    }
    b.finish_with_units()
        .into_iter()
        .filter_map(|(family, unit)| {
            let kind = if INFO.contains(&family.name()) {
                Kind::Info
            } else {
                // The builder makes gauges and counters only.
                Kind::of(&family)?
            };
            Some(Encodable {
                family,
                kind,
                unit: unit.suffix,
            })
        })
        .collect()
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn exporter_series(b: &mut Builder, s: &Snapshot, meta: &BuildMeta) {
    b.fixed(
        EXPORTER_BUILD_INFO,
        MetricType::GAUGE,
        "Exporter build: always 1, version and revision in labels.",
        vec![
            ("version", meta.version.clone()),
            ("revision", meta.revision.clone()),
        ],
        1.0,
    );
    b.fixed(
        EXPORTER_LAST_SUCCESS,
        MetricType::GAUGE,
        "1 if the latest refresh succeeded for every app, else 0 (also 0 before the first refresh).",
        vec![],
        bool_value(s.refresh.last_success),
    );
    if let Some(ts) = s.refresh.last_success_unix {
        b.fixed(
            EXPORTER_LAST_SUCCESS_TS,
            MetricType::GAUGE,
            "Unix time of the latest refresh that succeeded for every app.",
            vec![],
            ts,
        );
    }
    if s.refresh.last_attempt_unix > 0.0 {
        b.fixed(
            EXPORTER_LAST_ATTEMPT_TS,
            MetricType::GAUGE,
            "Unix time the latest refresh finished, whether it succeeded or not.",
            vec![],
            s.refresh.last_attempt_unix,
        );
        b.fixed(
            EXPORTER_DURATION,
            MetricType::GAUGE,
            "Wall-clock duration of the latest refresh.",
            vec![],
            s.refresh.duration_seconds,
        );
        if let Some(ts) = s.refresh.next_attempt_unix {
            b.fixed(
                EXPORTER_NEXT_TS,
                MetricType::GAUGE,
                "Unix time the next refresh is due (later than the interval while the App Store Connect rate limit holds requests back).",
                vec![],
                ts,
            );
        }
        if s.refresh.interval_seconds > 0.0 {
            b.fixed(
                EXPORTER_INTERVAL,
                MetricType::GAUGE,
                "The configured time between refreshes (refresh.interval).",
                vec![],
                s.refresh.interval_seconds,
            );
        }
    }
    for (endpoint, status, count) in &s.api.requests {
        b.fixed(
            API_REQUESTS,
            MetricType::COUNTER,
            "App Store Connect API requests since the exporter started, by route template and HTTP status (or error/timeout).",
            vec![("endpoint", endpoint.clone()), ("status", status.clone())],
            *count as f64,
        );
    }
    b.fixed(
        API_RETRIES,
        MetricType::COUNTER,
        "App Store Connect API requests retried since the exporter started.",
        vec![],
        s.api.retries as f64,
    );
    for (endpoint, n) in &s.api.auth_failures {
        b.fixed(
            API_AUTH_FAILURES,
            MetricType::COUNTER,
            "App Store Connect 401 responses that persisted after a freshly minted token (the key, key id or issuer id is wrong or revoked), by route template.",
            vec![("endpoint", endpoint.clone())],
            *n as f64,
        );
    }
    for (endpoint, n) in &s.api.auth_recovered {
        b.fixed(
            API_AUTH_RECOVERED,
            MetricType::COUNTER,
            "App Store Connect 401 responses that a freshly minted token cured (not a failure), by route template.",
            vec![("endpoint", endpoint.clone())],
            *n as f64,
        );
    }
    for (endpoint, n) in &s.api.decode_errors {
        b.fixed(
            API_DECODE_ERRORS,
            MetricType::COUNTER,
            "App Store Connect responses whose body could not be understood (malformed, empty, cut off, or missing the keys that carry data), by route template; the app keeps its last good data.",
            vec![("endpoint", endpoint.clone())],
            *n as f64,
        );
    }
    if let Some(ts) = s.api.resume_unix {
        b.fixed(
            API_RL_RESUME_TS,
            MetricType::GAUGE,
            "While the rate-limit budget is spent or a Retry-After is honoured: the Unix time requests may go out again (absent otherwise).",
            vec![],
            ts,
        );
    }
    if let Some(rl) = &s.api.rate_limit {
        let windows = [
            ("hour", rl.hour_remaining, rl.hour_limit),
            ("minute", rl.minute_remaining, rl.minute_limit),
        ];
        for (window, remaining, limit) in windows {
            if let Some(r) = remaining {
                b.fixed(
                    API_RL_REMAINING,
                    MetricType::GAUGE,
                    "Requests left in the App Store Connect rate-limit window, from the latest X-Rate-Limit header.",
                    vec![("window", window.to_string())],
                    r as f64,
                );
            }
            if let Some(l) = limit {
                b.fixed(
                    API_RL_LIMIT,
                    MetricType::GAUGE,
                    "Requests allowed in the App Store Connect rate-limit window, from the latest X-Rate-Limit header.",
                    vec![("window", window.to_string())],
                    l as f64,
                );
            }
        }
    }
}

/// The state writes (only on `/metrics`, never pushed).
fn state_series(b: &mut Builder, st: &StateStatsSnapshot) {
    b.fixed(
        STATE_WRITE_FAILURES,
        MetricType::COUNTER,
        "Writes of the state file (state_dir) that failed since the exporter started; the data is still served from memory.",
        vec![],
        st.write_failures as f64,
    );
    if let Some(ts) = st.last_write_success_unix {
        b.fixed(
            STATE_LAST_WRITE_TS,
            MetricType::GAUGE,
            "Unix time of the latest successful write of the state file.",
            vec![],
            ts,
        );
    }
}

/// The OTLP output's self-metrics (only on `/metrics`, never pushed).
fn stats_series(b: &mut Builder, st: &ExportStatsSnapshot) {
    for (signal, ok, err) in &st.exports {
        for (result, n) in [("success", ok), ("failure", err)] {
            b.fixed(
                OTLP_EXPORTS,
                MetricType::COUNTER,
                "OTLP export requests since the exporter started, by signal (metrics, logs) and result (success, failure; a failure counts once per export after the exporter's own retries).",
                vec![("signal", signal.to_string()), ("result", result.to_string())],
                *n as f64,
            );
        }
    }
    for (signal, ts) in &st.last_success_unix {
        b.fixed(
            OTLP_LAST_SUCCESS_TS,
            MetricType::GAUGE,
            "Unix time of the latest successful OTLP export, by signal.",
            vec![("signal", signal.to_string())],
            *ts,
        );
    }
    b.fixed(
        OTLP_LOG_RECORDS,
        MetricType::COUNTER,
        "Diagnostic logs delivered as OTLP log records since the exporter started (each log is sent once, across restarts with a state directory).",
        vec![],
        st.log_records_sent as f64,
    );
}

fn app_labels(app: &AppRef) -> Labels {
    vec![
        ("app_id", app.id.clone()),
        ("app", app.name.clone()),
        ("bundle_id", app.bundle_id.clone()),
    ]
}

/// Where a metrics document came from.
#[derive(Clone, Copy)]
enum Scope<'a> {
    App,
    Build(&'a BuildInfo),
}

impl Scope<'_> {
    /// Adds the `build` label to build-level series.
    fn push_build(self, labels: &mut Labels) {
        if let Scope::Build(b) = self {
            labels.push(("build", b.number.clone()));
        }
    }

    /// The version of a point without one: the build's marketing version.
    fn fallback_version(self) -> String {
        match self {
            Scope::App => String::new(),
            Scope::Build(b) => b.version.clone().unwrap_or_default(),
        }
    }
}

fn app_series(b: &mut Builder, a: &AppSnapshot) {
    let app = &a.app;
    if let Some(ts) = a.last_success_unix {
        b.fixed(
            APP_LAST_SUCCESS_TS,
            MetricType::GAUGE,
            "Unix time of the latest successful refresh of the app's data.",
            app_labels(app),
            ts,
        );
    }
    b.fixed(
        APP_REFRESH_FAILED,
        MetricType::GAUGE,
        "1 if the latest attempt to refresh the app failed (its series are then the last good data), else 0.",
        app_labels(app),
        bool_value(a.last_attempt_failed),
    );
    if let Some(m) = &a.metrics {
        data_available(b, app, "app", m.has_data());
        latest_version(b, a, m);
        metrics_series(b, app, Scope::App, m);
        insight_series(b, app, Scope::App, m);
    }
    for build in &a.builds {
        build_series(b, app, build);
    }
}

fn data_available(b: &mut Builder, app: &AppRef, scope: &str, available: bool) {
    let mut labels = app_labels(app);
    labels.push(("scope", scope.to_string()));
    b.fixed(
        DATA_AVAILABLE,
        MetricType::GAUGE,
        "1 if App Store Connect returned metrics for the scope (app, or a build number), 0 if it returned none yet (not measured: no value series then).",
        labels,
        bool_value(available),
    );
}

/// `asc_app_latest_version_info`: the newest version per platform among the
/// app-level points, or the insights' latest version when there are no
/// points; and `asc_app_version_rank`: every version's place counted from
/// the newest (0 = latest, 1 = previous, ...), because PromQL cannot order
/// version strings.
fn latest_version(b: &mut Builder, a: &AppSnapshot, m: &XcodeMetrics) {
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (platform, _, metric) in m.metrics() {
        let list = versions.entry(platform).or_default();
        list.extend(
            metric
                .datasets
                .iter()
                .flat_map(|d| d.points.iter())
                .filter_map(|p| p.version.as_deref()),
        );
    }
    versions.retain(|_, v| !v.is_empty());
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
        list.dedup();
        for (rank, version) in list.iter().enumerate() {
            let mut labels = app_labels(&a.app);
            labels.push(("platform", platform.to_string()));
            labels.push(("version", version.to_string()));
            if rank == 0 {
                b.fixed(
                    APP_LATEST_VERSION,
                    MetricType::GAUGE,
                    "The newest app version in the app's metrics: always 1, for joins in dashboards and alerts.",
                    labels.clone(),
                    1.0,
                );
            }
            b.fixed(
                APP_VERSION_RANK,
                MetricType::GAUGE,
                "Place of the version among the app's versions in the metrics, counted from the newest: 0 = latest, 1 = previous, ...",
                labels,
                rank as f64,
            );
        }
    }
}

fn build_series(b: &mut Builder, app: &AppRef, bs: &BuildSnapshot) {
    let build = &bs.build;
    let version = build.version.clone().unwrap_or_default();
    if let Some(ts) = build
        .uploaded_date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
    {
        let mut labels = app_labels(app);
        labels.push(("build", build.number.clone()));
        labels.push(("version", version.clone()));
        labels.push((
            "processing_state",
            build.processing_state.clone().unwrap_or_default(),
        ));
        b.fixed(
            BUILD_UPLOADED,
            MetricType::GAUGE,
            "Unix time the build was uploaded to App Store Connect.",
            labels,
            ts.timestamp_millis() as f64 / 1000.0,
        );
    }
    let has_data = bs.metrics.as_ref().is_some_and(XcodeMetrics::has_data);
    data_available(b, app, &build.number, has_data);
    if let Some(m) = &bs.metrics {
        metrics_series(b, app, Scope::Build(build), m);
        insight_series(b, app, Scope::Build(build), m);
    }
    for sig in &bs.signatures {
        let Some(weight) = sig.attributes.weight else {
            continue;
        };
        let mut labels = app_labels(app);
        labels.push(("build", build.number.clone()));
        labels.push(("version", version.clone()));
        labels.push(("diagnostic_type", sig.diagnostic_type().to_string()));
        labels.push(("signature_id", sig.id.clone()));
        labels.push(("signature", sig.signature().to_string()));
        b.fixed(
            SIGNATURE_WEIGHT,
            MetricType::GAUGE,
            "Weight of a diagnostic signature as a fraction of its build's total for the diagnostic type.",
            labels,
            weight,
        );
    }
}

/// The unit of a metric as Apple gives it, without fallbacks.
fn metric_unit(metric: &AscMetric) -> UnitMapping {
    let unit = metric.unit.as_ref();
    unit_mapping(
        unit.and_then(|u| u.identifier.as_deref()).unwrap_or(""),
        unit.and_then(|u| u.display_name.as_deref()).unwrap_or(""),
    )
}

/// Origins of data-derived families (see [`Builder::add`]).
const O_VALUE: &str = "metric value";
const O_MARGIN: &str = "metric error margin";
const O_GOAL_LOWER: &str = "metric goal lower bound";
const O_GOAL_UPPER: &str = "metric goal upper bound";
const O_RECOMMENDED: &str = "metric recommended goal";
const O_INSIGHT_LATEST: &str = "insight latest value";
const O_INSIGHT_REFERENCE: &str = "insight reference value";

fn metrics_series(b: &mut Builder, app: &AppRef, scope: Scope<'_>, xm: &XcodeMetrics) {
    for (platform, category, metric) in xm.metrics() {
        one_metric(b, app, scope, platform, category, metric);
    }
}

fn one_metric(
    b: &mut Builder,
    app: &AppRef,
    scope: Scope<'_>,
    platform: &str,
    category: &MetricCategory,
    metric: &AscMetric,
) {
    let id = metric.id();
    let unit = metric_unit(metric);
    let phrase = unit.phrase();
    let value_name = metric_family_name(id, &unit);
    let margin_name = compose_name(&[], id, &["error", "margin"], &unit);
    let lower_name = compose_name(&[], id, &["goal", "lower", "bound"], &unit);
    let upper_name = compose_name(&[], id, &["goal", "upper", "bound"], &unit);
    let recommended_name = compose_name(&[], id, &["recommended", "goal"], &unit);

    let mut base = app_labels(app);
    base.push(("platform", platform.to_string()));
    base.push(("category", category.id().to_string()));

    for gk in &metric.goal_keys {
        let goal = gk.goal_key.clone().unwrap_or_default();
        let mut labels = base.clone();
        labels.push(("goal", goal));
        scope.push_build(&mut labels);
        if let Some(lower) = gk.lower_bound {
            b.gauge(
                &lower_name,
                O_GOAL_LOWER,
                &unit,
                || format!("Lower bound of each goal band of Apple metric {id} {phrase}."),
                labels.clone(),
                unit.convert(lower),
            );
        }
        if let Some(upper) = gk.upper_bound {
            b.gauge(
                &upper_name,
                O_GOAL_UPPER,
                &unit,
                || format!("Upper bound of each goal band of Apple metric {id} {phrase}; an open-ended band has none."),
                labels,
                unit.convert(upper),
            );
        }
    }

    for ds in &metric.datasets {
        let fc = &ds.filter_criteria;
        let device = fc.device().to_string();
        let device_name = fc.device_name().to_string();
        let percentile = percentile_label(fc.percentile()).to_string();

        if let Some(goal) = ds.recommended_metric_goal.as_ref().and_then(|g| g.value) {
            let mut labels = base.clone();
            labels.push(("device", device.clone()));
            labels.push(("device_name", device_name.clone()));
            labels.push(("percentile", percentile.clone()));
            scope.push_build(&mut labels);
            b.gauge(
                &recommended_name,
                O_RECOMMENDED,
                &unit,
                || format!("Apple's recommended goal for metric {id} {phrase}, per device and percentile."),
                labels,
                unit.convert(goal),
            );
        }

        for p in &ds.points {
            let version = p
                .version
                .clone()
                .unwrap_or_else(|| scope.fallback_version());
            let mut labels = base.clone();
            labels.push(("version", version.clone()));
            labels.push(("device", device.clone()));
            labels.push(("device_name", device_name.clone()));
            labels.push(("percentile", percentile.clone()));
            scope.push_build(&mut labels);

            if let Some(v) = p.value {
                b.gauge(
                    &value_name,
                    O_VALUE,
                    &unit,
                    || {
                        format!(
                            "Apple metric {id} {phrase}, per app version, device and percentile."
                        )
                    },
                    labels.clone(),
                    unit.convert(v),
                );
            }
            if let Some(m) = p.error_margin {
                b.gauge(
                    &margin_name,
                    O_MARGIN,
                    &unit,
                    || format!("Error margin of Apple metric {id} {phrase}, per app version, device and percentile."),
                    labels,
                    unit.convert(m),
                );
            }

            // Cross-metric, unitless families: `metric` label after `category`.
            let mut cross = base.clone();
            cross.push(("metric", id.to_string()));
            cross.push(("version", version));
            cross.push(("device", device.clone()));
            cross.push(("device_name", device_name.clone()));
            cross.push(("percentile", percentile.clone()));
            if let Some(goal) = &p.goal {
                let mut labels = cross.clone();
                labels.push(("goal", goal.clone()));
                scope.push_build(&mut labels);
                b.fixed(
                    METRIC_GOAL_INFO,
                    MetricType::GAUGE,
                    "The goal band (good, fair, poor, ...) a metric value falls in, per app version, device and percentile: always 1, band in the goal label.",
                    labels,
                    1.0,
                );
            }
            for share in &p.percentage_breakdown {
                let Some(v) = share.value else { continue };
                let mut labels = cross.clone();
                labels.push((
                    "subsystem",
                    share.sub_system_label.clone().unwrap_or_default(),
                ));
                scope.push_build(&mut labels);
                b.fixed(
                    METRIC_BREAKDOWN,
                    MetricType::GAUGE,
                    "Share of a metric value attributed to a subsystem (Apple's percentageBreakdown) as a ratio, per app version, device and percentile.",
                    labels,
                    scale(v, 1e-2),
                );
            }
        }
    }
}

/// The metric an insight refers to: exact identifier first, then
/// case-insensitive.
fn insight_metric<'a>(
    xm: &'a XcodeMetrics,
    id: &str,
) -> Option<(&'a MetricCategory, &'a AscMetric)> {
    xm.metrics()
        .find(|(_, _, m)| m.id() == id)
        .map(|(_, c, m)| (c, m))
        .or_else(|| xm.find_metric(id))
}

fn insight_series(b: &mut Builder, app: &AppRef, scope: Scope<'_>, xm: &XcodeMetrics) {
    let Some(insights) = &xm.insights else {
        return;
    };
    let kinds: [(&str, &str, &str, &[MetricsInsight]); 2] = [
        (
            "regression",
            INSIGHT_REGRESSION_DELTA,
            "Apple regression insight: change of the latest version against the reference versions' average, as a ratio (0.1 = +10 %), per device and percentile.",
            &insights.regressions,
        ),
        (
            "trending_up",
            INSIGHT_TRENDING_UP_DELTA,
            "Apple trending-up insight: change of the latest version against the reference versions' average, as a ratio (0.1 = +10 %), per device and percentile.",
            &insights.trending_up,
        ),
    ];
    for (kind, delta_name, delta_help, list) in kinds {
        for insight in list {
            let id = insight.metric.as_deref().unwrap_or("");
            let found = insight_metric(xm, id);
            let unit = found.map_or_else(UnitMapping::none, |(_, m)| metric_unit(m));
            let phrase = if found.is_some() {
                unit.phrase()
            } else {
                "in Apple's unit (metric not in the data)".to_string()
            };
            let category = insight
                .metric_category
                .as_deref()
                .or(found.map(|(c, _)| c.id()))
                .unwrap_or("");
            let latest_name = compose_name(&["insight", kind, "latest"], id, &[], &unit);
            let reference_name = compose_name(&["insight", kind, "reference"], id, &[], &unit);
            let label_kind = kind.replace('_', "-");
            for pop in &insight.populations {
                let mut labels = app_labels(app);
                labels.push(("category", category.to_string()));
                labels.push(("metric", id.to_string()));
                labels.push(("device", pop.device.clone().unwrap_or_default()));
                labels.push((
                    "percentile",
                    percentile_label(pop.percentile.as_deref().unwrap_or("")).to_string(),
                ));
                labels.push((
                    "latest_version",
                    insight.latest_version.clone().unwrap_or_default(),
                ));
                labels.push((
                    "high_impact",
                    insight.high_impact.unwrap_or(false).to_string(),
                ));
                scope.push_build(&mut labels);
                if let Some(d) = pop.delta_percentage {
                    b.fixed(
                        delta_name,
                        MetricType::GAUGE,
                        delta_help,
                        labels.clone(),
                        scale(d, 1e-2),
                    );
                }
                if let Some(v) = pop.latest_version_value {
                    b.gauge(
                        &latest_name,
                        O_INSIGHT_LATEST,
                        &unit,
                        || format!("Apple {label_kind} insight on metric {id}: the latest version's value {phrase}, per device and percentile."),
                        labels.clone(),
                        unit.convert(v),
                    );
                }
                if let Some(v) = pop.reference_average_value {
                    b.gauge(
                        &reference_name,
                        O_INSIGHT_REFERENCE,
                        &unit,
                        || format!("Apple {label_kind} insight on metric {id}: the reference versions' average value {phrase}, per device and percentile."),
                        labels,
                        unit.convert(v),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_matches_the_client() {
        let values = [
            "",
            "1",
            "1.0",
            "1.9",
            "1.10",
            "2.0",
            "10.0",
            "2.0b1",
            "2.0-beta",
            "a",
            "B",
            "all_iphones",
            "all_ipads",
            "p50",
            "p90",
            "181",
            "203",
            "1-0",
            "1.0.0",
            "x.y",
            "18446744073709551616",
        ];
        for a in values {
            for b in values {
                assert_eq!(natural_order(a, b), natural_cmp(a, b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn colliding_names_are_kept_apart() {
        let mut b = Builder::new();
        let s = unit_mapping("seconds", "");
        b.gauge(DATA_AVAILABLE, O_VALUE, &s, || "h".into(), vec![], 1.0);
        b.gauge("asc_x_seconds", O_VALUE, &s, || "v".into(), vec![], 1.0);
        b.gauge("asc_x_seconds", O_MARGIN, &s, || "m".into(), vec![], 2.0);
        let fams = b.finish();
        let names: Vec<_> = fams.iter().map(|f| f.name().to_string()).collect();
        assert_eq!(
            names,
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
            b.gauge(name, O_VALUE, &none, || "v".into(), vec![], 1.0);
        }
        b.fixed(API_REQUESTS, MetricType::COUNTER, "r", vec![], 1.0);
        let names: Vec<_> = b.finish().iter().map(|f| f.name().to_string()).collect();
        assert_eq!(
            names,
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
        stats_series(
            &mut b,
            &ExportStatsSnapshot {
                exports: vec![("metrics", 1, 1)],
                ..Default::default()
            },
        );
        state_series(&mut b, &StateStatsSnapshot::default());
        let mut counters = 0;
        for f in b.finish() {
            if f.get_field_type() == MetricType::COUNTER {
                assert!(f.name().ends_with("_total"), "{}", f.name());
                counters += 1;
            }
        }
        assert!(counters >= 3);
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
    fn empty_snapshot_encodes() {
        let meta = BuildMeta {
            version: "0.1.0".into(),
            revision: "abc".into(),
        };
        let e = encode(&Snapshot::default(), &meta);
        let text = std::str::from_utf8(&e.text).unwrap_or_default();
        assert!(
            text.contains("asc_exporter_build_info{version=\"0.1.0\",revision=\"abc\"} 1"),
            "{text}"
        );
        assert!(text.contains("asc_exporter_last_refresh_success 0"));
        assert!(!text.contains("asc_exporter_refresh_duration_seconds"));
        assert_eq!(e.families, 3, "{text}");
        assert_eq!(e.series, 3);
    }
}
