//! Every kind of upstream fault, end to end: the real `serve` binary against
//! the simulator (in this process) with faults injected on the wire. For each
//! fault: the exporter stays up, the other apps refresh, the faulted app keeps
//! its last good series, and the failure shows in the exporter's own metrics
//! and in one clear log line (JSON logs on stderr, parsed).
//!
//! Per-app faults share one exporter, one faulted app each, so one refresh
//! also proves that they do not touch each other. Faults that concern the
//! whole key (rate limits, the app list) get an exporter of their own.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::clock::unix_now;
use asc_perf_exporter::sim::{self, Fault, SimConfig, SimHandle};
use common::prom::{Sample, find, one, parse};
use serde_json::Value;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_asc-perf-exporter");
const APP_METRICS: &str = "/v1/apps/{id}/perfPowerMetrics";

/// The exporter as a child process, its JSON log lines collected.
struct Exporter {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<Value>>>,
    _state: tempfile::TempDir,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn simulator(apps: usize) -> (SimHandle, String) {
    let (private_pem, public_pem) = generate_key_pair();
    let mut cfg = SimConfig::new(public_pem);
    cfg.apps = apps;
    cfg.minute_limit = 0;
    let sim = sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (sim, private_pem)
}

/// Starts `serve` against `sim`: refreshes every second, one retry, a 1 s
/// request timeout, JSON logs; `env` adds or overrides settings.
fn exporter(sim: &SimHandle, private_pem: &str, env: &[(&str, &str)]) -> Exporter {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    for v in ["ASC_PRIVATE_KEY_PATH", "RUST_LOG", "ASC_EXPORTER_CONFIG"] {
        cmd.env_remove(v);
    }
    cmd.arg("serve")
        .env("ASC_API_BASE_URL", sim.base_url())
        .env("ASC_ISSUER_ID", "issuer")
        .env("ASC_KEY_ID", "KEY0000001")
        .env("ASC_PRIVATE_KEY", private_pem)
        .env("ASC_EXPORTER_LISTEN", "127.0.0.1:0")
        .env("ASC_EXPORTER_STATE_DIR", state.path())
        .env("ASC_EXPORTER_REFRESH_INTERVAL", "1s")
        .env("ASC_EXPORTER_REFRESH_JITTER", "0")
        .env("ASC_EXPORTER_MAX_RETRIES", "1")
        .env("ASC_EXPORTER_TIMEOUT", "1s")
        .env("ASC_EXPORTER_LOG_FORMAT", "json")
        .env("ASC_EXPORTER_LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the exporter starts");
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    {
        let logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split_once("serving http://") {
                    let addr = rest.1.trim_end_matches("/metrics").to_string();
                    let _ = addr_tx.send(addr);
                    continue;
                }
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => logs.lock().unwrap().push(v),
                    // Anything else on stderr (a panic) is kept as text.
                    Err(_) => logs.lock().unwrap().push(Value::String(line)),
                }
            }
        });
    }
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the exporter prints its address");
    Exporter {
        child,
        addr,
        logs,
        _state: state,
    }
}

impl Exporter {
    async fn scrape(&self) -> Vec<Sample> {
        let text = reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .unwrap();
        parse(&text)
    }

