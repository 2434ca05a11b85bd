//! API 4.5's performance overview: the model's verdicts (lenient where
//! Apple is inconsistent, strict on the keys that carry data), the client
//! over real HTTP, and the simulator's overview against its own
//! perfPowerMetrics and diagnostic signatures in every scenario.

mod common;

use std::collections::BTreeMap;

use asc_perf_exporter::asc::api::routes;
use asc_perf_exporter::asc::client::OverviewFilter;
use asc_perf_exporter::asc::model::{
    CallSiteKind, CallStackNode, Dataset, XcodeMetrics, XcodeOverview, decode,
};
use asc_perf_exporter::asc::{AscError, MetricsFilter};
use asc_perf_exporter::sim::{Drift, Fault, FaultKind, Fixture, FixtureRoute, Scenario};
use common::*;
use serde_json::{Value, json};

fn overview(doc: &Value) -> Result<XcodeOverview, decode::DecodeError> {
    decode::json(doc.to_string().as_bytes())
}

fn empty_signatures() -> Value {
    json!({"topHangPoint": [], "topLaunchPoint": [], "topDiskWritePoint": []})
}

#[test]
fn the_constructed_example_decodes_and_serializes_in_the_live_shape() {
    let bytes = std::fs::read(shared(
        "asc/examples/constructed_performanceOverviews_example.json",
    ))
    .unwrap();
    let o: XcodeOverview = decode::json(&bytes).unwrap();
    assert!(o.has_data());
    assert_eq!(o.platform(), "iOS");
    assert_eq!(o.latest_version(), Some("3.2"));
    let ids: Vec<&str> = o.categories.iter().map(|c| c.id()).collect();
    assert_eq!(ids, ["LAUNCH", "HANG"]);
    let (cat, resume) = o.find_section("RESUMETIME").unwrap();
    assert_eq!((cat.id(), resume.sort_order), ("LAUNCH", Some(2)));
    assert_eq!(resume.relevance_score, Some(0.41));
    // §7: the spec's string referenceVersions and object breakdown.
    let reg = &o.insights.as_ref().unwrap().regressions[0];
    assert_eq!(reg.reference_versions, ["3.0, 3.1"]);
    let (_, launch) = o.find_section("launchTime").unwrap();
    let last = launch.datasets[0].points.last().unwrap();
    assert_eq!(last.percentage_breakdown.len(), 1);
    assert_eq!(last.percentage_breakdown[0].value, Some(64.0));
    assert_eq!(
        launch.datasets[0]
            .recommended_metric_goal
            .as_ref()
            .unwrap()
            .value,
        Some(1000.0)
    );
    let sites: Vec<_> = o.signatures.iter().collect();
    assert_eq!(sites.len(), 1);
    let (kind, hang) = sites[0];
    assert_eq!(kind.diagnostic_type(), "HANGS");
    assert_eq!(hang.location().as_deref(), Some("ForecastCache.m:88"));
    assert_eq!(
        (hang.count, hang.weight_fraction()),
        (Some(148), Some(0.37))
    );
    assert_eq!(hang.trend(), "UP");
    let refs: Vec<(Option<&str>, Option<f64>)> = hang
        .reference_versions()
        .iter()
        .map(|r| (r.version.as_deref(), r.value))
        .collect();
    assert_eq!(refs, [(Some("3.0"), Some(0.21)), (Some("3.1"), Some(0.29))]);

    // Serialized, it has the live API's arrays, and reads back the same.
    let v = serde_json::to_value(&o).unwrap();
    assert!(v["insights"]["regressions"][0]["referenceVersions"].is_array());
    assert!(
        v["categories"][0]["sections"][0]["datasets"][0]["points"][2]["percentageBreakdown"]
            .is_array()
    );
    assert_eq!(overview(&v).unwrap(), o);

    // The metrics view joins the same way perfPowerMetrics does.
    let m: XcodeMetrics = o.to_xcode_metrics();
    assert!(m.has_data());
    assert_eq!(m.product_data[0].platform.as_deref(), Some("iOS"));
    let (c, metric) = m.find_metric("resumeTime").unwrap();
    assert_eq!((c.id(), metric.unit_display()), ("LAUNCH", "ms"));
    assert_eq!(m.insights, o.insights);
}

