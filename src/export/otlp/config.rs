//! OTLP settings: the protocol, endpoint, headers, timeout and compression
//! of each signal (explicit `otlp.*` config > `OTEL_EXPORTER_OTLP_*` > the
//! defaults, see `docs/configuration.md`), the resource, and the SDK
//! exporters built from them. Header values are secrets: errors and
//! warnings name the header, never its value.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, RetryPolicy, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;

use crate::config::OtlpConfig;
use crate::export::mapping::BuildMeta;
use crate::export::stats::Signal;

/// Default `service.name`.
pub const SERVICE_NAME: &str = "asc-perf-exporter";
/// Default export timeout when neither the config nor `OTEL_*` sets one.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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

pub(super) fn std_env(name: &str) -> Option<String> {
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

/// Retries of a failed export (within the export timeout), both signals.
const RETRIES: usize = 3;
const RETRY_INITIAL: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
const RETRY_JITTER: Duration = Duration::from_millis(100);

fn retry_policy() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_retries(RETRIES)
        .with_initial_delay(RETRY_INITIAL)
        .with_max_delay(RETRY_MAX)
        .with_max_jitter(RETRY_JITTER)
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

pub(super) fn warn_header_clashes(config: &OtlpConfig, env: &dyn Fn(&str) -> Option<String>) {
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

/// Builds the SDK's OTLP metric exporter with these settings. The output
/// does not use it (it sends its own encoded requests, see
/// [`push`](super::push)); `benches/otlp.rs` runs it as the baseline. Must
/// run inside a Tokio runtime (gRPC).
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
// The metrics signal's transport settings, resolved here rather than by the
// SDK's exporter builder (the metrics are sent by `push`, see `wire` for
// why), with the SDK's rules so the documented precedence holds: explicit
// config, then `OTEL_EXPORTER_OTLP_METRICS_*`, then `OTEL_EXPORTER_OTLP_*`,
// then the default.

/// Where and how the metrics are sent.
#[derive(Debug, Clone)]
pub struct MetricsTarget {
    pub proto: Proto,
    /// HTTP: the full URL (`…/v1/metrics`); gRPC: the collector's base URL.
    pub endpoint: String,
    /// Request headers (gRPC metadata): `otlp.headers`, then the
    /// `OTEL_EXPORTER_OTLP_*HEADERS` variable (which wins on a clash).
    pub headers: axum::http::HeaderMap,
    pub timeout: Duration,
    pub gzip: bool,
    /// The retry policy of the SDK exporters (see [`retry_policy`]).
    pub max_retries: usize,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_jitter: Duration,
}

const HTTP_DEFAULT: &str = "http://localhost:4318";
const GRPC_DEFAULT: &str = "http://localhost:4317";

/// An `OTEL_*` variable, unset when empty (as the SDK reads them).
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Resolves the metrics target (`env` is `std::env::var`, a map in tests).
pub fn metrics_target(
    config: &OtlpConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<MetricsTarget> {
    use axum::http::{HeaderName, HeaderValue};
    let proto = resolve_protocol(config, Signal::Metrics, env)?;
    let given = config.endpoint.as_deref().filter(|e| !e.is_empty());
    let endpoint = match proto {
        Proto::HttpProtobuf => match given {
            Some(e) => http_endpoint(e, "v1/metrics"),
            None => match var(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
                Some(e) => e,
                None => {
                    let base = var(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
                        .unwrap_or_else(|| HTTP_DEFAULT.to_string());
                    // The SDK appends the path to the base as given.
                    if base.ends_with('/') {
                        format!("{base}v1/metrics")
                    } else {
                        format!("{base}/v1/metrics")
                    }
                }
            },
        },
        Proto::Grpc => {
            let e = given
                .map(str::to_string)
                .or_else(|| var(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
                .or_else(|| var(env, "OTEL_EXPORTER_OTLP_ENDPOINT"))
                .unwrap_or_else(|| GRPC_DEFAULT.to_string());
            let has_scheme = e
                .split_once("://")
                .is_some_and(|(s, _)| !s.contains(['/', '?', '#']));
            if has_scheme {
                e
            } else {
                let insecure = var(env, "OTEL_EXPORTER_OTLP_METRICS_INSECURE")
                    .or_else(|| var(env, "OTEL_EXPORTER_OTLP_INSECURE"))
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                format!("{}://{e}", if insecure { "http" } else { "https" })
            }
        }
    };
    let parsed = url::Url::parse(&endpoint).map_err(|e| {
        anyhow::anyhow!(
            "OTLP metrics endpoint '{endpoint}' is not a valid URL ({e}); set otlp.endpoint to e.g. http://collector:4317"
        )
    })?;
    match (proto, parsed.scheme()) {
        (Proto::HttpProtobuf, "http" | "https") | (Proto::Grpc, "http") => {}
        (Proto::Grpc, "https") => anyhow::bail!(
            "OTLP metrics endpoint '{endpoint}' uses https, but gRPC is built without TLS; use http://, or protocol http/protobuf (which supports https)"
        ),
        (_, other) => anyhow::bail!(
            "OTLP metrics endpoint '{endpoint}': scheme '{other}' is not supported; use http:// or https://"
        ),
    }

    let mut headers = axum::http::HeaderMap::new();
    for (k, v) in &config.headers {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| anyhow::anyhow!("otlp.headers: '{k}' is not a valid header name"))?;
        // Never echo the value: it is usually an API key.
        let value = HeaderValue::from_str(v).map_err(|_| {
            anyhow::anyhow!("otlp.headers: the value of '{k}' is not a valid header value")
        })?;
        headers.insert(name, value);
    }
    // Like the SDK: the signal's variable if set (even empty), else the generic one.
    if let Some(list) =
        env("OTEL_EXPORTER_OTLP_METRICS_HEADERS").or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
    {
        for (k, v) in parse_header_list(&list) {
            // Invalid pairs are skipped, as the SDK does.
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                headers.insert(n, v);
            }
        }
    }

    let ms = |name| {
        env(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    let timeout = config
        .timeout
        .or_else(|| ms("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"))
        .or_else(|| ms("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .unwrap_or(DEFAULT_TIMEOUT);

    let gzip = match compression(config) {
        Some(_) => true,
        None => {
            let mut gzip = false;
            for name in [
                "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
                "OTEL_EXPORTER_OTLP_COMPRESSION",
            ] {
                let Some(v) = var(env, name) else { continue };
                match v.trim().to_ascii_lowercase().as_str() {
                    "none" => break,
                    "gzip" => {
                        gzip = true;
                        break;
                    }
                    other => tracing::warn!(
                        variable = name,
                        value = other,
                        "OTLP compression not supported (use gzip or none); ignored"
                    ),
                }
            }
            gzip
        }
    };
    Ok(MetricsTarget {
        proto,
        endpoint,
        headers,
        timeout,
        gzip,
        max_retries: RETRIES,
        initial_delay: RETRY_INITIAL,
        max_delay: RETRY_MAX,
        max_jitter: RETRY_JITTER,
    })
}

/// `k1=v1,k2=v2` with %-encoded values (W3C baggage style, as the SDK
/// parses `OTEL_EXPORTER_OTLP_HEADERS`); pairs without a key or value are
/// skipped, a value that does not decode is kept as written.
pub fn parse_header_list(list: &str) -> Vec<(String, String)> {
    list.split_terminator(',')
        .map(str::trim)
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            let v = percent_decode(v).unwrap_or_else(|| v.to_string());
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn metrics_target_follows_the_sdk_precedence() {
        let mut c = OtlpConfig {
            protocol: Some("http/protobuf".into()),
            ..OtlpConfig::default()
        };
        // Defaults.
        let t = metrics_target(&c, &env_of(&[])).unwrap();
        assert_eq!(t.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(t.timeout, DEFAULT_TIMEOUT);
        assert!(!t.gzip && t.headers.is_empty());
        // The generic variables: the path appended; the signal's: as is.
        let generic = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gen:4318/"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=a%20b, other = 1,bad",
            ),
        ]);
        let t = metrics_target(&c, &generic).unwrap();
        assert_eq!(t.endpoint, "http://gen:4318/v1/metrics");
        assert_eq!(t.timeout, Duration::from_millis(2500));
        assert!(t.gzip);
        assert_eq!(t.headers["x-api-key"], "a b");
        assert_eq!(t.headers["other"], "1");
        let signal = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gen:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://sig:9/custom"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-api-key=theirs"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "ignored=1"),
        ]);
        c.headers.insert("X-Api-Key".into(), "mine".into());
        c.headers.insert("x-mine".into(), "2".into());
        let t = metrics_target(&c, &signal).unwrap();
        assert_eq!(t.endpoint, "http://sig:9/custom");
        assert!(
            !t.gzip,
            "none on the signal's variable wins over the generic gzip"
        );
        assert_eq!(
            t.headers["x-api-key"], "theirs",
            "the variable wins, as in the SDK"
        );
        assert_eq!(t.headers["x-mine"], "2");
        assert!(t.headers.get("ignored").is_none());
        // Explicit config wins over every variable.
        c.endpoint = Some("http://mine:4318/".into());
        c.timeout = Some(Duration::from_secs(3));
        c.compression = Some("gzip".into());
        let t = metrics_target(&c, &signal).unwrap();
        assert_eq!(t.endpoint, "http://mine:4318/v1/metrics");
        assert_eq!(t.timeout, Duration::from_secs(3));
        assert!(t.gzip);
    }

    #[test]
    fn grpc_metrics_target() {
        let c = OtlpConfig::default();
        assert_eq!(
            metrics_target(&c, &env_of(&[])).unwrap().endpoint,
            "http://localhost:4317"
        );
        let bare = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ]);
        assert_eq!(
            metrics_target(&c, &bare).unwrap().endpoint,
            "http://collector:4317"
        );
        let tls = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]);
        let err = metrics_target(&c, &tls).unwrap_err().to_string();
        assert!(
            err.contains("https") && err.contains("http/protobuf"),
            "{err}"
        );
        let c = OtlpConfig {
            endpoint: Some("not a url".into()),
            ..OtlpConfig::default()
        };
        let err = metrics_target(&c, &env_of(&[])).unwrap_err().to_string();
        assert!(err.contains("not a valid URL"), "{err}");
    }
}
