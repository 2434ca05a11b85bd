//! The exporter end to end in-process: the real client refreshing from the
//! simulator over HTTP on 127.0.0.1, `/metrics` parsed with a Prometheus
//! text parser.

use std::collections::BTreeMap;
use std::time::Duration;

use asc_perf_exporter::refresh::Snapshot;
use common::exporter::{
    FIXTURE_APP, config, next_snapshot, refresher, scrape, sim_env, snapshot_where, start,
};
use common::prom::{Sample, find, one};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_fixed_points_from_the_apple_example() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |_| {})).await;
    let snap = next_snapshot(&mut r).await;
    assert!(
        snap.refresh.last_success,
        "{:?}",
        snap.apps.iter().map(|a| &a.last_error).collect::<Vec<_>>()
    );
    let s = scrape(&r).await;
    let app = [("app_id", FIXTURE_APP)];

    // launchTime in milliseconds -> seconds: 768.7 ms is 0.7687 s.
    let v = one(
        &s,
        "asc_launch_time_seconds",
        &[
            app[0],
            ("version", "1.0"),
            ("percentile", "p50"),
            ("device", "all_iphones"),
        ],
    );
    assert!((v - 0.7687).abs() < 1e-9, "{v}");
    let v = one(
        &s,
        "asc_launch_time_seconds",
        &[
            app[0],
            ("version", "2.0"),
            ("percentile", "p90"),
            ("device", "all_iphones"),
        ],
    );
    assert!((v - 2.0143).abs() < 1e-9, "{v}");
    let l = &find(
        &s,
        "asc_launch_time_seconds",
        &[app[0], ("version", "1.0"), ("percentile", "p50")],
    )[0]
    .labels;
    assert_eq!(l["platform"], "iOS");
    assert_eq!(l["category"], "LAUNCH");
    assert_eq!(l["device_name"], "All iPhones");
    assert_eq!(l["bundle_id"], format!("fixture.{FIXTURE_APP}"));
    assert!(!l.contains_key("build"));
    assert_eq!(
        find(&s, "asc_launch_time_seconds", &app).len(),
        10,
        "5 versions x 2 percentiles"
    );

    // The regression insight of the file: +10 % (p50) and +13 % (p90).
    let d50 = one(
        &s,
        "asc_insight_regression_delta_ratio",
        &[app[0], ("percentile", "p50"), ("metric", "launchTime")],
    );
    let d90 = one(
        &s,
        "asc_insight_regression_delta_ratio",
        &[app[0], ("percentile", "p90"), ("metric", "launchTime")],
    );
    assert!(
        (d50 - 0.10).abs() < 1e-9 && (d90 - 0.13).abs() < 1e-9,
        "{d50} {d90}"
    );
    let l = &find(
        &s,
        "asc_insight_regression_delta_ratio",
        &[app[0], ("percentile", "p50")],
    )[0]
    .labels;
    assert_eq!(
        (
            l["category"].as_str(),
            l["device"].as_str(),
            l["latest_version"].as_str(),
            l["high_impact"].as_str()
        ),
        ("LAUNCH", "all_iphones", "2.0", "false")
    );
    assert!(find(&s, "asc_insight_trending_up_delta_ratio", &app).is_empty());

    assert_eq!(
        one(
            &s,
            "asc_app_latest_version_info",
            &[app[0], ("version", "2.0")]
        ),
        1.0
    );
    assert_eq!(
        one(&s, "asc_data_available", &[app[0], ("scope", "app")]),
        1.0
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_category_of_every_simulated_app_and_signature_weights() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |_| {})).await;
    let snap = next_snapshot(&mut r).await;
    let s = scrape(&r).await;
    let synthetic: Vec<_> = snap
        .apps
        .iter()
        .filter(|a| a.app.id != FIXTURE_APP)
        .collect();
    assert!(synthetic.len() >= 3);
    for app in &synthetic {
        let cats: std::collections::BTreeSet<_> = s
            .iter()
            .filter(|x| {
                x.labels.get("app_id") == Some(&app.app.id)
                    && x.labels.contains_key("percentile")
                    && x.labels.contains_key("category")
                    && !x.name.starts_with("asc_insight")
            })
            .map(|x| x.labels["category"].clone())
            .collect();
        for c in [
            "LAUNCH",
            "HANG",
            "MEMORY",
            "DISK",
            "BATTERY",
            "TERMINATION",
            "ANIMATION",
            "STORAGE",
        ] {
            assert!(cats.contains(c), "app {} lacks {c}: {cats:?}", app.app.id);
        }
        // Signature weights are exported as served.
        let build = &app.builds[0];
        assert!(!build.signatures.is_empty());
        for sig in &build.signatures {
            let w = one(
                &s,
                "asc_diagnostic_signature_weight_ratio",
                &[
                    ("app_id", &app.app.id),
                    ("build", &build.build.number),
                    ("signature_id", &sig.id),
                ],
            );
            assert_eq!(w, sig.weight());
        }
    }
    let requests: f64 = find(&s, "asc_api_requests_total", &[])
        .iter()
        .map(|x| x.value)
        .sum();
    assert_eq!(
        requests as u64,
        env.sim.control.request_count(),
        "the exporter counted every request the simulator served"
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_versions_age_out_and_a_failing_app_keeps_its_series() {
    let env = sim_env(None).await;
    let mut r = start(
        &env,
        config(&env, |c| c.refresh.interval = Duration::from_secs(1)),
    )
    .await;
    next_snapshot(&mut r).await;
    let s1 = scrape(&r).await;
    let total = |s: &[Sample]| -> f64 {
        find(s, "asc_api_requests_total", &[])
            .iter()
            .map(|x| x.value)
            .sum()
    };
    let apps = env.sim.control.app_ids();
    let (victim, other) = (
        apps.iter().find(|a| *a != FIXTURE_APP).unwrap().clone(),
        apps.iter()
            .rev()
            .find(|a| *a != FIXTURE_APP)
            .unwrap()
            .clone(),
    );
    assert_ne!(victim, other);

    // A version ages out: its series disappear.
    let versions = |s: &[Sample], app: &str| -> std::collections::BTreeSet<String> {
        find(s, "asc_launch_time_seconds", &[("app_id", app)])
            .iter()
            .filter(|x| !x.labels.contains_key("build"))
            .map(|x| x.labels["version"].clone())
            .collect()
    };
    let before = versions(&s1, &other);
    let new_version = env.sim.control.release_version(&other);
    snapshot_where(&mut r, |s| {
        s.app(&other).and_then(|a| a.latest_version()).as_deref() == Some(new_version.as_str())
    })
    .await;
    let s2 = scrape(&r).await;
    let after = versions(&s2, &other);
    assert!(after.contains(&new_version), "{after:?}");
    let gone: Vec<_> = before.difference(&after).collect();
    assert_eq!(
        gone.len(),
        1,
        "the oldest version aged out: before {before:?} after {after:?}"
    );
    assert!(total(&s2) > total(&s1), "API request counters move");

    // One app's endpoint fails: its last good series stay, the others refresh.
    let victim_series = find(&s2, "asc_launch_time_seconds", &[("app_id", &victim)]).len();
    env.sim
        .control
        .fail(&format!("/v1/apps/{victim}/perfPowerMetrics"), 500, None);
    let snap = snapshot_where(&mut r, |s| {
        s.app(&victim).is_some_and(|a| a.last_attempt_failed)
    })
    .await;
    let s3 = scrape(&r).await;
    assert_eq!(
        one(&s3, "asc_app_refresh_failed", &[("app_id", &victim)]),
        1.0
    );
    assert_eq!(
        one(&s3, "asc_app_refresh_failed", &[("app_id", &other)]),
        0.0,
        "{:?}",
        snap.app(&other).unwrap().last_error
    );
    assert_eq!(
        find(&s3, "asc_launch_time_seconds", &[("app_id", &victim)]).len(),
        victim_series,
        "last good series kept"
    );
    let ok_other = one(
        &s3,
        "asc_app_last_refresh_success_timestamp_seconds",
        &[("app_id", &other)],
    );
    let ok_victim = one(
        &s3,
        "asc_app_last_refresh_success_timestamp_seconds",
        &[("app_id", &victim)],
    );
    assert!(ok_other > ok_victim, "the other app kept refreshing");
    assert_eq!(one(&s3, "asc_exporter_last_refresh_success", &[]), 0.0);
    assert!(
        snap.app(&victim)
            .unwrap()
            .last_error
            .as_deref()
            .unwrap()
            .contains("HTTP 500")
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reloads_state_and_makes_no_api_call() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |_| {})).await;
    next_snapshot(&mut r).await;
    let before = scrape(&r).await;
    r.shutdown().await;
    let served = env.sim.control.request_count();
    assert!(served > 0);

    let r = start(&env, config(&env, |_| {})).await;
    let ready = reqwest::get(format!("http://{}/ready", r.addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "ready at once from saved state");
    let after = scrape(&r).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.sim.control.request_count(),
        served,
        "no API call after the restart"
    );
    let key = |s: &Sample| format!("{}{:?}", s.name, s.labels);
    let values = |v: &[Sample]| -> BTreeMap<String, f64> {
        v.iter()
            .filter(|s| s.name.starts_with("asc_launch_time") || s.name.starts_with("asc_insight"))
            .map(|s| (key(s), s.value))
            .collect()
    };
    assert_eq!(values(&before), values(&after));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_ignored() {
    let env = sim_env(None).await;
    std::fs::write(env.state.path().join("snapshot.json"), b"{ not json").unwrap();
    let mut r = start(&env, config(&env, |_| {})).await;
    let ready = reqwest::get(format!("http://{}/ready", r.addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let snap = next_snapshot(&mut r).await;
    assert!(snap.refresh.last_success);
    assert_eq!(
        reqwest::get(format!("http://{}/ready", r.addr))
            .await
            .unwrap()
            .status(),
        200
    );
    r.shutdown().await;
    assert!(
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(env.state.path().join("snapshot.json")).unwrap()
        )
        .is_ok(),
        "replaced by good state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_gzip_and_landing_page() {
    let env = sim_env(None).await;
    // Without the process metrics, which change between the two scrapes
    // compared below (tests/openmetrics.rs checks them, gzipped too).
    let mut r = start(
        &env,
        config(&env, |c| c.web.disable_exporter_metrics = true),
    )
    .await;
    assert_eq!(
        reqwest::get(format!("http://{}/healthz", r.addr))
            .await
            .unwrap()
            .status(),
        200
    );
    next_snapshot(&mut r).await;
    scrape(&r).await;
    let plain = reqwest::get(format!("http://{}/metrics", r.addr))
        .await
        .unwrap();
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let plain = plain.text().await.unwrap();

    // Ask for gzip explicitly over a raw client so the body is not decoded for us.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let resp = raw
        .get(format!("http://{}/metrics", r.addr))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let gz = resp.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    // With the exporter's own metrics off (this test's config), two scrapes
    // of one snapshot are the same bytes.
    assert_eq!(text, plain);
    assert!(!text.contains("asc_exporter_http_connections_accepted_total "));
    assert!(gz.len() * 3 < plain.len(), "gzip shrinks the exposition");

    let page = reqwest::get(format!("http://{}/", r.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("/metrics")
            && page.contains(env!("CARGO_PKG_VERSION"))
            && page.contains(FIXTURE_APP)
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_check_metrics_passes() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |c| c.diagnostics.logs = true)).await;
    next_snapshot(&mut r).await;
    scrape(&r).await;
    let text = reqwest::get(format!("http://{}/metrics", r.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    r.shutdown().await;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing in CI: .ci/run must install Debian's prometheus package"
        );
        eprintln!(
            "WARNING: promtool not found; install Debian's `prometheus` package to run this check"
        );
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_apple_has_not_measured_exports_availability_zero_and_no_values() {
    let env = sim_env(None).await;
    let mut r = start(
        &env,
        config(&env, |c| c.refresh.interval = Duration::from_secs(1)),
    )
    .await;
    let snap = next_snapshot(&mut r).await;
    let app = snap
        .apps
        .iter()
        .find(|a| a.app.id != FIXTURE_APP && a.builds.iter().any(|b| b.metrics.is_some()))
        .unwrap();
    let build = app
        .builds
        .iter()
        .find(|b| b.metrics.is_some())
        .unwrap()
        .build
        .clone();
    let s1 = scrape(&r).await;
    assert_eq!(
        one(
            &s1,
            "asc_data_available",
            &[
                ("app_id", &app.app.id),
                ("scope", "build"),
                ("build", &build.number)
            ]
        ),
        1.0
    );
    assert!(
        !find(
            &s1,
            "asc_launch_time_seconds",
            &[("app_id", &app.app.id), ("build", &build.number)]
        )
        .is_empty()
    );

    env.sim.control.fail(
        &format!("/v1/builds/{}/perfPowerMetrics", build.id),
        404,
        None,
    );
    let app_id = app.app.id.clone();
    let build_id = build.id.clone();
    snapshot_where(&mut r, |s| {
        s.app(&app_id).is_some_and(|a| {
            a.builds
                .iter()
                .any(|b| b.build.id == build_id && b.metrics.is_none())
        })
    })
    .await;
    let s2 = scrape(&r).await;
    assert_eq!(
        one(
            &s2,
            "asc_data_available",
            &[
                ("app_id", &app_id),
                ("scope", "build"),
                ("build", &build.number)
            ]
        ),
        0.0
    );
    assert!(
        find(
            &s2,
            "asc_launch_time_seconds",
            &[("app_id", &app_id), ("build", &build.number)]
        )
        .is_empty(),
        "not measured is no value, never a zero"
    );
    assert_eq!(
        one(&s2, "asc_app_refresh_failed", &[("app_id", &app_id)]),
        0.0,
        "a 404 for a build is not a failure"
    );
    assert!(
        !find(&s2, "asc_launch_time_seconds", &[("app_id", &app_id)]).is_empty(),
        "app-level series stay"
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_hourly_budget_drops_optional_work_instead_of_hitting_429() {
    // 200 requests an hour and a 90 % reserve: optional work stops after
    // about 20 requests, early in the first refresh; the required work of a
    // refresh (about 9 requests) fits many more times.
    let env = sim_env(Some(200)).await;
    let mut r = start(
        &env,
        config(&env, |c| {
            c.refresh.interval = Duration::from_secs(1);
            c.refresh.rate_limit_reserve = 0.9;
        }),
    )
    .await;
    let first = next_snapshot(&mut r).await;
    let by_route = |s: &[Sample], route: &str| -> f64 {
        find(s, "asc_api_requests_total", &[("endpoint", route)])
            .iter()
            .map(|x| x.value)
            .sum()
    };
    let s1 = scrape(&r).await;
    let second = snapshot_where(&mut r, |s| {
        s.refresh.last_attempt_unix > first.refresh.last_attempt_unix
    })
    .await;
    let s2 = scrape(&r).await;
    r.shutdown().await;
    assert!(
        second.refresh.last_success,
        "{:?}",
        second
            .apps
            .iter()
            .map(|a| &a.last_error)
            .collect::<Vec<_>>()
    );
    assert!(
        find(&s2, "asc_api_requests_total", &[("status", "429")]).is_empty(),
        "never ran into the limit"
    );
    let remaining = one(&s2, "asc_api_rate_limit_remaining", &[("window", "hour")]);
    assert!(
        remaining / 200.0 < 0.9,
        "budget is below the reserve: {remaining}"
    );
    assert!(
        by_route(&s2, "/v1/apps/{id}/perfPowerMetrics")
            > by_route(&s1, "/v1/apps/{id}/perfPowerMetrics"),
        "required work goes on"
    );
    assert_eq!(
        by_route(&s2, "/v1/builds/{id}/diagnosticSignatures"),
        by_route(&s1, "/v1/builds/{id}/diagnosticSignatures"),
        "optional work was dropped"
    );
    assert_eq!(
        by_route(&s2, "/v1/builds/{id}/perfPowerMetrics"),
        by_route(&s1, "/v1/builds/{id}/perfPowerMetrics"),
        "optional work was dropped"
    );
    // Data fetched before the budget ran low is kept, not dropped.
    let sigs = |s: &Snapshot| -> usize {
        s.apps
            .iter()
            .flat_map(|a| &a.builds)
            .map(|b| b.signatures.len())
            .sum()
    };
    assert_eq!(sigs(&second), sigs(&first));
    assert!(sigs(&first) > 0);
}

/// A refresh replaces each app's data as it comes in: the partial snapshots
/// it publishes on the way hold every app, each whole (its old data or its
/// new), and an app's old data is let go the moment it is replaced, so a
/// refresh holds one snapshot's data, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_lets_go_of_each_apps_old_data_as_it_replaces_it() {
    use std::sync::{Arc, Weak};

    use asc_perf_exporter::refresh::snapshot::AppSnapshot;

    let env = sim_env(None).await;
    let c = config(&env, |c| c.refresh.concurrency = 2);
    let refresher = refresher(&env.sim, &env.private_pem, &c);
    let first = Arc::new(refresher.refresh(&Snapshot::default()).await);
    assert!(first.refresh.last_success);
    assert!(!first.is_partial());
    let total = first.apps.len();
    assert!(total >= 3, "{total} apps");
    let old: Vec<Weak<AppSnapshot>> = first.apps.iter().map(Arc::downgrade).collect();
    let first_at = first.refresh.last_attempt_unix;

    let mut seen = Vec::new();
    let next = refresher
        .refresh_with(first, &mut |w: &Snapshot| {
            let p = w
                .refresh
                .progress
                .expect("a partial snapshot says how far it is");
            let alive = old.iter().filter(|o| o.strong_count() > 0).count();
            let fresh = w
                .apps
                .iter()
                .filter(|a| a.last_success_unix.is_some_and(|t| t > first_at))
                .count();
            seen.push((p.done, p.total, w.apps.len(), alive, fresh));
        })
        .await;
    assert!(next.refresh.last_success);
    assert!(!next.is_partial(), "the final snapshot is complete");
    assert_eq!(next.apps.len(), total);
    assert_eq!(seen.len(), total, "one partial snapshot per app: {seen:?}");
    for (i, &(done, of, apps, alive, fresh)) in seen.iter().enumerate() {
        assert_eq!((done, of, apps), (i + 1, total, total), "{seen:?}");
        assert_eq!(
            fresh, done,
            "the refreshed apps carry their new data: {seen:?}"
        );
        assert_eq!(alive, total - done, "old data still held: {seen:?}");
    }
    assert!(old.iter().all(|o| o.strong_count() == 0));
}
