//! The explorer's pages and SVGs (issue 14): they load from the exporter
//! on the simulator, and hostile strings (app names, symbols, file names,
//! Apple's texts) come out escaped on every page, in the JSON and in the
//! SVGs, which stay well-formed XML.

use std::sync::Arc;

use asc_perf_exporter::asc::BuildInfo;
use asc_perf_exporter::refresh::Snapshot;
use asc_perf_exporter::refresh::snapshot::{AppRef, AppSnapshot, BuildSnapshot};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::exporter::{config, next_snapshot, sim_env, start};
use serde_json::json;
use tower::ServiceExt;

mod common;

const EVIL: &str = "<script>alert(\"x\")</script>&'\u{7}";
const EVIL_IMG: &str = "<img src=x onerror=alert(1)>";
const EVIL_SVG: &str = "\"><svg onload=alert(2)>";

fn hostile_snapshot() -> Snapshot {
    let metrics = json!({
        "insights": {"regressions": [{"metric": EVIL_SVG, "metricCategory": EVIL, "latestVersion": "2.0<b>", "highImpact": true,
            "summaryString": EVIL_IMG, "populations": [{"device": EVIL, "percentile": "percentile.fifty", "deltaPercentage": 12.5, "summaryString": EVIL}]}]},
        "productData": [{"platform": EVIL, "metricCategories": [{"identifier": EVIL, "metrics": [{
            "identifier": EVIL_SVG, "unit": {"identifier": EVIL, "displayName": EVIL},
            "goalKeys": [{"goalKey": EVIL, "lowerBound": 1, "upperBound": 2}],
            "datasets": [
                {"filterCriteria": {"percentile": "percentile.fifty", "device": "all_iphones", "deviceMarketingName": EVIL},
                 "points": [{"version": "1.0<b>", "value": 1.5, "errorMargin": 0.1, "goal": EVIL}, {"version": "2.0<b>", "value": 2.5}],
                 "recommendedMetricGoal": {"value": 1.0}},
                {"filterCriteria": {"percentile": "percentile.ninety", "device": "all_iphones"},
                 "points": [{"version": "1.0<b>", "value": 3.5}, {"version": "2.0<b>", "value": 4.5}]}
            ]}]}]}]
    });
    let overview = json!({
        "categories": [],
        "signatures": {"topHangPoint": [{"signatureId": "sig<1>", "signature": EVIL_IMG, "count": 3, "weight": 0.5,
            "sourceFile": EVIL_SVG, "lineNumber": 7, "trendInfo": EVIL,
            "metricsSummary": {"referenceVersions": [{"version": "1.0<b>", "value": 0.2}]}}],
            "topLaunchPoint": [], "topDiskWritePoint": []}
    });
    let signature = json!({"type": "diagnosticSignatures", "id": "sig<1>", "attributes": {
        "diagnosticType": EVIL, "signature": EVIL_IMG, "weight": 0.61,
        "insight": {"insightType": EVIL, "direction": EVIL, "referenceVersions": [{"version": "1.0<b>", "value": 0.3}]}}});
    let frame = |name: &str, blame: bool, sub: serde_json::Value| {
        json!({
        "sampleCount": 5, "binaryName": EVIL, "symbolName": name, "offsetIntoSymbol": "4",
        "fileName": EVIL_SVG, "lineNumber": "12", "isBlameFrame": blame, "subFrames": sub})
    };
    let logs = json!({"version": "1.0", "productData": [{"signatureId": "sig<1>",
    "diagnosticInsights": [{"insightsCategory": EVIL, "insightsString": EVIL_IMG, "insightsURL": "javascript:alert(3)"}],
    "diagnosticLogs": [{"diagnosticMetaData": {"appVersion": EVIL, "bundleId": EVIL, "event": EVIL_IMG, "osVersion": EVIL,
        "deviceType": EVIL_SVG, "eventDetail": EVIL, "buildVersion": "203"},
        "callStackTree": [{"callStackPerThread": true, "callStacks": [{"callStackRootFrames": [
            frame(EVIL, false, json!([frame(EVIL_IMG, true, json!([])), frame("a;b</details>", false, json!([]))]))
        ]}]}]}]}]});
    Snapshot {
        apps: vec![Arc::new(AppSnapshot {
            app: AppRef {
                id: "1<2>".into(),
                name: EVIL.into(),
                bundle_id: EVIL_SVG.into(),
                account: "default".into(),
            },
            metrics: Some(serde_json::from_value(metrics).unwrap()),
            overview: Some(serde_json::from_value(overview).unwrap()),
            builds: vec![BuildSnapshot {
                build: BuildInfo {
                    id: "b<1>".into(),
                    number: EVIL.into(),
                    version: Some("2.0<b>".into()),
                    uploaded_date: Some(EVIL.into()),
                    processing_state: Some(EVIL_IMG.into()),
                    ..Default::default()
                },
                metrics: None,
                signatures: vec![serde_json::from_value(signature).unwrap()],
                logs: vec![("sig<1>".into(), serde_json::from_value(logs).unwrap())],
            }],
            last_success_unix: Some(1_700_000_000.0),
            last_attempt_failed: true,
            last_error: Some(EVIL.into()),
        })],
        ..Default::default()
    }
}

async fn fetch(app: &axum::Router, path: &str) -> (StatusCode, String, Vec<u8>) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, ct, body.to_vec())
}

