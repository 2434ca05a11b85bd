//! The declaration of every setting: type, default, file key, environment
//! variables, flag and doc, once each (see [`super::declare`]).
//!
//! Adding a setting is one entry here; `docs/configuration.md` is then
//! regenerated (`UPDATE_DOCS=1 cargo test --test config docs`) and the
//! table-driven test in `tests/config.rs` picks it up. Flags are the key with
//! `_` → `-` (`refresh.app_timeout` → `--refresh.app-timeout`), except the
//! exporter-toolkit's own names (`--web.listen-address`, `--web.config.file`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::declare::section;

section! {
    /// The exporter's configuration (`serve`).
    #[derive(Debug)]
    pub struct Config ("") {
        /// One address to listen on, used when `web.listen_addresses` is
        /// empty (older files; `--listen` and `ASC_EXPORTER_LISTEN` now set
        /// `web.listen_addresses`). After loading it holds the first listen
        /// address.
        pub listen: String = "0.0.0.0:9472".into(),
            env [], flag "", aliases [];
        /// Directory where the last good data (`snapshot.json`) is kept and
        /// served from after a restart; unset disables persistence.
        pub state_dir: Option<PathBuf> = None,
            env ["ASC_EXPORTER_STATE_DIR"], flag "state-dir", aliases [];
        /// Several App Store Connect accounts (one key each), in the file
        /// only: a list of `{name, issuer_id, key_id, private_key_path or
        /// private_key_env, base_url, apps}` (see `docs/scaling.md`). Each
        /// `name` is the `account` label of its apps' series. Unset: the
        /// `asc.*` key is the one account, named `default`.
        pub accounts: Vec<AccountConfig> = Vec::new(),
            env [], flag "", aliases [];
        /// This replica's shard, `I/N`: it keeps the apps that rendezvous
        /// hashing of (account, app id) gives shard I of N, so N replicas
        /// with one configuration split the apps disjointly and completely
        /// (see `docs/scaling.md`). `1/1` keeps every app.
        pub shard: String = "1/1".into(),
            env ["ASC_EXPORTER_SHARD"], flag "shard", aliases [];
    }
    sections {
        pub log: LogConfig,
        pub asc: AscConfig,
        pub refresh: RefreshConfig,
        pub diagnostics: DiagnosticsConfig,
        pub prometheus: PrometheusConfig,
        pub otlp: OtlpConfig,
        pub web: WebConfig,
    }
}

/// One App Store Connect account of `accounts`: its key, and optionally
/// its API base URL and an allow-list of its apps.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The `account` label of the account's series (`[A-Za-z0-9_.-]`, at
    /// most 64 characters, unique).
    pub name: String,
    /// Issuer id of a team key; absent for an individual key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<String>,
    /// The key id (the JWT `kid`).
    #[serde(default)]
    pub key_id: String,
    /// The `.p8` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_path: Option<PathBuf>,
    /// The environment variable holding the `.p8` contents (instead of a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_env: Option<String>,
    /// API base URL; absent: `asc.base_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Allow-list of app ids or bundle ids; absent: `refresh.apps`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
}

section! {
    /// Logging (to stderr).
    #[derive(Debug)]
    pub struct LogConfig ("log.") {
        /// `error`, `warn`, `info`, `debug`, `trace`, `off`, or a
        /// `RUST_LOG`-style filter of `target=level` directives
        /// (`info,asc_perf_exporter::refresh=debug`). `RUST_LOG`, when set,
        /// wins over every source.
        pub level: String = "info".into(),
            env ["ASC_EXPORTER_LOG_LEVEL"], flag "log.level", aliases ["log-level"];
        /// `text` or `json` (one JSON object per line).
        pub format: String = "text".into(),
            env ["ASC_EXPORTER_LOG_FORMAT"], flag "log.format", aliases ["log-format"];
    }
}