#[test]
fn lenient_where_apple_is_inconsistent() {
    let doc = json!({
        "version": "1.1.0",
        "brandNewTopLevel": {"x": [1, 2]},
        "appMetadata": {"bundleId": "b", "platform": "visionOS", "newField": true},
        "insights": {"regressions": [{"metric": "frameRate", "metricCategory": "RESPONSIVENESS",
                                      "referenceVersions": ["1.0", "1.1"], "populations": [{"device": "all_vision", "percentile": "percentile.fifty", "latestVersionValue": 50}]}],
                     "trendingUp": null},
        "categories": [{
            "identifier": "RESPONSIVENESS", "displayName": "Responsiveness", "extra": 1,
            "sections": [{
                "identifier": "frameRate", "relevanceScore": 0.5, "sortOrder": 1.0,
                "unit": {"identifier": "frames.per.second", "displayName": "fps"},
                "datasets": [{"filterCriteria": {"device": "all_vision", "percentile": "percentile.fifty"},
                              "points": [{"version": "1.0", "value": 55},
                                         {"version": "1.2", "value": 50, "percentageBreakdown": [
                                             {"value": 60, "subSystemLabel": "GPU"}, {"value": 40, "subSystemLabel": "CPU"}]}],
                              "newDatasetField": "x"}]
            }]
        }],
        "signatures": {
            "topHangPoint": [{"signature": "A: f + 1", "sourceFile": "A.swift", "count": 12.0, "weight": 0.25,
                              "trendInfo": "SIDEWAYS", "metricsSummary": {"referenceVersions": {"version": "1.1", "value": 0.2}},
                              "futureField": {"a": [[]]}}],
            "topLaunchPoint": [{"signature": "A: g + 2"}],
            "topDiskWritePoint": [],
            "topMemoryPoint": [{"signature": "ignored"}]
        },
        "telemetryIdentifier": "t"
    });
    let o = overview(&doc).unwrap();
    assert!(o.has_data());
    assert_eq!(o.platform(), "visionOS");
    let c = &o.categories[0];
    assert_eq!((c.id(), c.name()), ("RESPONSIVENESS", "Responsiveness"));
    let s = &c.sections[0];
    assert_eq!(
        (s.sort_order, s.unit_id(), s.unit_display()),
        (Some(1), "frames.per.second", "fps")
    );
    assert_eq!(s.datasets[0].points[1].percentage_breakdown.len(), 2);
    assert_eq!(s.datasets[0].points[0].goal, None);
    let hang = &o.signatures.top_hang_point[0];
    // No lineNumber: the location is the file alone.
    assert_eq!(hang.line_number, None);
    assert_eq!(hang.location().as_deref(), Some("A.swift"));
    assert_eq!((hang.count, hang.trend()), (Some(12), "SIDEWAYS"));
    assert_eq!(hang.reference_versions().len(), 1);
    // A call site with nothing but its signature.
    let launch = &o.signatures.top_launch_point[0];
    assert_eq!(
        (launch.location(), launch.weight_fraction(), launch.trend()),
        (None, None, "")
    );
    // The free category and its insight join like any other.
    let m = o.to_xcode_metrics();
    assert_eq!(m.find_metric("frameRate").unwrap().0.id(), "RESPONSIVENESS");
    assert_eq!(o.all_insights().count(), 1);
}

