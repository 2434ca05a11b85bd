//! The two exposition formats and how `/metrics` serves them:
//!
//! - a snapshot built from Apple's examples (with a label value that needs
//!   every escape) encodes to a text exposition and an OpenMetrics one that
//!   the Prometheus Python client's two parsers read to the same samples,
//!   with the types, units and help the formats call for;
//! - over real HTTP on 127.0.0.1: the `Accept` headers Prometheus 2 and 3
//!   send get OpenMetrics with the exact `Content-Type`, anything else the
//!   text format; gzip of both formats, process metrics included, is one
//!   gzip member for Python's `gzip`/`zlib` and for `curl --compressed`;
//! - the process metrics change between two scrapes without a refresh, and
//!   `web.disable_exporter_metrics` leaves them out;
//! - `promtool check metrics` accepts a whole text scrape.
//!
//! Python with `prometheus_client` is required (a missing parser fails);
//! a missing `curl` or `promtool` fails when `CI` is set and skips that
//! check loudly otherwise.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use asc_perf_exporter::asc::BuildInfo;
use asc_perf_exporter::asc::model::{DiagnosticSignature, Document, XcodeMetrics};
use asc_perf_exporter::export::live::{self, LiveMetrics};
use asc_perf_exporter::export::{BuildMeta, ExportStats, Exposition, Format, Signal, encode};
use asc_perf_exporter::refresh::snapshot::{ApiSnapshot, RefreshStatus};
use asc_perf_exporter::refresh::state::StateStore;
use asc_perf_exporter::refresh::{AppRef, AppSnapshot, BuildSnapshot, Snapshot};
use asc_perf_exporter::service::Running;
use common::exporter;
use common::prom::{self, Sample};
use common::require_tool as tool;

const OM_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus 2.42 (Debian 12): `scrapeAcceptHeader` in scrape/scrape.go.
const PROM_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// Prometheus 3 with its default scrape protocols (scrape/scrape_test.go).
const PROM_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// Prometheus 3 with `scrape_protocols: [PrometheusText0.0.4]`.
const PROM_3_TEXT: &str = "text/plain;version=0.0.4;q=0.6,*/*;q=0.5";

/// The info families (gauges in the text format).
const INFO: [&str; 3] = [
    "asc_exporter_build_info",
    "asc_app_latest_version_info",
    "asc_metric_goal_info",
];

const ODD_NAME: &str = "Odd \"quoted\" back\\slash\nnewline";

// ------------------------------------------------------------ the encoders

fn example(name: &str) -> String {
    std::fs::read_to_string(common::shared("asc/examples").join(name))
        .unwrap_or_else(|e| panic!("example {name}: {e}"))
}

/// A build-level document made by hand: scrollHitchRate with goal bands,
/// goals, error margins, a percentageBreakdown array and a recommended
/// goal, plus a metric in a unit we do not convert.
const BUILD_METRICS: &str = r#"{
  "version": "1.0.0",
  "productData": [{
    "platform": "iOS",
    "metricCategories": [
      {
        "identifier": "ANIMATION",
        "metrics": [{
          "identifier": "scrollHitchRate",
          "goalKeys": [
            {"goalKey": "poor", "lowerBound": 10},
            {"goalKey": "fair", "lowerBound": 5, "upperBound": 10},
            {"goalKey": "good", "lowerBound": 0, "upperBound": 5}
          ],
          "unit": {"identifier": "scrollHitchRate", "displayName": "%"},
          "datasets": [{
            "filterCriteria": {"device": "all_iphones", "deviceMarketingName": "All iPhones", "percentile": "percentile.fifty"},
            "points": [{
              "version": "2.0",
              "value": 6.5,
              "errorMargin": 0.5,
              "goal": "fair",
              "percentageBreakdown": [
                {"value": 60, "subSystemLabel": "UIKit"},
                {"value": 40, "subSystemLabel": "App"}
              ]
            }],
            "recommendedMetricGoal": {"value": 5, "detail": "Keep hitches under 5 %"}
          }]
        }]
      },
      {
        "identifier": "HANG",
        "metrics": [{
          "identifier": "hangRate",
          "unit": {"identifier": "secondsPerHour", "displayName": "s/hr"},
          "datasets": [{
            "filterCriteria": {"device": "all_iphones", "deviceMarketingName": "All iPhones", "percentile": "percentile.ninety"},
            "points": [{"version": "2.0", "value": 1.25}]
          }]
        }]
      }
    ]
  }]
}"#;

