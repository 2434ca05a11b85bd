//! `xcodeOverview`: the performance overview of API 4.5
//! (`GET /v1/apps/{id}/performanceOverviews`, vendor JSON, not JSON:API;
//! API-NOTES §11).
//!
//! What it adds to perfPowerMetrics: per app the **top hang, launch and
//! disk-write call sites** ([`PerformanceSignature`]: signature, source
//! file and line, count, weight, trend, per-version values), each
//! section's `relevanceScore` and `sortOrder`, and categories named by free
//! strings (`identifier` is not the MetricCategory enum).
//!
//! ## Missing versus empty
//!
//! Nothing is marked required in Apple's schema, so the rule is ours, the
//! same as for `xcodeMetrics` (API-NOTES §12): the keys that carry the
//! data must be present and be arrays, the rest is optional and lenient.
//!
//! | key | missing or `null` | `[]` |
//! |---|---|---|
//! | `categories` | error: not an overview we understand | no metric data ("not measured yet") |
//! | `categories[].sections` | error | the category has no metric |
//! | `sections[].datasets` | error | the section has no series |
//! | `datasets[].points` | error | the series has no version yet |
//! | `signatures` | error | (an object: its three lists decide) |
//! | `signatures.topHangPoint`, `topLaunchPoint`, `topDiskWritePoint` | error | no call site of that kind |
//!
//! So a renamed or dropped key is a decode error at its JSON path (the
//! exporter keeps the app's last good data and counts the error), while a
//! document whose lists are all empty is Apple's "not measured"
//! ([`XcodeOverview::has_data`] is false), never a zero. A 404 means the same
//! to the exporter (see [`crate::asc::AscClient::app_overview`]).
//!
//! Lenient, as API-NOTES §7 asks: `insights.*.referenceVersions` is a string
//! or an array ([`MetricsInsight`] is the xcodeMetrics type), a point's
//! `percentageBreakdown` an object or an array (the datasets are
//! xcodeMetrics' [`Dataset`]), `metricsSummary.referenceVersions` an object
//! or an array; unknown categories, units, trends (`trendInfo` is any
//! string) and fields are kept or ignored; `lineNumber`, `count` and
//! `sortOrder` may be missing and accept integral floats (`88.0`), as the
//! goal bounds of xcodeMetrics do (§7.3). A value of the wrong type (a
//! string `weight`) is an error, as in xcodeMetrics.
//!
//! Serialization writes the live-API shape (arrays for `referenceVersions`
//! and `percentageBreakdown`), so the simulator serves what Apple sends and
//! the exporter's state file reads back through the same decoder.

use serde::{Deserialize, Deserializer, Serialize};

use super::common::one_or_many;
use super::diagnostics::DiagnosticInsightReferenceVersion;
use super::metrics::{
    Dataset, Insights, Metric, MetricCategory, MetricsInsight, ProductData, Unit, XcodeMetrics,
};

/// The `xcodeOverview` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XcodeOverview {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<AppMetadata>,
    /// Regressions and trending-up metrics, as in xcodeMetrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights: Option<Insights>,
    /// Required: missing or `null` is an error; `[]` is "not measured yet".
    pub categories: Vec<OverviewCategory>,
    /// Required: the top call sites.
    pub signatures: TopSignatures,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_identifier: Option<String>,
}

/// `appMetadata`: which app and version the overview describes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    /// `iOS` as Apple writes it in documents (filters use `IOS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// `categories[]`: a group of sections, named by a free string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewCategory {
    /// `LAUNCH`, `HANG`, … or any other string Apple chooses (not the
    /// MetricCategory enum): kept as Apple names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Required (may be empty).
    pub sections: Vec<OverviewSection>,
}

impl OverviewCategory {
    pub fn id(&self) -> &str {
        self.identifier.as_deref().unwrap_or("")
    }

    /// `displayName`, else the identifier.
    pub fn name(&self) -> &str {
        self.display_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(self.id())
    }

