//! CPU of the OTLP metrics output at a 1 s export interval with nothing
//! refreshing (issue 12: under 5 % of one core at ~220k series). Not a test.
//!
//! One simulated account (default 50 apps, 3 builds each, diagnostic logs
//! on) is refreshed once through the real client, mapped once to the family
//! model, and published to the OTLP output (`export::otlp::start`, what
//! `serve` runs) exactly as the service does. The output then pushes every
//! second to a local OTLP sink on 127.0.0.1: this same binary re-executed as
//! a child process (so its decoding is not counted), serving HTTP/protobuf
//! (`/v1/metrics`) and gRPC (`MetricsService`, on tonic's server with a
//! Collector's HTTP/2 settings), both decoding every request far enough to
//! count its points (cheaply, so the sink keeps up with an export a
//! second on the same 2 cores). The exporter side logs as `serve` does
//! (the default `info` filter). After a warm-up the
//! process CPU (`CLOCK_PROCESS_CPUTIME_ID`: every thread of the exporter
//! side, the simulator shut down) is read over a window: % of one core, and
//! CPU per export. A run with the output off gives the idle baseline.
//!
//! The `sdk-*` variants are the output as it was before issue 12 (the
//! OpenTelemetry SDK's pipeline: observable instruments over the
//! precomputed attribute sets, a `PeriodicReader`, the SDK's OTLP
//! exporter), rebuilt here from the library's public pieces, so the run
//! compares both on the same data.
//!
//! Run: `cargo bench --bench otlp`. Size with `BENCH_APPS` (default 50),
//! `BENCH_BUILDS` (3); `BENCH_WINDOW` seconds (default 30), `BENCH_WARMUP`
//! (5); `BENCH_VARIANTS` (default
//! `sdk-http,http,http+gzip,sdk-grpc,grpc,grpc+gzip`; also `sdk-http+gzip`,
//! `sdk-grpc+gzip`). Under `cargo test` it runs a tiny smoke version.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use asc_perf_exporter::asc::auth::{AuthConfig, KeySource, TokenProvider, generate_key_pair};
use asc_perf_exporter::asc::client::{AscClient, ClientConfig};
use asc_perf_exporter::cli::logging::{self, LogSetup};
use asc_perf_exporter::config::{Config, OtlpConfig};
use asc_perf_exporter::export::{self, ExportStats, Mapped, otlp};
use asc_perf_exporter::refresh::Snapshot;
use asc_perf_exporter::refresh::runner::{RefreshOptions, Refresher};
use asc_perf_exporter::service;
use asc_perf_exporter::sim::{self, SimConfig};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use tokio_util::sync::CancellationToken;

mod common;
use common::{env_usize, process_cpu};

const SINK_ENV: &str = "ASC_OTLP_BENCH_SINK";

// ---------------------------------------------------------------------------
// The sink (child process).

