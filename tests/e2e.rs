//! End to end with the real tools, all on 127.0.0.1: the exporter binary in
//! demo mode -> Debian's `prometheus` (scraping every second, evaluating the
//! repo's `alerts/*.yml` every second) -> `prometheus-alertmanager` -> a
//! webhook receiver (an axum server inside this test).
//!
//! Checks:
//! - every rule of `alerts/*.yml` evaluates without error on real data;
//! - every PromQL expression of every dashboard panel (`dashboards/*.json`
//!   and the fixture `tests/fixtures/dashboards/*.json`) returns data, with
//!   the template variables filled with real label values (checked during
//!   the regression scenario, when every insight family has series);
//! - switching the simulator to the `regression` scenario makes
//!   `AscHighImpactRegression` reach the webhook through Alertmanager
//!   (`firing`), and switching back to `baseline` resolves it (`resolved`).
//!
//! A second test has Prometheus scrape with OpenMetrics negotiated (what
//! Debian's Prometheus 2.42 does by default) and checks the target, its
//! samples and the OpenMetrics metadata (types, units).
//!
//! The alert rules use `for: 0m` on Apple-data alerts (the data changes at
//! most daily, see the rule file), so the production rules are loaded as-is,
//! without a test-only override.
//!
//! The demo account is one app with one build per app: a refresh then costs
//! 6 requests, so refreshing every 2 s stays inside the simulator's
//! 150-a-minute window for the length of the test (the exporter pauses for up
//! to a minute once the window is spent, which would slow the test down).
//!
//! A second test has Debian's Prometheus scrape the exporter over TLS with
//! basic auth (the exporter-toolkit web configuration, a CA made at test
//! time, a bcrypt hash from `htpasswd -B`): the target is up with data, and
//! a job with the wrong password is down with a 401.
//!
//! Missing `prometheus`, `promtool`, the Alertmanager binary or `htpasswd`
//! fails the test when `CI` is set and skips it with a loud warning otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use asc_perf_exporter::clock::unix_now;
use serde_json::Value;

mod e2e_support;
mod web_support;

use e2e_support::*;

// ---------------------------------------------------------------- tests