/// A snapshot with app and build metrics, goals, insights, signatures,
/// counters, info families, the OTLP and state self-metrics, and an app
/// name that needs every escape.
fn snapshot() -> Snapshot {
    let metrics: XcodeMetrics = serde_json::from_str(&example(
        "apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json",
    ))
    .unwrap();
    let signatures: Document<DiagnosticSignature> = serde_json::from_str(&example(
        "apple_doc_example_diagnosticSignatures_build_disk_writes.json",
    ))
    .unwrap();
    let app = |id: &str, name: &str| AppRef {
        id: id.into(),
        name: name.into(),
        bundle_id: format!("com.example.{id}"),
        account: "default".into(),
    };
    Snapshot {
        format: 1,
        apps: [
            AppSnapshot {
                app: app("1583111882", "Example App"),
                metrics: Some(metrics.clone()),
                builds: vec![BuildSnapshot {
                    build: BuildInfo {
                        id: "b203".into(),
                        number: "203".into(),
                        version: Some("2.0".into()),
                        uploaded_date: Some("2021-10-10T21:53:55-07:00".into()),
                        processing_state: Some("VALID".into()),
                        ..Default::default()
                    },
                    metrics: Some(serde_json::from_str(BUILD_METRICS).unwrap()),
                    signatures: signatures.data,
                    logs: vec![],
                }],
                last_success_unix: Some(1_700_000_000.0),
                ..Default::default()
            },
            AppSnapshot {
                app: app("1000000003", ODD_NAME),
                metrics: Some(metrics),
                last_attempt_failed: true,
                last_error: Some("HTTP 500".into()),
                ..Default::default()
            },
        ]
        .into_iter()
        .map(Into::into)
        .collect(),
        refresh: RefreshStatus {
            last_attempt_unix: 1_700_000_100.0,
            last_success: true,
            last_success_unix: Some(1_700_000_100.0),
            duration_seconds: 12.5,
            interval_seconds: 3600.0,
            next_attempt_unix: Some(1_700_003_700.0),
            progress: None,
            error: None,
            unseen_apps: Vec::new(),
        },
        api: ApiSnapshot {
            requests: vec![
                ("/v1/apps/{id}/perfPowerMetrics".into(), "200".into(), 5),
                ("/v1/apps".into(), "429".into(), 1),
            ],
            retries: 2,
            ..Default::default()
        },
        accounts: Vec::new(),
    }
}

/// The live metrics a scrape adds: OTLP export outcomes and a state write
/// (the process metrics are left out: their values change between two
/// scrapes).
fn live() -> LiveMetrics {
    let live = LiveMetrics::new(false);
    let otlp = std::sync::Arc::new(ExportStats::new());
    for _ in 0..3 {
        otlp.record(Signal::Metrics, Ok(()));
    }
    otlp.record(Signal::Metrics, Err("unavailable".into()));
    otlp.add_log_records(7);
    live.register(Box::new(live::otlp_collector(otlp)));
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store.save(&Snapshot::default()).unwrap();
    live.register(Box::new(live::state_collector(store.stats().clone())));
    live
}

/// What a scrape of each format returns: the cached exposition and the
/// live part, plain and gzip.
struct Scraped {
    e: Exposition,
    text: Vec<u8>,
    om: Vec<u8>,
    text_gz: Vec<u8>,
    om_gz: Vec<u8>,
}

fn scrape(snap: &Snapshot, live: &LiveMetrics) -> Scraped {
    let e = encode(snap, &meta());
    let body = |format, gzip| {
        let (parts, gz) = e.body(format, gzip, &live.encode(format));
        assert_eq!(gz, gzip);
        parts.concat()
    };
    Scraped {
        text: body(Format::Text, false),
        om: body(Format::OpenMetrics, false),
        text_gz: body(Format::Text, true),
        om_gz: body(Format::OpenMetrics, true),
        e,
    }
}