section! {
    /// App Store Connect: credentials and the API client.
    #[derive(Debug)]
    pub struct AscConfig ("asc.") {
        /// Issuer id of a team API key; unset for an individual key.
        pub issuer_id: Option<String> = None,
            env ["ASC_ISSUER_ID"], flag "asc.issuer-id", global "issuer_id", aliases ["issuer-id"];
        /// The 10-character key id (the JWT `kid`).
        pub key_id: Option<String> = None,
            env ["ASC_KEY_ID"], flag "asc.key-id", global "key_id", aliases ["key-id"];
        /// The `AuthKey_XXXXXXXXXX.p8` file (or its contents in the
        /// `ASC_PRIVATE_KEY` variable, which wins).
        pub private_key_path: Option<PathBuf> = None,
            env ["ASC_PRIVATE_KEY_PATH"], flag "asc.private-key-path", global "private_key_path", aliases ["private-key-path"];
        /// API base URL (http or https; point it at `simulate` for a local run).
        pub base_url: String = crate::asc::api::DEFAULT_BASE_URL.into(),
            env ["ASC_API_BASE_URL"], flag "asc.base-url", global "base_url", aliases ["base-url"];
        /// Timeout of one API request (more than 0, at most 1h).
        pub timeout: Duration = Duration::from_secs(60),
            env ["ASC_EXPORTER_TIMEOUT", "ASC_TIMEOUT"], flag "asc.timeout", global "timeout", aliases ["timeout"];
        /// Retries of one request on 429, 5xx, network errors and bodies that
        /// time out or are cut off (0–10); each waits at least the backoff
        /// (0.5 s doubling to 30 s, with jitter), longer when `Retry-After`
        /// says so.
        pub max_retries: u32 = 4,
            env ["ASC_EXPORTER_MAX_RETRIES"], flag "asc.max-retries", aliases ["max-retries"];
        /// Cap on one decoded response body in bytes (64 MiB by default); a
        /// larger one fails that request (`status="too_large"`).
        pub max_response_bytes: u64 = 64 * 1024 * 1024,
            env ["ASC_EXPORTER_MAX_RESPONSE_BYTES"], flag "asc.max-response-bytes", aliases [];
    }
}