#[test]
fn dashboard_extractor_reads_the_fixture() {
    let dashboards = dashboard_queries();
    let fixture = dashboards
        .iter()
        .find(|d| d.file.ends_with("e2e-fixture.json"))
        .expect("tests/fixtures/dashboards/e2e-fixture.json is found");
    let titles: BTreeSet<&str> = fixture.queries.iter().map(|q| q.panel.as_str()).collect();
    // Top-level panels, panels inside a collapsed row, and old-style rows.
    for t in [
        "Launch time p90 (latest version)",
        "High-impact regressions",
        "Latest vs previous version",
        "Diagnostic signatures",
        "API requests",
        "API errors",
        "Data available",
    ] {
        assert!(titles.contains(t), "{t} not extracted from {titles:?}");
    }
    assert!(
        !fixture.queries.iter().any(|q| q.expr.contains("hidden")),
        "hidden targets are skipped"
    );
    let names: Vec<&str> = fixture.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["datasource", "app", "app_id", "version", "percentile"]
    );
    assert_eq!(
        fixture.vars[1].query,
        "label_values(asc_app_latest_version_info, app)"
    );
    assert_eq!(fixture.vars[4].kind, "custom");
    // query_result lines through the variable's regex: the `value` group.
    let lines = [
        r#"{app="Pocket Ledger", app_id="1537607043"} 1 1700000000"#.to_string(),
        r#"{app="Harbor Weather", app_id="1681107325"} 1 1700000000"#.to_string(),
        "no match".to_string(),
    ];
    assert_eq!(
        apply_regex(fixture.vars[2].regex.as_deref().unwrap(), &lines),
        ["1537607043", "1681107325"]
    );

    let vars = vec![
        ("app".to_string(), "Pocket Ledger".to_string()),
        ("app_id".to_string(), "15".to_string()),
        ("version".to_string(), "2.9".to_string()),
    ];
    assert_eq!(
        fill_vars(
            r#"x{app="$app",app_id="${app_id}",v=~"${version:regex}",w="[[version]]"}[$__rate_interval] $apps"#,
            &vars
        ),
        r#"x{app="Pocket Ledger",app_id="15",v=~"2.9",w="2.9"}[1m] $apps"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_alertmanager_and_dashboards_have_data() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack {
        procs: Vec::new(),
        started: Instant::now(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Exporter (demo).
    let (sim_port, exporter_port) = (free_port(), free_port());
    let sim = format!("http://127.0.0.1:{sim_port}");
    let exporter = format!("http://127.0.0.1:{exporter_port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asc-perf-exporter"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ASC_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    // Three apps: the mixed scenario's three stories (one per app index
    // modulo 3) all show.
    cmd.args([
        "serve",
        "--demo",
        "--demo-apps",
        "3",
        "--builds-per-app",
        "1",
    ])
    .arg("--demo-listen")
    .arg(format!("127.0.0.1:{sim_port}"))
    .arg("--listen")
    .arg(format!("127.0.0.1:{exporter_port}"))
    // Each refresh of the three apps costs 13 requests: every 6 s keeps the
    // demo inside its 150-a-minute window (the exporter would otherwise
    // rightly pause for the window to reset).
    .args(["--refresh-interval", "6s"]);
    stack
        .procs
        .push(Proc::spawn("exporter", &mut cmd, dir.path()));

    // Webhook receiver and Alertmanager.
    let (hook_port, hooks) = start_webhook().await;
    let am_port = free_port();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            r#"route:
  receiver: webhook
  group_by: [alertname, app_id, metric, version]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1m
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/hook
        send_resolved: true
"#
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&tools.alertmanager);
    cmd.arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    stack
        .procs
        .push(Proc::spawn("alertmanager", &mut cmd, dir.path()));

    // Prometheus with the repo's rule files.
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    let rules: Vec<String> = rule_files()
        .iter()
        .map(|p| format!("  - {:?}", p.display().to_string()))
        .collect();
    std::fs::write(
        &prom_config,
        format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
{}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: asc-perf-exporter
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
"#,
            rules.join("\n")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&tools.prometheus);
    cmd.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg("--rules.alert.resend-delay=1s");
    stack
        .procs
        .push(Proc::spawn("prometheus", &mut cmd, dir.path()));

    let api = Api {
        http: http.clone(),
        prom: format!("http://127.0.0.1:{prom_port}"),
    };

    let ready = |url: String| {
        let http = http.clone();
        move || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http.get(&url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        }
    };
    let t = Duration::from_secs(30);
    stack
        .wait_for("exporter ready", t, ready(format!("{exporter}/ready")))
        .await;
    stack
        .wait_for(
            "alertmanager ready",
            t,
            ready(format!("http://127.0.0.1:{am_port}/-/ready")),
        )
        .await;
    stack
        .wait_for(
            "prometheus ready",
            t,
            ready(format!("{}/-/ready", api.prom)),
        )
        .await;

    // Data flows, recording rules produce the latest-vs-previous series.
    let baseline_versions: BTreeMap<String, String> = stack
        .wait_for("exporter data in Prometheus", t, || async {
            let r = api.query("asc:latest_version_change:ratio").await?;
            if r.is_empty() {
                return None;
            }
            let latest = api.query("asc_app_latest_version_info").await?;
            Some(latest_versions(&latest))
        })
        .await;
    assert_eq!(baseline_versions.len(), 3, "three demo apps");

    // Every rule evaluates without error on real data.
    let rules_url = format!("{}/api/v1/rules", api.prom);
    stack
        .wait_for(
            "every rule evaluated without error",
            Duration::from_secs(15),
            || async {
                let data = api.get_json(&rules_url, &[]).await?;
                let mut names = Vec::new();
                for g in data["groups"].as_array()? {
                    for r in g["rules"].as_array()? {
                        match r["health"].as_str() {
                            Some("ok") => names.push(r["name"].as_str()?.to_string()),
                            Some("err") => {
                                panic!("rule {} fails on real data: {}", r["name"], r["lastError"])
                            }
                            _ => return None,
                        }
                    }
                }
                (!names.is_empty()).then_some(())
            },
        )
        .await;

    // The baseline demo is quiet: once every alerting rule has been
    // evaluated on data, none is pending or firing.
    let quiet = |since: f64| {
        let (api, url) = (&api, rules_url.clone());
        move || {
            let url = url.clone();
            async move { alert_states_after(api, &url, since).await }
        }
    };
    let data_at = unix_now();
    let states = stack
        .wait_for(
            "every alerting rule evaluated on the baseline data",
            Duration::from_secs(15),
            quiet(data_at),
        )
        .await;
    let active: Vec<&(String, String)> = states.iter().filter(|(_, s)| s != "inactive").collect();
    assert!(
        active.is_empty(),
        "the baseline demo fires no alert, got {active:?}"
    );

    // One failed request (500, retried by the client) so that panels about
    // API errors have a non-2xx series to show.
    let r = http
        .post(format!("{sim}/_sim/faults"))
        .json(&serde_json::json!({ "path_prefix": "/v1/apps", "status": 500, "times": 1 }))
        .send()
        .await
        .expect("simulator admin API answers");
    assert!(r.status().is_success(), "POST /_sim/faults: {}", r.status());
    stack
        .wait_for("an API error counted in Prometheus", t, || async {
            let r = api.query(r#"asc_api_requests_total{status="500"}"#).await?;
            (!r.is_empty()).then_some(())
        })
        .await;

    // Regression scenario: a new version with launch time x1.45, high impact.
    let scenario = |name: &'static str| {
        let http = http.clone();
        let url = format!("{sim}/_sim/scenario");
        async move {
            let r = http
                .put(&url)
                .json(&serde_json::json!({ "scenario": name }))
                .send()
                .await
                .expect("simulator admin API answers");
            assert!(r.status().is_success(), "PUT {url}: {}", r.status());
        }
    };
    scenario("regression").await;
    let (app_id, old_version) = baseline_versions.iter().next().unwrap();
    let new_version: String = stack
        .wait_for("exporter serves the new version", t, || async {
            let body = http
                .get(format!("{exporter}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            body.lines()
                .filter(|l| l.starts_with("asc_app_latest_version_info{"))
                .filter(|l| l.contains(&format!("app_id=\"{app_id}\"")))
                .filter_map(|l| l.split("version=\"").nth(1)?.split('"').next())
                .find(|v| v != old_version)
                .map(str::to_string)
        })
        .await;

    let is_ours = |a: &Value, status: &str| {
        let l = &a["labels"];
        a["status"] == status
            && l["alertname"] == "AscHighImpactRegression"
            && l["severity"] == "critical"
            && l["app_id"] == app_id.as_str()
            && l["metric"] == "launchTime"
            && l["category"] == "LAUNCH"
            && l["version"] == new_version.as_str()
    };
    let firing = stack
        .wait_for(
            "AscHighImpactRegression firing at the webhook",
            Duration::from_secs(40),
            || async {
                hook_alerts(&hooks, "firing")
                    .into_iter()
                    .find(|a| is_ours(a, "firing"))
            },
        )
        .await;
    // Only the regression alerts: nothing about the exporter's health, no
    // non-high-impact regression (the poor goal and the trend are about
    // the same regressed metrics).
    let regression_alerts = firing_alert_names(&api).await;
    let allowed = [
        "AscHighImpactRegression",
        "AscLatestVersionWorse",
        "AscLatestVersionPoorGoal",
        "AscMetricTrendingUp",
    ];
    assert!(
        regression_alerts
            .iter()
            .all(|a| allowed.contains(&a.as_str())),
        "regression fires the regression alerts only: {regression_alerts:?}"
    );
    let ann = &firing["annotations"];
    assert!(
        ann["summary"]
            .as_str()
            .is_some_and(|s| s.contains(&new_version) && s.contains("launchTime")),
        "summary names version and metric: {ann}"
    );
    assert_eq!(
        ann["runbook_url"],
        "https://github.com/asc-perf-exporter/asc-perf-exporter/blob/main/docs/runbooks.md#aschighimpactregression",
        "an absolute link (no runbook_base external label: the default): {ann}"
    );
    assert!(
        firing["labels"]["app"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "app name label: {firing}"
    );

    // Dashboards: every panel expression returns data, checked in the
    // mixed scenario (standing regressions, a trend, a poor goal), so insight
    // panels have something to show.
    scenario("mixed").await;
    stack
        .wait_for("the mixed scenario's trend in Prometheus", t, || async {
            let r = api.query("asc_insight_trending_up_delta_ratio").await?;
            (!r.is_empty()).then_some(())
        })
        .await;
    // The lived-in account's standing insights fire their alerts.
    stack
        .wait_for("the mixed scenario's standing alerts firing", t, || async {
            let firing = firing_alert_names(&api).await;
            [
                "AscRegression",
                "AscMetricTrendingUp",
                "AscLatestVersionPoorGoal",
                "AscHighImpactRegression",
            ]
            .iter()
            .all(|a| firing.contains(*a))
            .then_some(())
        })
        .await;
    let dashboards = dashboard_queries();
    let n_queries: usize = dashboards.iter().map(|d| d.queries.len()).sum();
    assert!(n_queries > 0, "no dashboard queries found");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let failures = empty_panels(&api, &dashboards).await;
        if failures.is_empty() {
            eprintln!(
                "[e2e +{:>5.1}s] data for all {n_queries} panel expressions of {} dashboard(s)",
                stack.started.elapsed().as_secs_f64(),
                dashboards.len()
            );
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "dashboard panels without data after 20 s:\n{}",
                failures.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Back to baseline: the new version disappears, the alert resolves and
    // the demo is quiet again.
    scenario("baseline").await;
    stack
        .wait_for(
            "AscHighImpactRegression resolved at the webhook",
            Duration::from_secs(40),
            || async {
                hook_alerts(&hooks, "resolved")
                    .into_iter()
                    .find(|a| is_ours(a, "resolved"))
            },
        )
        .await;
    stack
        .wait_for("no insight left in Prometheus", t, || async {
            let r = api
                .query("asc_insight_regression_delta_ratio or asc_insight_trending_up_delta_ratio")
                .await?;
            r.is_empty().then_some(())
        })
        .await;
    // The recording rules catch up one evaluation after the scrape, so an
    // alert may still be firing for a cycle: wait until every alerting rule
    // is inactive again (a baseline that kept an alert firing times out).
    let back_at = unix_now();
    stack
        .wait_for(
            "every alert resolved on the baseline data again",
            Duration::from_secs(20),
            || {
                let url = rules_url.clone();
                let api = &api;
                async move {
                    let states = alert_states_after(api, &url, back_at).await?;
                    states.iter().all(|(_, s)| s == "inactive").then_some(())
                }
            },
        )
        .await;
    eprintln!(
        "[e2e] done in {:.1}s, {} webhook payloads",
        stack.started.elapsed().as_secs_f64(),
        hooks.lock().unwrap().len()
    );
}

async fn firing_alert_names(api: &Api) -> BTreeSet<String> {
    api.query(r#"ALERTS{alertstate="firing"}"#)
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["metric"]["alertname"].as_str().map(str::to_string))
        .collect()
}

/// `(alert name, state)` of every alerting rule, once each one's last
/// evaluation is later than `since` (Unix seconds); `None` before that.
async fn alert_states_after(
    api: &Api,
    rules_url: &str,
    since: f64,
) -> Option<Vec<(String, String)>> {
    let data = api.get_json(rules_url, &[("type", "alert")]).await?;
    let mut states = Vec::new();
    for g in data["groups"].as_array()? {
        for r in g["rules"].as_array()? {
            let evaluated = chrono::DateTime::parse_from_rfc3339(r["lastEvaluation"].as_str()?)
                .ok()?
                .timestamp_millis() as f64
                / 1000.0;
            if evaluated <= since {
                return None;
            }
            states.push((
                r["name"].as_str()?.to_string(),
                r["state"].as_str()?.to_string(),
            ));
        }
    }
    (!states.is_empty()).then_some(states)
}

/// Debian's Prometheus (2.42) scrapes the exporter with OpenMetrics
/// negotiated: 2.42 has no `scrape_protocols` (added in 2.49) and always
/// asks for `application/openmetrics-text;version=1.0.0` first, with
/// `Accept-Encoding: gzip`. The target is up with the exporter's samples and
/// the process metrics (which come after the cached gzip part: Go's gzip
/// reader decodes the continued member), and the metadata API shows the
/// OpenMetrics parser read it: an `info` type and units exist in OpenMetrics
/// only (the text format would give `asc_exporter_build_info` as a gauge
/// and no units).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_openmetrics() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack {
        procs: Vec::new(),
        started: Instant::now(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let exporter_port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asc-perf-exporter"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ASC_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args([
        "serve",
        "--demo",
        "--demo-apps",
        "1",
        "--builds-per-app",
        "1",
    ])
    .arg("--demo-listen")
    .arg("127.0.0.1:0")
    .arg("--listen")
    .arg(format!("127.0.0.1:{exporter_port}"));
    stack
        .procs
        .push(Proc::spawn("exporter", &mut cmd, dir.path()));

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: asc-perf-exporter
    static_configs:
      - targets: ["127.0.0.1:{exporter_port}"]
"#
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&tools.prometheus);
    cmd.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    stack
        .procs
        .push(Proc::spawn("prometheus", &mut cmd, dir.path()));
    let api = Api {
        http: http.clone(),
        prom: format!("http://127.0.0.1:{prom_port}"),
    };
    let t = Duration::from_secs(60);

    // The target is up with no scrape error, and the exporter's data, the
    // process metrics and a counter are in Prometheus.
    let targets_url = format!("{}/api/v1/targets", api.prom);
    stack
        .wait_for("the target is up", t, || async {
            let data = api.get_json(&targets_url, &[]).await?;
            let target = data["activeTargets"].as_array()?.first()?.clone();
            (target["health"] == "up" && target["lastError"] == "").then_some(())
        })
        .await;
    for expr in [
        r#"up{job="asc-perf-exporter"} == 1"#,
        "asc_exporter_build_info == 1",
        "asc_app_latest_version_info",
        r#"asc_data_available{scope="app"}"#,
        r#"asc_data_available{scope="build", build!=""}"#,
        "asc_terminations_per_day",
        r#"asc_api_rate_limit_remaining{window="hour"} <= asc_api_rate_limit_budget{window="hour"}"#,
        "asc_api_requests_total",
        "asc_exporter_http_connections_accepted_total > 0",
        "asc_exporter_http_connections_open",
        r#"promhttp_metric_handler_requests_total{code="200"} > 0"#,
        "process_open_fds > 0",
        "process_start_time_seconds > 0",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes > 0",
    ] {
        stack
            .wait_for(&format!("{expr} has data"), t, || async {
                let r = api.query(expr).await?;
                (!r.is_empty()).then_some(())
            })
            .await;
    }

    // OpenMetrics metadata: types and units as the exporter declared them.
    let metadata_url = format!("{}/api/v1/metadata", api.prom);
    let metadata = |metric: &'static str| {
        let api = &api;
        let url = metadata_url.clone();
        async move {
            let data = api.get_json(&url, &[("metric", metric)]).await?;
            let m = data[metric].as_array()?.first()?.clone();
            Some((
                m["type"].as_str()?.to_string(),
                m["unit"].as_str().unwrap_or("").to_string(),
            ))
        }
    };
    for (family, kind, unit) in [
        ("asc_exporter_build", "info", ""),
        ("asc_app_latest_version", "info", ""),
        ("asc_api_requests", "counter", ""),
        ("asc_exporter_refresh_duration_seconds", "gauge", "seconds"),
        ("asc_launch_time_seconds", "gauge", "seconds"),
        // The name ends with Apple's whole unit (`asc_` + `terminations_per_day`).
        ("asc_terminations_per_day", "gauge", "terminations_per_day"),
        ("asc_exporter_http_connections_accepted", "counter", ""),
        ("promhttp_metric_handler_requests", "counter", ""),
        ("process_cpu_seconds", "counter", "seconds"),
        ("process_resident_memory_bytes", "gauge", "bytes"),
    ] {
        let got = stack
            .wait_for(&format!("metadata of {family}"), t, || metadata(family))
            .await;
        assert_eq!(
            got,
            (kind.to_string(), unit.to_string()),
            "{family}: as written in the OpenMetrics exposition"
        );
    }
    assert!(
        metadata("asc_exporter_build_info").await.is_none(),
        "no text-format metadata for the info family's sample name"
    );
    eprintln!(
        "[e2e] OpenMetrics scrape done in {:.1}s",
        stack.started.elapsed().as_secs_f64()
    );
}

fn latest_versions(result: &[Value]) -> BTreeMap<String, String> {
    result
        .iter()
        .filter_map(|s| {
            Some((
                s["metric"]["app_id"].as_str()?.to_string(),
                s["metric"]["version"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// `prometheus` alone, or `None` (after a loud warning) outside CI.
fn prometheus_tool() -> Option<PathBuf> {
    if let Some(p) = find_tool(&["prometheus"]) {
        return Some(p);
    }
    let msg =
        "prometheus not found on PATH; install Debian's `prometheus` package (bash .ci/run does)";
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and the end-to-end test cannot run: {msg}");
    }
    eprintln!("\n!!! WARNING: end-to-end TLS test SKIPPED: {msg}\n");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_tls_with_basic_auth() {
    use asc_perf_exporter::config::Config;
    use asc_perf_exporter::service::{self, Demo, ServeOptions};
    use web_support::{Ca, htpasswd_hash, put};

    let Some(prometheus) = prometheus_tool() else {
        return;
    };
    let Some(hash) = htpasswd_hash("scrape secret") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack {
        procs: Vec::new(),
        started: Instant::now(),
    };

    // The exporter in demo mode, behind TLS and basic auth.
    let ca = Ca::new("e2e CA");
    let leaf = ca.server();
    put(dir.path(), "server.crt", &leaf.cert_pem);
    put(dir.path(), "server.key", &leaf.key_pem);
    put(dir.path(), "ca.pem", &ca.pem());
    put(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    config.web.config_file = Some(dir.path().join("web.yml"));
    config.refresh.builds_per_app = 1;
    config.refresh.jitter = 0.0;
    let exporter = service::start(ServeOptions {
        config,
        private_key_inline: None,
        demo: Some(Demo {
            seed: 7,
            apps: 1,
            listen: "127.0.0.1:0".parse().unwrap(),
            accounts: 1,
        }),
    })
    .await
    .expect("the exporter starts with the web configuration");
    assert_eq!(exporter.scheme, "https");
    let target = exporter.addr.to_string();

    // Prometheus: one job with the right password, one with a wrong one.
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    let ca_file = dir.path().join("ca.pem");
    let job = |name: &str, password: &str| {
        format!(
            r#"  - job_name: {name}
    scheme: https
    tls_config:
      ca_file: {ca:?}
    basic_auth:
      username: prometheus
      password: {password:?}
    static_configs:
      - targets: ["{target}"]
"#,
            ca = ca_file.display().to_string(),
        )
    };
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
            job("asc-tls", "scrape secret"),
            job("asc-tls-wrong-password", "guess")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&prometheus);
    cmd.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    stack
        .procs
        .push(Proc::spawn("prometheus", &mut cmd, dir.path()));
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        prom: format!("http://127.0.0.1:{prom_port}"),
    };
    let t = Duration::from_secs(60);

    // Up, with the exporter's data, over HTTPS with basic auth.
    stack
        .wait_for("the TLS + basic-auth target is up with data", t, || async {
            let up = api.query(r#"up{job="asc-tls"}"#).await?;
            if up.first()?["value"][1] != "1" {
                return None;
            }
            let data = api
                .query(r#"asc_app_latest_version_info{job="asc-tls"}"#)
                .await?;
            (!data.is_empty()).then_some(())
        })
        .await;
    let targets_doc = api
        .get_json(&format!("{}/api/v1/targets", api.prom), &[])
        .await
        .expect("targets API");
    let targets = targets_doc["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ours = targets
        .iter()
        .find(|t| t["labels"]["job"] == "asc-tls")
        .expect("the asc-tls target");
    assert!(
        ours["scrapeUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{ours}"
    );

    // The wrong password is refused: that job's target is down with a 401.
    stack
        .wait_for("the wrong-password target is down with 401", t, || async {
            let data = api
                .get_json(&format!("{}/api/v1/targets", api.prom), &[])
                .await?;
            let t = data["activeTargets"]
                .as_array()?
                .iter()
                .find(|t| t["labels"]["job"] == "asc-tls-wrong-password")?
                .clone();
            (t["health"] == "down" && t["lastError"].as_str()?.contains("401")).then_some(())
        })
        .await;
    exporter.shutdown().await;
}
