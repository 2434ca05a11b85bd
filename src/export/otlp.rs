//! The OpenTelemetry output: the Prometheus families pushed as OTel metrics
//! over OTLP (gRPC or HTTP/protobuf), and diagnostic logs as OTLP log
//! records, each sent once.
//!
//! # Metrics
//! The data is exactly [`families_with_units`]: the Prometheus mapping, not
//! a second one. Each family becomes an observable instrument (gauges:
//! `ObservableGauge<f64>`, counters: `ObservableCounter<f64>`, a cumulative
//! monotonic Sum) named by [`otel_name`]: the Prometheus name without the
//! unit suffix (and without `_total` for counters), the unit in the
//! instrument's unit field (UCUM `s`, `By`, `1`, or a `{annotation}`), the
//! labels as attributes. A Collector's Prometheus exporter, or Prometheus's
//! own OTLP receiver, adds the suffixes back and yields the names a scrape
//! shows.
//!
//! Why observable instruments reading an [`ArcSwap`] rather than a custom
//! `MetricProducer`: the SDK's metric producer and manual-reader APIs are
//! behind `experimental_*` features in 0.33, while observable instruments
//! are the stable API. Their callbacks are cheap (one `ArcSwap` load and a
//! loop over precomputed attribute sets: the families are computed once per
//! snapshot, off the async workers), an observable gauge is aggregated with
//! delta temporality by the SDK, so a series that leaves the snapshot stops
//! being exported, and the per-instrument cardinality limit is raised by a
//! view (the default 2,000 would fold real data into an overflow series).
//! Instruments are registered the first time a family name shows up; a
//! family that disappears simply observes nothing.
//!
//! # Logs
//! Each diagnostic log of a build's `logs` becomes one log record (see
//! [`log_records`]). The OTLP log exporter is driven directly (not through a
//! batch processor) so the output knows which records were delivered: a
//! delivered record's key (signature id + a stable hash of the log) goes
//! into a bounded set persisted in the state directory, so each log is sent
//! once, across refreshes and restarts. Failed batches are retried with
//! exponential backoff.
//!
//! # Robustness
//! Everything runs in its own task (metrics on the SDK's reader thread);
//! exports have timeouts and the exporter's retry policy; outcomes are counted
//! in [`ExportStats`] (shown on `/metrics`); `/metrics` never waits for OTLP.
//! Headers (API keys) are never logged.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, RetryPolicy, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::asc::model::{DiagnosticLog, DiagnosticLogs};
use crate::config::OtlpConfig;
use crate::export::Mapped;
use crate::export::mapping::{self, BuildMeta};
use crate::export::model::{Families, Kind};
use crate::export::stats::{ExportStats, Signal};
use crate::export::units::UnitMapping;
use crate::refresh::Snapshot;
use crate::refresh::state::StateStore;

/// Default `service.name`.
pub const SERVICE_NAME: &str = "asc-perf-exporter";
/// Instrumentation scope of every metric and log record.
const SCOPE: &str = "asc-perf-exporter";
/// Per-instrument cardinality limit (the SDK's default is 2,000).
const CARDINALITY_LIMIT: usize = 1_000_000;
/// Bound of the persisted set of sent log keys (oldest dropped first).
pub const MAX_SENT_KEYS: usize = 20_000;
/// File in the state directory holding the sent log keys.
pub const SENT_LOGS_FILE: &str = "otlp-sent-logs.json";
/// Log records per export request.
const LOG_BATCH: usize = 200;
/// Backoff of failed log exports.
const LOG_BACKOFF_MIN: Duration = Duration::from_secs(1);
const LOG_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Default export timeout when neither the config nor `OTEL_*` sets one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Names and units.

/// The OTel instrument name of a Prometheus family: without `_total` on
/// counters, and without the unit suffix when the unit is a UCUM unit the
/// Prometheus translation appends again (`s`, `By`, `1`). A unit kept from
/// Apple as an annotation (`{seconds_per_hour}`) keeps its suffix in the
/// name: translators drop annotations, so the name must carry it.
pub fn otel_name(prom_name: &str, counter: bool, unit: &UnitMapping) -> String {
    let mut n = prom_name;
    if counter {
        n = n.strip_suffix("_total").unwrap_or(n);
    }
    if !unit.suffix.is_empty() && !unit.ucum.is_empty() && !unit.ucum.starts_with('{') {
        let suffix = format!("_{}", unit.suffix);
        n = n.strip_suffix(suffix.as_str()).unwrap_or(n);
    }
    n.to_string()
}