section! {
    /// The refresh loop: what is fetched, how often, how fast.
    #[derive(Debug)]
    pub struct RefreshConfig ("refresh.") {
        /// Time between refreshes. Apple recomputes the data about daily;
        /// hourly refreshes see a change within the hour and spend a few
        /// dozen of the ~3,600 requests an hour a key has.
        pub interval: Duration = Duration::from_secs(3600),
            env ["ASC_EXPORTER_REFRESH_INTERVAL"], flag "refresh.interval", aliases ["refresh-interval"];
        /// Deadline of one whole refresh: apps not done by then keep their
        /// last good data and the others are published.
        pub timeout: Duration = Duration::from_secs(30 * 60),
            env ["ASC_EXPORTER_REFRESH_TIMEOUT"], flag "refresh.timeout", aliases [];
        /// Deadline of one app's refresh (its metrics, builds, signatures and
        /// logs; at most `refresh.timeout`): past it the app keeps its last
        /// good data.
        pub app_timeout: Duration = Duration::from_secs(10 * 60),
            env ["ASC_EXPORTER_APP_TIMEOUT"], flag "refresh.app-timeout", aliases [];
        /// Random extra delay, as a fraction of the interval (0.1 = up to
        /// 10 %), so many exporters do not align.
        pub jitter: f64 = 0.1,
            env ["ASC_EXPORTER_REFRESH_JITTER"], flag "refresh.jitter", aliases ["refresh-jitter"];
        /// Apps refreshed at the same time (1–64).
        pub concurrency: usize = 4,
            env ["ASC_EXPORTER_CONCURRENCY"], flag "refresh.concurrency", aliases ["concurrency"];
        /// Allow-list of app ids or bundle ids; unset = every app the key sees.
        pub apps: Vec<String> = Vec::new(),
            env ["ASC_EXPORTER_APPS"], flag "refresh.apps", aliases ["app"];
        /// How many of each app's newest builds are fetched (0–200).
        pub builds_per_app: usize = 3,
            env ["ASC_EXPORTER_BUILDS_PER_APP"], flag "refresh.builds-per-app", aliases ["builds-per-app"];
        /// Fetch build-level perfPowerMetrics.
        pub build_metrics: bool = true,
            env ["ASC_EXPORTER_BUILD_METRICS"], flag "refresh.build-metrics", aliases ["build-metrics"];
        /// Fetch each app's performance overview (API 4.5: top hang,
        /// launch and disk-write call sites; one request per app).
        pub overview: bool = true,
            env ["ASC_EXPORTER_OVERVIEW"], flag "refresh.overview", aliases [];
        /// Optional work (build metrics, signatures, logs) is skipped while
        /// the hourly budget left is below this fraction of the limit.
        pub rate_limit_reserve: f64 = 0.2,
            env ["ASC_EXPORTER_RATE_LIMIT_RESERVE"], flag "refresh.rate-limit-reserve", aliases ["rate-limit-reserve"];
        /// The fraction of each key's hourly and per-minute budget this
        /// replica spends (more than 0, at most 1). 0: one share per shard
        /// (`1/N` with `shard: I/N`), since the shards of an account share
        /// its key.
        pub budget_share: f64 = 0.0,
            env ["ASC_EXPORTER_BUDGET_SHARE"], flag "refresh.budget-share", aliases [];
        /// Devices kept: Apple's ids with `*` and `?` wildcards (`all_*`
        /// keeps `all_iphones` and `all_ipads`); unset = every device. Fewer
        /// devices, fewer series. Model ids contain a comma (`iPhone15,2`):
        /// in a variable or flag write them with `?` (`iPhone15?2`).
        pub devices: Vec<String> = Vec::new(),
            env ["ASC_EXPORTER_DEVICES"], flag "refresh.devices", aliases ["device"];
        /// Keep Apple's per-subsystem shares (`asc_metric_breakdown_ratio`,
        /// one series per subsystem and point).
        pub percentage_breakdowns: bool = true,
            env ["ASC_EXPORTER_PERCENTAGE_BREAKDOWNS"], flag "refresh.percentage-breakdowns", aliases ["percentage-breakdowns"];
    }
}

section! {
    /// Diagnostic signatures and logs.
    #[derive(Debug)]
    pub struct DiagnosticsConfig ("diagnostics.") {
        /// Fetch the diagnostic signatures of each build.
        pub enabled: bool = true,
            env ["ASC_EXPORTER_DIAGNOSTICS"], flag "diagnostics.enabled", aliases ["diagnostics"];
        /// Signature types: `DISK_WRITES`, `HANGS`, `LAUNCHES`.
        pub types: Vec<String> = vec!["DISK_WRITES".into(), "HANGS".into(), "LAUNCHES".into()],
            env ["ASC_EXPORTER_DIAGNOSTIC_TYPES"], flag "diagnostics.types", aliases ["diagnostic-type"];
        /// Signatures kept per build, heaviest first (at most 200).
        pub top: usize = 10,
            env ["ASC_EXPORTER_SIGNATURES_PER_BUILD"], flag "diagnostics.top", aliases ["signatures-per-build"];
        /// Fetch the logs (call stacks) of the top signatures.
        pub logs: bool = false,
            env ["ASC_EXPORTER_LOGS"], flag "diagnostics.logs", aliases ["logs"];
        /// Signatures per build whose logs are fetched.
        pub logs_top: usize = 3,
            env ["ASC_EXPORTER_LOGS_TOP"], flag "diagnostics.logs-top", aliases ["logs-top"];
        /// Logs fetched per signature (1–200).
        pub logs_per_signature: u32 = 5,
            env ["ASC_EXPORTER_LOGS_PER_SIGNATURE"], flag "diagnostics.logs-per-signature", aliases ["logs-per-signature"];
    }
}

