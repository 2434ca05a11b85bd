//! Exporter configuration: a YAML file, environment variables and flags
//! (flags win over env, env over the file), validated at start.
//!
//! All three sources are folded into one JSON tree and deserialized once,
//! so an error always names the key (`refresh.interval`), where the value
//! came from (file, `ASC_EXPORTER_REFRESH_INTERVAL`, `--refresh-interval`)
//! and what is expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(e) => write!(f, "environment variable {e}"),
            Source::Flag(fl) => write!(f, "flag {fl}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}; check --config / ASC_EXPORTER_CONFIG")]
    Unreadable { path: PathBuf, reason: String },
    #[error("config file {path} is not valid YAML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error("invalid configuration key '{key}' (from {origin}): {reason}")]
    Invalid {
        key: String,
        origin: String,
        reason: String,
    },
}

/// How a key's string value (env or flag) is parsed.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// Comma-separated list of strings.
    List,
    /// Comma-separated `key=value` pairs (values may be percent-encoded, as in
    /// `OTEL_EXPORTER_OTLP_HEADERS`).
    Map,
}

/// Every key that env vars and flags can set: `(path, env var, flag, kind)`.
const KEYS: &[(&str, &str, &str, Kind)] = &[
    ("listen", "ASC_EXPORTER_LISTEN", "--listen", Kind::Str),
    (
        "state_dir",
        "ASC_EXPORTER_STATE_DIR",
        "--state-dir",
        Kind::Str,
    ),
    (
        "log.level",
        "ASC_EXPORTER_LOG_LEVEL",
        "--log-level",
        Kind::Str,
    ),
    (
        "log.format",
        "ASC_EXPORTER_LOG_FORMAT",
        "--log-format",
        Kind::Str,
    ),
    ("asc.issuer_id", "ASC_ISSUER_ID", "--issuer-id", Kind::Str),
    ("asc.key_id", "ASC_KEY_ID", "--key-id", Kind::Str),
    (
        "asc.private_key_path",
        "ASC_PRIVATE_KEY_PATH",
        "--private-key-path",
        Kind::Str,
    ),
    ("asc.base_url", "ASC_API_BASE_URL", "--base-url", Kind::Str),
    (
        "asc.timeout",
        "ASC_EXPORTER_TIMEOUT",
        "--timeout",
        Kind::Str,
    ),
    (
        "asc.max_retries",
        "ASC_EXPORTER_MAX_RETRIES",
        "--max-retries",
        Kind::Int,
    ),
    (
        "asc.max_response_bytes",
        "ASC_EXPORTER_MAX_RESPONSE_BYTES",
        "",
        Kind::Int,
    ),
    (
        "refresh.interval",
        "ASC_EXPORTER_REFRESH_INTERVAL",
        "--refresh-interval",
        Kind::Str,
    ),
    (
        "refresh.timeout",
        "ASC_EXPORTER_REFRESH_TIMEOUT",
        "",
        Kind::Str,
    ),
    (
        "refresh.app_timeout",
        "ASC_EXPORTER_APP_TIMEOUT",
        "",
        Kind::Str,
    ),
    (
        "refresh.jitter",
        "ASC_EXPORTER_REFRESH_JITTER",
        "--refresh-jitter",
        Kind::Float,
    ),
    (
        "refresh.concurrency",
        "ASC_EXPORTER_CONCURRENCY",
        "--concurrency",
        Kind::Int,
    ),
    ("refresh.apps", "ASC_EXPORTER_APPS", "--app", Kind::List),
    (
        "refresh.builds_per_app",
        "ASC_EXPORTER_BUILDS_PER_APP",
        "--builds-per-app",
        Kind::Int,
    ),
    (
        "refresh.build_metrics",
        "ASC_EXPORTER_BUILD_METRICS",
        "--build-metrics",
        Kind::Bool,
    ),
    (
        "refresh.rate_limit_reserve",
        "ASC_EXPORTER_RATE_LIMIT_RESERVE",
        "--rate-limit-reserve",
        Kind::Float,
    ),
    (
        "refresh.devices",
        "ASC_EXPORTER_DEVICES",
        "--device",
        Kind::List,
    ),
    (
        "refresh.percentage_breakdowns",
        "ASC_EXPORTER_PERCENTAGE_BREAKDOWNS",
        "--percentage-breakdowns",
        Kind::Bool,
    ),
    (
        "diagnostics.enabled",
        "ASC_EXPORTER_DIAGNOSTICS",
        "--diagnostics",
        Kind::Bool,
    ),
    (
        "diagnostics.types",
        "ASC_EXPORTER_DIAGNOSTIC_TYPES",
        "--diagnostic-type",
        Kind::List,
    ),
    (
        "diagnostics.top",
        "ASC_EXPORTER_SIGNATURES_PER_BUILD",
        "--signatures-per-build",
        Kind::Int,
    ),
    (
        "diagnostics.logs",
        "ASC_EXPORTER_LOGS",
        "--logs",
        Kind::Bool,
    ),
    (
        "diagnostics.logs_top",
        "ASC_EXPORTER_LOGS_TOP",
        "--logs-top",
        Kind::Int,
    ),
    (
        "diagnostics.logs_per_signature",
        "ASC_EXPORTER_LOGS_PER_SIGNATURE",
        "--logs-per-signature",
        Kind::Int,
    ),
    (
        "prometheus.enabled",
        "ASC_EXPORTER_PROMETHEUS",
        "--prometheus",
        Kind::Bool,
    ),
    ("otlp.enabled", "ASC_EXPORTER_OTLP", "--otlp", Kind::Bool),
    (
        "otlp.protocol",
        "ASC_EXPORTER_OTLP_PROTOCOL",
        "--otlp-protocol",
        Kind::Str,
    ),
    (
        "otlp.endpoint",
        "ASC_EXPORTER_OTLP_ENDPOINT",
        "--otlp-endpoint",
        Kind::Str,
    ),
    (
        "otlp.timeout",
        "ASC_EXPORTER_OTLP_TIMEOUT",
        "--otlp-timeout",
        Kind::Str,
    ),
    (
        "otlp.compression",
        "ASC_EXPORTER_OTLP_COMPRESSION",
        "--otlp-compression",
        Kind::Str,
    ),
    (
        "otlp.interval",
        "ASC_EXPORTER_OTLP_INTERVAL",
        "--otlp-interval",
        Kind::Str,
    ),
    (
        "otlp.logs",
        "ASC_EXPORTER_OTLP_LOGS",
        "--otlp-logs",
        Kind::Bool,
    ),
    // Headers carry secrets: file or environment only, never a flag (argv is
    // visible to every user of the machine).
    ("otlp.headers", "ASC_EXPORTER_OTLP_HEADERS", "", Kind::Map),
    (
        "otlp.resource_attributes",
        "ASC_EXPORTER_OTLP_RESOURCE_ATTRIBUTES",
        "--otlp-resource-attributes",
        Kind::Map,
    ),
    // The HTTP server's limits (`web`): file and environment only for now.
    (
        "web.header_read_timeout",
        "ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT",
        "",
        Kind::Str,
    ),
    (
        "web.idle_timeout",
        "ASC_EXPORTER_WEB_IDLE_TIMEOUT",
        "",
        Kind::Str,
    ),
    (
        "web.max_connections",
        "ASC_EXPORTER_WEB_MAX_CONNECTIONS",
        "",
        Kind::Int,
    ),
    (
        "web.shutdown_timeout",
        "ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT",
        "",
        Kind::Str,
    ),
];

