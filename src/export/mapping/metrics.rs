//! The series of Apple's metric documents (`XcodeMetrics`): each metric's
//! value per percentile and device with its error margin and goals, and
//! the insights (regressions, trending up) with their latest and reference
//! values; at app or build scope.

use super::{
    Builder, Kind, Labels, O_GOAL_LOWER, O_GOAL_UPPER, O_INSIGHT_LATEST, O_INSIGHT_REFERENCE,
    O_MARGIN, O_RECOMMENDED, O_VALUE, Scope, n,
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

fn one_metric(
    b: &mut Builder,
    app: &Labels,
    scope: Scope<'_>,
    platform: &str,
    category: &MetricCategory,
    metric: &AscMetric,
) {
    let id = metric.id();
    let unit = metric_unit(metric);
    let phrase = unit.phrase();
    let value_name = metric_family_name(id, &unit);
    let margin_name = compose_name(&[], id, &["error", "margin"], &unit);
    let lower_name = compose_name(&[], id, &["goal", "lower", "bound"], &unit);
    let upper_name = compose_name(&[], id, &["goal", "upper", "bound"], &unit);
    let recommended_name = compose_name(&[], id, &["recommended", "goal"], &unit);

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
                &lower_name,
                O_GOAL_LOWER,
                &unit,
                || format!("Lower bound of each goal band of Apple metric {id} {phrase}."),
                &labels,
                unit.convert(lower),
            );
        }
        if let Some(upper) = gk.upper_bound {
            b.gauge(
                &upper_name,
                O_GOAL_UPPER,
                &unit,
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
                &recommended_name,
                O_RECOMMENDED,
                &unit,
                || format!("Apple's recommended goal for metric {id} {phrase}, per device and percentile."),
                &labels,
                unit.convert(goal),
            );
        }

        for p in &ds.points {
            let version = match p.version.as_deref() {
                Some(v) => (n::VERSION, b.sym(v)),
                None => (n::VERSION, fallback_version),
            };
            labels.clear();
            labels.extend_from_slice(&base);
            labels.extend([version, device, device_name, percentile]);
            scope.push_build(&mut labels);

            if let Some(v) = p.value {
                b.add_cached(
                    &mut value_family,
                    &value_name,
                    O_VALUE,
                    Kind::Gauge,
                    &unit,
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
                    &margin_name,
                    O_MARGIN,
                    Kind::Gauge,
                    &unit,
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
                extra.push(b.label(n::GOAL, goal));
                scope.push_build(&mut extra);
                b.fixed(
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
                extra.push(b.label(
                    n::SUBSYSTEM,
                    share.sub_system_label.as_deref().unwrap_or_default(),
                ));
                scope.push_build(&mut extra);
                b.fixed(
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