    /// The sections in Apple's order: `sortOrder` ascending (sections
    /// without one last), then the higher `relevanceScore`, then as sent.
    pub fn sections_sorted(&self) -> Vec<&OverviewSection> {
        let mut v: Vec<&OverviewSection> = self.sections.iter().collect();
        v.sort_by(|a, b| {
            let order = |s: &OverviewSection| s.sort_order.unwrap_or(i64::MAX);
            order(a).cmp(&order(b)).then_with(|| {
                b.relevance_score
                    .unwrap_or(f64::MIN)
                    .total_cmp(&a.relevance_score.unwrap_or(f64::MIN))
            })
        });
        v
    }
}

/// `sections[]`: one metric (`identifier` is the metric id, e.g.
/// `launchTime`) with its datasets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewSection {
    /// The metric identifier, as in xcodeMetrics' `metrics[].identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// How relevant Apple thinks the section is (higher first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevance_score: Option<f64>,
    /// Position within the category (`integer`; integral floats accepted).
    #[serde(
        default,
        deserialize_with = "integer_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Required (may be empty). xcodeMetrics' dataset: overview points
    /// carry no `goal`, so [`Point::goal`](super::Point::goal) stays `None`.
    pub datasets: Vec<Dataset>,
}

impl OverviewSection {
    pub fn id(&self) -> &str {
        self.identifier.as_deref().unwrap_or("")
    }
    /// `displayName`, else the identifier.
    pub fn name(&self) -> &str {
        self.display_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(self.id())
    }
    pub fn unit_id(&self) -> &str {
        self.unit
            .as_ref()
            .and_then(|u| u.identifier.as_deref())
            .unwrap_or("")
    }
    pub fn unit_display(&self) -> &str {
        self.unit
            .as_ref()
            .and_then(|u| u.display_name.as_deref().or(u.identifier.as_deref()))
            .unwrap_or("")
    }
}

/// `signatures`: the top call sites of each kind, heaviest first as Apple
/// sends them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopSignatures {
    /// Required (may be empty).
    pub top_hang_point: Vec<PerformanceSignature>,
    /// Required (may be empty).
    pub top_launch_point: Vec<PerformanceSignature>,
    /// Required (may be empty).
    pub top_disk_write_point: Vec<PerformanceSignature>,
}

/// The three lists of [`TopSignatures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum CallSiteKind {
    Hang,
    Launch,
    DiskWrite,
}

impl CallSiteKind {
    pub const ALL: [CallSiteKind; 3] = [
        CallSiteKind::Hang,
        CallSiteKind::Launch,
        CallSiteKind::DiskWrite,
    ];

    /// The `diagnosticType` of the same signatures in diagnosticSignatures
    /// (`HANGS`, `LAUNCHES`, `DISK_WRITES`): the exporter's
    /// `diagnostic_type` label.
    pub fn diagnostic_type(self) -> &'static str {
        match self {
            CallSiteKind::Hang => "HANGS",
            CallSiteKind::Launch => "LAUNCHES",
            CallSiteKind::DiskWrite => "DISK_WRITES",
        }
    }

    /// The JSON key of the list (`topHangPoint`, …).
    pub fn key(self) -> &'static str {
        match self {
            CallSiteKind::Hang => "topHangPoint",
            CallSiteKind::Launch => "topLaunchPoint",
            CallSiteKind::DiskWrite => "topDiskWritePoint",
        }
    }
}

impl TopSignatures {
    pub fn list(&self, kind: CallSiteKind) -> &[PerformanceSignature] {
        match kind {
            CallSiteKind::Hang => &self.top_hang_point,
            CallSiteKind::Launch => &self.top_launch_point,
            CallSiteKind::DiskWrite => &self.top_disk_write_point,
        }
    }

    pub fn list_mut(&mut self, kind: CallSiteKind) -> &mut Vec<PerformanceSignature> {
        match kind {
            CallSiteKind::Hang => &mut self.top_hang_point,
            CallSiteKind::Launch => &mut self.top_launch_point,
            CallSiteKind::DiskWrite => &mut self.top_disk_write_point,
        }
    }