/// Well-formed XML (the flame graph, each inline chart).
fn assert_xml(what: &str, xml: &str) {
    let mut r = quick_xml::Reader::from_str(xml);
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "{what} is not well-formed XML at {}: {e}",
                r.buffer_position()
            ),
        }
    }
}

fn assert_escaped(what: &str, text: &str) {
    for raw in [
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "</details><script",
        "href=\"javascript",
        "\u{7}",
    ] {
        assert!(!text.contains(raw), "{what} holds raw {raw:?}");
    }
}

#[tokio::test]
async fn hostile_strings_are_escaped_on_every_page_and_in_the_svgs() {
    let (_tx, rx) = tokio::sync::watch::channel(Some(Arc::new(hostile_snapshot())));
    let pages: axum::Router = asc_perf_exporter::explorer::pages(rx.clone());
    let api: axum::Router =
        axum::Router::new().nest("/api/v1", asc_perf_exporter::explorer::api(rx));
    let app_id = "1%3C2%3E";
    let sig = "sig%3C1%3E";
    for path in [
        format!("/apps/{app_id}"),
        "/diagnostics".to_string(),
        format!("/diagnostics?app={app_id}"),
        format!("/diagnostics/{sig}"),
    ] {
        let (status, ct, body) = fetch(&pages, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(ct, "text/html; charset=utf-8");
        let html = String::from_utf8(body).unwrap();
        assert_escaped(&path, &html);
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
            "{path}: the name is there, escaped"
        );
        let scripts = html.matches("<script>").count();
        assert_eq!(
            scripts,
            usize::from(path.starts_with("/diagnostics/")),
            "{path}: only the copy button's script"
        );
        for (i, svg) in html.split("<svg ").skip(1).enumerate() {
            let end = svg.find("</svg>").expect("closed svg") + "</svg>".len();
            assert_xml(
                &format!("{path} chart {i}"),
                &format!("<svg {}", &svg[..end]),
            );
        }
    }
    let (status, ct, flame) = fetch(&pages, &format!("/diagnostics/{sig}/flamegraph.svg")).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/svg+xml"));
    let flame = String::from_utf8(flame).unwrap();
    assert_escaped("flame graph", &flame);
    assert_xml("flame graph", &flame);
    assert!(
        flame.contains("&lt;img src=x"),
        "frames are named in the flame graph"
    );

    for path in [
        "/api/v1/apps".to_string(),
        format!("/api/v1/apps/{app_id}"),
        format!("/api/v1/apps/{app_id}/insights"),
        "/api/v1/signatures".to_string(),
        format!("/api/v1/signatures/{sig}"),
        format!("/api/v1/signatures/{sig}/logs"),
    ] {
        let (status, _, body) = fetch(&api, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v.to_string().contains("alert(1)"),
            "{path}: JSON carries the text as data"
        );
    }
    let (_, _, md) = fetch(&api, &format!("/api/v1/signatures/{sig}.md")).await;
    let md = String::from_utf8(md).unwrap();
    assert!(
        md.contains(&format!("`{EVIL_IMG}`")),
        "Apple's strings are code spans:\n{md}"
    );

    let landing = asc_perf_exporter::server::landing::render(
        &asc_perf_exporter::server::landing::LandingConfig::exporter("/metrics"),
        Some(&hostile_snapshot()),
        "ok",
    );
    assert_escaped("landing page", &landing);
    assert!(landing.contains("href=\"/apps/1%3C2%3E\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_load_from_the_exporter_on_the_simulator() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |c| c.diagnostics.logs = true)).await;
    let snap = next_snapshot(&mut r).await;
    let base = format!("http://{}", r.addr);
    let get = |path: String| {
        let url = format!("{base}{path}");
        async move {
            let resp = reqwest::get(&url).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, landing) = get("/".into()).await;
    assert_eq!(status, 200);
    for a in &snap.apps {
        assert!(
            landing.contains(&format!("href=\"/apps/{}\"", a.app.id)),
            "{}",
            a.app.id
        );
        let (status, page) = get(format!("/apps/{}", a.app.id)).await;
        assert_eq!(status, 200, "{}", a.app.id);
        assert!(page.contains("<main>") && page.contains("Metrics across versions"));
        if a.metrics.as_ref().is_some_and(|m| m.has_data()) {
            assert!(page.contains("<svg "), "{}: charts", a.app.id);
        }
    }
    let (status, diag) = get("/diagnostics".into()).await;
    assert_eq!(status, 200);
    let (_, b, sig) = snap
        .apps
        .iter()
        .flat_map(|a| a.builds.iter().map(move |b| (a, b)))
        .find_map(|(a, b)| b.logs.first().map(|(id, _)| (a, b, id.clone())))
        .expect("a signature with logs");
    assert!(diag.contains(&format!("href=\"/diagnostics/{sig}\"")));
    let (status, page) = get(format!("/diagnostics/{sig}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<details") && page.contains("class=blame"),
        "a tree with blame frames"
    );
    assert!(page.contains(&b.build.number));
    let (status, flame) = get(format!("/diagnostics/{sig}/flamegraph.svg")).await;
    assert_eq!(status, 200);
    assert_xml("flame graph", &flame);
    let (status, _) = get("/diagnostics/nope".into()).await;
    assert_eq!(status, 404);
    let (status, _) = get("/apps/nope".into()).await;
    assert_eq!(status, 404);
    r.shutdown().await;
}
