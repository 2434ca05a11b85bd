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
}