    /// Every call site with its kind: hangs, then launches, then disk
    /// writes, each list in Apple's order.
    pub fn iter(&self) -> impl Iterator<Item = (CallSiteKind, &PerformanceSignature)> {
        CallSiteKind::ALL
            .into_iter()
            .flat_map(move |k| self.list(k).iter().map(move |s| (k, s)))
    }

    pub fn is_empty(&self) -> bool {
        CallSiteKind::ALL.iter().all(|k| self.list(*k).is_empty())
    }

    pub fn len(&self) -> usize {
        CallSiteKind::ALL.iter().map(|k| self.list(*k).len()).sum()
    }
}

/// `PerformanceSignature`: one top call site.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceSignature {
    /// The id of the same signature in diagnosticSignatures, when Apple
    /// gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_id: Option<String>,
    /// "The symbolicated call site", e.g. `App: -[Cache reload] + 212`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Occurrences (`integer`; integral floats accepted).
    #[serde(
        default,
        deserialize_with = "unsigned_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<u64>,
    /// Share of the app's total of its kind: a fraction (0.37) as in
    /// diagnosticSignatures; see [`PerformanceSignature::weight_fraction`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// Missing when Apple has no line (`integer`; integral floats accepted).
    #[serde(
        default,
        deserialize_with = "unsigned_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub line_number: Option<u64>,
    /// `UP`, `DOWN`, `UNDEFINED` (DiagnosticInsightDirection) or any new
    /// value as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend_info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_summary: Option<MetricsSummary>,
}

/// `metricsSummary`: the call site's value in earlier versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSummary {
    /// `{version, value}` per version (an object or an array is accepted).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reference_versions: Vec<DiagnosticInsightReferenceVersion>,
}

impl PerformanceSignature {
    pub fn signature(&self) -> &str {
        self.signature.as_deref().unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.signature_id.as_deref().unwrap_or("")
    }

    /// `trendInfo`, `""` when absent.
    pub fn trend(&self) -> &str {
        self.trend_info.as_deref().unwrap_or("")
    }

    /// `File.m:88`, just `File.m` without a line, `None` without a file.
    pub fn location(&self) -> Option<String> {
        let file = self.source_file.as_deref().filter(|f| !f.is_empty())?;
        Some(match self.line_number {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        })
    }

    /// The weight as a fraction of the app's total: Apple's weights are
    /// fractions (0.37); one above 1 is taken as a percentage and divided
    /// by 100 (the rule of `asc_top_signature_weight_ratio`, CONTRACT.md).
    /// `None` when Apple gave no weight or a negative or non-finite one.
    pub fn weight_fraction(&self) -> Option<f64> {
        self.weight.and_then(weight_as_fraction)
    }

    /// The per-version values of `metricsSummary` (empty when absent).
    pub fn reference_versions(&self) -> &[DiagnosticInsightReferenceVersion] {
        self.metrics_summary
            .as_ref()
            .map(|m| m.reference_versions.as_slice())
            .unwrap_or(&[])
    }
}

impl XcodeOverview {
    /// Whether Apple reported anything: a section or a call site. An
    /// overview whose lists are all empty is "not measured yet", which is
    /// not the same as zero.
    pub fn has_data(&self) -> bool {
        self.categories.iter().any(|c| !c.sections.is_empty()) || !self.signatures.is_empty()
    }

    /// `appMetadata.platform`, `""` when absent.
    pub fn platform(&self) -> &str {
        self.app_metadata
            .as_ref()
            .and_then(|m| m.platform.as_deref())
            .unwrap_or("")
    }

    /// `appMetadata.latestVersion`, when given.
    pub fn latest_version(&self) -> Option<&str> {
        self.app_metadata
            .as_ref()
            .and_then(|m| m.latest_version.as_deref())
            .filter(|v| !v.is_empty())
    }