/// The env variable holding the private key itself (never a flag, never logged).
pub const PRIVATE_KEY_ENV: &str = "ASC_PRIVATE_KEY";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the HTTP server (`/metrics`, `/healthz`, `/ready`, `/`).
    pub listen: String,
    /// Where the last good snapshot is persisted; empty disables persistence.
    pub state_dir: Option<PathBuf>,
    pub log: LogConfig,
    pub asc: AscConfig,
    pub refresh: RefreshConfig,
    pub diagnostics: DiagnosticsConfig,
    pub prometheus: PrometheusConfig,
    pub otlp: OtlpConfig,
    pub web: WebConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Serve the Prometheus exposition on `/metrics` (404 when off).
    pub enabled: bool,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// The OpenTelemetry (OTLP) output. Unset optional values fall back to the
/// standard `OTEL_EXPORTER_OTLP_*` variables, then to the OTel defaults:
/// explicit configuration (file, `ASC_EXPORTER_OTLP_*`, flags) wins.
/// `Debug` redacts header values (API keys).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Push metrics (and diagnostic logs, see `logs`) over OTLP.
    pub enabled: bool,
    /// `grpc` or `http/protobuf`. Unset: `OTEL_EXPORTER_OTLP_{METRICS,LOGS}_PROTOCOL`,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, then `grpc`.
    pub protocol: Option<String>,
    /// Base URL of the collector (`http://collector:4317` for gRPC,
    /// `http://collector:4318` for HTTP, where `/v1/metrics` and `/v1/logs`
    /// are appended). Unset: the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables.
    pub endpoint: Option<String>,
    /// Extra request headers (gRPC metadata), e.g. a vendor's API key.
    /// Merged with `OTEL_EXPORTER_OTLP_*HEADERS`. Never logged.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Timeout of one export request. Unset: `OTEL_EXPORTER_OTLP_*TIMEOUT`, then 10s.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// `gzip` or `none`. Unset: `OTEL_EXPORTER_OTLP_*COMPRESSION`, then none.
    pub compression: Option<String>,
    /// Time between metric exports.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Send diagnostic logs (call stacks) as OTLP log records, each once.
    pub logs: bool,
    /// Extra resource attributes (win over `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: std::collections::BTreeMap<String, String>,
}

