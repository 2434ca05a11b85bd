//! `xcodeMetrics`: the perfPowerMetrics document (vendor JSON, not JSON:API).
//!
//! The arrays that carry the data (`productData`, `metricCategories`,
//! `metrics`, `datasets`, `points`) are required; everything else is
//! optional and lenient. `insights` is optional (build-level documents have
//! none).

use serde::{Deserialize, Serialize};

/// The short strings repeated in every dataset and point (a version, a
/// device, a percentile, a goal band, a subsystem) are kept inline, up to
/// 24 bytes, in the 24 bytes a `String` takes, instead of one heap
/// allocation each: the points are most of a snapshot, and their strings
/// were most of its allocations (each one also a free when the data is
/// replaced).
pub use compact_str::CompactString;

use super::common::{null_as_empty, one_or_many, shrunk};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XcodeMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights: Option<Insights>,
    /// Required: missing or `null` is an error; `[]` is "not measured yet".
    #[serde(deserialize_with = "shrunk")]
    pub product_data: Vec<ProductData>,
}

impl XcodeMetrics {
    /// Apple returns an empty `productData` when too few devices reported:
    /// "not measured yet", which is not the same as zero.
    pub fn has_data(&self) -> bool {
        self.product_data
            .iter()
            .any(|p| p.metric_categories.iter().any(|c| !c.metrics.is_empty()))
    }

    /// All metrics with their category and platform, flattened.
    pub fn metrics(&self) -> impl Iterator<Item = (&str, &MetricCategory, &Metric)> {
        self.product_data.iter().flat_map(|p| {
            p.metric_categories.iter().flat_map(move |c| {
                c.metrics
                    .iter()
                    .map(move |m| (p.platform.as_deref().unwrap_or(""), c, m))
            })
        })
    }

    /// Finds a metric by identifier, case-insensitively (ppparser semantics).
    pub fn find_metric(&self, identifier: &str) -> Option<(&MetricCategory, &Metric)> {
        self.metrics()
            .find(|(_, _, m)| {
                m.identifier
                    .as_deref()
                    .is_some_and(|i| i.eq_ignore_ascii_case(identifier))
            })
            .map(|(_, c, m)| (c, m))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub trending_up: Vec<MetricsInsight>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub regressions: Vec<MetricsInsight>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsInsight {
    /// MetricCategory as a string: new values are kept as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_string: Option<String>,
    /// The spec says `string`, the live API returns `[string]` (API-NOTES §7.1).
    #[serde(default, deserialize_with = "one_or_many")]
    pub reference_versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latest_version_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_system_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_impact: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub populations: Vec<InsightPopulation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightPopulation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_percentage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_average_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductData {
    /// `iOS` as Apple returns it (filters use `IOS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Required (may be empty).
    #[serde(deserialize_with = "shrunk")]
    pub metric_categories: Vec<MetricCategory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricCategory {
    /// `LAUNCH`, `HANG`, ... or any new value as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Required (may be empty).
    #[serde(deserialize_with = "shrunk")]
    pub metrics: Vec<Metric>,
}

impl MetricCategory {
    pub fn id(&self) -> &str {
        self.identifier.as_deref().unwrap_or("")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub goal_keys: Vec<GoalKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Required (may be empty).
    #[serde(deserialize_with = "shrunk")]
    pub datasets: Vec<Dataset>,
}

impl Metric {
    pub fn id(&self) -> &str {
        self.identifier.as_deref().unwrap_or("")
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

/// A goal band. Bounds are `integer` in the spec; floats are accepted (§7.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    #[serde(default)]
    pub filter_criteria: FilterCriteria,
    /// Required (may be empty).
    #[serde(deserialize_with = "shrunk")]
    pub points: Vec<Point>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_metric_goal: Option<RecommendedMetricGoal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterCriteria {
    /// `percentile.fifty`, `percentile.ninety` or any new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_marketing_name: Option<CompactString>,
}

impl FilterCriteria {
    pub fn device(&self) -> &str {
        self.device.as_deref().unwrap_or("")
    }
    pub fn device_name(&self) -> &str {
        self.device_marketing_name
            .as_deref()
            .or(self.device.as_deref())
            .unwrap_or("")
    }
    pub fn percentile(&self) -> &str {
        self.percentile.as_deref().unwrap_or("")
    }
}

/// `percentile.fifty` -> `p50`, `percentile.ninety` -> `p90`, other values as-is.
pub fn percentile_label(p: &str) -> &str {
    match p {
        "percentile.fifty" => "p50",
        "percentile.ninety" => "p90",
        other => other,
    }
}

/// Inverse of [`percentile_label`] for user input: accepts `p50`, `50`,
/// `fifty`, `percentile.fifty`, `typical`, `p90`, `top`, ...
pub fn percentile_matches(filter: &str, apple: &str) -> bool {
    let f = filter.trim().to_ascii_lowercase();
    let canonical = match f.as_str() {
        "p50" | "50" | "fifty" | "typical" | "median" => "percentile.fifty",
        "p90" | "90" | "ninety" | "top" => "percentile.ninety",
        other => other,
    };
    apple.eq_ignore_ascii_case(canonical) || percentile_label(apple).eq_ignore_ascii_case(&f)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// App marketing version, e.g. `"2.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_margin: Option<f64>,
    /// The spec says one object, the live API returns an array (§7.2).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub percentage_breakdown: Vec<PercentageBreakdown>,
    /// Name of the goal band the value falls in (`good`, `fair`, `poor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<CompactString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PercentageBreakdown {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_system_label: Option<CompactString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecommendedMetricGoal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