    /// Scrapes until `done` holds (the exposition follows each refresh).
    async fn scrape_until(&self, what: &str, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        for _ in 0..300 {
            let s = self.scrape().await;
            if done(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}; logs:\n{}", self.log_text());
    }

    /// Waits for two refreshes that started after `t0` (the first one after
    /// it may have begun before the fault was injected).
    async fn refreshes_after(&self, t0: f64) -> Vec<Sample> {
        let first = self
            .scrape_until("a refresh after the fault", |s| refreshed_at(s) > t0)
            .await;
        let t1 = refreshed_at(&first);
        self.scrape_until("a second refresh after the fault", |s| {
            refreshed_at(s) > t1 + 0.001
        })
        .await
    }

    /// As [`Self::refreshes_after`], read between refreshes (progress 1):
    /// a partial snapshot of the next refresh keeps this one's timestamp
    /// while the apps this one cut off are already redone (oldest first).
    async fn refreshes_after_between(&self, t0: f64) -> Vec<Sample> {
        let between = |s: &[Sample]| {
            find(s, "asc_exporter_refresh_progress_ratio", &[])
                .first()
                .is_some_and(|x| x.value == 1.0)
        };
        let first = self.refreshes_after(t0).await;
        let t1 = refreshed_at(&first);
        self.scrape_until("a refresh after the fault, between refreshes", |s| {
            refreshed_at(s) >= t1 && between(s)
        })
        .await
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn log_text(&self) -> String {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The log lines of the last complete refresh: after the last-but-one
    /// "refresh finished" and up to the last one.
    fn last_refresh_lines(&self) -> Vec<Value> {
        let logs = self.logs.lock().unwrap();
        let ends: Vec<usize> = logs
            .iter()
            .enumerate()
            .filter(|(_, v)| message(v) == "refresh finished")
            .map(|(i, _)| i)
            .collect();
        assert!(ends.len() >= 2, "two refreshes logged:\n{logs:?}");
        logs[ends[ends.len() - 2] + 1..ends[ends.len() - 1]].to_vec()
    }

    fn no_panic(&self) {
        let text = self.log_text();
        assert!(!text.contains("panicked"), "{text}");
    }
}

/// When the latest refresh finished (0 before the first).
fn refreshed_at(s: &[Sample]) -> f64 {
    find(s, "asc_exporter_last_refresh_timestamp_seconds", &[])
        .first()
        .map(|x| x.value)
        .unwrap_or(0.0)
}

fn message(v: &Value) -> &str {
    v.pointer("/fields/message")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.pointer(&format!("/fields/{name}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn is_warning(v: &Value) -> bool {
    matches!(
        v.get("level").and_then(Value::as_str),
        Some("WARN" | "ERROR")
    ) || v.is_string()
}

/// The app's Apple data: every sample of the app but the refresh-status ones.
fn app_data(s: &[Sample], app_id: &str) -> BTreeMap<String, f64> {
    s.iter()
        .filter(|x| x.labels.get("app_id").map(String::as_str) == Some(app_id))
        .filter(|x| !x.name.starts_with("asc_app_"))
        .map(|x| (format!("{}{:?}", x.name, x.labels), x.value))
        .collect()
}

fn counter(s: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    find(s, name, labels).iter().map(|x| x.value).sum()
}

/// One fault on one app's perfPowerMetrics: what the log says and which
/// self-metric moves.
struct Case {
    /// The fault, as the admin API takes it (without `path_prefix`).
    fault: &'static str,
    /// Words the app's failure line must contain.
    says: &'static [&'static str],
    /// `asc_api_requests_total{endpoint=APP_METRICS, status=..}` that must
    /// grow, or `decode` for `asc_api_decode_errors_total{endpoint=APP_METRICS}`.
    counts: &'static str,
}

const PER_APP: &[Case] = &[
    Case {
        fault: r#"{"kind": "status", "status": 500}"#,
        says: &["HTTP 500", "UNEXPECTED_ERROR"],
        counts: "500",
    },
    Case {
        fault: r#"{"kind": "status", "status": 503, "retry_after": 0}"#,
        says: &["HTTP 503"],
        counts: "503",
    },
    Case {
        fault: r#"{"kind": "status", "status": 429, "retry_after": "none"}"#,
        says: &["HTTP 429", "RATE_LIMIT_EXCEEDED"],
        counts: "429",
    },
    Case {
        fault: r#"{"kind": "slow_headers", "delay_ms": 4000}"#,
        says: &["did not answer", "within 1s"],
        counts: "timeout",
    },
    Case {
        fault: r#"{"kind": "slow_body", "delay_ms": 800, "chunks": 4}"#,
        says: &["did not answer", "within 1s"],
        counts: "timeout",
    },
    Case {
        fault: r#"{"kind": "cut_off_body", "framing": "content_length", "keep_percent": 50}"#,
        says: &["response body failed"],
        counts: "error",
    },
    Case {
        fault: r#"{"kind": "cut_off_body", "framing": "chunked", "keep_percent": 50}"#,
        says: &["response body failed"],
        counts: "error",
    },
    Case {
        fault: r#"{"kind": "cut_off_body", "framing": "truncated_json", "keep_percent": 50}"#,
        says: &["could not decode", "EOF"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "malformed_json"}"#,
        says: &["could not decode"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "empty_200"}"#,
        says: &["could not decode", "the body is empty"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "html_502"}"#,
        says: &[
            "HTTP 502",
            "not an App Store Connect ErrorResponse",
            "text/html",
        ],
        counts: "502",
    },
    Case {
        fault: r#"{"kind": "drift", "op": "remove", "key": "productData"}"#,
        says: &["could not decode", "productData"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "drift", "op": "null", "key": "productData"}"#,
        says: &["could not decode", "productData"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "drift", "op": "rename", "key": "metrics", "to": "metricsV2"}"#,
        says: &["could not decode", "metrics"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "drift", "op": "rename", "key": "datasets", "to": "dataSets"}"#,
        says: &["could not decode", "datasets"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "drift", "op": "rename", "key": "points", "to": "dataPoints"}"#,
        says: &["could not decode", "points"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "drift", "op": "retype", "key": "value"}"#,
        says: &["could not decode", "value"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "nan", "key": "value", "literal": "NaN"}"#,
        says: &["could not decode"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "nan", "key": "value", "literal": "1e999"}"#,
        says: &["could not decode"],
        counts: "decode",
    },
    Case {
        fault: r#"{"kind": "huge_body", "bytes": 104857600, "content_length": true}"#,
        says: &["larger than the 4194304-byte cap", "asc.max_response_bytes"],
        counts: "too_large",
    },
    Case {
        fault: r#"{"kind": "huge_body", "bytes": 104857600, "content_length": false}"#,
        says: &["larger than the 4194304-byte cap", "asc.max_response_bytes"],
        counts: "too_large",
    },
    Case {
        fault: r#"{"kind": "redirect", "status": 307}"#,
        says: &["HTTP 307", "not followed"],
        counts: "307",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_per_app_fault_fails_only_its_app_which_keeps_its_data() {
    let healthy = 2;
    let (sim, pem) = simulator(PER_APP.len() + healthy).await;
    let ids = sim.control.app_ids();
    let mut exp = exporter(
        &sim,
        &pem,
        &[
            ("ASC_EXPORTER_CONCURRENCY", "8"),
            ("ASC_EXPORTER_MAX_RESPONSE_BYTES", "4194304"),
            // Apps only: the faults are on the app-level metrics.
            ("ASC_EXPORTER_BUILDS_PER_APP", "0"),
        ],
    );
    let before = exp
        .scrape_until("a first complete refresh", |s| {
            find(s, "asc_exporter_last_refresh_success", &[])
                .first()
                .is_some_and(|x| x.value == 1.0)
        })
        .await;
    let t0 = unix_now();
    for (case, id) in PER_APP.iter().zip(&ids) {
        let mut f: Value = serde_json::from_str(case.fault).unwrap();
        f["path_prefix"] = Value::String(format!("/v1/apps/{id}/perfPowerMetrics"));
        sim.control
            .inject(Fault::from_value(f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", case.fault));
    }
    let after = exp.refreshes_after(t0).await;
    assert!(exp.alive(), "the exporter stays up");
    exp.no_panic();
    let lines = exp.last_refresh_lines();

    for (case, id) in PER_APP.iter().zip(&ids) {
        let what = case.fault;
        assert_eq!(
            one(&after, "asc_app_refresh_failed", &[("app_id", id)]),
            1.0,
            "{what}"
        );
        let data = app_data(&after, id);
        assert!(
            !data.is_empty(),
            "{what}: the app's series are still served"
        );
        assert_eq!(data, app_data(&before, id), "{what}: its last good data");
        // One clear line for the app in the refresh, naming the cause.
        let about: Vec<&Value> = lines
            .iter()
            .filter(|v| is_warning(v) && field(v, "app_id") == id)
            .collect();
        assert_eq!(about.len(), 1, "{what}: one line, got {about:#?}");
        let error = field(about[0], "error");
        assert_eq!(
            message(about[0]),
            "refreshing app failed; keeping its last good data",
            "{what}"
        );
        for word in case.says {
            assert!(error.contains(word), "{what}: {error:?} lacks {word:?}");
        }
        assert!(
            !error.contains("eyJ") && !error.contains("PRIVATE KEY"),
            "no secret in {error}"
        );
    }
    // The self-metrics moved for each kind of failure.
    for case in PER_APP {
        let grew = |name: &str, labels: &[(&str, &str)]| {
            counter(&after, name, labels) > counter(&before, name, labels)
        };
        let ok = match case.counts {
            "decode" => grew("asc_api_decode_errors_total", &[("endpoint", APP_METRICS)]),
            status => grew(
                "asc_api_requests_total",
                &[("endpoint", APP_METRICS), ("status", status)],
            ),
        };
        assert!(ok, "{}: the {} counter grew", case.fault, case.counts);
    }
    // The healthy apps refreshed after the faults went in.
    for id in &ids[PER_APP.len()..] {
        assert_eq!(
            one(&after, "asc_app_refresh_failed", &[("app_id", id)]),
            0.0
        );
        assert!(
            one(
                &after,
                "asc_app_last_refresh_success_timestamp_seconds",
                &[("app_id", id)]
            ) > t0
        );
        assert!(
            !lines
                .iter()
                .any(|v| is_warning(v) && field(v, "app_id") == id)
        );
    }
    assert_eq!(one(&after, "asc_exporter_last_refresh_success", &[]), 0.0);
    // Retries stay bounded: one retry per request (ASC_EXPORTER_MAX_RETRIES=1).
    let served = sim.control.faults_served();
    assert!(served.values().all(|n| *n > 0), "{served:?}");
}

/// Injects a fault given in the admin API's JSON form.
fn inject(sim: &SimHandle, json: &str) {
    let fault = Fault::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    sim.control.inject(fault).unwrap();
}

/// Starts an exporter on a fresh simulator of `apps` apps and waits for a
/// first complete refresh.
async fn healthy_exporter(apps: usize, env: &[(&str, &str)]) -> (SimHandle, Exporter, Vec<Sample>) {
    let (sim, pem) = simulator(apps).await;
    let exp = exporter(&sim, &pem, env);
    let before = exp
        .scrape_until("a first complete refresh", |s| {
            find(s, "asc_exporter_last_refresh_success", &[])
                .first()
                .is_some_and(|x| x.value == 1.0)
        })
        .await;
    (sim, exp, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_an_hour_holds_every_request_and_the_next_refresh() {
    let (sim, mut exp, before) = healthy_exporter(3, &[("ASC_EXPORTER_BUILDS_PER_APP", "0")]).await;
    let id = &sim.control.app_ids()[0];
    inject(
        &sim,
        &format!(
            r#"{{"path_prefix": "/v1/apps/{id}/perfPowerMetrics", "kind": "status", "status": 429, "retry_after": 3600, "times": 1}}"#
        ),
    );
    let t0 = unix_now();
    let after = exp
        .scrape_until("the next refresh deferred by the Retry-After", |s| {
            find(s, "asc_exporter_next_refresh_timestamp_seconds", &[])
                .first()
                .is_some_and(|x| x.value > t0 + 3500.0)
        })
        .await;
    let requests_then = sim.control.request_count();
    assert!(exp.alive());
    exp.no_panic();
    assert_eq!(sim.control.served("status"), 1, "one 429, not retried");
    assert!(one(&after, "asc_api_rate_limit_resume_timestamp_seconds", &[]) > t0 + 3500.0);
    // Every app keeps its data; the ones that came after the 429 say why.
    for id in sim.control.app_ids() {
        assert_eq!(app_data(&after, &id), app_data(&before, &id));
    }
    let text = exp.log_text();
    assert!(
        text.contains("the next refresh waits until App Store Connect accepts requests again"),
        "{text}"
    );
    // Another scrape later: nothing was sent in between.
    exp.scrape().await;
    assert_eq!(sim.control.request_count(), requests_then);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_earns_one_429_at_most_and_defers_the_refresh() {
    // One request in flight at a time: refreshes run back to back (1 s
    // interval), so the budget may be spent while a refresh is under way,
    // and with several requests in flight each would earn its own 429
    // before the first one's answer holds the rest.
    let (sim, mut exp, before) = healthy_exporter(
        3,
        &[
            ("ASC_EXPORTER_BUILDS_PER_APP", "0"),
            ("ASC_EXPORTER_CONCURRENCY", "1"),
        ],
    )
    .await;
    // Someone else spent the key's budget: the next answer is a 429 whose
    // Retry-After runs to the end of the simulator's hour window.
    sim.control.set_rate_remaining(Some(0), None);
    let t0 = unix_now();
    let after = exp
        .scrape_until("the next refresh deferred to the window's end", |s| {
            find(s, "asc_exporter_next_refresh_timestamp_seconds", &[])
                .first()
                .is_some_and(|x| x.value > t0 + 600.0)
        })
        .await;
    assert!(exp.alive());
    exp.no_panic();
    let served = sim.control.served("rate_limit");
    assert_eq!(
        served, 1,
        "one 429, then no request until the window resets"
    );
    assert_eq!(
        counter(&after, "asc_api_requests_total", &[("status", "429")]),
        1.0
    );
    for id in sim.control.app_ids() {
        assert_eq!(app_data(&after, &id), app_data(&before, &id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_bundle_id_keeps_the_labels_and_warns() {
    let (sim, mut exp, before) = healthy_exporter(2, &[("ASC_EXPORTER_BUILDS_PER_APP", "0")]).await;
    inject(
        &sim,
        r#"{"path_prefix": "/v1/apps", "kind": "drift", "op": "rename", "key": "bundleId", "to": "bundleID"}"#,
    );
    let t0 = unix_now();
    let after = exp.refreshes_after(t0).await;
    assert!(exp.alive());
    exp.no_panic();
    let labels = |s: &[Sample]| -> BTreeMap<String, String> {
        find(s, "asc_app_refresh_failed", &[])
            .iter()
            .map(|x| (x.labels["app_id"].clone(), x.labels["bundle_id"].clone()))
            .collect()
    };
    assert_eq!(labels(&after), labels(&before), "no series relabelled");
    assert!(labels(&after).values().all(|b| !b.is_empty()));
    let lines = exp.last_refresh_lines();
    for id in sim.control.app_ids() {
        let warned = lines
            .iter()
            .filter(|v| is_warning(v) && field(v, "app_id") == id)
            .count();
        assert_eq!(warned, 1, "one warning for {id}: {lines:#?}");
    }
    assert!(
        lines
            .iter()
            .any(|v| message(v).contains("keeping the previous value"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_call_stacks_decode_and_very_deep_ones_are_truncated() {
    let (sim, mut exp, _) = healthy_exporter(
        2,
        &[
            ("ASC_EXPORTER_LOGS", "true"),
            ("ASC_EXPORTER_LOGS_TOP", "1"),
            ("ASC_EXPORTER_BUILDS_PER_APP", "1"),
        ],
    )
    .await;
    for depth in [2_000, 10_000] {
        inject(
            &sim,
            &format!(
                r#"{{"path_prefix": "/v1/diagnosticSignatures", "kind": "deep_call_stack", "depth": {depth}}}"#
            ),
        );
        let t0 = unix_now();
        let after = exp.refreshes_after(t0).await;
        sim.control.clear_faults();
        assert!(exp.alive());
        exp.no_panic();
        assert!(sim.control.served("deep_call_stack") > 0);
        assert_eq!(
            one(&after, "asc_exporter_last_refresh_success", &[]),
            1.0,
            "a {depth}-frame stack is data, not an error:\n{}",
            exp.log_text()
        );
        assert_eq!(
            counter(&after, "asc_api_decode_errors_total", &[]),
            0.0,
            "{depth}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_app_past_its_deadline_keeps_its_data_and_the_others_are_published() {
    let (sim, mut exp, before) = healthy_exporter(
        3,
        &[
            ("ASC_EXPORTER_BUILDS_PER_APP", "0"),
            // Requests may take long; an app may not.
            ("ASC_EXPORTER_TIMEOUT", "60s"),
            ("ASC_EXPORTER_APP_TIMEOUT", "2s"),
        ],
    )
    .await;
    let ids = sim.control.app_ids();
    inject(
        &sim,
        &format!(
            r#"{{"path_prefix": "/v1/apps/{}/perfPowerMetrics", "kind": "slow_headers", "delay_ms": 600000}}"#,
            ids[0]
        ),
    );
    let t0 = unix_now();
    let after = exp.refreshes_after(t0).await;
    assert!(exp.alive());
    exp.no_panic();
    assert!(
        one(&after, "asc_exporter_refresh_duration_seconds", &[]) < 10.0,
        "the refresh ended at the app's deadline, not the request's"
    );
    assert_eq!(
        one(&after, "asc_app_refresh_failed", &[("app_id", &ids[0])]),
        1.0
    );
    assert_eq!(app_data(&after, &ids[0]), app_data(&before, &ids[0]));
    for id in &ids[1..] {
        assert_eq!(
            one(&after, "asc_app_refresh_failed", &[("app_id", id)]),
            0.0
        );
    }
    let lines = exp.last_refresh_lines();
    let about: Vec<&Value> = lines
        .iter()
        .filter(|v| is_warning(v) && field(v, "app_id") == ids[0])
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert!(
        field(about[0], "error").contains("refresh.app_timeout (2s)"),
        "{about:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_deadline_publishes_the_apps_that_finished() {
    // One app at a time, each slow but within its own deadline: the refresh
    // deadline cuts the refresh after the first slow ones.
    let (sim, mut exp, before) = healthy_exporter(
        4,
        &[
            ("ASC_EXPORTER_BUILDS_PER_APP", "0"),
            ("ASC_EXPORTER_CONCURRENCY", "1"),
            ("ASC_EXPORTER_TIMEOUT", "60s"),
            ("ASC_EXPORTER_APP_TIMEOUT", "3s"),
            ("ASC_EXPORTER_REFRESH_TIMEOUT", "4s"),
        ],
    )
    .await;
    let ids = sim.control.app_ids();
    for id in &ids {
        inject(
            &sim,
            &format!(
                r#"{{"path_prefix": "/v1/apps/{id}/perfPowerMetrics", "kind": "slow_headers", "delay_ms": 1500}}"#
            ),
        );
    }
    let t0 = unix_now();
    let after = exp.refreshes_after_between(t0).await;
    assert!(exp.alive());
    exp.no_panic();
    let failed: Vec<&String> = ids
        .iter()
        .filter(|id| one(&after, "asc_app_refresh_failed", &[("app_id", id)]) == 1.0)
        .collect();
    let done = ids.len() - failed.len();
    assert!(
        done >= 1 && !failed.is_empty(),
        "{done} done, {failed:?} cut off"
    );
    for id in &failed {
        assert_eq!(app_data(&after, id), app_data(&before, id));
    }
    let lines = exp.last_refresh_lines();
    assert!(
        lines
            .iter()
            .any(|v| field(v, "error").contains("reached refresh.timeout (4s)")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_counts_each_refresh_s_requests_and_says_when_apple_has_no_build_metrics() {
    let (sim, pem) = simulator(2).await;
    // Every build's metrics answer 404: "not measured", logged, not a failure.
    inject(
        &sim,
        r#"{"path_prefix": "/v1/builds/", "kind": "status", "status": 404}"#,
    );
    let exp = exporter(&sim, &pem, &[("ASC_EXPORTER_REFRESH_INTERVAL", "2s")]);
    let finished = || -> Vec<Value> {
        exp.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|v| message(v) == "refresh finished")
            .cloned()
            .collect()
    };
    for _ in 0..300 {
        if finished().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = finished();
    assert!(lines.len() >= 2, "{}", exp.log_text());
    let requests = |v: &Value| {
        v.pointer("/fields/requests")
            .and_then(Value::as_u64)
            .unwrap()
    };
    // The same work each time: this refresh's count, not a running total.
    assert!(requests(&lines[0]) > 0);
    assert_eq!(requests(&lines[1]), requests(&lines[0]));
    assert_eq!(
        lines[1].pointer("/fields/failed").and_then(Value::as_u64),
        Some(0)
    );
    let text = exp.log_text();
    assert!(
        text.contains("Apple has no metrics for this build (404): not measured"),
        "{text}"
    );
}