/// What the sink decodes of a request: the data points, counted, and
/// nothing else. prost skips every other field (attributes, names, values)
/// without allocating, so the sink's share of the 2 cores stays small
/// enough for the exporter to export every second; decoding the whole
/// `ExportMetricsServiceRequest` (every attribute a `String`) kept the sink
/// behind (21-29 of 30 exports in a window). The tags are OTLP's
/// (`metrics.proto`): `resource_metrics` 1, `scope_metrics` 2, `metrics`
/// 2, `gauge` 5, `sum` 7, `data_points` 1.
#[derive(Clone, PartialEq, prost::Message)]
struct CountRequest {
    #[prost(message, repeated, tag = "1")]
    resource_metrics: Vec<CountResource>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CountResource {
    #[prost(message, repeated, tag = "2")]
    scope_metrics: Vec<CountScope>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CountScope {
    #[prost(message, repeated, tag = "2")]
    metrics: Vec<CountMetric>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CountMetric {
    #[prost(message, optional, tag = "5")]
    gauge: Option<CountPoints>,
    #[prost(message, optional, tag = "7")]
    sum: Option<CountPoints>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CountPoints {
    #[prost(message, repeated, tag = "1")]
    data_points: Vec<Skipped>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Skipped {}

impl CountRequest {
    fn points(&self) -> u64 {
        let mut n = 0;
        for rm in &self.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    for p in [&m.gauge, &m.sum].into_iter().flatten() {
                        n += p.data_points.len() as u64;
                    }
                }
            }
        }
        n
    }
}

#[derive(Default)]
struct SinkStats {
    requests: AtomicU64,
    wire_bytes: AtomicU64,
    points: AtomicU64,
    bad: AtomicU64,
}

impl SinkStats {
    /// Counts one request: `wire` bytes as sent (compressed or not), the
    /// `message` after decompression. `false` when it does not decode.
    fn add(&self, wire: usize, message: &[u8]) -> bool {
        match CountRequest::decode(message) {
            Ok(req) => {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.wire_bytes.fetch_add(wire as u64, Ordering::Relaxed);
                self.points.fetch_add(req.points(), Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.bad.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {}",
            self.requests.load(Ordering::Relaxed),
            self.wire_bytes.load(Ordering::Relaxed),
            self.points.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed)
        )
    }
}

fn gunzip(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).ok()?;
    Some(out)
}

/// `POST /v1/metrics` (HTTP/protobuf).
async fn http_export(
    stats: Arc<SinkStats>,
    h: axum::http::HeaderMap,
    b: axum::body::Bytes,
) -> (axum::http::StatusCode, Vec<u8>) {
    use axum::http::StatusCode;
    let gzip = h
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let message = match gzip {
        true => gunzip(&b),
        false => Some(b.to_vec()),
    };
    match message {
        Some(m) if stats.add(b.len(), &m) => (
            StatusCode::OK,
            ExportMetricsServiceResponse::default().encode_to_vec(),
        ),
        _ => (StatusCode::BAD_REQUEST, Vec::new()),
    }
}

/// `MetricsService/Export` (gRPC): one length-prefixed message (flag 1:
/// gzip), answered with an empty `ExportMetricsServiceResponse` and
/// `grpc-status` 0 in the trailers, or 3 (`INVALID_ARGUMENT`).
async fn grpc_export(stats: Arc<SinkStats>, b: axum::body::Bytes) -> axum::response::Response {
    use http_body_util::BodyExt;
    let message = match (b.first(), b.get(5..)) {
        (Some(0), Some(m)) => Some(m.to_vec()),
        (Some(1), Some(m)) => gunzip(m),
        _ => None,
    };
    let ok = message.is_some_and(|m| stats.add(b.len().saturating_sub(5), &m));
    let mut trailers = axum::http::HeaderMap::new();
    trailers.insert("grpc-status", if ok { "0" } else { "3" }.parse().unwrap());
    let body = http_body_util::Full::new(Bytes::from_static(&[0, 0, 0, 0, 0]))
        .with_trailers(async move { Some(Ok::<_, std::convert::Infallible>(trailers)) });
    axum::response::Response::builder()
        .header("content-type", "application/grpc")
        .body(axum::body::Body::new(body))
        .unwrap()
}

/// Serves HTTP/protobuf and gRPC on two loopback ports (printed on stdout
/// as `http <port> grpc <port>`), answers `stats` lines on stdin with
/// `requests bytes points bad` received so far, exits when stdin closes.
///
/// The gRPC side is tonic's server with the HTTP/2 settings of a
/// Collector's receiver (grpc-go: 64 KiB initial windows grown by BDP
/// estimation, which is hyper's adaptive window; 16 KiB frames).
fn sink_main() {
    use axum::routing::post;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stats = Arc::new(SinkStats::default());
    let (http_port, grpc_port) = rt.block_on(async {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ports = (
            http.local_addr().unwrap().port(),
            grpc.local_addr().unwrap().port(),
        );
        let s = stats.clone();
        let app = axum::Router::new()
            .route("/v1/metrics", post(move |h, b| http_export(s, h, b)))
            // An export of 220k points is tens of MB; axum's default limit is 2 MB.
            .layer(axum::extract::DefaultBodyLimit::disable());
        tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
        let s = stats.clone();
        let routes = axum::Router::new()
            .route(
                "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                post(move |b| grpc_export(s, b)),
            )
            .layer(axum::extract::DefaultBodyLimit::disable());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .http2_adaptive_window(Some(true))
                .add_routes(tonic::service::Routes::from(routes))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc))
                .await
                .unwrap()
        });
        ports
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "http {http_port} grpc {grpc_port}").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            writeln!(out, "{}", stats.line()).unwrap();
            out.flush().unwrap();
        }
    }
}

