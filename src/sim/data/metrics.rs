//! The perfPowerMetrics documents (`xcodeMetrics`) of an app or a build,
//! generated per request from the account, and their insights
//! (regressions, upward trends) computed from the documents' own points.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::account::{Account, BuildRef, SimApp};
use super::catalog::{
    BATTERY_SUBSYSTEMS, CATEGORIES, DEVICES, METRICS, MetricSpec, PERCENTILES, goal_for,
    metric_display_name, population_label,
};
use super::{rng, round, str_hash};
use crate::asc::model::{
    Dataset, FilterCriteria, GoalKey, InsightPopulation, Insights, Metric, MetricCategory,
    MetricsInsight, PercentageBreakdown, Point, ProductData, RecommendedMetricGoal, Unit,
    XcodeMetrics,
};

/// Filters of a perfPowerMetrics request (already validated).
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    /// Categories to keep (empty = all).
    pub categories: Vec<String>,
    /// Device ids to keep (empty = all).
    pub devices: Vec<String>,
}

impl MetricsQuery {
    fn keeps_category(&self, c: &str) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|x| x == c)
    }
    fn keeps_device(&self, d: &str) -> bool {
        self.devices.is_empty() || self.devices.iter().any(|x| x == d)
    }
}

impl SimApp {
    /// The story multiplier of `metric` at version ordinal `k`.
    fn story(&self, metric: &str, k: usize) -> f64 {
        let mut f = 1.0;
        match (self.index % 3, metric) {
            _ if !self.stories => {}
            (0, "peakMemory") if k >= self.anchor => f *= 1.15,
            (0, "launchTime") if k >= self.anchor => f *= 1.12,
            (1, "batteryUsage" | "scrollHitchRate") if k + 3 > self.anchor => {
                f *= 1.05f64.powi((k + 3 - self.anchor) as i32)
            }
            (2, "logicalWrites") if k == self.anchor => f *= 1.3,
            _ => {}
        }
        if self.regression_ordinal == Some(k) {
            match metric {
                "launchTime" => f *= 1.45,
                "hangRate" => f *= 1.7,
                "scrollHitchRate" => f *= 1.3,
                _ => {}
            }
        }
        f
    }

    /// Values of metric `m` at version ordinal `k` for every (device,
    /// percentile), in `DEVICES` x `PERCENTILES` order: (value, error margin,
    /// breakdown).
    fn values(&self, seed: u64, m: usize, k: usize) -> Vec<(f64, f64, Vec<PercentageBreakdown>)> {
        let spec = &METRICS[m];
        let mut r = rng(&[seed, 4, self.index as u64, m as u64, k as u64]);
        let base = spec.base * self.factors.get(m).copied().unwrap_or(1.0);
        let story = self.story(spec.identifier, k);
        // A healthy app stays out of the poor band whatever its factors:
        // only a story or a regression takes a metric there.
        let ceiling = spec.goals.map_or(f64::INFINITY, |(_, poor)| poor * 0.95);
        let mut out = Vec::with_capacity(DEVICES.len() * PERCENTILES.len());
        for &(_, _, _, device_factor) in DEVICES {
            for p in 0..PERCENTILES.len() {
                let pct = if p == 0 { 1.0 } else { spec.p90 };
                let noise = r.gen_range(0.98..1.02);
                let healthy = (base * device_factor * pct * noise).min(ceiling);
                let value = round(healthy * story, spec.decimals);
                let margin = round(value * r.gen_range(0.02..0.08), spec.decimals);
                let breakdown = if spec.breakdown {
                    breakdown(&mut r, spec.identifier == "onScreenBatteryUsage")
                } else {
                    Vec::new()
                };
                out.push((value, margin, breakdown));
            }
        }
        out
    }
}

