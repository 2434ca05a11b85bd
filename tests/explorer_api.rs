//! The explorer's JSON API (`/api/v1/`, docs/api.md) against the exporter
//! refreshing from the simulator over HTTP on 127.0.0.1: every route, its
//! links, its errors, and "copy as Markdown".

use std::sync::Arc;

use asc_perf_exporter::refresh::Snapshot;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::exporter::{config, next_snapshot, sim_env, start};
use serde_json::Value;
use tower::ServiceExt;

mod common;

async fn get(base: &str, path: &str) -> (StatusCode, String, String) {
    let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

async fn get_json(base: &str, path: &str) -> Value {
    let (status, ct, body) = get(base, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert_eq!(ct, "application/json", "{path}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_apps_insights_signatures_logs_and_markdown() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |c| c.diagnostics.logs = true)).await;
    let snap = next_snapshot(&mut r).await;
    let base = format!("http://{}", r.addr);

    // Every app, at a glance, following its links.
    let list = get_json(&base, "/api/v1/apps").await;
    let apps = list["apps"].as_array().unwrap();
    assert_eq!(apps.len(), snap.apps.len());
    assert_eq!(list["refreshing"], false);
    for (a, s) in apps.iter().zip(&snap.apps) {
        assert_eq!(a["id"], s.app.id.as_str());
        assert_eq!(a["name"], s.app.name.as_str());
        assert_eq!(a["latest_version"].as_str(), s.latest_version().as_deref());
        assert_eq!(a["refresh_failed"], false);
        assert!(a["data_age_seconds"].as_f64().unwrap() >= 0.0);
        assert!(a["top_call_sites"].as_array().unwrap().len() <= 3);
        let highs: Vec<bool> = a["regressions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["high_impact"].as_bool().unwrap())
            .collect();
        assert!(
            highs.windows(2).all(|w| w[0] >= w[1]),
            "high impact first: {highs:?}"
        );
    }

    // One app in full: metrics per dataset, builds, all top call sites.
    let app = snap
        .apps
        .iter()
        .find(|a| a.overview.is_some() && a.builds.iter().any(|b| !b.logs.is_empty()))
        .expect("an app with an overview and logs");
    let detail = get_json(&base, &format!("/api/v1/apps/{}", app.app.id)).await;
    assert_eq!(
        detail["links"]["self"],
        format!("/api/v1/apps/{}", app.app.id)
    );
    let sites = detail["top_call_sites"].as_array().unwrap();
    assert_eq!(sites.len(), app.overview.as_ref().unwrap().signatures.len());
    let weights: Vec<f64> = sites
        .iter()
        .map(|s| s["weight"].as_f64().unwrap())
        .collect();
    assert!(
        weights.windows(2).all(|w| w[0] >= w[1]),
        "heaviest first: {weights:?}"
    );
    assert!(sites.iter().all(|s| {
        ["HANGS", "LAUNCHES", "DISK_WRITES"].contains(&s["diagnostic_type"].as_str().unwrap())
    }));
    let metrics = detail["metrics"].as_array().unwrap();
    let launch = metrics
        .iter()
        .find(|m| m["metric"] == "launchTime")
        .expect("launchTime");
    assert_eq!(launch["category"], "LAUNCH");
    let points = launch["datasets"][0]["points"].as_array().unwrap();
    assert!(!points.is_empty());
    let versions: Vec<&str> = detail["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        Some(versions[0]),
        app.latest_version().as_deref(),
        "newest first"
    );
    assert_eq!(detail["builds"].as_array().unwrap().len(), app.builds.len());

    let insights = get_json(&base, &format!("/api/v1/apps/{}/insights", app.app.id)).await;
    assert_eq!(insights["app_id"], app.app.id.as_str());
    let want = app
        .metrics
        .as_ref()
        .and_then(|m| m.insights.as_ref())
        .map_or(0, |i| i.regressions.len());
    assert_eq!(insights["regressions"].as_array().unwrap().len(), want);

    // Signatures of one build, heaviest first, through the build's link.
    let build = app.builds.iter().find(|b| !b.logs.is_empty()).unwrap();
    let link = detail["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == build.build.id.as_str())
        .unwrap()["links"]["signatures"]
        .as_str()
        .unwrap()
        .to_string();
    let sigs = get_json(&base, &link).await;
    let sigs = sigs["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), build.signatures.len());
    assert!(
        sigs.iter()
            .all(|s| s["build_id"] == build.build.id.as_str())
    );
    let w: Vec<f64> = sigs.iter().map(|s| s["weight"].as_f64().unwrap()).collect();
    assert!(w.windows(2).all(|x| x[0] >= x[1]));
    let by_number = get_json(
        &base,
        &format!(
            "/api/v1/signatures?app={}&build={}&type=hangs",
            app.app.id, build.build.number
        ),
    )
    .await;
    assert!(
        by_number["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["diagnostic_type"] == "HANGS" && s["build"] == build.build.number.as_str())
    );

    // One signature with logs: metadata, the logs, the Markdown report.
    let (sig_id, _) = &build.logs[0];
    let sig = sigs.iter().find(|s| s["id"] == sig_id.as_str()).unwrap();
    assert!(sig["logs"].as_u64().unwrap() >= 1);
    let d = get_json(&base, sig["links"]["self"].as_str().unwrap()).await;
    assert_eq!(d["id"], sig_id.as_str());
    assert_eq!(
        d["log_metadata"].as_array().unwrap().len() as u64,
        sig["logs"].as_u64().unwrap()
    );
    assert!(d["log_metadata"][0]["frames"].as_u64().unwrap() > 0);
    let logs = get_json(&base, sig["links"]["logs"].as_str().unwrap()).await;
    assert_eq!(logs["signature_id"], sig_id.as_str());
    assert!(logs["logs"][0]["productData"][0]["diagnosticLogs"][0]["callStackTree"].is_array());
    let (status, ct, md) = get(&base, sig["links"]["markdown"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/markdown; charset=utf-8");
    assert!(md.contains(sig["signature"].as_str().unwrap()), "{md}");
    assert!(
        md.contains("```text\n") && md.contains("▶"),
        "a tree with blame frames:\n{md}"
    );
    assert!(md.contains(&app.app.id));

    // Errors: one JSON line naming what to do.
    for path in [
        "/api/v1/apps/999",
        "/api/v1/apps/999/insights",
        "/api/v1/signatures/nope",
        "/api/v1/signatures/nope.md",
        "/api/v1/signatures/nope/logs",
        "/api/v1/nothing",
    ] {
        let (status, ct, body) = get(&base, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(ct, "application/json", "{path}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("/api/v1/") || path == "/api/v1/nothing",
            "{path}: {body}"
        );
    }
    r.shutdown().await;
}

/// Before the first refresh there is nothing to show: 503 with the reason.
#[tokio::test]
async fn before_the_first_refresh_the_api_answers_503() {
    let (_tx, rx) = tokio::sync::watch::channel::<Option<Arc<Snapshot>>>(None);
    let app: axum::Router = asc_perf_exporter::explorer::api(rx);
    for path in ["/apps", "/signatures", "/apps/1", "/signatures/x.md"] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("first refresh"),
            "{v}"
        );
    }
}