fn meta() -> BuildMeta {
    BuildMeta {
        version: "0.1.0".into(),
        revision: "deadbeef".into(),
    }
}

fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).expect("UTF-8")
}

type Key = (String, BTreeMap<String, String>);

/// Samples by (sample name, labels), checking there are no duplicates.
fn by_key(samples: &[Sample]) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for s in samples {
        let dup = out.insert((s.name.clone(), s.labels.clone()), s.value);
        assert!(dup.is_none(), "duplicate sample {} {:?}", s.name, s.labels);
    }
    out
}

/// Per family (as each format names it): type, unit and help.
fn families(samples: &[Sample]) -> BTreeMap<String, (String, String, String)> {
    samples
        .iter()
        .map(|s| {
            (
                s.family.clone(),
                (s.kind.clone(), s.unit.clone(), s.help.clone()),
            )
        })
        .collect()
}

#[test]
fn both_formats_parse_to_the_same_samples() {
    let live = live();
    let scraped = scrape(&snapshot(), &live);
    let e = &scraped.e;
    assert_eq!(e.openmetrics_bytes().len(), e.openmetrics_len());
    let om_bytes = scraped.om.clone();
    let text = prom::parse(utf8(&scraped.text));
    let om = prom::parse_openmetrics(utf8(&om_bytes));
    let live_series = prom::parse(utf8(&live.encode(Format::Text))).len();
    assert!(live_series >= 5, "{live_series}");
    assert_eq!(text.len(), e.series + live_series);
    assert_eq!(om.len(), e.series + live_series);
    assert_eq!(
        by_key(&text),
        by_key(&om),
        "the same samples in both formats"
    );

    // One family per format family, with the type each format calls for.
    let tf = families(&text);
    let of = families(&om);
    assert_eq!(
        tf.len(),
        e.families + 5,
        "the snapshot's and the live families"
    );
    assert_eq!(of.len(), e.families + 5);
    for s in &text {
        let (om_family, om_kind) = match s.kind.as_str() {
            // The text parser already names a counter without `_total`.
            "counter" => (s.family.clone(), "counter"),
            "gauge" if INFO.contains(&s.name.as_str()) => {
                (s.name.trim_end_matches("_info").to_string(), "info")
            }
            "gauge" => (s.family.clone(), "gauge"),
            other => panic!("{}: unexpected type {other}", s.name),
        };
        let (kind, unit, help) = of
            .get(&om_family)
            .unwrap_or_else(|| panic!("{}: no OpenMetrics family {om_family}", s.name));
        assert_eq!(kind, om_kind, "{om_family}");
        assert_eq!(help, &s.help, "{om_family}: the same help");
        assert!(!help.is_empty(), "{om_family}: help");
        if !unit.is_empty() {
            assert!(
                om_family.ends_with(&format!("_{unit}")),
                "{om_family} {unit}"
            );
        }
    }
    for info in [
        "asc_exporter_build",
        "asc_app_latest_version",
        "asc_metric_goal",
    ] {
        assert_eq!(of[info].0, "info", "{info}");
    }
    for (family, unit) in [
        ("asc_launch_time_seconds", "seconds"),
        ("asc_exporter_refresh_duration_seconds", "seconds"),
        ("asc_diagnostic_signature_weight_ratio", "ratio"),
        ("asc_insight_regression_delta_ratio", "ratio"),
        ("asc_api_requests", ""),
        ("asc_app_version_rank", ""),
        ("asc_scroll_hitch_rate_ratio", "ratio"),
        ("asc_hang_rate_seconds_per_hour", "seconds_per_hour"),
        ("asc_metric_breakdown_ratio", "ratio"),
    ] {
        match of.get(family) {
            Some((_, u, _)) => assert_eq!(u, unit, "{family}"),
            None if family.starts_with("asc_insight") => {}
            None => panic!("{family} missing"),
        }
    }
    for counter in [
        "asc_api_requests",
        "asc_api_retries",
        "asc_otlp_exports",
        "asc_otlp_log_records_sent",
        "asc_exporter_state_write_failures",
    ] {
        assert_eq!(of[counter].0, "counter", "{counter}");
    }

    // Escaping round-trips in both.
    for samples in [&text, &om] {
        assert!(
            samples
                .iter()
                .any(|s| s.labels.get("app").map(String::as_str) == Some(ODD_NAME)),
            "the odd app name reads back"
        );
    }
    let om_text = utf8(&om_bytes);
    assert!(om_text.ends_with("\n# EOF\n"), "ends with # EOF");
    assert_eq!(om_text.matches("# EOF").count(), 1);
    assert!(!om_text.contains("\n\n"), "no blank line");
    assert!(
        om_text.contains("# TYPE asc_api_requests counter\n# HELP asc_api_requests "),
        "counter family without _total"
    );
    assert!(!utf8(&scraped.text).contains("# EOF"));

    // The gzip bodies are the plain ones, compressed, one member each.
    for (gz, plain) in [
        (&scraped.text_gz, &scraped.text[..]),
        (&scraped.om_gz, &om_bytes[..]),
        (&e.gzip.to_vec(), &e.text_bytes()[..]),
        (&e.openmetrics_gzip.to_vec(), &e.openmetrics_bytes()[..]),
    ] {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(&out[..], plain);
        assert_eq!(python_gunzip(gz), plain.to_vec());
    }

    // OpenMetrics' sample lines are the text's own bytes: what it holds of
    // its own is exactly its metadata lines and `# EOF`.
    let text_parts: Vec<*const u8> = e.text().iter().map(|b| b.as_ptr()).collect();
    let own: usize = e
        .openmetrics()
        .iter()
        .filter(|b| !text_parts.contains(&b.as_ptr()))
        .map(|b| b.len())
        .sum();
    let cached = e.openmetrics_bytes();
    let metadata: usize = utf8(&cached)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.len() + 1)
        .sum();
    assert_eq!(own, metadata, "OpenMetrics holds no sample line of its own");
}

