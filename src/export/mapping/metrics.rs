//! The series of Apple's metric documents (`XcodeMetrics`): each metric's
//! value per percentile and device with its error margin and goals, and
//! the insights (regressions, trending up) with their latest and reference
//! values; at app or build scope.

use std::rc::Rc;

use super::{
    Builder, Kind, Labels, O_GOAL_LOWER, O_GOAL_UPPER, O_INSIGHT_LATEST, O_INSIGHT_REFERENCE,
    O_MARGIN, O_RECOMMENDED, O_VALUE, Scope, Sym, n,
};
use crate::asc::model::{
    Metric as AscMetric, MetricCategory, MetricsInsight, XcodeMetrics, percentile_label,
};
use crate::export::names::{
    INSIGHT_REGRESSION_DELTA, INSIGHT_TRENDING_UP_DELTA, METRIC_BREAKDOWN, METRIC_GOAL_INFO,
};
use crate::export::units::{UnitMapping, compose_name, metric_family_name, scale, unit_mapping};

/// The unit of a metric as Apple gives it, without fallbacks.
fn metric_unit(metric: &AscMetric) -> UnitMapping {
    let unit = metric.unit.as_ref();
    unit_mapping(
        unit.and_then(|u| u.identifier.as_deref()).unwrap_or(""),
        unit.and_then(|u| u.display_name.as_deref()).unwrap_or(""),
    )
}

pub(super) fn metrics_series(b: &mut Builder, app: &Labels, scope: Scope<'_>, xm: &XcodeMetrics) {
    for (platform, category, metric) in xm.metrics() {
        one_metric(b, app, scope, platform, category, metric);
    }
}

/// The names of one Apple metric's families and its unit: the same for
/// every app and build that reports the metric in the same unit, so the
/// mapping makes them once per metric and unit, not once per app and build
/// (six names and a unit were about a tenth of the mapping's time).
pub(super) struct MetricNames {
    unit: UnitMapping,
    phrase: String,
    value: String,
    margin: String,
    lower: String,
    upper: String,
    recommended: String,
}

impl MetricNames {
    fn new(id: &str, unit: UnitMapping) -> Self {
        Self {
            phrase: unit.phrase(),
            value: metric_family_name(id, &unit),
            margin: compose_name(&[], id, &["error", "margin"], &unit),
            lower: compose_name(&[], id, &["goal", "lower", "bound"], &unit),
            upper: compose_name(&[], id, &["goal", "upper", "bound"], &unit),
            recommended: compose_name(&[], id, &["recommended", "goal"], &unit),
            unit,
        }
    }
}

/// The [`MetricNames`] of `metric`, from the builder's cache (keyed by the
/// metric's identifier and its unit as Apple gives it).
fn names_of(b: &mut Builder, metric: &AscMetric) -> Rc<MetricNames> {
    let unit = metric.unit.as_ref();
    // A missing unit part makes the same unit as an empty one
    // (`metric_unit`), so both key alike. The lengths in front keep any
    // two different triples apart, whatever characters they hold.
    let id = metric.id();
    let identifier = unit.and_then(|u| u.identifier.as_deref()).unwrap_or("");
    let display = unit.and_then(|u| u.display_name.as_deref()).unwrap_or("");
    let key = format!(
        "{}:{}:{id}{identifier}{display}",
        id.len(),
        identifier.len()
    );
    if let Some(names) = b.metric_names.get(&key) {
        return names.clone();
    }
    let names = Rc::new(MetricNames::new(id, metric_unit(metric)));
    b.metric_names.insert(key, names.clone());
    names
}

/// The symbols of the few distinct strings a loop meets over and over:
/// found by comparing a few short strings, not by hashing each one. Past
/// [`Few::MAX`] strings it interns as usual.
#[derive(Default)]
struct Few<'a>(Vec<(&'a str, Sym)>);

impl<'a> Few<'a> {
    const MAX: usize = 8;

    fn sym(&mut self, b: &mut Builder, s: &'a str) -> Sym {
        if let Some(&(_, sym)) = self.0.iter().find(|(k, _)| *k == s) {
            return sym;
        }
        let sym = b.sym(s);
        if self.0.len() < Self::MAX {
            self.0.push((s, sym));
        }
        sym
    }
}