impl OtlpConfig {
    /// A copy whose header values read `<redacted>`, for printing.
    pub fn redacted(&self) -> Self {
        let mut c = self.clone();
        for v in c.headers.values_mut() {
            *v = "<redacted>".into();
        }
        c
    }
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.redacted();
        f.debug_struct("OtlpConfig")
            .field("enabled", &r.enabled)
            .field("protocol", &r.protocol)
            .field("endpoint", &r.endpoint)
            .field("headers", &r.headers)
            .field("timeout", &r.timeout)
            .field("compression", &r.compression)
            .field("interval", &r.interval)
            .field("logs", &r.logs)
            .field("resource_attributes", &r.resource_attributes)
            .finish()
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            protocol: None,
            endpoint: None,
            headers: Default::default(),
            timeout: None,
            compression: None,
            interval: Duration::from_secs(60),
            logs: true,
            resource_attributes: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or a full `RUST_LOG` filter.
    /// `RUST_LOG`, when set, wins.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AscConfig {
    pub issuer_id: Option<String>,
    pub key_id: Option<String>,
    pub private_key_path: Option<PathBuf>,
    pub base_url: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries of one request on 429, 5xx and network errors (at most
    /// [`MAX_RETRIES`]).
    pub max_retries: u32,
    /// Cap on one decoded response body; a larger one fails that request.
    pub max_response_bytes: u64,
}

/// Upper bound of `asc.max_retries`: past it, a failing endpoint would only
/// burn the hourly budget.
pub const MAX_RETRIES: u32 = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshConfig {
    /// Time between refreshes. Apple updates the data about once a day.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Deadline of one whole refresh: apps not done by then keep their last
    /// good data and the others are published.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deadline of one app's refresh (its metrics, builds, signatures and
    /// logs): past it the app keeps its last good data.
    #[serde(with = "humantime_serde")]
    pub app_timeout: Duration,
    /// Random extra delay, as a fraction of the interval (0.1 = up to 10 %).
    pub jitter: f64,
    /// Apps refreshed at the same time.
    pub concurrency: usize,
    /// Allow-list of app ids or bundle ids; empty = every app the key sees.
    pub apps: Vec<String>,
    /// How many of each app's newest builds are fetched.
    pub builds_per_app: usize,
    /// Fetch build-level perfPowerMetrics.
    pub build_metrics: bool,
    /// Optional work (build metrics, signatures, logs) is skipped while the
    /// hourly budget left is below this fraction of the limit.
    pub rate_limit_reserve: f64,
    /// Devices kept (Apple's device ids; `*` and `?` wildcards, e.g.
    /// `all_*`); empty = every device. Fewer devices, fewer series.
    pub devices: Vec<String>,
    /// Keep `percentageBreakdown` shares (one series per subsystem and point).
    pub percentage_breakdowns: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosticsConfig {
    /// Fetch diagnostic signatures of each build.
    pub enabled: bool,
    /// `DISK_WRITES`, `HANGS`, `LAUNCHES` (empty = all).
    pub types: Vec<String>,
    /// Top signatures by weight kept per build.
    pub top: usize,
    /// Fetch the logs of the top signatures.
    pub logs: bool,
    /// Signatures per build whose logs are fetched.
    pub logs_top: usize,
    /// Logs fetched per signature.
    pub logs_per_signature: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:9472".into(),
            state_dir: None,
            log: LogConfig::default(),
            asc: AscConfig::default(),
            refresh: RefreshConfig::default(),
            diagnostics: DiagnosticsConfig::default(),
            prometheus: PrometheusConfig::default(),
            otlp: OtlpConfig::default(),
            web: WebConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Default for AscConfig {
    fn default() -> Self {
        Self {
            issuer_id: None,
            key_id: None,
            private_key_path: None,
            base_url: crate::asc::client::DEFAULT_BASE_URL.into(),
            timeout: Duration::from_secs(60),
            max_retries: 4,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            // Apple recomputes the data about daily; hourly refreshes see a
            // change within the hour and spend a few dozen of the ~3,600
            // requests an hour an API key has.
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(30 * 60),
            app_timeout: Duration::from_secs(10 * 60),
            jitter: 0.1,
            concurrency: 4,
            apps: Vec::new(),
            builds_per_app: 3,
            build_metrics: true,
            rate_limit_reserve: 0.2,
            devices: Vec::new(),
            percentage_breakdowns: true,
        }
    }
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            types: vec!["DISK_WRITES".into(), "HANGS".into(), "LAUNCHES".into()],
            top: 10,
            logs: false,
            logs_top: 3,
            logs_per_signature: 5,
        }
    }
}

/// The HTTP server's limits (see `crate::server::listener`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Addresses to listen on (`--web.listen-address`, repeatable; the
    /// exporter-toolkit's `[host]:port`, `:9472` = every interface). Empty:
    /// the top-level `listen` (kept as an alias).
    pub listen_addresses: Vec<String>,
    /// The exporter-toolkit web configuration file (TLS, basic auth,
    /// headers), re-read on change.
    pub config_file: Option<PathBuf>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Requests served at once; more get 503 (0 = no limit).
    pub max_requests: usize,
    /// Leave the exporter's own process metrics (`process_*`) out of the
    /// metrics endpoint.
    pub disable_exporter_metrics: bool,
    /// Time a client has to send a request's headers, counted from the
    /// connection's start and, on a kept-alive connection, from the end of
    /// the previous response (so it also bounds keep-alive waits).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection that reads and writes nothing for this long is closed
    /// (kept-alive and idle, or a client that stopped reading its response).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Concurrent connections; never more than the soft `RLIMIT_NOFILE`
    /// minus a reserve for the exporter's own sockets and files. At the cap
    /// the longest-idle connection is closed to make room.
    pub max_connections: usize,
    /// On SIGTERM/SIGINT, time open connections get to finish before they
    /// are dropped.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen_addresses: Vec::new(),
            config_file: None,
            telemetry_path: "/metrics".into(),
            max_requests: 40,
            disable_exporter_metrics: false,
            header_read_timeout: Duration::from_secs(10),
            // nginx's send_timeout/client_body_timeout: a scrape that makes
            // no progress for a minute is not coming back.
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl WebConfig {
    /// Longest accepted `web.*` duration (timers far in the future overflow).
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
    /// Largest accepted `web.max_connections`.
    pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;

    fn validate(&self, bad: impl Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        for (key, value, example) in [
            ("web.header_read_timeout", self.header_read_timeout, "10s"),
            ("web.idle_timeout", self.idle_timeout, "60s"),
            ("web.shutdown_timeout", self.shutdown_timeout, "5s"),
        ] {
            if value.is_zero() {
                return Err(bad(key, format!("must be more than 0s, e.g. {example}")));
            }
            if value > Self::MAX_DURATION {
                return Err(bad(
                    key,
                    format!(
                        "{} is too long; use at most 24h, e.g. {example}",
                        humantime::format_duration(value)
                    ),
                ));
            }
        }
        if !(1..=Self::MAX_CONNECTIONS_LIMIT).contains(&self.max_connections) {
            return Err(bad(
                "web.max_connections",
                format!(
                    "{} must be between 1 and {}, e.g. 512",
                    self.max_connections,
                    Self::MAX_CONNECTIONS_LIMIT
                ),
            ));
        }
        Ok(())
    }
}

/// Builder: file, then env, then flags; `build()` validates.
#[derive(Debug, Default)]
pub struct Loader {
    tree: serde_json::Map<String, Value>,
    origins: Vec<(String, Source)>,
}

/// Every `(key, environment variable, flag)` the loader knows; the flag is
/// empty for settings that have none.
pub fn settings() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    KEYS.iter().map(|(key, env, flag, _)| (*key, *env, *flag))
}