struct Sink {
    child: std::process::Child,
    reader: BufReader<std::process::ChildStdout>,
    http_port: u16,
    grpc_port: u16,
}

/// `(requests, bytes, data points, bad requests)` received so far (bytes:
/// HTTP bodies and gRPC messages as sent, compressed or not).
type SinkCounts = (u64, u64, u64, u64);

impl Sink {
    fn spawn() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SINK_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the sink starts");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let w: Vec<&str> = line.split_whitespace().collect();
        Self {
            child,
            reader,
            http_port: w[1].parse().unwrap(),
            grpc_port: w[3].parse().unwrap(),
        }
    }

    fn counts(&mut self) -> SinkCounts {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "stats").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        (v[0], v[1], v[2], v[3])
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The exporter side.

fn snapshot(apps: usize, builds: usize) -> Snapshot {
    let (private_pem, public_pem) = generate_key_pair();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sc = SimConfig::new(public_pem);
        sc.apps = apps;
        sc.hour_limit = 1_000_000;
        sc.minute_limit = 0;
        let handle = sim::start(sc, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let auth = TokenProvider::new(AuthConfig::new(
            Some("bench".into()),
            "BENCHKEY01",
            KeySource::Inline(private_pem),
        ))
        .unwrap();
        let client = AscClient::new(
            ClientConfig {
                base_url: handle.base_url().parse().unwrap(),
                ..Default::default()
            },
            auth,
        )
        .unwrap();
        let mut config = Config::default();
        config.refresh.builds_per_app = builds;
        config.refresh.concurrency = 8;
        config.diagnostics.logs = true;
        let snap = Refresher::new(client, RefreshOptions::from(&config))
            .refresh(&Snapshot::default())
            .await;
        assert!(snap.refresh.last_success, "the simulated refresh failed");
        handle.shutdown().await;
        snap
    })
}

struct Row {
    name: String,
    cpu: Duration,
    wall: Duration,
    exports: u64,
    failures: u64,
    requests: u64,
    wire_bytes: u64,
    points: u64,
}