fn breakdown(r: &mut ChaCha8Rng, on_screen: bool) -> Vec<PercentageBreakdown> {
    let raw: Vec<f64> = BATTERY_SUBSYSTEMS
        .iter()
        .map(|&(label, w)| {
            let w = if on_screen && label == "Display" {
                w * 1.6
            } else {
                w
            };
            w * r.gen_range(0.7..1.3)
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    let mut shares: Vec<f64> = raw.iter().map(|w| round(w / sum * 100.0, 1)).collect();
    let rest: f64 = shares[1..].iter().sum();
    shares[0] = round(100.0 - rest, 1);
    BATTERY_SUBSYSTEMS
        .iter()
        .zip(shares)
        .map(|(&(label, _), value)| PercentageBreakdown {
            value: Some(value),
            sub_system_label: Some(label.into()),
        })
        .collect()
}

fn metric_shell(spec: &MetricSpec) -> Metric {
    Metric {
        identifier: Some(spec.identifier.to_string()),
        goal_keys: spec
            .goals
            .map(|(fair, poor)| {
                vec![
                    GoalKey {
                        goal_key: Some("good".into()),
                        lower_bound: Some(0.0),
                        upper_bound: Some(fair),
                    },
                    GoalKey {
                        goal_key: Some("fair".into()),
                        lower_bound: Some(fair),
                        upper_bound: Some(poor),
                    },
                    GoalKey {
                        goal_key: Some("poor".into()),
                        lower_bound: Some(poor),
                        upper_bound: None,
                    },
                ]
            })
            .unwrap_or_default(),
        unit: Some(Unit {
            identifier: Some(spec.unit.to_string()),
            display_name: Some(spec.unit_display.to_string()),
        }),
        datasets: Vec::new(),
    }
}

/// Builds an `xcodeMetrics` document from per-version values.
/// `versions` lists (version string, ordinal, value multiplier).
fn metrics_document(
    app: &SimApp,
    seed: u64,
    versions: &[(String, usize, f64)],
    query: &MetricsQuery,
) -> XcodeMetrics {
    let mut categories: Vec<MetricCategory> = Vec::new();
    for &category in CATEGORIES {
        if !query.keeps_category(category) {
            continue;
        }
        let mut metrics = Vec::new();
        for (m, spec) in METRICS.iter().enumerate() {
            if spec.category != category {
                continue;
            }
            let per_version: Vec<_> = versions
                .iter()
                .map(|(v, k, mult)| (v, *mult, app.values(seed, m, *k)))
                .collect();
            let mut metric = metric_shell(spec);
            for (d, &(device, marketing, _, _)) in DEVICES.iter().enumerate() {
                if !query.keeps_device(device) {
                    continue;
                }
                let model = !device.starts_with("all_");
                for (p, percentile) in PERCENTILES.iter().enumerate() {
                    let slot = d * PERCENTILES.len() + p;
                    let points = per_version
                        .iter()
                        .filter_map(|(version, mult, values)| {
                            let (value, margin, breakdown) = values.get(slot)?;
                            let value = round(value * mult, spec.decimals);
                            Some(Point {
                                version: Some(version.as_str().into()),
                                value: Some(value),
                                error_margin: (!model).then_some(*margin),
                                percentage_breakdown: breakdown.clone(),
                                goal: spec.goals.map(|g| goal_for(g, value).into()),
                            })
                        })
                        .collect();
                    metric.datasets.push(Dataset {
                        filter_criteria: FilterCriteria {
                            percentile: Some((*percentile).into()),
                            device: Some(device.into()),
                            device_marketing_name: Some(marketing.into()),
                        },
                        points,
                        recommended_metric_goal: spec.goals.map(|(fair, _)| {
                            RecommendedMetricGoal {
                                value: Some(fair),
                                detail: Some(spec.goal_detail.to_string()),
                            }
                        }),
                    });
                }
            }
            if !metric.datasets.is_empty() {
                metrics.push(metric);
            }
        }
        if !metrics.is_empty() {
            categories.push(MetricCategory {
                identifier: Some(category.to_string()),
                metrics,
            });
        }
    }
    XcodeMetrics {
        version: Some("1.0.0".into()),
        insights: None,
        product_data: if categories.is_empty() {
            Vec::new()
        } else {
            vec![ProductData {
                platform: Some("iOS".into()),
                metric_categories: categories,
            }]
        },
    }
}

/// `GET /v1/apps/{id}/perfPowerMetrics`: the last `window` versions, with insights.
pub fn app_metrics(account: &Account, app: &SimApp, query: &MetricsQuery) -> XcodeMetrics {
    let versions: Vec<_> = app
        .metric_versions()
        .iter()
        .map(|v| (v.version.clone(), v.ordinal, 1.0))
        .collect();
    let mut doc = metrics_document(app, account.seed, &versions, query);
    doc.insights = Some(compute_insights(&doc));
    doc
}

/// `GET /v1/builds/{id}/perfPowerMetrics`: one point per dataset (the
/// build's version), no insights (WWDC20). Builds that did not process
/// have no data yet (empty `productData`).
pub fn build_metrics(account: &Account, b: BuildRef<'_>, query: &MetricsQuery) -> XcodeMetrics {
    if b.build.processing_state != "VALID" {
        return XcodeMetrics {
            version: Some("1.0.0".into()),
            insights: None,
            product_data: Vec::new(),
        };
    }
    // Earlier builds of a version differ slightly from the shipped (last) one.
    let last = b
        .version
        .builds
        .last()
        .map(|l| l.id == b.build.id)
        .unwrap_or(true);
    let mult = if last {
        1.0
    } else {
        rng(&[account.seed, 5, str_hash(&b.build.id)]).gen_range(0.97..1.03)
    };
    let versions = [(b.version.version.clone(), b.version.ordinal, mult)];
    metrics_document(b.app, account.seed, &versions, query)
}

fn percentile_words(p: &str) -> &str {
    match p {
        "percentile.ninety" => "Top (90th percentile)",
        _ => "Typical (50th percentile)",
    }
}

/// Relative increase that makes a regression.
pub const REGRESSION_THRESHOLD_PERCENT: f64 = 5.0;
/// A regression at least this large is `highImpact`.
pub const HIGH_IMPACT_PERCENT: f64 = 20.0;
/// How many previous versions a regression is compared against.
pub const REGRESSION_REFERENCE_VERSIONS: usize = 4;
/// A trend needs this many strictly increasing versions...
pub const TREND_VERSIONS: usize = 4;
/// ...and this rise from the first to the last of them.
pub const TREND_MIN_RISE_PERCENT: f64 = 6.0;

/// Regressions and upward trends, computed from the document's own points.
///
/// * regression: the latest version's value exceeds the mean of the previous
///   (up to 4) versions by more than 5 %;
/// * trending up: the last 4 versions strictly increase and the latest is at
///   least 6 % above the first of them; the reference is the 3 versions before
///   the latest.
pub fn compute_insights(doc: &XcodeMetrics) -> Insights {
    let mut insights = Insights::default();
    for (_, category, metric) in doc.metrics() {
        let spec_unit = metric.unit_display().to_string();
        let mut reg = Vec::new();
        let mut trend = Vec::new();
        let mut reg_refs = Vec::new();
        let mut trend_refs = Vec::new();
        let mut latest_version = None;
        for ds in &metric.datasets {
            let pts: Vec<(&str, f64)> = ds
                .points
                .iter()
                .filter_map(|p| Some((p.version.as_deref()?, p.value?)))
                .collect();
            let Some(&(latest_v, latest)) = pts.last() else {
                continue;
            };
            if pts.len() < 2 {
                continue;
            }
            latest_version = Some(latest_v.to_string());
            let n = pts.len();
            let refs = &pts[n.saturating_sub(1 + REGRESSION_REFERENCE_VERSIONS)..n - 1];
            let avg = refs.iter().map(|p| p.1).sum::<f64>() / refs.len() as f64;
            let delta = (latest - avg) / avg * 100.0;
            if avg > 0.0 && delta > REGRESSION_THRESHOLD_PERCENT {
                reg_refs = refs.iter().map(|p| p.0.to_string()).collect();
                reg.push(population(ds, latest, avg, delta));
            }
            if n >= TREND_VERSIONS {
                let last = &pts[n - TREND_VERSIONS..];
                let rising = last.windows(2).all(|w| w[1].1 > w[0].1);
                let rise = (latest - last[0].1) / last[0].1 * 100.0;
                if rising && rise >= TREND_MIN_RISE_PERCENT {
                    let refs = &last[..TREND_VERSIONS - 1];
                    let avg = refs.iter().map(|p| p.1).sum::<f64>() / refs.len() as f64;
                    trend_refs = refs.iter().map(|p| p.0.to_string()).collect();
                    trend.push(population(ds, latest, avg, (latest - avg) / avg * 100.0));
                }
            }
        }
        let name = metric_display_name(metric.id());
        for (pops, refs, list, verb) in [
            (reg, reg_refs, &mut insights.regressions, "regressed"),
            (trend, trend_refs, &mut insights.trending_up, "trended up"),
        ] {
            if pops.is_empty() {
                continue;
            }
            let max_latest = pops
                .iter()
                .filter_map(|p| p.latest_version_value)
                .fold(f64::MIN, f64::max);
            let deltas: Vec<f64> = pops.iter().filter_map(|p| p.delta_percentage).collect();
            let (lo, hi) = deltas
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), d| (l.min(*d), h.max(*d)));
            let latest = latest_version.clone().unwrap_or_default();
            let first_ref = refs.first().cloned().unwrap_or_default();
            let mut percentiles: Vec<&str> = pops
                .iter()
                .filter_map(|p| p.percentile.as_deref())
                .map(percentile_words)
                .collect();
            percentiles.sort();
            percentiles.dedup();
            let summary = format!(
                "{} {name} {verb} between app versions {first_ref} to {latest}. The maximum value for the latest app version is at {max_latest:.2} {spec_unit} and increased between {lo:.0}% to {hi:.0}% compared to the average for previous {} app versions.",
                percentiles.join(" and "),
                refs.len()
            );
            list.push(MetricsInsight {
                metric_category: category.identifier.clone(),
                latest_version: Some(latest),
                metric: metric.identifier.clone(),
                summary_string: Some(summary),
                max_latest_version_value: Some(max_latest),
                sub_system_label: None,
                high_impact: Some(hi >= HIGH_IMPACT_PERCENT),
                reference_versions: refs,
                populations: pops,
            });
        }
    }
    insights
}

fn population(ds: &Dataset, latest: f64, avg: f64, delta: f64) -> InsightPopulation {
    let device = ds.filter_criteria.device().to_string();
    let delta = round(delta, 1);
    InsightPopulation {
        delta_percentage: Some(delta),
        percentile: ds.filter_criteria.percentile.as_deref().map(str::to_string),
        summary_string: Some(format!(
            "Increased {delta:.0}% across {}",
            population_label(&device)
        )),
        reference_average_value: Some(round(avg, 2)),
        latest_version_value: Some(latest),
        device: Some(device),
    }
}