impl Loader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads a YAML file (the lowest layer).
    pub fn file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_norway::from_str(&text).map_err(|e| ConfigError::Syntax {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
        };
        let Value::Object(map) = value else {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                reason: "the top level must be a mapping of keys to values".into(),
            });
        };
        for key in leaf_keys(&map, "") {
            self.origins.push((key, Source::File(path.to_path_buf())));
        }
        self.tree = map;
        Ok(self)
    }

    /// Applies every known environment variable found by `lookup`.
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        for (key, env, _, kind) in KEYS {
            if let Some(v) = lookup(env).filter(|v| !v.trim().is_empty()) {
                self.set(key, &v, *kind, Source::Env(env))?;
            }
        }
        Ok(self)
    }

    /// Applies a flag value by its flag name (e.g. `--refresh-interval`).
    pub fn flag(mut self, flag: &'static str, value: &str) -> Result<Self, ConfigError> {
        let (key, _, _, kind) = KEYS
            .iter()
            .find(|(_, _, f, _)| *f == flag)
            .unwrap_or_else(|| panic!("flag {flag} is not in config::KEYS"));
        self.set(key, value, *kind, Source::Flag(flag))?;
        Ok(self)
    }

    /// Sets a typed value directly (flags that are already parsed).
    pub fn value(mut self, key: &str, value: Value, source: Source) -> Self {
        self.insert(key, value, source);
        self
    }

    fn set(&mut self, key: &str, raw: &str, kind: Kind, source: Source) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            key: key.to_string(),
            origin: source.to_string(),
            reason,
        };
        let raw = raw.trim();
        let value = match kind {
            Kind::Str => Value::String(raw.to_string()),
            Kind::Int => raw
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| invalid(format!("'{raw}' is not a whole number")))?,
            Kind::Float => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| invalid(format!("'{raw}' is not a number")))?,
            Kind::Bool => match raw.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Value::Bool(true),
                "0" | "false" | "no" | "off" => Value::Bool(false),
                _ => return Err(invalid(format!("'{raw}' is not true or false"))),
            },
            Kind::List => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            Kind::Map => {
                let mut map = serde_json::Map::new();
                for pair in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let Some((k, v)) = pair.split_once('=') else {
                        // Never echo the pair: it may hold a secret.
                        return Err(invalid(
                            "expected comma-separated key=value pairs".to_string(),
                        ));
                    };
                    let v = v.trim();
                    let v = url::form_urlencoded::parse(
                        format!("v={}", v.replace('+', "%2B")).as_bytes(),
                    )
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| v.to_string());
                    map.insert(k.trim().to_string(), Value::String(v));
                }
                Value::Object(map)
            }
        };
        self.insert(key, value, source);
        Ok(())
    }

    fn insert(&mut self, key: &str, value: Value, source: Source) {
        let mut node = &mut self.tree;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.to_string(), value);
                break;
            }
            let entry = node
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = Value::Object(Default::default());
            }
            node = entry.as_object_mut().expect("just made an object");
        }
        self.origins.retain(|(k, _)| k != key);
        self.origins.push((key.to_string(), source));
    }

    fn origin(&self, key: &str) -> String {
        self.origins
            .iter()
            .rev()
            .find(|(k, _)| {
                k == key || key.starts_with(&format!("{k}.")) || k.starts_with(&format!("{key}."))
            })
            .map(|(_, s)| s.to_string())
            .unwrap_or_else(|| "defaults".to_string())
    }

    /// Deserializes and validates the merged configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let value = Value::Object(self.tree.clone());
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            let mut reason = e.inner().to_string();
            if matches!(
                key.as_str(),
                "refresh.interval"
                    | "refresh.timeout"
                    | "refresh.app_timeout"
                    | "asc.timeout"
                    | "otlp.timeout"
                    | "otlp.interval"
                    | "web.header_read_timeout"
                    | "web.idle_timeout"
                    | "web.shutdown_timeout"
            ) {
                reason.push_str(" such as 30s, 15m or 1h");
            }
            ConfigError::Invalid {
                origin: self.origin(&key),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                reason,
            }
        })?;
        config.validate(|k| self.origin(k))?;
        Ok(config)
    }
}