/// One family as the OTLP output exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelFamily {
    pub name: String,
    /// UCUM unit (`s`, `By`, `1`, `{request}`) or empty.
    pub unit: String,
    pub description: String,
    /// A monotonic cumulative Sum (Prometheus counter) rather than a Gauge.
    pub monotonic: bool,
    pub points: Vec<(Vec<KeyValue>, f64)>,
}

/// The OTLP view of a snapshot: every Prometheus family, renamed and with
/// its unit. Keyed by instrument name (a pathological pair of families that
/// map to one name is kept apart by their unit: the key has both).
pub fn otel_families(snapshot: &Snapshot, meta: &BuildMeta) -> BTreeMap<String, OtelFamily> {
    otel_families_of(&mapping::families(snapshot, meta))
}

/// [`otel_families`] of an already mapped family set.
pub fn otel_families_of(set: &Families) -> BTreeMap<String, OtelFamily> {
    let mut out = BTreeMap::new();
    for f in &set.families {
        let monotonic = f.kind == Kind::Counter;
        let name = otel_name(&f.name, monotonic, &f.unit);
        let points = f
            .series
            .iter()
            .map(|s| {
                let attrs = f
                    .labels_of(s)
                    .iter()
                    .map(|&(n, v)| {
                        KeyValue::new(
                            opentelemetry::Key::from(set.strings.arc(n).clone()),
                            opentelemetry::StringValue::from(set.strings.arc(v).clone()),
                        )
                    })
                    .collect();
                (attrs, s.value)
            })
            .collect();
        let key = instrument_key(&name, &f.unit.ucum, monotonic);
        out.insert(
            key,
            OtelFamily {
                name,
                unit: f.unit.ucum.clone(),
                description: f.help.clone(),
                monotonic,
                points,
            },
        );
    }
    out
}

fn instrument_key(name: &str, unit: &str, monotonic: bool) -> String {
    format!("{name}|{unit}|{}", if monotonic { "sum" } else { "gauge" })
}

// ---------------------------------------------------------------------------
// Configuration resolution (explicit config > OTEL_* env > defaults).

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Grpc,
    HttpProtobuf,
}

/// Resolves the protocol of a signal: `otlp.protocol`, then
/// `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`, then `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// then `grpc`.
pub fn resolve_protocol(
    config: &OtlpConfig,
    signal: Signal,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Proto> {
    let signal_var = match signal {
        Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    };
    let (value, origin) = match &config.protocol {
        Some(p) => (p.clone(), "otlp.protocol".to_string()),
        None => match env(signal_var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, signal_var.to_string()))
            .or_else(|| {
                env("OTEL_EXPORTER_OTLP_PROTOCOL")
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v, "OTEL_EXPORTER_OTLP_PROTOCOL".to_string()))
            }) {
            Some(v) => v,
            None => return Ok(Proto::Grpc),
        },
    };
    match value.trim() {
        "grpc" => Ok(Proto::Grpc),
        "http/protobuf" => Ok(Proto::HttpProtobuf),
        other => anyhow::bail!(
            "OTLP protocol '{other}' (from {origin}) is not supported; use grpc or http/protobuf"
        ),
    }
}