fn main() {
    if std::env::var_os(SINK_ENV).is_some() {
        sink_main();
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (apps, builds, window, warmup) = if full {
        (
            env_usize("BENCH_APPS", 50),
            env_usize("BENCH_BUILDS", 3),
            env_usize("BENCH_WINDOW", 30),
            env_usize("BENCH_WARMUP", 5),
        )
    } else {
        (2, 1, 2, 1)
    };
    let variants = std::env::var("BENCH_VARIANTS")
        .unwrap_or_else(|_| "sdk-http,http,http+gzip,sdk-grpc,grpc,grpc+gzip".into());
    let window = Duration::from_secs(window as u64);
    let warmup = Duration::from_secs(warmup as u64);

    let snap = Arc::new(snapshot(apps, builds));
    // The service's logging (`serve` with the default `info`), so the
    // transport's trace spans are off at their callsites as they are in
    // `serve`. Without a subscriber, tracing's `log` feature (which tower
    // turns on) hands every h2 span to `log` instead.
    logging::init_logging(&LogSetup::serve(&Config::default()));
    let meta = service::build_meta();
    let families = Arc::new(export::families(&snap, &meta));
    let series = families.series();
    let mapped = Arc::new(Mapped {
        snapshot: snap.clone(),
        families: families.clone(),
    });
    let mut sink = Sink::spawn();

    // The service's runtime: multi-threaded, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();

    // Idle baseline: the same process, the output off.
    {
        let t = (process_cpu(), Instant::now());
        std::thread::sleep(window / 3);
        rows.push(Row {
            name: "off".into(),
            cpu: process_cpu() - t.0,
            wall: t.1.elapsed(),
            exports: 0,
            failures: 0,
            requests: 0,
            wire_bytes: 0,
            points: 0,
        });
    }

    for variant in variants.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let (sdk, rest) = match variant.strip_prefix("sdk-") {
            Some(r) => (true, r),
            None => (false, variant),
        };
        let (proto, gzip) = match rest {
            "http" => ("http/protobuf", false),
            "http+gzip" => ("http/protobuf", true),
            "grpc" => ("grpc", false),
            "grpc+gzip" => ("grpc", true),
            other => panic!(
                "unknown variant {other}: [sdk-]http, [sdk-]http+gzip, [sdk-]grpc, [sdk-]grpc+gzip"
            ),
        };
        let port = if proto == "grpc" {
            sink.grpc_port
        } else {
            sink.http_port
        };
        let config = OtlpConfig {
            enabled: true,
            protocol: Some(proto.into()),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            interval: Duration::from_secs(1),
            timeout: Some(Duration::from_secs(10)),
            compression: gzip.then(|| "gzip".into()),
            logs: false,
            ..OtlpConfig::default()
        };
        let stats = Arc::new(ExportStats::new());
        let shutdown = CancellationToken::new();
        let (_tx, rx) = tokio::sync::watch::channel(Some(mapped.clone()));
        let out = {
            let _g = rt.enter();
            if sdk {
                let (p, kept) = sdk_output(&config, &meta, &families, stats.clone());
                Output::Sdk(p, kept)
            } else {
                Output::Mine(
                    otlp::start(
                        &config,
                        meta.clone(),
                        rx,
                        None,
                        stats.clone(),
                        shutdown.clone(),
                    )
                    .expect("the OTLP output starts"),
                )
            }
        };
        std::thread::sleep(warmup);
        let ok = |s: &ExportStats| {
            let e = s.snapshot().exports;
            let m = e.iter().find(|(sig, _, _)| *sig == "metrics").unwrap();
            (m.1, m.2)
        };
        let (e0, f0) = ok(&stats);
        let s0 = sink.counts();
        let t = (process_cpu(), Instant::now());
        std::thread::sleep(window);
        let cpu = process_cpu() - t.0;
        let wall = t.1.elapsed();
        let (e1, f1) = ok(&stats);
        let s1 = sink.counts();
        shutdown.cancel();
        match out {
            Output::Mine(o) => rt.block_on(o.join()),
            Output::Sdk(p, kept) => {
                let _ = p.shutdown_with_timeout(Duration::from_secs(15));
                drop(kept);
            }
        }
        assert_eq!(s1.3, 0, "the sink could not decode a request");
        rows.push(Row {
            name: variant.into(),
            cpu,
            wall,
            exports: e1 - e0,
            failures: f1 - f0,
            requests: s1.0 - s0.0,
            wire_bytes: s1.1 - s0.1,
            points: s1.2 - s0.2,
        });
    }
    drop(rt);
    drop(sink);

    println!(
        "asc-perf-exporter OTLP output CPU ({} mode): {apps} apps, {builds} builds/app, {series} series in {} families; export interval 1 s, nothing refreshing; window {:.0} s after {:.0} s warm-up",
        if full { "full" } else { "smoke" },
        families.families.len(),
        window.as_secs_f64(),
        warmup.as_secs_f64()
    );
    println!(
        "{:<10} | {:>6} {:>8} {:>7} | {:>7} {:>8} {:>8} {:>8} {:>9} | {:>13}",
        "variant",
        "CPU s",
        "window s",
        "% core",
        "exports",
        "failures",
        "requests",
        "MB/s",
        "points/s",
        "ms CPU/export"
    );
    let base = rows[0].cpu.as_secs_f64() / rows[0].wall.as_secs_f64();
    for r in &rows {
        let secs = r.wall.as_secs_f64();
        let ms = if r.exports > 0 {
            format!(
                "{:.1}",
                (r.cpu.as_secs_f64() - base * secs) / r.exports as f64 * 1e3
            )
        } else {
            "-".into()
        };
        println!(
            "{:<10} | {:>6.2} {:>8.1} {:>6.1}% | {:>7} {:>8} {:>8} {:>8.2} {:>9.0} | {:>13}",
            r.name,
            r.cpu.as_secs_f64(),
            secs,
            r.cpu.as_secs_f64() / secs * 100.0,
            r.exports,
            r.failures,
            r.requests,
            r.wire_bytes as f64 / secs / 1e6,
            r.points as f64 / secs,
            ms
        );
    }
    println!(
        "(% core: process CPU over the window, all threads, the sink excluded; MB/s: HTTP bodies and gRPC messages as sent; ms CPU/export: above the idle baseline)"
    );
    let per_export = series_points(&families) as f64;
    for r in &rows[1..] {
        assert!(r.exports > 0, "{}: no export succeeded", r.name);
        assert_eq!(r.failures, 0, "{}: failed exports", r.name);
        // Every export carries every series (the counts are read a moment
        // apart on both sides, so allow one export's worth either way).
        let got = r.points as f64 / r.exports as f64;
        assert!(
            (got - per_export).abs() <= per_export / r.exports as f64 + 1.0,
            "{}: {got} points per export, want {per_export}",
            r.name
        );
    }
}