fn leaf_keys(map: &serde_json::Map<String, Value>, prefix: &str) -> Vec<String> {
    map.iter()
        .flat_map(|(k, v)| {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(m) => leaf_keys(m, &key),
                _ => vec![key],
            }
        })
        .collect()
}

impl Config {
    fn validate(&self, origin: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::Invalid {
            key: key.into(),
            origin: origin(key),
            reason,
        };
        self.listen.parse::<SocketAddr>().map_err(|_| {
            bad(
                "listen",
                format!(
                    "'{}' is not an address:port such as 0.0.0.0:9472 or 127.0.0.1:9472",
                    self.listen
                ),
            )
        })?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(bad(
                "log.format",
                format!("'{}' must be text or json", self.log.format),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            bad(
                "log.level",
                format!(
                    "'{}' is not a level (error, warn, info, debug, trace) or filter: {e}",
                    self.log.level
                ),
            )
        })?;
        crate::asc::client::parse_base_url(&self.asc.base_url)
            .map_err(|e| bad("asc.base_url", e.to_string()))?;
        if self.asc.timeout.is_zero() {
            return Err(bad("asc.timeout", "must be more than 0s, e.g. 60s".into()));
        }
        if self.refresh.interval < Duration::from_secs(1) {
            return Err(bad(
                "refresh.interval",
                format!(
                    "{} is too short; use at least 1s (Apple updates the data about daily; 1h is the default)",
                    humantime::format_duration(self.refresh.interval)
                ),
            ));
        }
        if self.asc.max_retries > MAX_RETRIES {
            return Err(bad(
                "asc.max_retries",
                format!(
                    "{} is more than {MAX_RETRIES}; every retry of a failing request spends the hourly budget (4 is the default)",
                    self.asc.max_retries
                ),
            ));
        }
        if self.asc.max_response_bytes < 1024 {
            return Err(bad(
                "asc.max_response_bytes",
                format!(
                    "{} is too small for any App Store Connect response; the default is 67108864 (64 MiB)",
                    self.asc.max_response_bytes
                ),
            ));
        }
        for (key, d) in [
            ("refresh.timeout", self.refresh.timeout),
            ("refresh.app_timeout", self.refresh.app_timeout),
        ] {
            if d < Duration::from_secs(1) {
                return Err(bad(
                    key,
                    format!(
                        "{} is too short; use at least 1s",
                        humantime::format_duration(d)
                    ),
                ));
            }
        }
        if self.refresh.app_timeout > self.refresh.timeout {
            return Err(bad(
                "refresh.app_timeout",
                format!(
                    "{} is longer than refresh.timeout ({}); an app's deadline must fit in the refresh's",
                    humantime::format_duration(self.refresh.app_timeout),
                    humantime::format_duration(self.refresh.timeout)
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.refresh.jitter) {
            return Err(bad(
                "refresh.jitter",
                format!("{} must be between 0 and 1", self.refresh.jitter),
            ));
        }
        if !(0.0..1.0).contains(&self.refresh.rate_limit_reserve) {
            return Err(bad(
                "refresh.rate_limit_reserve",
                format!(
                    "{} must be at least 0 and below 1",
                    self.refresh.rate_limit_reserve
                ),
            ));
        }
        if !(1..=64).contains(&self.refresh.concurrency) {
            return Err(bad(
                "refresh.concurrency",
                format!("{} must be between 1 and 64", self.refresh.concurrency),
            ));
        }
        if self.refresh.builds_per_app > 200 {
            return Err(bad("refresh.builds_per_app", "must be at most 200".into()));
        }
        for t in &self.diagnostics.types {
            if !matches!(t.as_str(), "DISK_WRITES" | "HANGS" | "LAUNCHES") {
                tracing::warn!(diagnostic_type = %t, "unknown diagnostic type in diagnostics.types; passing it to Apple as-is");
            }
        }
        if self.diagnostics.top > 200 {
            return Err(bad("diagnostics.top", "must be at most 200".into()));
        }
        if !(1..=200).contains(&self.diagnostics.logs_per_signature) {
            return Err(bad(
                "diagnostics.logs_per_signature",
                "must be between 1 and 200".into(),
            ));
        }
        if let Some(p) = &self.otlp.protocol
            && !matches!(p.as_str(), "grpc" | "http/protobuf")
        {
            return Err(bad(
                "otlp.protocol",
                format!("'{p}' must be grpc or http/protobuf"),
            ));
        }
        if let Some(c) = &self.otlp.compression
            && !matches!(c.as_str(), "gzip" | "none")
        {
            return Err(bad(
                "otlp.compression",
                format!("'{c}' must be gzip or none"),
            ));
        }
        if let Some(e) = &self.otlp.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(bad(
                "otlp.endpoint",
                format!("'{e}' must be an http:// or https:// URL such as http://localhost:4317"),
            ));
        }
        if self.otlp.interval < Duration::from_secs(1) {
            return Err(bad("otlp.interval", "must be at least 1s, e.g. 60s".into()));
        }
        if self.otlp.timeout.is_some_and(|t| t.is_zero()) {
            return Err(bad("otlp.timeout", "must be more than 0s, e.g. 10s".into()));
        }
        self.web.validate(|key, reason| bad(key, reason))?;
        if !self.prometheus.enabled && !self.otlp.enabled {
            tracing::warn!(
                "both outputs are off (prometheus.enabled and otlp.enabled are false): the exporter only refreshes its state"
            );
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated in build()")
    }

    /// Every address to listen on: `web.listen_addresses`, else `listen`.
    /// (Parsing of the toolkit's `:port` and host names comes with the
    /// typed configuration.)
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        if self.web.listen_addresses.is_empty() {
            return vec![self.listen_addr()];
        }
        self.web
            .listen_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The error `build` gives for these environment variables.
    fn env_error(pairs: &[(&str, &str)]) -> String {
        Loader::new()
            .env(env(pairs))
            .unwrap()
            .build()
            .unwrap_err()
            .to_string()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn flags_win_over_env_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "listen: 127.0.0.1:1000\nrefresh:\n  interval: 2h\n  concurrency: 2\n  apps: [com.a]\nasc:\n  key_id: FILEKEY\n",
        )
        .unwrap();
        let c = Loader::new()
            .file(&path)
            .unwrap()
            .env(env(&[
                ("ASC_EXPORTER_REFRESH_INTERVAL", "30m"),
                ("ASC_KEY_ID", "ENVKEY"),
                ("ASC_EXPORTER_APPS", "1, 2"),
            ]))
            .unwrap()
            .flag("--refresh-interval", "5m")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.listen, "127.0.0.1:1000");
        assert_eq!(c.refresh.interval, Duration::from_secs(300));
        assert_eq!(c.refresh.concurrency, 2);
        assert_eq!(c.refresh.apps, ["1", "2"]);
        assert_eq!(c.asc.key_id.as_deref(), Some("ENVKEY"));
        assert_eq!(
            c.refresh.builds_per_app,
            RefreshConfig::default().builds_per_app
        );
    }

    #[test]
    fn otlp_and_prometheus_keys() {
        let c = Loader::new().build().unwrap();
        assert!(c.prometheus.enabled && !c.otlp.enabled && c.otlp.logs);
        assert_eq!(c.otlp.interval, Duration::from_secs(60));
        let c = Loader::new()
            .env(env(&[
                ("ASC_EXPORTER_OTLP", "true"),
                ("ASC_EXPORTER_PROMETHEUS", "off"),
                ("ASC_EXPORTER_OTLP_HEADERS", "x-api-key=a%3Db, other = c "),
                ("ASC_EXPORTER_OTLP_TIMEOUT", "3s"),
                (
                    "ASC_EXPORTER_OTLP_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod",
                ),
            ]))
            .unwrap()
            .flag("--otlp-protocol", "http/protobuf")
            .unwrap()
            .flag("--otlp-endpoint", "http://127.0.0.1:4318")
            .unwrap()
            .flag("--otlp-interval", "15s")
            .unwrap()
            .flag("--otlp-compression", "gzip")
            .unwrap()
            .build()
            .unwrap();
        assert!(c.otlp.enabled && !c.prometheus.enabled);
        assert_eq!(c.otlp.headers["x-api-key"], "a=b");
        assert!(!format!("{c:?}").contains("a=b"), "Debug redacts headers");
        assert_eq!(c.otlp.headers["other"], "c");
        assert_eq!(c.otlp.timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.otlp.interval, Duration::from_secs(15));
        assert_eq!(c.otlp.protocol.as_deref(), Some("http/protobuf"));
        assert_eq!(c.otlp.compression.as_deref(), Some("gzip"));
        assert_eq!(c.otlp.resource_attributes["deployment.environment"], "prod");

        let e = Loader::new()
            .flag("--otlp-protocol", "http/json")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("otlp.protocol") && e.contains("grpc"), "{e}");
        let e = Loader::new()
            .env(env(&[(
                "ASC_EXPORTER_OTLP_HEADERS",
                "secret-without-equals",
            )]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("otlp.headers") && !e.contains("secret"), "{e}");
        let e = Loader::new()
            .flag("--otlp-endpoint", "collector:4317")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("otlp.endpoint"), "{e}");
    }