fn std_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The resource: `service.name` (config > `OTEL_SERVICE_NAME` >
/// `OTEL_RESOURCE_ATTRIBUTES` > `asc-perf-exporter`), `service.version`,
/// `service.instance.id` (random per process), the SDK's `telemetry.sdk.*`,
/// `OTEL_RESOURCE_ATTRIBUTES`, then `otlp.resource_attributes` (wins).
pub fn resource(config: &OtlpConfig, meta: &BuildMeta, instance_id: &str) -> Resource {
    // `Resource::builder()` applies OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.
    let detected = Resource::builder().build();
    let detected_name = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map(|v| v.to_string())
        .filter(|n| !n.starts_with("unknown_service"));
    let mut attrs: Vec<KeyValue> = Vec::new();
    if detected
        .get(&opentelemetry::Key::from_static_str("service.instance.id"))
        .is_none()
    {
        attrs.push(KeyValue::new(
            "service.instance.id",
            instance_id.to_string(),
        ));
    }
    if detected
        .get(&opentelemetry::Key::from_static_str("service.version"))
        .is_none()
    {
        attrs.push(KeyValue::new("service.version", meta.version.clone()));
    }
    for (k, v) in &config.resource_attributes {
        attrs.push(KeyValue::new(k.clone(), v.clone()));
    }
    let service_name = config
        .resource_attributes
        .get("service.name")
        .cloned()
        .or(detected_name)
        .unwrap_or_else(|| SERVICE_NAME.to_string());
    Resource::builder()
        .with_service_name(service_name)
        .with_attributes(attrs)
        .build()
}

/// A random id for `service.instance.id`, in UUID v4 form.
pub fn new_instance_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_retries(3)
        .with_initial_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_jitter(Duration::from_millis(100))
}

fn http_endpoint(base: &str, path: &str) -> String {
    format!("{}/{path}", base.trim_end_matches('/'))
}

fn metadata(
    headers: &BTreeMap<String, String>,
) -> anyhow::Result<opentelemetry_otlp::tonic_types::metadata::MetadataMap> {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| anyhow::anyhow!("otlp.headers: '{k}' is not a valid header name"))?;
        // Never echo the value: it is usually an API key.
        let value = HeaderValue::from_str(v).map_err(|_| {
            anyhow::anyhow!("otlp.headers: the value of '{k}' is not a valid header value")
        })?;
        map.insert(name, value);
    }
    Ok(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map))
}

/// Header names set both in `otlp.headers` and an `OTEL_EXPORTER_OTLP_*HEADERS`
/// variable. The OTLP SDK applies the variable last, so it wins on a clash.
pub fn header_clashes(config: &OtlpConfig, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    ] {
        let Some(v) = env(var) else { continue };
        for pair in v.split(',') {
            let Some((k, _)) = pair.split_once('=') else {
                continue;
            };
            let k = k.trim();
            if config.headers.keys().any(|c| c.eq_ignore_ascii_case(k)) {
                out.push(format!("{k} ({var})"));
            }
        }
    }
    out
}

fn warn_header_clashes(config: &OtlpConfig, env: &dyn Fn(&str) -> Option<String>) {
    for clash in header_clashes(config, env) {
        // Names only: values are secrets.
        tracing::warn!(header = %clash, "header set both in otlp.headers and an OTEL_EXPORTER_OTLP_*HEADERS variable; the variable's value is sent");
    }
}

fn headers_map(headers: &BTreeMap<String, String>) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn compression(config: &OtlpConfig) -> Option<Compression> {
    match config.compression.as_deref() {
        Some("gzip") => Some(Compression::Gzip),
        _ => None,
    }
}

/// The settings both signals share on a gRPC exporter builder.
fn tonic_settings<B: WithExportConfig + WithTonicConfig>(
    b: B,
    config: &OtlpConfig,
) -> anyhow::Result<B> {
    let mut b = b
        .with_protocol(Protocol::Grpc)
        .with_metadata(metadata(&config.headers)?)
        .with_retry_policy(retry_policy());
    if let Some(e) = &config.endpoint {
        b = b.with_endpoint(e.clone());
    }
    if let Some(t) = config.timeout {
        b = b.with_timeout(t);
    }
    if let Some(c) = compression(config) {
        b = b.with_compression(c);
    }
    Ok(b)
}

/// The settings both signals share on an HTTP/protobuf exporter builder;
/// `path` is the signal's path appended to the base endpoint.
fn http_settings<B: WithExportConfig + WithHttpConfig>(b: B, config: &OtlpConfig, path: &str) -> B {
    let mut b = b
        .with_protocol(Protocol::HttpBinary)
        .with_headers(headers_map(&config.headers))
        .with_retry_policy(retry_policy());
    if let Some(e) = &config.endpoint {
        b = b.with_endpoint(http_endpoint(e, path));
    }
    if let Some(t) = config.timeout {
        b = b.with_timeout(t);
    }
    if let Some(c) = compression(config) {
        b = b.with_compression(c);
    }
    b
}