fn one_metric(
    b: &mut Builder,
    app: &Labels,
    scope: Scope<'_>,
    platform: &str,
    category: &MetricCategory,
    metric: &AscMetric,
) {
    let id = metric.id();
    let names = names_of(b, metric);
    let MetricNames {
        unit,
        phrase,
        value: value_name,
        margin: margin_name,
        lower: lower_name,
        upper: upper_name,
        recommended: recommended_name,
    } = &*names;

    let mut base = app.clone();
    base.push(b.label(n::PLATFORM, platform));
    base.push(b.label(n::CATEGORY, category.id()));
    let metric_label = b.label(n::METRIC, id);
    let fallback_version = b.sym(scope.fallback_version());

    for gk in &metric.goal_keys {
        let mut labels = base.clone();
        labels.push(b.label(n::GOAL, gk.goal_key.as_deref().unwrap_or_default()));
        scope.push_build(&mut labels);
        if let Some(lower) = gk.lower_bound {
            b.gauge(
                lower_name,
                O_GOAL_LOWER,
                unit,
                || format!("Lower bound of each goal band of Apple metric {id} {phrase}."),
                &labels,
                unit.convert(lower),
            );
        }
        if let Some(upper) = gk.upper_bound {
            b.gauge(
                upper_name,
                O_GOAL_UPPER,
                unit,
                || format!("Upper bound of each goal band of Apple metric {id} {phrase}; an open-ended band has none."),
                &labels,
                unit.convert(upper),
            );
        }
    }

    // Label buffers reused for every point: no allocation per series.
    let mut labels: Labels = Vec::with_capacity(base.len() + 6);
    let mut cross: Labels = Vec::with_capacity(base.len() + 6);
    let mut extra: Labels = Vec::with_capacity(base.len() + 8);
    let (mut value_family, mut margin_family) = (None, None);
    let (mut goal_family, mut breakdown_family) = (None, None);
    // A metric's datasets (one per device and percentile) mostly list the
    // same versions in the same order: a point's version is compared with
    // the one at its place in the dataset before, and interned (hashed)
    // only when it differs.
    let mut versions: Vec<(&str, Sym)> = Vec::new();
    // Goals (`good`, `fair`, ...) and subsystems are a handful of values
    // repeated on most points.
    let (mut goals, mut subsystems) = (Few::default(), Few::default());
    for ds in &metric.datasets {
        let fc = &ds.filter_criteria;
        let device = b.label(n::DEVICE, fc.device());
        let device_name = b.label(n::DEVICE_NAME, fc.device_name());
        let percentile = b.label(n::PERCENTILE, percentile_label(fc.percentile()));

        if let Some(goal) = ds.recommended_metric_goal.as_ref().and_then(|g| g.value) {
            let mut labels = base.clone();
            labels.extend([device, device_name, percentile]);
            scope.push_build(&mut labels);
            b.gauge(
                recommended_name,
                O_RECOMMENDED,
                unit,
                || format!("Apple's recommended goal for metric {id} {phrase}, per device and percentile."),
                &labels,
                unit.convert(goal),
            );
        }

        for (i, p) in ds.points.iter().enumerate() {
            let version = match p.version.as_deref() {
                Some(v) => match versions.get(i) {
                    Some(&(known, sym)) if known == v => (n::VERSION, sym),
                    _ => {
                        let sym = b.sym(v);
                        // Kept at place `i` only: after a point without a
                        // version the list can be shorter than `i`, and a
                        // push would file this one at a wrong place.
                        if i < versions.len() {
                            versions[i] = (v, sym);
                        } else if i == versions.len() {
                            versions.push((v, sym));
                        }
                        (n::VERSION, sym)
                    }
                },
                None => (n::VERSION, fallback_version),
            };
            labels.clear();
            labels.extend_from_slice(&base);
            labels.extend([version, device, device_name, percentile]);
            scope.push_build(&mut labels);

            if let Some(v) = p.value {
                b.add_cached(
                    &mut value_family,
                    value_name,
                    O_VALUE,
                    Kind::Gauge,
                    unit,
                    || {
                        format!(
                            "Apple metric {id} {phrase}, per app version, device and percentile."
                        )
                    },
                    &labels,
                    unit.convert(v),
                );
            }
            if let Some(m) = p.error_margin {
                b.add_cached(
                    &mut margin_family,
                    margin_name,
                    O_MARGIN,
                    Kind::Gauge,
                    unit,
                    || format!("Error margin of Apple metric {id} {phrase}, per app version, device and percentile."),
                    &labels,
                    unit.convert(m),
                );
            }

            // Cross-metric, unitless families: `metric` label after `category`.
            if p.goal.is_none() && p.percentage_breakdown.is_empty() {
                continue;
            }
            cross.clear();
            cross.extend_from_slice(&base);
            cross.extend([metric_label, version, device, device_name, percentile]);
            if let Some(goal) = &p.goal {
                extra.clear();
                extra.extend_from_slice(&cross);
                extra.push((n::GOAL, goals.sym(b, goal)));
                scope.push_build(&mut extra);
                b.fixed_cached(
                    &mut goal_family,
                    METRIC_GOAL_INFO,
                    Kind::Gauge,
                    "The goal band (good, fair, poor, ...) a metric value falls in, per app version, device and percentile: always 1, band in the goal label.",
                    &extra,
                    1.0,
                );
            }
            for share in &p.percentage_breakdown {
                let Some(v) = share.value else { continue };
                extra.clear();
                extra.extend_from_slice(&cross);
                extra.push((
                    n::SUBSYSTEM,
                    subsystems.sym(b, share.sub_system_label.as_deref().unwrap_or_default()),
                ));
                scope.push_build(&mut extra);
                b.fixed_cached(
                    &mut breakdown_family,
                    METRIC_BREAKDOWN,
                    Kind::Gauge,
                    "Share of a metric value attributed to a subsystem (Apple's percentageBreakdown) as a ratio, per app version, device and percentile.",
                    &extra,
                    scale(v, 1e-2),
                );
            }
        }
    }
}