    #[test]
    fn web_limits_from_env_and_file_with_clear_errors() {
        let c = Loader::new().build().unwrap();
        assert_eq!(c.web, WebConfig::default());
        assert_eq!(c.web.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.web.shutdown_timeout, Duration::from_secs(5));
        let c = Loader::new()
            .env(env(&[
                ("ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT", "2s"),
                ("ASC_EXPORTER_WEB_IDLE_TIMEOUT", "1m 30s"),
                ("ASC_EXPORTER_WEB_MAX_CONNECTIONS", "64"),
                ("ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT", "500ms"),
            ]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            c.web,
            WebConfig {
                header_read_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(90),
                max_connections: 64,
                shutdown_timeout: Duration::from_millis(500),
                ..WebConfig::default()
            }
        );

        let e = env_error(&[("ASC_EXPORTER_WEB_IDLE_TIMEOUT", "0s")]);
        assert!(
            e.contains("web.idle_timeout")
                && e.contains("ASC_EXPORTER_WEB_IDLE_TIMEOUT")
                && e.contains("more than 0s"),
            "{e}"
        );
        let e = env_error(&[("ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT", "100years")]);
        assert!(
            e.contains("web.header_read_timeout") && e.contains("at most 24h"),
            "{e}"
        );
        let e = env_error(&[("ASC_EXPORTER_WEB_MAX_CONNECTIONS", "0")]);
        assert!(
            e.contains("web.max_connections") && e.contains("between 1 and"),
            "{e}"
        );
        let e = env_error(&[("ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT", "soon")]);
        assert!(
            e.contains("web.shutdown_timeout") && e.contains("such as 30s"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "web:\n  header_read_timeout: 0s\n").unwrap();
        let e = Loader::new()
            .file(&path)
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("web.header_read_timeout") && e.contains("c.yaml"),
            "{e}"
        );
        std::fs::write(&path, "web:\n  idle: 5s\n").unwrap();
        let e = Loader::new()
            .file(&path)
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("web") && e.contains("idle"), "{e}");
    }