/// Documents the overview decoder must refuse, and the JSON path it names.
pub fn drifted_overviews() -> Vec<(&'static str, Value, &'static str)> {
    let with =
        |categories: Value| json!({"categories": categories, "signatures": empty_signatures()});
    vec![
        (
            "categories missing",
            json!({"insights": {"regressions": [], "trendingUp": []}, "signatures": empty_signatures()}),
            ".",
        ),
        (
            "categories null",
            json!({"categories": null, "signatures": empty_signatures()}),
            "categories",
        ),
        (
            "sections renamed",
            with(
                json!([{"identifier": "LAUNCH", "sections": []}, {"identifier": "HANG", "sectionsV2": []}]),
            ),
            "categories[1]",
        ),
        (
            "datasets missing",
            with(json!([{"identifier": "LAUNCH", "sections": [{"identifier": "launchTime"}]}])),
            "categories[0].sections[0]",
        ),
        (
            "points renamed",
            with(json!([{"sections": [{"datasets": [{"filterCriteria": {}, "dataPoints": []}]}]}])),
            "categories[0].sections[0].datasets[0]",
        ),
        (
            "value retyped",
            with(
                json!([{"sections": [{"datasets": [{"points": [{"version": "1.0", "value": "12"}]}]}]}]),
            ),
            "categories[0].sections[0].datasets[0].points[0].value",
        ),
        ("signatures missing", json!({"categories": []}), "."),
        (
            "a call-site list missing",
            json!({"categories": [], "signatures": {"topHangPoint": [], "topLaunchPoint": []}}),
            "signatures",
        ),
        (
            "a call-site list null",
            json!({"categories": [], "signatures": {"topHangPoint": null, "topLaunchPoint": [], "topDiskWritePoint": []}}),
            "signatures.topHangPoint",
        ),
        (
            "weight retyped",
            json!({"categories": [], "signatures": {"topHangPoint": [{"weight": "0.5"}], "topLaunchPoint": [], "topDiskWritePoint": []}}),
            "signatures.topHangPoint[0].weight",
        ),
    ]
}

#[tokio::test]
async fn missing_data_keys_are_errors_at_their_path_in_the_model_and_the_client() {
    let cases = drifted_overviews();
    let env = start(|c| {
        for (i, (_, doc, _)) in cases.iter().enumerate() {
            c.fixtures.push(Fixture::new(
                FixtureRoute::AppOverview,
                format!("{}", 9200 + i),
                doc.clone(),
            ));
        }
    })
    .await;
    let client = env.client();
    for (i, (what, doc, path)) in cases.iter().enumerate() {
        let e = overview(doc).expect_err(what);
        assert_eq!(&e.path, path, "{what}: {e}");
        let got = client
            .app_overview(&format!("{}", 9200 + i), &OverviewFilter::default())
            .await
            .expect_err(what);
        assert!(matches!(got, AscError::Decode { .. }), "{what}: {got}");
        let msg = got.to_string();
        assert!(
            msg.contains(routes::APP_OVERVIEW) && msg.contains(&format!("at JSON path `{path}`:")),
            "{what}: {msg}"
        );
    }
    let decode_errors: BTreeMap<String, u64> = client.stats().decode_errors().into_iter().collect();
    assert_eq!(decode_errors[routes::APP_OVERVIEW], cases.len() as u64);
    assert_eq!(decode_errors[routes::APP_METRICS], 0);
}

#[tokio::test]
async fn an_empty_overview_and_a_404_are_not_measured() {
    let env = start(|c| {
        c.fixtures.push(Fixture::new(
            FixtureRoute::AppOverview,
            "9300",
            json!({"version": "1.0.0", "categories": [], "signatures": empty_signatures(),
                   "insights": {"regressions": [], "trendingUp": []}}),
        ));
        // An app known only through its metrics: its overview is empty.
        c.fixtures.push(Fixture::new(
            FixtureRoute::AppMetrics,
            "9301",
            json!({"productData": [], "version": "1.0.0"}),
        ));
    })
    .await;
    let client = env.client();
    for id in ["9300", "9301"] {
        let o = client
            .app_overview(id, &OverviewFilter::default())
            .await
            .unwrap()
            .value;
        assert!(!o.has_data(), "{id}");
        assert!(o.signatures.is_empty() && o.categories.is_empty());
        assert!(!o.to_xcode_metrics().has_data());
    }
    // A removed app: Apple's 404, which the caller reads as "not measured"
    // (never as zeros).
    let app = env.handle.control.app_ids()[0].clone();
    env.handle.control.remove_app(&app);
    let e = client
        .app_overview(&app, &OverviewFilter::default())
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.code(), Some("PATH_ERROR"));
}

