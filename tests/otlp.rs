//! The OTLP output end to end: the exporter refreshes from the simulator
//! (Apple's example fixture, diagnostic logs on) and pushes to a real OTLP
//! receiver running in the test on 127.0.0.1, over gRPC (tonic, the
//! `opentelemetry-proto` services) and HTTP/protobuf (axum + prost).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asc_perf_exporter::asc::model::CallStackNode;
use asc_perf_exporter::config::Config;
use asc_perf_exporter::refresh::Snapshot;
use asc_perf_exporter::service::Running;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::exporter::{self, Env, FIXTURE_APP, next_snapshot, sim_env, start};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use prost::Message;
use tokio_util::sync::CancellationToken;

mod common;

const API_KEY: &str = "secret-api-key-123";
/// "Fast" for a scrape of a debug build on a loaded 2-core machine; an
/// export that waited for the (down) collector would take the 10 s timeout.
const SCRAPE_LIMIT: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// The receiver.

#[derive(Default)]
struct Received {
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    /// Value of the `x-api-key` header/metadata of each request.
    api_keys: Vec<Option<String>>,
}

type Store = Arc<Mutex<Received>>;

#[derive(Clone)]
struct Grpc(Store);

/// The vendor API key header a gRPC export carried.
fn api_key(meta: &tonic::metadata::MetadataMap) -> Option<String> {
    meta.get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let key = api_key(req.metadata());
        let mut s = self.0.lock().unwrap();
        s.api_keys.push(key);
        s.metrics.push(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let key = api_key(req.metadata());
        let mut s = self.0.lock().unwrap();
        s.api_keys.push(key);
        s.logs.push(req.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

struct Receiver {
    addr: SocketAddr,
    store: Store,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn grpc_receiver(listener: tokio::net::TcpListener) -> Receiver {
    use tonic::codec::CompressionEncoding;
    let addr = listener.local_addr().unwrap();
    let store = Store::default();
    let stop = CancellationToken::new();
    let svc = Grpc(store.clone());
    let s = stop.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(
                MetricsServiceServer::new(svc.clone()).accept_compressed(CompressionEncoding::Gzip),
            )
            .add_service(LogsServiceServer::new(svc).accept_compressed(CompressionEncoding::Gzip))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                s.cancelled_owned(),
            )
            .await
            .unwrap();
    });
    Receiver { addr, store, stop }
}

fn body(headers: &HeaderMap, bytes: &Bytes) -> Vec<u8> {
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        bytes.to_vec()
    }
}

async fn http_receiver(listener: tokio::net::TcpListener) -> Receiver {
    use axum::extract::State;
    use axum::routing::post;
    let addr = listener.local_addr().unwrap();
    let store = Store::default();
    let stop = CancellationToken::new();
    let key = |h: &HeaderMap| {
        h.get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let app = axum::Router::new()
        .route(
            "/v1/metrics",
            post(
                move |State(s): State<Store>, h: HeaderMap, b: Bytes| async move {
                    let Ok(req) = ExportMetricsServiceRequest::decode(&body(&h, &b)[..]) else {
                        return (StatusCode::BAD_REQUEST, Vec::new());
                    };
                    let mut s = s.lock().unwrap();
                    s.api_keys.push(key(&h));
                    s.metrics.push(req);
                    (
                        StatusCode::OK,
                        ExportMetricsServiceResponse::default().encode_to_vec(),
                    )
                },
            ),
        )
        .route(
            "/v1/logs",
            post(
                move |State(s): State<Store>, h: HeaderMap, b: Bytes| async move {
                    let Ok(req) = ExportLogsServiceRequest::decode(&body(&h, &b)[..]) else {
                        return (StatusCode::BAD_REQUEST, Vec::new());
                    };
                    let mut s = s.lock().unwrap();
                    s.api_keys.push(key(&h));
                    s.logs.push(req);
                    (
                        StatusCode::OK,
                        ExportLogsServiceResponse::default().encode_to_vec(),
                    )
                },
            ),
        )
        .with_state(store.clone());
    let s = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(s.cancelled_owned())
            .await
            .unwrap();
    });
    Receiver { addr, store, stop }
}

// ---------------------------------------------------------------------------
// The exporter.