section! {
    /// The Prometheus output.
    #[derive(Debug)]
    pub struct PrometheusConfig ("prometheus.") {
        /// Serve the Prometheus exposition on the metrics path (404 when off).
        pub enabled: bool = true,
            env ["ASC_EXPORTER_PROMETHEUS"], flag "prometheus.enabled", aliases ["prometheus"];
    }
}

section! {
    /// The OpenTelemetry (OTLP) output. Unset optional values fall back to
    /// the standard `OTEL_EXPORTER_OTLP_*` variables, then to the OTel
    /// defaults: explicit configuration (file, `ASC_EXPORTER_OTLP_*`, flags)
    /// wins. `Debug` redacts header values (API keys).
    pub struct OtlpConfig ("otlp.") {
        /// Push metrics (and diagnostic logs, see `otlp.logs`) over OTLP.
        pub enabled: bool = false,
            env ["ASC_EXPORTER_OTLP"], flag "otlp.enabled", aliases ["otlp"];
        /// `grpc` or `http/protobuf`. Unset: `OTEL_EXPORTER_OTLP_{METRICS,LOGS}_PROTOCOL`,
        /// `OTEL_EXPORTER_OTLP_PROTOCOL`, then `grpc`.
        pub protocol: Option<String> = None,
            env ["ASC_EXPORTER_OTLP_PROTOCOL"], flag "otlp.protocol", aliases ["otlp-protocol"];
        /// Base URL of the collector (`http://collector:4317` for gRPC,
        /// `http://collector:4318` for HTTP, where `/v1/metrics` and
        /// `/v1/logs` are appended). Unset: the `OTEL_EXPORTER_OTLP_*ENDPOINT`
        /// variables, then `http://localhost:4317` / `:4318`.
        pub endpoint: Option<String> = None,
            env ["ASC_EXPORTER_OTLP_ENDPOINT"], flag "otlp.endpoint", aliases ["otlp-endpoint"];
        /// Extra request headers (gRPC metadata), e.g. a vendor's API key;
        /// values may be %-encoded. Merged with `OTEL_EXPORTER_OTLP_*HEADERS`
        /// (the variable wins on the same name, with a warning). Never
        /// logged, and no flag: argv is visible to every user of the machine.
        pub headers: BTreeMap<String, String> = BTreeMap::new(),
            env ["ASC_EXPORTER_OTLP_HEADERS"], flag "", aliases [];
        /// Timeout of one export request. Unset: `OTEL_EXPORTER_OTLP_*TIMEOUT`
        /// (ms), then 10s.
        pub timeout: Option<Duration> = None,
            env ["ASC_EXPORTER_OTLP_TIMEOUT"], flag "otlp.timeout", aliases ["otlp-timeout"];
        /// `gzip` or `none`. Unset: `OTEL_EXPORTER_OTLP_*COMPRESSION`, then
        /// none (`none` leaves the `OTEL_*` variable in effect).
        pub compression: Option<String> = None,
            env ["ASC_EXPORTER_OTLP_COMPRESSION"], flag "otlp.compression", aliases ["otlp-compression"];
        /// Time between metric exports (metrics are also pushed right after
        /// each refresh).
        pub interval: Duration = Duration::from_secs(60),
            env ["ASC_EXPORTER_OTLP_INTERVAL"], flag "otlp.interval", aliases ["otlp-interval"];
        /// Send diagnostic logs (call stacks) as OTLP log records, each once
        /// (needs `diagnostics.logs`).
        pub logs: bool = true,
            env ["ASC_EXPORTER_OTLP_LOGS"], flag "otlp.logs", aliases ["otlp-logs"];
        /// Extra resource attributes; win over `OTEL_RESOURCE_ATTRIBUTES` and
        /// `OTEL_SERVICE_NAME`.
        pub resource_attributes: BTreeMap<String, String> = BTreeMap::new(),
            env ["ASC_EXPORTER_OTLP_RESOURCE_ATTRIBUTES"], flag "otlp.resource-attributes", aliases ["otlp-resource-attributes"];
    }
}