/// The metric an insight refers to: exact identifier first, then
/// case-insensitive.
fn insight_metric<'a>(
    xm: &'a XcodeMetrics,
    id: &str,
) -> Option<(&'a MetricCategory, &'a AscMetric)> {
    xm.metrics()
        .find(|(_, _, m)| m.id() == id)
        .map(|(_, c, m)| (c, m))
        .or_else(|| xm.find_metric(id))
}

pub(super) fn insight_series(b: &mut Builder, app: &Labels, scope: Scope<'_>, xm: &XcodeMetrics) {
    let Some(insights) = &xm.insights else {
        return;
    };
    let kinds: [(&str, &'static str, &str, &[MetricsInsight]); 2] = [
        (
            "regression",
            INSIGHT_REGRESSION_DELTA,
            "Apple regression insight: change of the latest version against the reference versions' average, as a ratio (0.1 = +10 %), per device and percentile.",
            &insights.regressions,
        ),
        (
            "trending_up",
            INSIGHT_TRENDING_UP_DELTA,
            "Apple trending-up insight: change of the latest version against the reference versions' average, as a ratio (0.1 = +10 %), per device and percentile.",
            &insights.trending_up,
        ),
    ];
    for (kind, delta_name, delta_help, list) in kinds {
        for insight in list {
            let id = insight.metric.as_deref().unwrap_or("");
            let found = insight_metric(xm, id);
            let unit = found.map_or_else(UnitMapping::none, |(_, m)| metric_unit(m));
            let phrase = if found.is_some() {
                unit.phrase()
            } else {
                "in Apple's unit (metric not in the data)".to_string()
            };
            let category = insight
                .metric_category
                .as_deref()
                .or(found.map(|(c, _)| c.id()))
                .unwrap_or("");
            let latest_name = compose_name(&["insight", kind, "latest"], id, &[], &unit);
            let reference_name = compose_name(&["insight", kind, "reference"], id, &[], &unit);
            let label_kind = kind.replace('_', "-");
            for pop in &insight.populations {
                let mut labels = app.clone();
                labels.push(b.label(n::CATEGORY, category));
                labels.push(b.label(n::METRIC, id));
                labels.push(b.label(n::DEVICE, pop.device.as_deref().unwrap_or_default()));
                labels.push(b.label(
                    n::PERCENTILE,
                    percentile_label(pop.percentile.as_deref().unwrap_or("")),
                ));
                labels.push(b.label(
                    n::LATEST_VERSION,
                    insight.latest_version.as_deref().unwrap_or_default(),
                ));
                labels.push(b.label(
                    n::HIGH_IMPACT,
                    if insight.high_impact.unwrap_or(false) {
                        "true"
                    } else {
                        "false"
                    },
                ));
                scope.push_build(&mut labels);
                if let Some(d) = pop.delta_percentage {
                    b.fixed(delta_name, Kind::Gauge, delta_help, &labels, scale(d, 1e-2));
                }
                if let Some(v) = pop.latest_version_value {
                    b.gauge(
                        &latest_name,
                        O_INSIGHT_LATEST,
                        &unit,
                        || format!("Apple {label_kind} insight on metric {id}: the latest version's value {phrase}, per device and percentile."),
                        &labels,
                        unit.convert(v),
                    );
                }
                if let Some(v) = pop.reference_average_value {
                    b.gauge(
                        &reference_name,
                        O_INSIGHT_REFERENCE,
                        &unit,
                        || format!("Apple {label_kind} insight on metric {id}: the reference versions' average value {phrase}, per device and percentile."),
                        &labels,
                        unit.convert(v),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::mapping::n;

    fn points(versions: &[Option<&str>]) -> serde_json::Value {
        versions
            .iter()
            .enumerate()
            .map(|(i, v)| serde_json::json!({"version": v, "value": i as f64 + 0.5}))
            .collect()
    }

    /// Datasets whose versions differ in order, number and presence get
    /// each point's own version, though versions are looked up by place.
    #[test]
    fn every_point_keeps_its_version() {
        let datasets: Vec<(&str, Vec<Option<&str>>)> = vec![
            ("a", vec![Some("1.0"), Some("1.1"), Some("1.2")]),
            ("b", vec![Some("1.1"), None, Some("1.0"), Some("1.3")]),
            ("c", vec![Some("1.1"), Some("1.1")]),
            (
                "d",
                vec![
                    Some("1.0"),
                    Some("1.1"),
                    Some("1.2"),
                    Some("2.0"),
                    Some("1.3"),
                ],
            ),
        ];
        let doc = serde_json::json!({"productData": [{"platform": "iOS", "metricCategories": [{
            "identifier": "LAUNCH",
            "metrics": [{
                "identifier": "launchTime",
                "unit": {"identifier": "ms", "displayName": "ms"},
                "datasets": datasets.iter().map(|(device, versions)| serde_json::json!({
                    "filterCriteria": {"device": device, "percentile": "percentile.fifty"},
                    "points": points(versions),
                })).collect::<Vec<_>>(),
            }],
        }]}]});
        let xm: XcodeMetrics = serde_json::from_value(doc).unwrap();
        let mut b = Builder::new();
        let app = vec![b.label(n::APP, "A")];
        metrics_series(&mut b, &app, Scope::App, &xm);
        metrics_series(&mut b, &app, Scope::App, &xm);
        // The second app (the same metric) reused the first one's names.
        assert_eq!(b.metric_names.len(), 1);
        let set = b.finish();
        let f = set.get("asc_launch_time_seconds").unwrap();
        let mut got: Vec<(String, String, f64)> = f
            .series
            .iter()
            .map(|s| {
                let labels: Vec<(&str, &str)> = set.labels(f, s).collect();
                let get = |name: &str| {
                    labels
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or("-", |(_, v)| v)
                        .to_string()
                };
                (get("device"), get("version"), s.value * 1e3)
            })
            .collect();
        got.sort_by(|a, b| (&a.0, a.2).partial_cmp(&(&b.0, b.2)).unwrap());
        let mut want: Vec<(String, String, f64)> = datasets
            .iter()
            .flat_map(|(device, versions)| {
                versions.iter().enumerate().map(|(i, v)| {
                    (
                        device.to_string(),
                        v.unwrap_or("").to_string(),
                        i as f64 + 0.5,
                    )
                })
            })
            .collect();
        // "c" has 1.1 twice: the first is kept, as for any duplicate.
        want.retain(|(d, _, value)| !(d == "c" && *value == 1.5));
        want.sort_by(|a, b| (&a.0, a.2).partial_cmp(&(&b.0, b.2)).unwrap());
        assert_eq!(got, want);
    }

    /// Goals and subsystems (looked up among the few seen before, more
    /// than [`Few::MAX`] of them here) are each point's own.
    #[test]
    fn goals_and_subsystems_are_each_points_own() {
        let goals = ["good", "fair", "poor", "fair"];
        let subsystems: Vec<String> = (0..11).map(|i| format!("sub{i}")).collect();
        let points: Vec<serde_json::Value> = (0..12)
            .map(|i| {
                let shares: Vec<serde_json::Value> = (0..=i % 11)
                    .map(|k| {
                        serde_json::json!({
                            "subSystemLabel": subsystems[(i + k) % 11],
                            "value": (i * 100 + k) as f64,
                        })
                    })
                    .collect();
                serde_json::json!({
                    "version": format!("1.{i}"),
                    "value": 1.0,
                    "goal": goals[i % 4],
                    "percentageBreakdown": shares,
                })
            })
            .collect();
        let doc = serde_json::json!({"productData": [{"platform": "iOS", "metricCategories": [{
            "identifier": "DISK",
            "metrics": [{
                "identifier": "writes",
                "datasets": [{"filterCriteria": {"device": "d"}, "points": points}],
            }],
        }]}]});
        let xm: XcodeMetrics = serde_json::from_value(doc).unwrap();
        let mut b = Builder::new();
        let app = vec![b.label(n::APP, "A")];
        metrics_series(&mut b, &app, Scope::App, &xm);
        let set = b.finish();
        let label = |f: &crate::export::model::Family, s, name: &str| {
            set.labels(f, s)
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .unwrap()
        };
        let f = set.get(METRIC_GOAL_INFO).unwrap();
        let mut got: Vec<(String, String)> = f
            .series
            .iter()
            .map(|s| (label(f, s, "version"), label(f, s, "goal")))
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = (0..12)
            .map(|i| (format!("1.{i}"), goals[i % 4].to_string()))
            .collect();
        want.sort();
        assert_eq!(got, want);
        let f = set.get(METRIC_BREAKDOWN).unwrap();
        let mut got: Vec<(String, String, i64)> = f
            .series
            .iter()
            .map(|s| {
                (
                    label(f, s, "version"),
                    label(f, s, "subsystem"),
                    (s.value * 100.0).round() as i64,
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(String, String, i64)> = (0..12)
            .flat_map(|i| {
                let subsystems = &subsystems;
                (0..=i % 11).map(move |k| {
                    (
                        format!("1.{i}"),
                        subsystems[(i + k) % 11].clone(),
                        (i * 100 + k) as i64,
                    )
                })
            })
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    /// The names and unit are cached per metric and unit: the same metric
    /// in another unit converts by its own.
    #[test]
    fn a_metric_in_another_unit_converts_by_its_own() {
        let doc = |unit: &str, value: f64| -> XcodeMetrics {
            serde_json::from_value(serde_json::json!({"productData": [{"platform": "iOS", "metricCategories": [{
                "identifier": "LAUNCH",
                "metrics": [{
                    "identifier": "launchTime",
                    "unit": {"identifier": unit, "displayName": unit},
                    "datasets": [{"filterCriteria": {"device": "d"}, "points": [{"version": "1.0", "value": value}]}],
                }],
            }]}]}))
            .unwrap()
        };
        let mut b = Builder::new();
        for (app, unit, value) in [("A", "ms", 768.7), ("B", "s", 2.5), ("C", "ms", 1.0)] {
            let labels = vec![b.label(n::APP, app)];
            metrics_series(&mut b, &labels, Scope::App, &doc(unit, value));
        }
        assert_eq!(b.metric_names.len(), 2);
        let set = b.finish();
        let f = set.get("asc_launch_time_seconds").unwrap();
        let got: Vec<(String, f64)> = f
            .series
            .iter()
            .map(|s| {
                let app = set.labels(f, s).find(|(n, _)| *n == "app").unwrap().1;
                (app.to_string(), s.value)
            })
            .collect();
        assert_eq!(
            got,
            [("A".into(), 0.7687), ("B".into(), 2.5), ("C".into(), 0.001)]
        );
    }
}