#[tokio::test]
async fn the_route_speaks_apple_s_protocol() {
    let env = start(|_| {}).await;
    let app = env.handle.control.app_ids()[1].clone();
    let path = format!("/v1/apps/{app}/performanceOverviews");
    let r = env.get(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/vnd.apple.xcode-overview+json");
    assert!(r.header("x-rate-limit").is_some());
    let body = r.json();
    assert_eq!(body["appMetadata"]["appId"], app.as_str());
    assert!(body["signatures"]["topHangPoint"].is_array());
    // filter[deviceType] is the only parameter.
    for bad in ["limit=5", "filter[metricType]=HANG", "filter[platform]=IOS"] {
        let r = env.get(&format!("{path}?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error()["code"], "PARAMETER_ERROR.ILLEGAL", "{bad}");
    }
    let r = env.get("/v1/apps/999/performanceOverviews").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["code"], "PATH_ERROR");
    let r = env.get_with(&path, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error()["code"], "NOT_AUTHORIZED");
    let counted = env.handle.control.requests_by_route()[routes::APP_OVERVIEW];
    assert_eq!(counted, 6);

    // Faults apply as to every route: a 503 is retried, drift is a decode
    // error naming the key's path.
    let client = env.client();
    env.handle.control.fail(&path, 503, Some(2));
    let o = client
        .app_overview(&app, &OverviewFilter::default())
        .await
        .unwrap();
    assert!(o.value.has_data());
    assert_eq!(client.stats().retries(), 2);
    env.handle
        .control
        .inject(Fault::new(&path, FaultKind::Drift(Drift::rename("sections", "groups"))).times(1))
        .unwrap();
    let e = client
        .app_overview(&app, &OverviewFilter::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("at JSON path `categories[0]`: missing field `sections`"),
        "{e}"
    );
    env.handle
        .control
        .inject(Fault::new(&path, FaultKind::Empty200).times(1))
        .unwrap();
    let e = client
        .app_overview(&app, &OverviewFilter::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("the body is empty"), "{e}");
    assert!(
        client
            .stats()
            .requests()
            .iter()
            .any(|((route, status), n)| route == routes::APP_OVERVIEW
                && status == "503"
                && *n == 2)
    );
}

/// `(metric, device, percentile) -> [(version, value, error margin, breakdown)]`.
type Series = BTreeMap<(String, String, String), Vec<(String, f64, Option<f64>, usize)>>;

fn series(m: &XcodeMetrics) -> Series {
    let mut out = Series::new();
    for (_, _, metric) in m.metrics() {
        for d in &metric.datasets {
            out.insert(key(metric.id(), d), points(d));
        }
    }
    out
}

fn key(metric: &str, d: &Dataset) -> (String, String, String) {
    (
        metric.to_string(),
        d.filter_criteria.device().to_string(),
        d.filter_criteria.percentile().to_string(),
    )
}

fn points(d: &Dataset) -> Vec<(String, f64, Option<f64>, usize)> {
    d.points
        .iter()
        .map(|p| {
            (
                p.version.as_deref().unwrap_or_default().to_string(),
                p.value.unwrap(),
                p.error_margin,
                p.percentage_breakdown.len(),
            )
        })
        .collect()
}

/// `(fileName, lineNumber)` of the blame frames of a call-stack tree.
fn blame_frames(roots: &[CallStackNode]) -> Vec<(Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut stack: Vec<&CallStackNode> = roots.iter().collect();
    while let Some(f) = stack.pop() {
        if f.is_blame_frame == Some(true) {
            out.push((f.file_name.clone(), f.line_number.clone()));
        }
        stack.extend(f.sub_frames.iter());
    }
    out
}

/// The overview of every app against the same app's perfPowerMetrics and
/// its latest build's signatures and logs.
async fn check_agreement(env: &Env, scenario: Scenario) {
    env.handle.control.set_scenario(scenario);
    let client = env.client();
    for app in env.handle.control.app_ids() {
        let o = client
            .app_overview(&app, &OverviewFilter::default())
            .await
            .unwrap()
            .value;
        let m = client
            .app_metrics(&app, &MetricsFilter::default())
            .await
            .unwrap()
            .value;
        assert!(o.has_data(), "{app}");
        // Same values per metric, device, percentile and version; same
        // units, recommended goals and insights; no per-point goal.
        let om = o.to_xcode_metrics();
        assert_eq!(series(&om), series(&m), "{scenario:?} {app}");
        for (_, c, metric) in m.metrics() {
            let (oc, s) = o.find_section(metric.id()).unwrap();
            assert_eq!(oc.id(), c.id());
            assert_eq!(s.unit, metric.unit);
            for (d, od) in metric.datasets.iter().zip(&s.datasets) {
                assert_eq!(d.recommended_metric_goal, od.recommended_metric_goal);
                assert!(od.points.iter().all(|p| p.goal.is_none()));
            }
        }
        assert_eq!(o.insights, m.insights, "{scenario:?} {app}");
        let latest = m
            .metrics()
            .flat_map(|(_, _, x)| &x.datasets)
            .filter_map(|d| d.points.last()?.version.as_deref().map(str::to_string))
            .next();
        assert_eq!(o.latest_version().map(str::to_string), latest);
        // Relevance in (0, 1]; sortOrder ranks each category by it.
        for c in &o.categories {
            assert!(!c.name().is_empty() && c.name() != c.id(), "{}", c.id());
            for (n, s) in c.sections.iter().enumerate() {
                let r = s.relevance_score.unwrap();
                assert!(r > 0.0 && r <= 1.0, "{r}");
                assert_eq!(s.sort_order, Some(n as i64 + 1));
                if n > 0 {
                    assert!(c.sections[n - 1].relevance_score.unwrap() >= r);
                }
            }
        }
        // A metric with a regression is more relevant than when quiet.
        for insight in &m.insights.as_ref().unwrap().regressions {
            let (_, s) = o.find_section(insight.metric.as_deref().unwrap()).unwrap();
            assert!(s.relevance_score.unwrap() >= 0.4, "{insight:?}");
        }

        // The top call sites: the heaviest signatures of the latest build.
        let build = client.list_builds(&app, 1).await.unwrap().remove(0);
        assert_eq!(build.version.as_deref(), o.latest_version());
        for kind in CallSiteKind::ALL {
            let sigs = client
                .diagnostic_signatures(&build.id, &[kind.diagnostic_type().to_string()], Some(3))
                .await
                .unwrap();
            let sites = o.signatures.list(kind);
            assert_eq!(sites.len(), sigs.len(), "{kind:?}");
            for (site, sig) in sites.iter().zip(&sigs) {
                assert_eq!(site.id(), sig.id);
                assert_eq!(site.signature(), sig.signature());
                assert_eq!(site.weight, sig.attributes.weight);
                assert!(site.count.unwrap() >= 1);
                let insight = sig.attributes.insight.as_ref();
                assert_eq!(
                    site.trend(),
                    insight
                        .and_then(|i| i.direction.as_deref())
                        .unwrap_or("UNDEFINED")
                );
                let refs = site.reference_versions();
                assert!(!refs.is_empty() && refs.len() <= 3);
                if let Some(i) = insight {
                    assert_eq!(refs, i.reference_versions.as_slice());
                }
                // file:line is the blame frame of the signature's first log.
                let logs = client
                    .diagnostic_logs(&sig.id, Some(1))
                    .await
                    .unwrap()
                    .value;
                let frames = blame_frames(
                    &logs.product_data[0].diagnostic_logs[0].call_stack_tree[0].call_stacks[0]
                        .call_stack_root_frames,
                );
                assert_eq!(frames.len(), 1, "{kind:?}");
                let (file, line) = &frames[0];
                assert_eq!(site.source_file, *file);
                match site.line_number {
                    Some(l) => assert_eq!(Some(l.to_string()), *line),
                    None => assert!(site.signature().contains(": static "), "{site:?}"),
                }
            }
        }
    }
}

#[tokio::test]
async fn the_simulated_overview_agrees_with_its_metrics_and_signatures_in_every_scenario() {
    let env = start(|_| {}).await;
    for scenario in [Scenario::Baseline, Scenario::Mixed, Scenario::Regression] {
        check_agreement(&env, scenario).await;
    }
}

#[tokio::test]
async fn the_device_filter_matches_perf_power_metrics_with_the_same_filter() {
    let env = start(|_| {}).await;
    let client = env.client();
    let app = env.handle.control.app_ids()[0].clone();
    // (Not a model id: the simulator's `iPhone15,2` has a comma, which a
    // comma-joined filter cannot carry.)
    let devices = vec!["all_ipads".to_string(), "all_iphones".to_string()];
    let o = client
        .app_overview(
            &app,
            &OverviewFilter {
                device_types: devices.clone(),
            },
        )
        .await
        .unwrap()
        .value;
    let m = client
        .app_metrics(
            &app,
            &MetricsFilter {
                device_types: devices.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .value;
    let got = series(&o.to_xcode_metrics());
    assert_eq!(got, series(&m));
    let mut seen: Vec<&str> = got.keys().map(|(_, d, _)| d.as_str()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["all_ipads", "all_iphones"]);
    // Call sites have no device: the filter leaves them alone.
    let all = client
        .app_overview(&app, &OverviewFilter::default())
        .await
        .unwrap()
        .value;
    assert_eq!(o.signatures, all.signatures);
}

#[tokio::test]
async fn the_regression_scenario_moves_the_overview() {
    let env = start(|_| {}).await;
    let client = env.client();
    let app = env.handle.control.app_ids()[0].clone();
    let fetch = || async {
        client
            .app_overview(&app, &OverviewFilter::default())
            .await
            .unwrap()
            .value
    };
    let before = fetch().await;
    env.handle.control.set_scenario(Scenario::Regression);
    let after = fetch().await;
    assert_ne!(
        after.latest_version(),
        before.latest_version(),
        "a new version shipped"
    );
    let latest = |o: &XcodeOverview, metric: &str| {
        let (_, s) = o.find_section(metric).unwrap();
        let d = s
            .datasets
            .iter()
            .find(|d| {
                d.filter_criteria.device() == "all_iphones"
                    && d.filter_criteria.percentile() == "percentile.fifty"
            })
            .unwrap();
        (
            d.points.last().unwrap().value.unwrap(),
            s.relevance_score.unwrap(),
        )
    };
    for (metric, rise) in [("launchTime", 1.45), ("hangRate", 1.7)] {
        let (v0, r0) = latest(&before, metric);
        let (v1, r1) = latest(&after, metric);
        assert!(v1 > v0 * (rise - 0.1), "{metric}: {v0} -> {v1}");
        assert!(r1 > r0, "{metric} relevance {r0} -> {r1}");
    }
    let regressed: Vec<&str> = after
        .insights
        .as_ref()
        .unwrap()
        .regressions
        .iter()
        .filter(|i| i.high_impact == Some(true))
        .filter_map(|i| i.metric.as_deref())
        .collect();
    assert!(
        regressed.contains(&"launchTime") && regressed.contains(&"hangRate"),
        "{regressed:?}"
    );
    assert!(
        before.all_insights().next().is_none(),
        "the baseline is quiet"
    );
    // The top hang and launch call sites rose across versions; in the
    // baseline no call site rises.
    for kind in [CallSiteKind::Hang, CallSiteKind::Launch] {
        let top = &after.signatures.list(kind)[0];
        assert_eq!(top.trend(), "UP", "{kind:?}");
        let w = top.weight.unwrap();
        assert!(
            top.reference_versions()
                .iter()
                .all(|r| r.value.unwrap() < w / 1.3),
            "{top:?}"
        );
    }
    assert!(before.signatures.iter().all(|(_, s)| s.trend() != "UP"));
}