fn otlp_config(env: &Env, protocol: &str, endpoint: String) -> Config {
    exporter::config(env, |c| {
        c.diagnostics.logs = true;
        c.otlp.enabled = true;
        c.otlp.protocol = Some(protocol.into());
        c.otlp.endpoint = Some(endpoint);
        c.otlp.interval = Duration::from_secs(1);
        // Generous: the receiver decodes in this (debug, 2-core) process too.
        c.otlp.timeout = Some(Duration::from_secs(10));
        c.otlp.compression = Some("gzip".into());
        c.otlp.headers.insert("x-api-key".into(), API_KEY.into());
        c.otlp
            .resource_attributes
            .insert("deployment.environment".into(), "test".into());
    })
}

/// Waits until `done` holds for the receiver's data.
async fn until(store: &Store, what: &str, done: impl Fn(&Received) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if done(&store.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("receiver never got {what}");
}

// ---------------------------------------------------------------------------
// Reading OTLP.

fn str_of(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), str_of(&kv.value)))
        .collect()
}

/// Every metric named `name` in the requests, with its resource attributes.
fn metrics_named<'a>(
    reqs: &'a [ExportMetricsServiceRequest],
    name: &str,
) -> Vec<(BTreeMap<String, String>, &'a Metric)> {
    let mut out = Vec::new();
    for r in reqs {
        for rm in &r.resource_metrics {
            let res = attrs(
                &rm.resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default(),
            );
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    if m.name == name {
                        out.push((res.clone(), m));
                    }
                }
            }
        }
    }
    out
}

/// `(attributes, value)` of a gauge's or sum's points.
fn points(m: &Metric) -> Vec<(BTreeMap<String, String>, f64)> {
    let pts = match &m.data {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        other => panic!("{}: unexpected data {other:?}", m.name),
    };
    pts.iter()
        .map(|p| {
            let v = match p.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                Some(number_data_point::Value::AsInt(v)) => v as f64,
                None => f64::NAN,
            };
            (attrs(&p.attributes), v)
        })
        .collect()
}

