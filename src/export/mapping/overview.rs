//! The performance overview's families (API 4.5; `CONTRACT.md`
//! "Performance overview", `docs/metrics.md`):
//!
//! - the top hang, launch and disk-write call sites: their weight
//!   (`asc_top_signature_weight_ratio`), occurrences
//!   (`asc_top_signature_occurrences`), per-version weight
//!   (`asc_top_signature_version_weight_ratio`) and an `_info` series with
//!   the signature, source file, line and trend;
//! - each section's relevance score and sort order;
//! - the overview's datasets through the perfPowerMetrics value-family
//!   rules, for every (metric, device, percentile, version) perfPowerMetrics
//!   does not already give, and its insights where perfPowerMetrics has no
//!   insight of the same kind on the same metric and latest version.
//!
//! `asc_top_signature_count` (CONTRACT.md's name) is exported as
//! `asc_top_signature_occurrences`: a gauge ending in `_count` is what
//! `promtool check metrics` rejects ("non-histogram and non-summary metrics
//! should not have `_count` suffix"), the rule the unit names follow too.

use crate::asc::model::{
    MetricsInsight, XcodeMetrics, XcodeOverview, drop_given, weight_as_fraction,
};

use super::{Builder, Kind, Labels, Scope, insight_series, metrics_series, n};
use crate::export::names::*;

/// Every overview family of one app.
pub(super) fn overview_series(
    b: &mut Builder,
    app: &Labels,
    metrics: Option<&XcodeMetrics>,
    o: &XcodeOverview,
) {
    call_sites(b, app, o);
    sections(b, app, o);
    let mut extra = o.to_xcode_metrics();
    // Insights first: their units are looked up in the overview's metrics,
    // all of them, before the datasets perfPowerMetrics gives are dropped.
    extra.insights = extra.insights.take().map(|mut i| {
        let given = metrics.and_then(|m| m.insights.as_ref());
        let known =
            |list: &[MetricsInsight], x: &MetricsInsight| list.iter().any(|y| same_insight(x, y));
        if let Some(g) = given {
            i.regressions.retain(|x| !known(&g.regressions, x));
            i.trending_up.retain(|x| !known(&g.trending_up, x));
        }
        i
    });
    insight_series(b, app, Scope::App, &extra);
    if let Some(m) = metrics {
        drop_given_metrics(&mut extra, m);
    }
    metrics_series(b, app, Scope::App, &extra);
}

/// One insight in both documents: the same metric (case aside) and latest
/// version.
fn same_insight(a: &MetricsInsight, b: &MetricsInsight) -> bool {
    let metric = |i: &MetricsInsight| i.metric.as_deref().unwrap_or("").to_ascii_lowercase();
    metric(a) == metric(b) && a.latest_version == b.latest_version
}

/// [`drop_given`] on the converted document, then what is left empty.
fn drop_given_metrics(extra: &mut XcodeMetrics, given: &XcodeMetrics) {
    drop_given(
        extra
            .product_data
            .iter_mut()
            .flat_map(|p| p.metric_categories.iter_mut())
            .flat_map(|c| c.metrics.iter_mut())
            .map(|m| (m.identifier.as_deref().unwrap_or(""), &mut m.datasets)),
        given,
    );
    for pd in &mut extra.product_data {
        for c in &mut pd.metric_categories {
            c.metrics.retain(|m| !m.datasets.is_empty());
        }
        pd.metric_categories.retain(|c| !c.metrics.is_empty());
    }
    extra
        .product_data
        .retain(|p| !p.metric_categories.is_empty());
}

fn call_sites(b: &mut Builder, app: &Labels, o: &XcodeOverview) {
    for (kind, sig) in o.signatures.iter() {
        let mut labels = app.clone();
        labels.push(b.label(n::DIAGNOSTIC_TYPE, kind.diagnostic_type()));
        labels.push(b.label(n::SIGNATURE_ID, sig.id()));
        if let Some(w) = sig.weight_fraction() {
            b.fixed(
                TOP_SIGNATURE_WEIGHT,
                Kind::Gauge,
                "Weight of a top call site of the performance overview (hangs, launches, disk writes) as a fraction of the app's total of that type.",
                &labels,
                w,
            );
        }
        if let Some(count) = sig.count {
            b.fixed(
                TOP_SIGNATURE_OCCURRENCES,
                Kind::Gauge,
                "Occurrences Apple counted for a top call site of the performance overview (its `count`).",
                &labels,
                count as f64,
            );
        }
        let mut info = labels.clone();
        info.push(b.label(n::SIGNATURE, sig.signature()));
        info.push(b.label(n::SOURCE_FILE, sig.source_file.as_deref().unwrap_or("")));
        let line = sig.line_number.map(|l| l.to_string()).unwrap_or_default();
        info.push(b.label(n::LINE, &line));
        info.push(b.label(n::TREND, sig.trend()));
        b.fixed(
            TOP_SIGNATURE_INFO,
            Kind::Gauge,
            "A top call site of the performance overview: always 1, with its symbolicated signature, source file, line (empty when Apple gives none) and Apple's trend (UP, DOWN, UNDEFINED).",
            &info,
            1.0,
        );
        for rv in sig.reference_versions() {
            let (Some(version), Some(w)) =
                (rv.version.as_deref(), rv.value.and_then(weight_as_fraction))
            else {
                continue;
            };
            let mut labels = labels.clone();
            labels.push(b.label(n::VERSION, version));
            b.fixed(
                TOP_SIGNATURE_VERSION_WEIGHT,
                Kind::Gauge,
                "Weight of a top call site in each app version Apple compares (metricsSummary.referenceVersions), as a fraction.",
                &labels,
                w,
            );
        }
    }
}