/// Builds the OTLP metric exporter. Must run inside a Tokio runtime (gRPC).
pub fn metric_exporter(config: &OtlpConfig) -> anyhow::Result<MetricExporter> {
    Ok(match resolve_protocol(config, Signal::Metrics, &std_env)? {
        Proto::Grpc => tonic_settings(MetricExporter::builder().with_tonic(), config)?.build()?,
        Proto::HttpProtobuf => {
            http_settings(MetricExporter::builder().with_http(), config, "v1/metrics").build()?
        }
    })
}

/// Builds the OTLP log exporter. Must run inside a Tokio runtime (gRPC).
pub fn log_exporter(config: &OtlpConfig) -> anyhow::Result<LogExporter> {
    Ok(match resolve_protocol(config, Signal::Logs, &std_env)? {
        Proto::Grpc => tonic_settings(LogExporter::builder().with_tonic(), config)?.build()?,
        Proto::HttpProtobuf => {
            http_settings(LogExporter::builder().with_http(), config, "v1/logs").build()?
        }
    })
}

// ---------------------------------------------------------------------------
// Metrics pipeline.

/// Wraps the OTLP metric exporter to count outcomes in [`ExportStats`].
#[derive(Debug)]
struct CountingExporter {
    inner: MetricExporter,
    stats: Arc<ExportStats>,
}

impl PushMetricExporter for CountingExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let r = self.inner.export(metrics).await;
        match &r {
            Ok(()) => self.stats.record(Signal::Metrics, Ok(())),
            Err(e) => {
                tracing::warn!(error = %e, "OTLP metrics export failed; the next export retries");
                self.stats.record(Signal::Metrics, Err(e.to_string()));
            }
        }
        r
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

type Current = Arc<ArcSwap<BTreeMap<String, OtelFamily>>>;

/// Registers an observable instrument per family, reading `current`.
struct Instruments {
    meter: Meter,
    current: Current,
    registered: HashSet<String>,
    // Kept alive for the provider's lifetime.
    gauges: Vec<opentelemetry::metrics::ObservableGauge<f64>>,
    counters: Vec<opentelemetry::metrics::ObservableCounter<f64>>,
}