/// An empty snapshot is a valid exposition in both formats.
#[test]
fn an_empty_snapshot_parses_in_both_formats() {
    let scraped = scrape(&Snapshot::default(), &LiveMetrics::new(false));
    let text = prom::parse(utf8(&scraped.text));
    let om = prom::parse_openmetrics(utf8(&scraped.om));
    assert_eq!(by_key(&text), by_key(&om));
    assert!(!text.is_empty());
}

// ------------------------------------------------------------ Python gzip

/// Decodes with Python's `zlib` as one gzip member (nothing may follow its
/// trailer) and checks `gzip.decompress` agrees.
fn python_gunzip(data: &[u8]) -> Vec<u8> {
    const SCRIPT: &str = r#"
import gzip, sys, zlib
data = sys.stdin.buffer.read()
d = zlib.decompressobj(wbits=31)
out = d.decompress(data) + d.flush()
assert d.eof, "the gzip member does not end"
assert d.unused_data == b"", "%d bytes after the first gzip member" % len(d.unused_data)
assert gzip.decompress(data) == out
sys.stdout.buffer.write(out)
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Python cannot read the gzip body: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ------------------------------------------------------------ over HTTP

struct Got {
    content_type: String,
    content_encoding: Option<String>,
    vary: String,
    body: Vec<u8>,
}

/// GET /metrics with exactly these headers (no automatic decompression).
async fn get(r: &Running, accept: Option<&str>, gzip: bool) -> Got {
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut req = http.get(format!("http://{}/metrics", r.addr));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (content_type, content_encoding, vary) = (
        h("content-type").unwrap_or_default(),
        h("content-encoding"),
        h("vary").unwrap_or_default(),
    );
    let length = h("content-length");
    let body = resp.bytes().await.unwrap().to_vec();
    assert_eq!(
        length,
        Some(body.len().to_string()),
        "an exact Content-Length"
    );
    Got {
        content_type,
        content_encoding,
        vary,
        body,
    }
}

/// An exporter against the simulator, after its first refresh.
async fn exporter(disable_exporter_metrics: bool) -> (exporter::Env, Running) {
    let env = exporter::sim_env(None).await;
    let config = exporter::config(&env, |c| {
        c.web.disable_exporter_metrics = disable_exporter_metrics;
    });
    let mut r = exporter::start(&env, config).await;
    exporter::snapshot_where(&mut r, |s| !s.apps.is_empty()).await;
    exporter::scrape(&r).await;
    (env, r)
}

/// Samples of a body in the format its `Content-Type` names.
fn parse_as(content_type: &str, body: &str) -> Vec<Sample> {
    match content_type {
        OM_TYPE => prom::parse_openmetrics(body),
        TEXT_TYPE => prom::parse(body),
        other => panic!("unexpected Content-Type {other:?}"),
    }
}

fn value(samples: &[Sample], name: &str) -> f64 {
    prom::one(samples, name, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_over_http() {
    let (_env, r) = exporter(false).await;
    for (i, (accept, want)) in [
        (Some(PROM_2), OM_TYPE),
        (Some(PROM_3), OM_TYPE),
        (Some("application/openmetrics-text;version=1.0.0"), OM_TYPE),
        (Some(PROM_3_TEXT), TEXT_TYPE),
        (None, TEXT_TYPE),
        (Some("*/*"), TEXT_TYPE),
        (
            Some("application/openmetrics-text;version=1.0.0;q=0"),
            TEXT_TYPE,
        ),
        (
            Some("text/plain;q=0,application/openmetrics-text;version=1.0.0;q=0.5"),
            OM_TYPE,
        ),
        (Some("application/openmetrics-text"), TEXT_TYPE),
    ]
    .into_iter()
    .enumerate()
    {
        for gzip in [false, true] {
            let g = get(&r, accept, gzip).await;
            assert_eq!(g.content_type, want, "Accept: {accept:?}");
            assert_eq!(g.vary, "accept, accept-encoding");
            assert_eq!(g.content_encoding.as_deref(), gzip.then_some("gzip"));
            let body = if gzip { python_gunzip(&g.body) } else { g.body };
            let body = utf8(&body);
            assert_eq!(body.ends_with("# EOF\n"), want == OM_TYPE, "{accept:?}");
            assert!(body.contains("\nprocess_open_fds "), "{accept:?}");
            // The parsers are slow to start: the first cases only.
            if i < 4 {
                let samples = parse_as(&g.content_type, body);
                assert!(
                    samples.iter().any(|s| s.name == "asc_exporter_build_info"),
                    "{accept:?}"
                );
            }
        }
    }
    r.shutdown().await;
}

/// What a scrape shows that does not change between two scrapes of one
/// snapshot: every sample but the values of the process metrics and of the
/// scrape counter.
fn stable(samples: &[Sample]) -> BTreeMap<Key, f64> {
    by_key(samples)
        .into_iter()
        .map(|(k, v)| {
            let moving = ["process_", "promhttp_", "asc_exporter_http_connections_"]
                .iter()
                .any(|p| k.0.starts_with(p));
            let v = if moving { 0.0 } else { v };
            (k, v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_of_both_formats_reads_as_one_member_in_python_and_curl() {
    let (_env, r) = exporter(false).await;
    let plain_text = get(&r, None, false).await;
    let text = prom::parse(utf8(&plain_text.body));
    let plain_om = get(&r, Some(PROM_2), false).await;
    let om = prom::parse_openmetrics(utf8(&plain_om.body));
    assert_eq!(
        stable(&text),
        stable(&om),
        "the same samples in both formats"
    );

    for (accept, plain) in [(None, &text), (Some(PROM_2), &om)] {
        let g = get(&r, accept, true).await;
        assert_eq!(g.content_encoding.as_deref(), Some("gzip"));
        let unzipped = python_gunzip(&g.body);
        let samples = parse_as(&g.content_type, utf8(&unzipped));
        assert_eq!(stable(&samples), stable(plain), "gzip {}", g.content_type);
        let process: BTreeSet<&str> = samples
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| n.starts_with("process_"))
            .collect();
        assert!(
            process.len() >= 6,
            "the process metrics (after the cached part) decode: {process:?}"
        );
    }

    // curl --compressed (Debian's curl, libcurl's own gzip reader).
    let Some(curl) = tool("curl", "curl") else {
        return r.shutdown().await;
    };
    for (accept, plain) in [("*/*", &text), (PROM_2, &om)] {
        let out = Command::new(&curl)
            .args(["-sS", "--fail", "--compressed", "-D", "-", "-H"])
            .arg(format!("Accept: {accept}"))
            .arg(format!("http://{}/metrics", r.addr))
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = String::from_utf8(out.stdout).unwrap();
        let (head, body) = all.split_once("\r\n\r\n").expect("headers, then the body");
        assert!(
            head.to_ascii_lowercase().contains("content-encoding: gzip"),
            "curl asked for gzip and got it:\n{head}"
        );
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("content-type:")
                    .then(|| l[13..].trim().to_string())
            })
            .unwrap();
        let samples = parse_as(&content_type, body);
        assert_eq!(stable(&samples), stable(plain), "curl, {content_type}");
        assert!(samples.iter().any(|s| s.name == "process_max_fds"));
    }
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_metrics_change_between_scrapes_without_a_refresh() {
    let (_env, r) = exporter(false).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let scrape = |accept: Option<&'static str>, gzip: bool| {
        let r = &r;
        async move {
            let g = get(r, accept, gzip).await;
            let body = if gzip { python_gunzip(&g.body) } else { g.body };
            parse_as(&g.content_type, utf8(&body))
        }
    };
    for (accept, gzip) in [(None, false), (Some(PROM_3), false), (Some(PROM_3), true)] {
        let before = scrape(accept, gzip).await;
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_max_fds",
        ] {
            assert!(value(&before, name) > 0.0, "{name}");
        }
        let start = value(&before, "process_start_time_seconds");
        assert!(
            start > now - 3600.0 && start <= now + 1.0,
            "started within the hour: {start} (now {now})"
        );
        let files: Vec<std::fs::File> = (0..64)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let after = scrape(accept, gzip).await;
        let (fds_before, fds_after) = (
            value(&before, "process_open_fds"),
            value(&after, "process_open_fds"),
        );
        assert!(
            fds_after >= fds_before + 48.0,
            "64 more files open: {fds_before} -> {fds_after} ({accept:?}, gzip {gzip})"
        );
        assert_eq!(
            value(&before, "asc_exporter_last_refresh_timestamp_seconds"),
            value(&after, "asc_exporter_last_refresh_timestamp_seconds"),
            "no refresh in between"
        );
        drop(files);
    }
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_exporter_metrics_leaves_the_process_metrics_out() {
    let (_env, r) = exporter(true).await;
    for accept in [None, Some(PROM_2)] {
        for gzip in [false, true] {
            let g = get(&r, accept, gzip).await;
            let body = if gzip { python_gunzip(&g.body) } else { g.body };
            let body = utf8(&body);
            for own in ["process_", "promhttp_", "asc_exporter_http_"] {
                assert!(!body.contains(own), "{own} {accept:?} gzip {gzip}");
            }
            let samples = parse_as(&g.content_type, body);
            assert!(samples.iter().any(|s| s.name == "asc_exporter_build_info"));
        }
    }
    r.shutdown().await;
}

// ------------------------------------------------------------ promtool

/// `promtool check metrics` lints the text format only (its reader is
/// expfmt's text parser, which rejects OpenMetrics' `info` type and reads a
/// counter family without `_total` as untyped samples); the OpenMetrics
/// output has the same sample names, and is checked by the OpenMetrics
/// parsers here and in the end-to-end test (Prometheus ingests it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_a_whole_text_scrape() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let (_env, r) = exporter(false).await;
    let g = get(&r, None, false).await;
    assert!(utf8(&g.body).contains("process_open_fds "));
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&g.body).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics: {}\n{stdout}\n{stderr}",
        out.status
    );
    r.shutdown().await;
}

/// Prints both formats (for docs/metrics.md):
/// `cargo test --test openmetrics dump -- --ignored --nocapture`.
#[test]
#[ignore]
fn dump() {
    let s = scrape(&snapshot(), &live());
    print!("{}\n----\n{}", utf8(&s.text), utf8(&s.om));
}