    /// Every section with its category, in document order.
    pub fn sections(&self) -> impl Iterator<Item = (&OverviewCategory, &OverviewSection)> {
        self.categories
            .iter()
            .flat_map(|c| c.sections.iter().map(move |s| (c, s)))
    }

    /// Finds a section by metric identifier, case-insensitively.
    pub fn find_section(&self, identifier: &str) -> Option<(&OverviewCategory, &OverviewSection)> {
        self.sections().find(|(_, s)| {
            s.identifier
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(identifier))
        })
    }

    /// All insights: regressions, then trending up.
    pub fn all_insights(&self) -> impl Iterator<Item = &MetricsInsight> {
        self.insights
            .iter()
            .flat_map(|i| i.regressions.iter().chain(i.trending_up.iter()))
    }

    /// The overview's metric data as an xcodeMetrics document, so that
    /// what reads perfPowerMetrics (insight joins, value families) reads the
    /// overview the same way: one `productData` entry with
    /// `appMetadata.platform`; each category becomes a `metricCategories`
    /// entry with Apple's identifier as it is (a free string here), each
    /// section a metric with its unit and datasets (no `goalKeys`: the
    /// overview has none; `recommendedMetricGoal` stays on the datasets),
    /// and the insights come along. No categories give an empty
    /// `productData` (`has_data()` false, as here). Relevance, sort order
    /// and the call sites have no place there: read them here.
    pub fn to_xcode_metrics(&self) -> XcodeMetrics {
        let metric_categories: Vec<MetricCategory> = self
            .categories
            .iter()
            .map(|c| MetricCategory {
                identifier: c.identifier.clone(),
                metrics: c
                    .sections
                    .iter()
                    .map(|s| Metric {
                        identifier: s.identifier.clone(),
                        goal_keys: Vec::new(),
                        unit: s.unit.clone(),
                        datasets: s.datasets.clone(),
                    })
                    .collect(),
            })
            .collect();
        XcodeMetrics {
            version: self.version.clone(),
            insights: self.insights.clone(),
            product_data: if metric_categories.is_empty() {
                Vec::new()
            } else {
                vec![ProductData {
                    platform: self.app_metadata.as_ref().and_then(|m| m.platform.clone()),
                    metric_categories,
                }]
            },
        }
    }
}

/// Drops from `datasets` (each with its metric identifier) what `given`
/// (perfPowerMetrics of the same app) already holds: points of the same
/// (metric, device, percentile, version), and recommended goals of the
/// same (metric, device, percentile). Datasets left with neither are
/// removed. For the overview's datasets, which repeat most of
/// perfPowerMetrics: the refresh keeps only what is new, and the exporter
/// maps only that.
pub fn drop_given<'a>(
    datasets: impl Iterator<Item = (&'a str, &'a mut Vec<Dataset>)>,
    given: &XcodeMetrics,
) {
    use std::collections::HashSet;
    // After the refresh has dropped them once, the lists are mostly empty:
    // index `given` only when there is something to compare.
    let datasets: Vec<_> = datasets.filter(|(_, list)| !list.is_empty()).collect();
    if datasets.is_empty() {
        return;
    }
    let mut points: HashSet<(&str, &str, &str, &str)> = HashSet::new();
    let mut goals: HashSet<(&str, &str, &str)> = HashSet::new();
    for (_, _, metric) in given.metrics() {
        for ds in &metric.datasets {
            let fc = &ds.filter_criteria;
            let key = (metric.id(), fc.device(), fc.percentile());
            if ds
                .recommended_metric_goal
                .as_ref()
                .is_some_and(|g| g.value.is_some())
            {
                goals.insert(key);
            }
            for p in &ds.points {
                points.insert((key.0, key.1, key.2, p.version.as_deref().unwrap_or("")));
            }
        }
    }
    for (id, list) in datasets {
        for ds in list.iter_mut() {
            let fc = &ds.filter_criteria;
            let key = (id, fc.device(), fc.percentile());
            ds.points.retain(|p| {
                !points.contains(&(key.0, key.1, key.2, p.version.as_deref().unwrap_or("")))
            });
            if goals.contains(&key) {
                ds.recommended_metric_goal = None;
            }
        }
        list.retain(|d| !d.points.is_empty() || d.recommended_metric_goal.is_some());
    }
}