    #[test]
    fn the_example_config_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
        let c = Loader::new().file(&path).unwrap().build().unwrap();
        assert_eq!(c.refresh, RefreshConfig::default());
        assert_eq!(c.diagnostics, DiagnosticsConfig::default());
        assert_eq!(c.web, WebConfig::default());
        assert_eq!(c.asc.key_id.as_deref(), Some("2X9R4HXF34"));
    }

    #[test]
    fn errors_name_the_key_the_source_and_the_fix() {
        let e = Loader::new()
            .flag("--refresh-interval", "soon")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refresh.interval") && e.contains("flag --refresh-interval"),
            "{e}"
        );

        let e = Loader::new()
            .env(env(&[("ASC_EXPORTER_CONCURRENCY", "many")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refresh.concurrency")
                && e.contains("ASC_EXPORTER_CONCURRENCY")
                && e.contains("whole number"),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "refresh:\n  intervall: 1h\n").unwrap();
        let e = Loader::new()
            .file(&path)
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refresh") && e.contains("intervall") && e.contains("c.yaml"),
            "{e}"
        );

        std::fs::write(&path, "listen: nowhere\n").unwrap();
        let e = Loader::new()
            .file(&path)
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("'listen'") && e.contains("0.0.0.0:9472"), "{e}");

        std::fs::write(&path, "refresh: [1, 2\n").unwrap();
        let e = Loader::new().file(&path).unwrap_err().to_string();
        assert!(e.contains("not valid YAML"), "{e}");

        let e = Loader::new()
            .flag("--base-url", "ftp://x")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("asc.base_url") && e.contains("http"), "{e}");
    }

    #[test]
    fn retries_and_deadlines_are_bounded() {
        let e = Loader::new()
            .flag("--max-retries", "1000000")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("asc.max_retries")
                && e.contains("more than 10")
                && e.contains("--max-retries"),
            "{e}"
        );
        assert_eq!(
            Loader::new()
                .flag("--max-retries", "10")
                .unwrap()
                .build()
                .unwrap()
                .asc
                .max_retries,
            10
        );
        let c = Loader::new()
            .env(env(&[
                ("ASC_EXPORTER_REFRESH_TIMEOUT", "20m"),
                ("ASC_EXPORTER_APP_TIMEOUT", "90s"),
                ("ASC_EXPORTER_MAX_RESPONSE_BYTES", "1048576"),
            ]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.refresh.timeout, Duration::from_secs(1200));
        assert_eq!(c.refresh.app_timeout, Duration::from_secs(90));
        assert_eq!(c.asc.max_response_bytes, 1 << 20);
        let e = env_error(&[
            ("ASC_EXPORTER_REFRESH_TIMEOUT", "1m"),
            ("ASC_EXPORTER_APP_TIMEOUT", "2m"),
        ]);
        assert!(
            e.contains("refresh.app_timeout") && e.contains("refresh.timeout"),
            "{e}"
        );
        let e = env_error(&[("ASC_EXPORTER_REFRESH_TIMEOUT", "soon")]);
        assert!(
            e.contains("refresh.timeout") && e.contains("such as 30s"),
            "{e}"
        );
        let e = env_error(&[("ASC_EXPORTER_MAX_RESPONSE_BYTES", "10")]);
        assert!(e.contains("asc.max_response_bytes"), "{e}");
    }
}