/// Points one export carries: every series of every family.
fn series_points(f: &export::Families) -> usize {
    f.families.iter().map(|f| f.series.len()).sum()
}

enum Output {
    Mine(otlp::OtlpOutput),
    Sdk(opentelemetry_sdk::metrics::SdkMeterProvider, Instruments),
}

/// The observable instruments, kept for the provider's lifetime.
type Instruments = (
    Vec<opentelemetry::metrics::ObservableGauge<f64>>,
    Vec<opentelemetry::metrics::ObservableCounter<f64>>,
);

/// The SDK pipeline the output used before issue 12, from public pieces:
/// an observable instrument per family replaying precomputed points, a
/// periodic reader, the SDK's OTLP exporter (counted in `stats`).
fn sdk_output(
    config: &OtlpConfig,
    meta: &export::BuildMeta,
    families: &export::Families,
    stats: Arc<ExportStats>,
) -> (opentelemetry_sdk::metrics::SdkMeterProvider, Instruments) {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{
        Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
    };

    #[derive(Debug)]
    struct Counting {
        inner: opentelemetry_otlp::MetricExporter,
        stats: Arc<ExportStats>,
    }
    impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for Counting {
        async fn export(
            &self,
            m: &opentelemetry_sdk::metrics::data::ResourceMetrics,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            let r = self.inner.export(m).await;
            self.stats.record(
                export::Signal::Metrics,
                r.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            );
            r
        }
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            self.inner.force_flush()
        }
        fn shutdown_with_timeout(&self, t: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
            self.inner.shutdown_with_timeout(t)
        }
        fn temporality(&self) -> Temporality {
            self.inner.temporality()
        }
    }

    let exporter = otlp::metric_exporter(config).expect("the SDK exporter builds");
    let reader = PeriodicReader::builder(Counting {
        inner: exporter,
        stats,
    })
    .with_interval(config.interval)
    .build();
    let provider = SdkMeterProvider::builder()
        .with_resource(otlp::resource(config, meta, &otlp::new_instance_id()))
        .with_reader(reader)
        .with_view(|_: &Instrument| {
            Stream::builder()
                .with_cardinality_limit(1_000_000)
                .build()
                .ok()
        })
        .build();
    let meter = provider.meter(otlp::SCOPE);
    let mut kept: Instruments = (Vec::new(), Vec::new());
    for f in otlp::otel_families_of(families).into_values() {
        let points = Arc::new(f.points);
        let observe = move |o: &dyn opentelemetry::metrics::AsyncInstrument<f64>| {
            for (attrs, v) in points.iter() {
                o.observe(*v, attrs);
            }
        };
        if f.monotonic {
            kept.1.push(
                meter
                    .f64_observable_counter(f.name)
                    .with_unit(f.unit)
                    .with_description(f.description)
                    .with_callback(observe)
                    .build(),
            );
        } else {
            kept.0.push(
                meter
                    .f64_observable_gauge(f.name)
                    .with_unit(f.unit)
                    .with_description(f.description)
                    .with_callback(observe)
                    .build(),
            );
        }
    }
    (provider, kept)
}