fn one_point(m: &Metric, want: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = points(m)
        .into_iter()
        .filter(|(a, _)| {
            want.iter()
                .all(|(k, v)| a.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{} {want:?}: {found:?}", m.name);
    found[0].1
}

fn log_records(reqs: &[ExportLogsServiceRequest]) -> Vec<(BTreeMap<String, String>, LogRecord)> {
    let mut out = Vec::new();
    for r in reqs {
        for rl in &r.resource_logs {
            let res = attrs(
                &rl.resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default(),
            );
            for sl in &rl.scope_logs {
                for l in &sl.log_records {
                    out.push((res.clone(), l.clone()));
                }
            }
        }
    }
    out
}

fn blame_symbols(node: &CallStackNode, out: &mut Vec<String>) {
    if node.is_blame()
        && let Some(s) = &node.symbol_name
    {
        out.push(s.clone());
    }
    for c in &node.sub_frames {
        blame_symbols(c, out);
    }
}

/// `(signature id, blame symbols)` of every diagnostic log in the snapshot.
fn snapshot_logs(s: &Snapshot) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for app in &s.apps {
        for b in &app.builds {
            for (sig, logs) in &b.logs {
                for pd in &logs.product_data {
                    for log in &pd.diagnostic_logs {
                        let mut syms = Vec::new();
                        for t in &log.call_stack_tree {
                            for cs in &t.call_stacks {
                                for f in &cs.call_stack_root_frames {
                                    blame_symbols(f, &mut syms);
                                }
                            }
                        }
                        out.push((sig.clone(), syms));
                    }
                }
            }
        }
    }
    out
}

/// Every export carries the time it was sent: one `time_unix_nano` for
/// all its points, later than the previous export's; gauges start at the
/// previous export (delta), sums at one fixed start (cumulative); the scope
/// is the exporter with its version.
fn check_timestamps(reqs: &[ExportMetricsServiceRequest]) {
    assert!(reqs.len() >= 3, "{} exports", reqs.len());
    let mut previous: Option<u64> = None;
    let mut sum_start: Option<u64> = None;
    for r in reqs {
        let mut times = std::collections::BTreeSet::new();
        let mut gauge_starts = std::collections::BTreeSet::new();
        for rm in &r.resource_metrics {
            for sm in &rm.scope_metrics {
                let scope = sm.scope.as_ref().unwrap();
                assert_eq!(scope.name, "asc-perf-exporter");
                assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
                for m in &sm.metrics {
                    match &m.data {
                        Some(metric::Data::Gauge(g)) => {
                            for p in &g.data_points {
                                times.insert(p.time_unix_nano);
                                gauge_starts.insert(p.start_time_unix_nano);
                            }
                        }
                        Some(metric::Data::Sum(s)) => {
                            for p in &s.data_points {
                                times.insert(p.time_unix_nano);
                                let start = *sum_start.get_or_insert(p.start_time_unix_nano);
                                assert_eq!(p.start_time_unix_nano, start, "{}", m.name);
                            }
                        }
                        other => panic!("{}: unexpected data {other:?}", m.name),
                    }
                }
            }
        }
        assert_eq!(times.len(), 1, "one time per export: {times:?}");
        let t = *times.first().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(t <= now && t > now - 600_000_000_000, "{t} is not recent");
        assert_eq!(gauge_starts.len(), 1, "{gauge_starts:?}");
        let start = *gauge_starts.first().unwrap();
        assert!(start < t);
        if let Some(p) = previous {
            assert!(t > p, "times increase: {p} then {t}");
            assert_eq!(start, p, "a gauge starts at the previous export");
        }
        assert!(sum_start.is_none_or(|s| s < t));
        previous = Some(t);
    }
}

/// Scrapes `/metrics`, timing the request (not the client's construction).
async fn scrape(r: &Running) -> (String, Duration) {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(reqwest::Client::new);
    let started = Instant::now();
    let text = client
        .get(format!("http://{}/metrics", r.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (text, started.elapsed())
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------
// Tests.

async fn metrics_and_logs_over(protocol: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = if protocol == "grpc" {
        grpc_receiver(listener).await
    } else {
        http_receiver(listener).await
    };
    let env = sim_env(None).await;
    let mut c = otlp_config(&env, protocol, format!("http://{}", rx.addr));
    c.refresh.interval = Duration::from_secs(2);
    let mut r = start(&env, c).await;
    let snap = next_snapshot(&mut r).await;
    assert!(snap.refresh.last_success);
    let expected_logs = snapshot_logs(&snap);
    assert!(
        !expected_logs.is_empty(),
        "the simulator serves diagnostic logs"
    );

    until(&rx.store, "asc_launch_time and the logs", |s| {
        !metrics_named(&s.metrics, "asc_launch_time").is_empty()
            && log_records(&s.logs).len() >= expected_logs.len()
    })
    .await;

    {
        let s = rx.store.lock().unwrap();
        // Headers (the vendor API key) on every request.
        assert!(
            s.api_keys.iter().all(|k| k.as_deref() == Some(API_KEY)),
            "{:?}",
            s.api_keys
        );

        let found = metrics_named(&s.metrics, "asc_launch_time");
        let (res, m) = found.last().unwrap();
        assert_eq!(res["service.name"], "asc-perf-exporter");
        assert_eq!(res["service.version"], env!("CARGO_PKG_VERSION"));
        assert!(res["service.instance.id"].len() >= 32, "{res:?}");
        assert_eq!(res["deployment.environment"], "test");
        assert_eq!(m.unit, "s");
        assert!(matches!(m.data, Some(metric::Data::Gauge(_))));
        let p50 = [
            ("app_id", FIXTURE_APP),
            ("version", "1.0"),
            ("percentile", "p50"),
            ("device", "all_iphones"),
        ];
        assert_eq!(one_point(m, &p50), 0.7687);
        let (a, _) = points(m)
            .into_iter()
            .find(|(a, _)| p50.iter().all(|(k, v)| a[*k] == *v))
            .unwrap();
        assert_eq!(a["platform"], "iOS");
        assert_eq!(a["category"], "LAUNCH");
        assert_eq!(a["device_name"], "All iPhones");
        assert_eq!(a["bundle_id"], format!("fixture.{FIXTURE_APP}"));
        assert!(!a["app"].is_empty());

        let found = metrics_named(&s.metrics, "asc_insight_regression_delta");
        let (_, m) = found.last().unwrap();
        assert_eq!(m.unit, "1");
        let base = [("app_id", FIXTURE_APP), ("metric", "launchTime")];
        let d50 = one_point(m, &[base[0], base[1], ("percentile", "p50")]);
        let d90 = one_point(m, &[base[0], base[1], ("percentile", "p90")]);
        assert!(
            (d50 - 0.10).abs() < 1e-9 && (d90 - 0.13).abs() < 1e-9,
            "{d50} {d90}"
        );

        // A counter: a cumulative monotonic Sum without `_total`.
        let found = metrics_named(&s.metrics, "asc_api_requests");
        let (_, m) = found.last().unwrap();
        assert_eq!(m.unit, "{request}");
        match &m.data {
            Some(metric::Data::Sum(sum)) => {
                assert!(sum.is_monotonic);
                assert_eq!(sum.aggregation_temporality, 2, "cumulative");
            }
            other => panic!("asc_api_requests is not a Sum: {other:?}"),
        }
        // No suffixed names leak into OTLP.
        assert!(metrics_named(&s.metrics, "asc_launch_time_seconds").is_empty());
        assert!(metrics_named(&s.metrics, "asc_api_requests_total").is_empty());
        // Signature weights are there too, as ratios.
        let found = metrics_named(&s.metrics, "asc_diagnostic_signature_weight");
        assert_eq!(found.last().unwrap().1.unit, "1");
        // The performance overview's families (API 4.5): the top call
        // sites, with the same attributes as on /metrics.
        let found = metrics_named(&s.metrics, "asc_top_signature_weight");
        let (_, m) = found.last().expect("asc_top_signature_weight");
        assert_eq!(m.unit, "1");
        let (a, w) = points(m).into_iter().next().unwrap();
        assert!(w > 0.0 && w <= 1.0, "{w}");
        for k in [
            "app_id",
            "app",
            "bundle_id",
            "diagnostic_type",
            "signature_id",
        ] {
            assert!(!a[k].is_empty(), "{k}: {a:?}");
        }
        let found = metrics_named(&s.metrics, "asc_top_signature_info");
        let (a, v) = points(found.last().expect("asc_top_signature_info").1)
            .into_iter()
            .next()
            .unwrap();
        assert_eq!(v, 1.0);
        assert!(
            a.contains_key("source_file") && a.contains_key("trend"),
            "{a:?}"
        );
        let found = metrics_named(&s.metrics, "asc_top_signature_occurrences");
        assert_eq!(found.last().unwrap().1.unit, "{occurrence}");

        // The logs: one record per log, with its call stack.
        let recs = log_records(&s.logs);
        assert_eq!(recs.len(), expected_logs.len(), "each log exactly once");
        let (res, _) = &recs[0];
        assert_eq!(res["service.name"], "asc-perf-exporter");
        for (sig, syms) in &expected_logs {
            let mine: Vec<_> = recs
                .iter()
                .filter(|(_, l)| attrs(&l.attributes)["signature_id"] == *sig)
                .collect();
            assert!(!mine.is_empty(), "no record for signature {sig}");
            let (_, l) = mine[0];
            let a = attrs(&l.attributes);
            let body = str_of(&l.body);
            for sym in syms {
                assert!(
                    mine.iter()
                        .any(|(_, l)| str_of(&l.body).contains(sym.as_str())),
                    "blame symbol {sym} not in a body: {body}"
                );
            }
            assert!(body.contains("▶"), "blame frames are marked: {body}");
            for k in [
                "app_id",
                "app",
                "bundle_id",
                "version",
                "build",
                "diagnostic_type",
                "signature",
            ] {
                assert!(
                    a.get(k).is_some_and(|v| !v.is_empty()),
                    "{k} missing: {a:?}"
                );
            }
            let want_sev = match a["diagnostic_type"].as_str() {
                "HANGS" | "LAUNCHES" => "WARN",
                _ => "INFO",
            };
            assert_eq!(l.severity_text, want_sev);
        }
        // Event details from the log's metadata are attributes.
        assert!(
            recs.iter().any(|(_, l)| {
                let a = attrs(&l.attributes);
                a.contains_key("device_type") && a.contains_key("os_version")
            }),
            "metadata attributes"
        );
    }

    // A second refresh: the same logs are not sent again; metrics keep coming.
    let before = rx.store.lock().unwrap().metrics.len();
    let snap2 = next_snapshot(&mut r).await;
    assert_eq!(snapshot_logs(&snap2).len(), expected_logs.len());
    until(&rx.store, "more metric exports", |s| {
        s.metrics.len() > before + 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        log_records(&rx.store.lock().unwrap().logs).len(),
        expected_logs.len(),
        "logs are sent once across refreshes"
    );
    check_timestamps(&rx.store.lock().unwrap().metrics);

    // Self-metrics on /metrics.
    let (text, _) = scrape(&r).await;
    let ok = sample(
        &text,
        "asc_otlp_exports_total{signal=\"metrics\",result=\"success\"} ",
    );
    assert!(ok.is_some_and(|v| v >= 1.0), "{text}");
    let ok = sample(
        &text,
        "asc_otlp_exports_total{signal=\"logs\",result=\"success\"} ",
    );
    assert!(ok.is_some_and(|v| v >= 1.0), "{ok:?}");
    assert_eq!(
        sample(&text, "asc_otlp_log_records_sent_total "),
        Some(expected_logs.len() as f64)
    );
    assert!(!text.contains(API_KEY), "the API key never shows");
    r.shutdown().await;

    // The sent set is persisted with the state.
    let sent = std::fs::read_to_string(env.state.path().join("otlp-sent-logs.json")).unwrap();
    assert!(sent.contains(&expected_logs[0].0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_metrics_and_logs() {
    metrics_and_logs_over("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_metrics_and_logs() {
    metrics_and_logs_over("http/protobuf").await;
}

async fn collector_down_then_up(protocol: &str) {
    // A port with nothing listening (yet).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = sim_env(None).await;
    let c = otlp_config(&env, protocol, format!("http://127.0.0.1:{port}"));
    let mut r = start(&env, c).await;
    let snap = next_snapshot(&mut r).await;
    let expected_logs = snapshot_logs(&snap).len();

    // Down: /metrics stays fast and shows the failures.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (text, took) = scrape(&r).await;
        assert!(took < SCRAPE_LIMIT, "/metrics took {took:?}");
        let failed = sample(
            &text,
            "asc_otlp_exports_total{signal=\"metrics\",result=\"failure\"} ",
        );
        let logs_failed = sample(
            &text,
            "asc_otlp_exports_total{signal=\"logs\",result=\"failure\"} ",
        );
        if failed.is_some_and(|v| v >= 1.0) && logs_failed.is_some_and(|v| v >= 1.0) {
            assert!(text.contains("asc_launch_time_seconds"));
            break;
        }
        assert!(Instant::now() < deadline, "failures never counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Up: exports resume.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let rx = if protocol == "grpc" {
        grpc_receiver(listener).await
    } else {
        http_receiver(listener).await
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, took) = scrape(&r).await;
        assert!(took < SCRAPE_LIMIT, "/metrics took {took:?}");
        let done = {
            let s = rx.store.lock().unwrap();
            !metrics_named(&s.metrics, "asc_launch_time").is_empty()
                && log_records(&s.logs).len() >= expected_logs
        };
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "exports never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (text, _) = scrape(&r).await;
        if sample(
            &text,
            "asc_otlp_exports_total{signal=\"metrics\",result=\"success\"} ",
        )
        .is_some_and(|v| v >= 1.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "success never counted: {:?}",
            r.otlp_stats.as_ref().map(|s| s.snapshot())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        log_records(&rx.store.lock().unwrap().logs).len(),
        expected_logs
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_collector_down_then_up() {
    collector_down_then_up("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_collector_down_then_up() {
    collector_down_then_up("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_output_can_be_switched_off() {
    let env = sim_env(None).await;
    let mut c = otlp_config(&env, "grpc", "http://127.0.0.1:9".into());
    c.otlp.enabled = false;
    c.prometheus.enabled = false;
    let r = start(&env, c).await;
    let resp = reqwest::get(format!("http://{}/metrics", r.addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let health = reqwest::get(format!("http://{}/healthz", r.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    r.shutdown().await;
}