impl XcodeOverview {
    /// [`drop_given`] on the sections' datasets (the sections stay, with
    /// their relevance, sort order and unit).
    pub fn drop_given(&mut self, given: &XcodeMetrics) {
        drop_given(
            self.categories.iter_mut().flat_map(|c| {
                c.sections
                    .iter_mut()
                    .map(|s| (s.identifier.as_deref().unwrap_or(""), &mut s.datasets))
            }),
            given,
        );
    }
}

/// A call-site weight (or a per-version one from `metricsSummary`) as a
/// fraction: Apple's are fractions (0.37); one above 1 is a percentage and
/// is divided by 100. `None` for a negative or non-finite weight.
pub fn weight_as_fraction(w: f64) -> Option<f64> {
    if !w.is_finite() || w < 0.0 {
        return None;
    }
    Some(if w > 1.0 { w / 100.0 } else { w })
}

/// An optional `integer`: a JSON integer or an integral float (`88.0`);
/// `null` or missing is `None`; anything else (a string, `88.5`) is an
/// error.
fn integer_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let v = Option::<serde_json::Number>::deserialize(d)?;
    let Some(n) = v else { return Ok(None) };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::invalid_value(
            serde::de::Unexpected::Other(&format!("the number {n}")),
            &"an integer",
        )),
    }
}

/// [`integer_opt`] that must not be negative.
fn unsigned_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match integer_opt(d)? {
        None => Ok(None),
        Some(i) => u64::try_from(i).map(Some).map_err(|_| {
            D::Error::invalid_value(serde::de::Unexpected::Signed(i), &"a non-negative integer")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::model::decode;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "categories": [],
            "signatures": {"topHangPoint": [], "topLaunchPoint": [], "topDiskWritePoint": []}
        })
    }

    #[test]
    fn an_empty_overview_is_not_measured() {
        let o: XcodeOverview = decode::json(minimal().to_string().as_bytes()).unwrap();
        assert!(!o.has_data());
        assert!(o.to_xcode_metrics().product_data.is_empty());
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        let mut doc = minimal();
        doc["signatures"]["topHangPoint"] =
            serde_json::json!([{"count": 3.0, "lineNumber": 88, "weight": 0.5}]);
        let o: XcodeOverview = decode::json(doc.to_string().as_bytes()).unwrap();
        let s = &o.signatures.top_hang_point[0];
        assert_eq!((s.count, s.line_number), (Some(3), Some(88)));
        doc["signatures"]["topHangPoint"][0]["lineNumber"] = serde_json::json!(88.5);
        let e = decode::json::<XcodeOverview>(doc.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.path, "signatures.topHangPoint[0].lineNumber", "{e}");
        doc["signatures"]["topHangPoint"][0]["lineNumber"] = serde_json::json!(-1);
        let e = decode::json::<XcodeOverview>(doc.to_string().as_bytes()).unwrap_err();
        assert!(e.message.contains("non-negative"), "{e}");
        doc["signatures"]["topHangPoint"][0]["lineNumber"] = serde_json::json!("88");
        assert!(decode::json::<XcodeOverview>(doc.to_string().as_bytes()).is_err());
    }

    #[test]
    fn weights_above_one_are_percentages() {
        let s = |w: f64| PerformanceSignature {
            weight: Some(w),
            ..Default::default()
        };
        assert_eq!(s(0.37).weight_fraction(), Some(0.37));
        assert_eq!(s(37.0).weight_fraction(), Some(0.37));
        assert_eq!(s(1.0).weight_fraction(), Some(1.0));
        assert_eq!(s(-0.1).weight_fraction(), None);
        assert_eq!(PerformanceSignature::default().weight_fraction(), None);
    }
}