section! {
    /// The HTTP server (see `crate::server`): addresses, the exporter-toolkit
    /// web configuration, and its limits.
    #[derive(Debug)]
    pub struct WebConfig ("web.") {
        /// Addresses to listen on, in the exporter-toolkit's syntax: `:9472`
        /// (every IPv4 interface), `127.0.0.1:9472`, `[::1]:9472`, `[::]:9472`,
        /// `localhost:9472` (resolved once, IPv4 first). Unset: `listen`.
        pub listen_addresses: Vec<String> = Vec::new(),
            env ["ASC_EXPORTER_WEB_LISTEN_ADDRESS", "ASC_EXPORTER_LISTEN"], flag "web.listen-address", aliases ["listen"];
        /// The exporter-toolkit web configuration file (TLS, basic auth,
        /// headers), re-read on change.
        pub config_file: Option<PathBuf> = None,
            env ["ASC_EXPORTER_WEB_CONFIG_FILE"], flag "web.config.file", aliases [];
        /// Path of the metrics endpoint.
        pub telemetry_path: String = "/metrics".into(),
            env ["ASC_EXPORTER_WEB_TELEMETRY_PATH"], flag "web.telemetry-path", aliases [];
        /// Requests served at once; more get 503 (0 = no limit).
        pub max_requests: usize = 40,
            env ["ASC_EXPORTER_WEB_MAX_REQUESTS"], flag "web.max-requests", aliases [];
        /// Leave the exporter's own process metrics (`process_*`) out of the
        /// metrics endpoint.
        pub disable_exporter_metrics: bool = false,
            env ["ASC_EXPORTER_WEB_DISABLE_EXPORTER_METRICS"], flag "web.disable-exporter-metrics", aliases [];
        /// Time a client has to send a request's headers, counted from the
        /// connection's start and, on a kept-alive connection, from the end
        /// of the previous response (so it also bounds keep-alive waits).
        pub header_read_timeout: Duration = Duration::from_secs(10),
            env ["ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT"], flag "web.header-read-timeout", aliases [];
        /// A connection that reads and writes nothing for this long is closed
        /// (kept-alive and idle, or a client that stopped reading its
        /// response).
        pub idle_timeout: Duration = Duration::from_secs(60),
            env ["ASC_EXPORTER_WEB_IDLE_TIMEOUT"], flag "web.idle-timeout", aliases [];
        /// Concurrent connections (1–1048576); never more than the soft
        /// `RLIMIT_NOFILE` minus 64 for the exporter's own sockets and files.
        /// At the cap the longest-idle connection is closed to make room.
        pub max_connections: usize = 512,
            env ["ASC_EXPORTER_WEB_MAX_CONNECTIONS"], flag "web.max-connections", aliases [];
        /// On SIGTERM/SIGINT, time open connections get to finish before they
        /// are dropped.
        pub shutdown_timeout: Duration = Duration::from_secs(5),
            env ["ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT"], flag "web.shutdown-timeout", aliases [];
    }
}

/// Defaults of `serve --demo`, below every source: demo data changes only
/// when a scenario is switched, so it is refreshed often.
pub const DEMO_DEFAULTS: &[(&str, &str)] = &[("refresh.interval", "30s"), ("refresh.jitter", "0")];

/// Upper bound of `asc.max_retries`: past it, a failing endpoint would only
/// burn the hourly budget.
pub const MAX_RETRIES: u32 = 10;

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

impl WebConfig {
    /// Longest accepted `web.*` duration (timers far in the future overflow).
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
    /// Largest accepted `web.max_connections`.
    pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;
}