fn sections(b: &mut Builder, app: &Labels, o: &XcodeOverview) {
    let platform = b.label(n::PLATFORM, o.platform());
    for (c, s) in o.sections() {
        let mut labels = app.clone();
        labels.push(platform);
        labels.push(b.label(n::CATEGORY, c.id()));
        labels.push(b.label(n::METRIC, s.id()));
        if let Some(score) = s.relevance_score {
            b.fixed(
                OVERVIEW_RELEVANCE,
                Kind::Gauge,
                "Apple's relevance score of a metric (a section of the performance overview) for the app: higher = more relevant.",
                &labels,
                score,
            );
        }
        if let Some(order) = s.sort_order {
            b.fixed(
                OVERVIEW_SORT_ORDER,
                Kind::Gauge,
                "The place Apple gives a metric in its category of the performance overview (sortOrder).",
                &labels,
                order as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::super::{BuildMeta, families};
    use crate::asc::model::XcodeOverview;
    use crate::export::model::Families;
    use crate::refresh::snapshot::{AppRef, AppSnapshot, Snapshot};

    fn snapshot(metrics: Option<serde_json::Value>, overview: serde_json::Value) -> Snapshot {
        let overview: XcodeOverview = serde_json::from_value(overview).unwrap();
        Snapshot {
            apps: vec![Arc::new(AppSnapshot {
                app: AppRef {
                    id: "1".into(),
                    name: "A".into(),
                    bundle_id: "a".into(),
                    account: "default".into(),
                },
                metrics: metrics.map(|m| serde_json::from_value(m).unwrap()),
                overview: Some(overview),
                ..Default::default()
            })],
            ..Default::default()
        }
    }

    /// `(labels, value)` of every series of `name`, labels as `k=v` joined.
    fn series(set: &Families, name: &str) -> Vec<(String, f64)> {
        let Some(f) = set.get(name) else {
            return Vec::new();
        };
        f.series
            .iter()
            .map(|s| {
                let labels: Vec<String> = set
                    .labels(f, s)
                    .filter(|(k, _)| !["app", "bundle_id", "app_id", "account"].contains(k))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                (labels.join(","), s.value)
            })
            .collect()
    }

    fn dataset(device: &str, points: serde_json::Value) -> serde_json::Value {
        json!({"filterCriteria": {"percentile": "typical", "device": device, "deviceMarketingName": "All iPhones"}, "points": points})
    }

    #[test]
    fn call_sites_leniently_read() {
        let set = families(
            &snapshot(
                None,
                json!({
                    "categories": [],
                    "signatures": {
                        "topHangPoint": [{
                            "signatureId": "h1", "signature": "App: -[A b] + 1", "count": 148.0,
                            "weight": 37, "sourceFile": "A.m", "trendInfo": "SIDEWAYS",
                            "metricsSummary": {"referenceVersions": {"version": "3.0", "value": 21}}
                        }],
                        "topLaunchPoint": [{"signatureId": "l1", "weight": 0.5, "lineNumber": 7, "sourceFile": "L.swift", "trendInfo": "UP"}],
                        "topDiskWritePoint": []
                    }
                }),
            ),
            &BuildMeta::default(),
        );
        assert_eq!(
            series(&set, "asc_top_signature_weight_ratio"),
            [
                ("diagnostic_type=HANGS,signature_id=h1".to_string(), 0.37),
                ("diagnostic_type=LAUNCHES,signature_id=l1".to_string(), 0.5),
            ],
            "a weight above 1 is a percentage"
        );
        assert_eq!(
            series(&set, "asc_top_signature_occurrences"),
            [("diagnostic_type=HANGS,signature_id=h1".to_string(), 148.0)],
            "an integral float count is read; a missing one gives no series, not 0"
        );
        assert_eq!(
            series(&set, "asc_top_signature_info"),
            [
                ("diagnostic_type=HANGS,signature_id=h1,signature=App: -[A b] + 1,source_file=A.m,line=,trend=SIDEWAYS".to_string(), 1.0),
                ("diagnostic_type=LAUNCHES,signature_id=l1,signature=,source_file=L.swift,line=7,trend=UP".to_string(), 1.0),
            ]
        );
        assert_eq!(
            series(&set, "asc_top_signature_version_weight_ratio"),
            [(
                "diagnostic_type=HANGS,signature_id=h1,version=3.0".to_string(),
                0.21
            )],
            "referenceVersions as an object"
        );
        assert_eq!(
            set.get("asc_top_signature_info").unwrap().kind,
            crate::export::model::Kind::Info
        );
    }

    /// The overview's datasets add only what perfPowerMetrics does not
    /// give, under the category as the overview names it; relevance and
    /// sort order per section; insights without duplicates.
    #[test]
    fn the_overview_adds_only_what_perf_power_metrics_lacks() {
        let unit = json!({"identifier": "ms", "displayName": "ms"});
        let metrics = json!({
            "insights": {"regressions": [{"metric": "launchTime", "latestVersion": "1.1", "populations": [{"device": "all_iphones", "percentile": "typical", "deltaPercentage": 10}]}]},
            "productData": [{"platform": "iOS", "metricCategories": [{"identifier": "LAUNCH", "metrics": [{
                "identifier": "launchTime", "unit": unit,
                "datasets": [{"filterCriteria": {"percentile": "typical", "device": "all_iphones", "deviceMarketingName": "All iPhones"},
                              "points": [{"version": "1.0", "value": 1000}], "recommendedMetricGoal": {"value": 400}}]
            }]}]}]
        });
        let overview = json!({
            "appMetadata": {"platform": "iOS"},
            "insights": {"regressions": [
                {"metric": "LaunchTime", "latestVersion": "1.1", "populations": [{"device": "all_iphones", "percentile": "typical", "deltaPercentage": 99}]},
                {"metric": "hangRate", "latestVersion": "1.1", "populations": [{"device": "all_iphones", "percentile": "typical", "deltaPercentage": 20}]}
            ]},
            "categories": [
                {"identifier": "Launch", "sections": [{
                    "identifier": "launchTime", "relevanceScore": 0.8, "sortOrder": 1, "unit": unit,
                    "datasets": [{"filterCriteria": {"percentile": "typical", "device": "all_iphones", "deviceMarketingName": "All iPhones"},
                                  "points": [{"version": "1.0", "value": 2000}, {"version": "1.1", "value": 1100}],
                                  "recommendedMetricGoal": {"value": 500}}]
                }]},
                {"identifier": "RESPONSIVENESS", "sections": [{
                    "identifier": "hangRate", "relevanceScore": 0.5, "unit": {"identifier": "seconds.per.hour", "displayName": "s/hr"},
                    "datasets": [dataset("all_iphones", json!([{"version": "1.1", "value": 2.5}]))]
                }]}
            ],
            "signatures": {"topHangPoint": [], "topLaunchPoint": [], "topDiskWritePoint": []}
        });
        let set = families(&snapshot(Some(metrics), overview), &BuildMeta::default());
        let launch = "platform=iOS,category=LAUNCH,version=1.0,device=all_iphones,device_name=All iPhones,percentile=typical";
        assert_eq!(
            series(&set, "asc_launch_time_seconds"),
            [
                (launch.to_string(), 1.0),
                (
                    "platform=iOS,category=Launch,version=1.1,device=all_iphones,device_name=All iPhones,percentile=typical".to_string(),
                    1.1
                ),
            ],
            "perfPowerMetrics' point stays, the overview's own is added"
        );
        assert_eq!(
            series(&set, "asc_launch_time_recommended_goal_seconds"),
            [("platform=iOS,category=LAUNCH,device=all_iphones,device_name=All iPhones,percentile=typical".to_string(), 0.4)],
            "one recommended goal per (metric, device, percentile)"
        );
        assert_eq!(
            series(&set, "asc_hang_rate_seconds_per_hour"),
            [("platform=iOS,category=RESPONSIVENESS,version=1.1,device=all_iphones,device_name=All iPhones,percentile=typical".to_string(), 2.5)],
            "a metric only the overview has, under a category outside the enum"
        );
        let regressions = series(&set, "asc_insight_regression_delta_ratio");
        assert_eq!(regressions.len(), 2, "{regressions:?}");
        assert!(
            regressions
                .iter()
                .any(|(l, v)| l.contains("metric=launchTime") && *v == 0.1)
        );
        assert!(
            regressions
                .iter()
                .any(|(l, v)| l.contains("metric=hangRate") && *v == 0.2)
        );
        assert_eq!(
            series(&set, "asc_overview_relevance_score"),
            [
                (
                    "platform=iOS,category=Launch,metric=launchTime".to_string(),
                    0.8
                ),
                (
                    "platform=iOS,category=RESPONSIVENESS,metric=hangRate".to_string(),
                    0.5
                ),
            ]
        );
        assert_eq!(
            series(&set, "asc_overview_sort_order"),
            [(
                "platform=iOS,category=Launch,metric=launchTime".to_string(),
                1.0
            )]
        );
    }
}