impl Instruments {
    fn register_new(&mut self, families: &BTreeMap<String, OtelFamily>) {
        for (key, f) in families {
            if self.registered.contains(key) {
                continue;
            }
            self.registered.insert(key.clone());
            let current = self.current.clone();
            let k = key.clone();
            let observe = move |o: &dyn opentelemetry::metrics::AsyncInstrument<f64>| {
                if let Some(f) = current.load().get(&k) {
                    for (attrs, v) in &f.points {
                        o.observe(*v, attrs);
                    }
                }
            };
            if f.monotonic {
                self.counters.push(
                    self.meter
                        .f64_observable_counter(f.name.clone())
                        .with_unit(f.unit.clone())
                        .with_description(f.description.clone())
                        .with_callback(observe)
                        .build(),
                );
            } else {
                self.gauges.push(
                    self.meter
                        .f64_observable_gauge(f.name.clone())
                        .with_unit(f.unit.clone())
                        .with_description(f.description.clone())
                        .with_callback(observe)
                        .build(),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Logs.

/// The set of delivered log keys, bounded (oldest first out), persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SentLogs {
    pub format: u32,
    /// Keys in the order they were sent.
    pub keys: VecDeque<String>,
    #[serde(skip)]
    set: HashSet<String>,
}

impl SentLogs {
    pub fn from_keys(keys: impl IntoIterator<Item = String>) -> Self {
        let mut s = Self {
            format: 1,
            ..Default::default()
        };
        for k in keys {
            s.insert(k);
        }
        s
    }

    pub fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    pub fn insert(&mut self, key: String) {
        if self.set.insert(key.clone()) {
            self.keys.push_back(key);
        }
        while self.keys.len() > MAX_SENT_KEYS {
            if let Some(old) = self.keys.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn load(store: Option<&StateStore>) -> Self {
        let loaded: Option<SentLogs> = store.and_then(|s| s.load_aux(SENT_LOGS_FILE));
        match loaded {
            Some(l) => Self::from_keys(l.keys),
            None => Self::from_keys([]),
        }
    }
}

/// FNV-1a 64: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The dedup key of a log: `<signature id>:<hash of the log's JSON>`.
pub fn log_key(signature_id: &str, log: &DiagnosticLog) -> String {
    let json = serde_json::to_vec(log).unwrap_or_default();
    format!("{signature_id}:{:016x}", fnv1a(&json))
}

/// Severity by diagnostic type: hangs and slow launches are user-visible
/// (WARN), disk writes wear storage (INFO); anything else INFO.
pub fn severity(diagnostic_type: &str) -> (Severity, &'static str) {
    match diagnostic_type {
        "HANGS" | "LAUNCHES" => (Severity::Warn, "WARN"),
        _ => (Severity::Info, "INFO"),
    }
}

/// A log record before it becomes an SDK record: plain data, testable.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLog {
    pub key: String,
    pub body: String,
    pub severity: Severity,
    pub severity_text: &'static str,
    pub attributes: Vec<(&'static str, String)>,
}

/// Every diagnostic log of the snapshot as a record (sent or not).
pub fn log_records(snapshot: &Snapshot) -> Vec<PendingLog> {
    let mut out = Vec::new();
    for app in &snapshot.apps {
        for bs in &app.builds {
            for (sig_id, logs) in &bs.logs {
                let sig = bs.signatures.iter().find(|s| &s.id == sig_id);
                let diagnostic_type = sig
                    .map(|s| s.diagnostic_type().to_string())
                    .unwrap_or_default();
                let signature = sig.map(|s| s.signature().to_string()).unwrap_or_default();
                push_logs(
                    &mut out,
                    app,
                    bs,
                    sig_id,
                    &diagnostic_type,
                    &signature,
                    logs,
                );
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn push_logs(
    out: &mut Vec<PendingLog>,
    app: &crate::refresh::snapshot::AppSnapshot,
    bs: &crate::refresh::snapshot::BuildSnapshot,
    sig_id: &str,
    diagnostic_type: &str,
    signature: &str,
    logs: &DiagnosticLogs,
) {
    for pd in &logs.product_data {
        let insights: Vec<&str> = pd
            .diagnostic_insights
            .iter()
            .filter_map(|i| i.insights_category.as_deref())
            .filter(|c| !c.is_empty())
            .collect();
        for log in &pd.diagnostic_logs {
            let m = &log.diagnostic_meta_data;
            let key = log_key(sig_id, log);
            let tree = crate::asc::model::callstack::call_stack_trees(&log.call_stack_tree, "");
            let body = format!("{diagnostic_type} {signature}\n{tree}");
            let (sev, sev_text) = severity(diagnostic_type);
            let version = m
                .app_version
                .clone()
                .or_else(|| bs.build.version.clone())
                .unwrap_or_default();
            let mut attributes: Vec<(&'static str, String)> = vec![
                ("app_id", app.app.id.clone()),
                ("app", app.app.name.clone()),
                (
                    "bundle_id",
                    m.bundle_id
                        .clone()
                        .filter(|b| !b.is_empty())
                        .unwrap_or_else(|| app.app.bundle_id.clone()),
                ),
                ("version", version),
                ("build", bs.build.number.clone()),
                ("diagnostic_type", diagnostic_type.to_string()),
                ("signature_id", sig_id.to_string()),
                ("signature", signature.to_string()),
            ];
            let optional = [
                ("device_type", &m.device_type),
                ("os_version", &m.os_version),
                ("event", &m.event),
                ("event_detail", &m.event_detail),
                ("writes_caused", &m.writes_caused),
                ("platform_architecture", &m.platform_architecture),
                ("build_version", &m.build_version),
            ];
            for (k, v) in optional {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    attributes.push((k, v.to_string()));
                }
            }
            if !insights.is_empty() {
                attributes.push(("insights_category", insights.join(",")));
            }
            attributes.push(("log_key", key.clone()));
            out.push(PendingLog {
                key,
                body,
                severity: sev,
                severity_text: sev_text,
                attributes,
            });
        }
    }
}

/// Exports `pending` in one request; `Ok` when the collector accepted it.
fn export_logs_blocking(
    exporter: &LogExporter,
    logger: &opentelemetry_sdk::logs::SdkLogger,
    scope: &InstrumentationScope,
    pending: &[PendingLog],
) -> OTelSdkResult {
    let now = SystemTime::now();
    let records: Vec<_> = pending
        .iter()
        .map(|p| {
            let mut r = logger.create_log_record();
            r.set_event_name("asc.diagnostic_log");
            r.set_observed_timestamp(now);
            r.set_severity_number(p.severity);
            r.set_severity_text(p.severity_text);
            r.set_body(p.body.clone().into());
            for (k, v) in &p.attributes {
                r.add_attribute(*k, v.clone());
            }
            r
        })
        .collect();
    let refs: Vec<_> = records.iter().map(|r| (r, scope)).collect();
    futures::executor::block_on(exporter.export(LogBatch::new(&refs)))
}

// ---------------------------------------------------------------------------
// The output task.

/// A running OTLP output.
pub struct OtlpOutput {
    task: tokio::task::JoinHandle<()>,
}

impl OtlpOutput {
    /// Waits for the task (it ends after the shutdown token, flushing with
    /// a bounded timeout).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Starts the OTLP output: builds the exporters (errors in the configuration
/// are returned here), then exports from `rx` until `shutdown`.
pub fn start(
    config: &OtlpConfig,
    meta: BuildMeta,
    rx: watch::Receiver<Option<Arc<Mapped>>>,
    store: Option<StateStore>,
    stats: Arc<ExportStats>,
    shutdown: CancellationToken,
) -> anyhow::Result<OtlpOutput> {
    warn_header_clashes(config, &std_env);
    let instance_id = new_instance_id();
    let res = resource(config, &meta, &instance_id);
    let timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);

    let exporter = metric_exporter(config)?;
    let reader = PeriodicReader::builder(CountingExporter {
        inner: exporter,
        stats: stats.clone(),
    })
    .with_interval(config.interval)
    .build();
    let provider = SdkMeterProvider::builder()
        .with_resource(res.clone())
        .with_reader(reader)
        .with_view(|_: &Instrument| {
            Stream::builder()
                .with_cardinality_limit(CARDINALITY_LIMIT)
                .build()
                .ok()
        })
        .build();
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(meta.version.clone())
        .build();
    let meter = provider.meter_with_scope(scope.clone());
    let current: Current = Arc::new(ArcSwap::from_pointee(BTreeMap::new()));
    let instruments = Instruments {
        meter,
        current: current.clone(),
        registered: HashSet::new(),
        gauges: Vec::new(),
        counters: Vec::new(),
    };

    let logs = if config.logs {
        let mut exporter = log_exporter(config)?;
        exporter.set_resource(&res);
        let lp = SdkLoggerProvider::builder()
            .with_resource(res.clone())
            .build();
        let logger = lp.logger_with_scope(scope.clone());
        Some(LogsState {
            exporter: Arc::new(exporter),
            logger: Arc::new(logger),
            _provider: lp,
            scope: scope.clone(),
            sent: Arc::new(Mutex::new(SentLogs::load(store.as_ref()))),
            store,
            backoff: LOG_BACKOFF_MIN,
            retry_at: None,
        })
    } else {
        None
    };
    tracing::info!(
        protocol = ?resolve_protocol(config, Signal::Metrics, &std_env).ok(),
        endpoint = config.endpoint.as_deref().unwrap_or("(OTEL_EXPORTER_OTLP_* or default)"),
        interval = %humantime::format_duration(config.interval),
        logs = config.logs,
        instance_id = %instance_id,
        "OTLP output started"
    );
    let task = tokio::spawn(run(
        rx,
        meta,
        provider,
        instruments,
        current,
        logs,
        stats,
        timeout,
        shutdown,
    ));
    Ok(OtlpOutput { task })
}

struct LogsState {
    exporter: Arc<LogExporter>,
    logger: Arc<opentelemetry_sdk::logs::SdkLogger>,
    _provider: SdkLoggerProvider,
    scope: InstrumentationScope,
    sent: Arc<Mutex<SentLogs>>,
    store: Option<StateStore>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

impl LogsState {
    /// Sends the snapshot's unsent logs; on failure schedules a retry.
    async fn send(&mut self, snap: &Snapshot, stats: &ExportStats, timeout: Duration) {
        let pending: Vec<PendingLog> = {
            let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = HashSet::new();
            log_records(snap)
                .into_iter()
                .filter(|p| !sent.contains(&p.key) && seen.insert(p.key.clone()))
                .collect()
        };
        if pending.is_empty() {
            self.retry_at = None;
            return;
        }
        let mut delivered = 0usize;
        for chunk in pending.chunks(LOG_BATCH) {
            let chunk = chunk.to_vec();
            let (exporter, logger, scope) = (
                self.exporter.clone(),
                self.logger.clone(),
                self.scope.clone(),
            );
            let job = tokio::task::spawn_blocking(move || {
                let r = export_logs_blocking(&exporter, &logger, &scope, &chunk);
                (r, chunk)
            });
            // The exporter's own timeout and retries bound the request; this
            // bounds the wait even if they do not.
            let limit = timeout * 5 + Duration::from_secs(10);
            let outcome = match tokio::time::timeout(limit, job).await {
                Ok(Ok((r, chunk))) => r.map(|()| chunk).map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(format!("log export task failed: {e}")),
                Err(_) => Err(format!("log export did not finish within {limit:?}")),
            };
            match outcome {
                Ok(chunk) => {
                    stats.record(Signal::Logs, Ok(()));
                    stats.add_log_records(chunk.len() as u64);
                    delivered += chunk.len();
                    let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                    for p in chunk {
                        sent.insert(p.key);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?self.backoff, "OTLP logs export failed");
                    stats.record(Signal::Logs, Err(e));
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(LOG_BACKOFF_MAX);
                    break;
                }
            }
        }
        if delivered > 0 {
            tracing::info!(records = delivered, "diagnostic logs sent over OTLP");
            self.persist().await;
        }
        if delivered == pending.len() {
            self.retry_at = None;
            self.backoff = LOG_BACKOFF_MIN;
        }
    }

    async fn persist(&self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let r = tokio::task::spawn_blocking(move || store.save_aux(SENT_LOGS_FILE, &sent)).await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot persist the sent OTLP log keys"),
            Err(e) => tracing::warn!(error = %e, "cannot persist the sent OTLP log keys"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    mut rx: watch::Receiver<Option<Arc<Mapped>>>,
    meta: BuildMeta,
    provider: SdkMeterProvider,
    mut instruments: Instruments,
    current: Current,
    mut logs: Option<LogsState>,
    stats: Arc<ExportStats>,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    let _ = meta;
    let mut snap = rx.borrow_and_update().clone();
    let mut fresh = snap.is_some();
    loop {
        if fresh {
            fresh = false;
            if let Some(mapped) = snap.clone() {
                let s = mapped.snapshot.clone();
                let set = mapped.families.clone();
                match tokio::task::spawn_blocking(move || otel_families_of(&set)).await {
                    Ok(fams) => {
                        instruments.register_new(&fams);
                        current.store(Arc::new(fams));
                        // Push the new data now rather than at the next tick.
                        let p = provider.clone();
                        tokio::task::spawn_blocking(move || {
                            if let Err(e) = p.force_flush() {
                                tracing::debug!(error = %e, "OTLP metrics flush failed");
                            }
                        });
                    }
                    Err(e) => tracing::error!(error = %e, "mapping the snapshot to OTLP failed"),
                }
                if let Some(l) = logs.as_mut() {
                    l.send(&s, &stats, timeout).await;
                }
            }
        }
        let retry_at = logs.as_ref().and_then(|l| l.retry_at);
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = rx.changed() => {
                if changed.is_err() { break }
                snap = rx.borrow_and_update().clone();
                fresh = true;
            }
            _ = retry => {
                if let (Some(l), Some(m)) = (logs.as_mut(), snap.as_ref()) {
                    l.send(&m.snapshot, &stats, timeout).await;
                }
            }
        }
    }
    // Shutdown: one last export, bounded.
    let limit = timeout + Duration::from_secs(2);
    let p = provider.clone();
    let done = tokio::task::spawn_blocking(move || p.shutdown_with_timeout(limit));
    match tokio::time::timeout(limit + Duration::from_secs(1), done).await {
        Ok(Ok(Ok(()))) => tracing::debug!("OTLP metrics flushed at shutdown"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "OTLP metrics shutdown flush failed"),
        _ => tracing::warn!("OTLP metrics shutdown flush timed out"),
    }
    drop(instruments);
    if let Some(l) = logs {
        let exporter = l.exporter.clone();
        drop(l);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = exporter.shutdown_with_timeout(Duration::from_secs(2));
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::units::unit_mapping;

    #[test]
    fn names_drop_the_unit_suffix_and_total() {
        let ms = unit_mapping("milliseconds", "ms");
        assert_eq!(
            otel_name("asc_launch_time_seconds", false, &ms),
            "asc_launch_time"
        );
        let pct = unit_mapping("", "%");
        assert_eq!(
            otel_name("asc_insight_regression_delta_ratio", false, &pct),
            "asc_insight_regression_delta"
        );
        let by = unit_mapping("megabytes", "MB");
        assert_eq!(
            otel_name("asc_peak_memory_bytes", false, &by),
            "asc_peak_memory"
        );
        let sph = unit_mapping("secondsPerHour", "");
        assert_eq!(
            otel_name("asc_hang_rate_seconds_per_hour", false, &sph),
            "asc_hang_rate_seconds_per_hour"
        );
        let req = UnitMapping {
            suffix: String::new(),
            factor: 1.0,
            ucum: "{request}".into(),
        };
        assert_eq!(
            otel_name("asc_api_requests_total", true, &req),
            "asc_api_requests"
        );
        assert_eq!(
            otel_name("asc_data_available", false, &UnitMapping::none()),
            "asc_data_available"
        );
    }

    #[test]
    fn sent_logs_are_bounded_and_ordered() {
        let mut s = SentLogs::from_keys([]);
        for i in 0..(MAX_SENT_KEYS + 5) {
            s.insert(format!("k{i}"));
        }
        assert_eq!(s.len(), MAX_SENT_KEYS);
        assert!(!s.contains("k0") && !s.contains("k4"));
        assert!(s.contains("k5") && s.contains(&format!("k{}", MAX_SENT_KEYS + 4)));
        s.insert("k5".into());
        assert_eq!(s.len(), MAX_SENT_KEYS);
        let json = serde_json::to_string(&s).unwrap();
        let back: SentLogs = serde_json::from_str(&json).unwrap();
        let back = SentLogs::from_keys(back.keys);
        assert!(back.contains("k5"));
    }

    #[test]
    fn log_keys_are_stable() {
        let log = DiagnosticLog::default();
        assert_eq!(log_key("sig", &log), log_key("sig", &log));
        assert_ne!(log_key("sig", &log), log_key("other", &log));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn protocol_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut c = OtlpConfig::default();
        assert_eq!(
            resolve_protocol(&c, Signal::Metrics, &env(&[])).unwrap(),
            Proto::Grpc
        );
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
        ]);
        assert_eq!(
            resolve_protocol(&c, Signal::Metrics, &e).unwrap(),
            Proto::HttpProtobuf
        );
        assert_eq!(resolve_protocol(&c, Signal::Logs, &e).unwrap(), Proto::Grpc);
        c.protocol = Some("grpc".into());
        assert_eq!(
            resolve_protocol(&c, Signal::Metrics, &e).unwrap(),
            Proto::Grpc
        );
        c.protocol = None;
        let bad = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        let err = resolve_protocol(&c, Signal::Metrics, &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http/json") && err.contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
    }

    #[test]
    fn header_clashes_name_the_header_not_the_value() {
        let mut c = OtlpConfig::default();
        c.headers.insert("X-Api-Key".into(), "mine".into());
        let env = |k: &str| {
            (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "x-api-key=theirs,other=1".to_string())
        };
        assert_eq!(
            header_clashes(&c, &env),
            ["x-api-key (OTEL_EXPORTER_OTLP_HEADERS)"]
        );
        assert!(header_clashes(&c, &|_: &str| None).is_empty());
    }

    #[test]
    fn severities() {
        assert_eq!(severity("HANGS").1, "WARN");
        assert_eq!(severity("LAUNCHES").1, "WARN");
        assert_eq!(severity("DISK_WRITES").1, "INFO");
        assert_eq!(severity("NEW").1, "INFO");
    }
}
