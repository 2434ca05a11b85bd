//! What the configuration excludes from the fetched data: datasets and
//! insight populations of devices outside `refresh.devices` (wildcards),
//! and percentage breakdowns when `refresh.percentage_breakdowns` is off,
//! in perfPowerMetrics and in the performance overview alike.

use super::runner::RefreshOptions;
use crate::asc::model::{Dataset, Insights, XcodeMetrics, XcodeOverview};

/// Drops what the configuration excludes: datasets and insight populations
/// of devices not in `devices`, and percentage breakdowns when disabled.
pub fn prune(m: &mut XcodeMetrics, opts: &RefreshOptions) {
    for p in &mut m.product_data {
        for c in &mut p.metric_categories {
            for metric in &mut c.metrics {
                prune_datasets(&mut metric.datasets, opts);
            }
        }
    }
    if let Some(insights) = &mut m.insights {
        prune_insights(insights, opts);
    }
}

/// [`prune`] for the performance overview: the same rules on its sections'
/// datasets and its insights (its call sites have no device).
pub fn prune_overview(o: &mut XcodeOverview, opts: &RefreshOptions) {
    for c in &mut o.categories {
        for section in &mut c.sections {
            prune_datasets(&mut section.datasets, opts);
        }
    }
    if let Some(insights) = &mut o.insights {
        prune_insights(insights, opts);
    }
}

fn keep(opts: &RefreshOptions, device: Option<&str>) -> bool {
    opts.refresh.devices.is_empty()
        || opts
            .refresh
            .devices
            .iter()
            .any(|pattern| wildcard_match(pattern, device.unwrap_or("")))
}

fn prune_datasets(datasets: &mut Vec<Dataset>, opts: &RefreshOptions) {
    datasets.retain(|d| keep(opts, d.filter_criteria.device.as_deref()));
    if !opts.refresh.percentage_breakdowns {
        for d in datasets {
            for point in &mut d.points {
                point.percentage_breakdown.clear();
            }
        }
    }
}

fn prune_insights(insights: &mut Insights, opts: &RefreshOptions) {
    for i in insights
        .regressions
        .iter_mut()
        .chain(insights.trending_up.iter_mut())
    {
        i.populations.retain(|p| keep(opts, p.device.as_deref()));
    }
    insights.regressions.retain(|i| !i.populations.is_empty());
    insights.trending_up.retain(|i| !i.populations.is_empty());
}

/// `*` (any run) and `?` (any one character) wildcards, case-insensitive.
/// Hand-written: eight lines do not justify a glob crate, and device ids
/// are short.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (
        pattern.to_lowercase().chars().collect(),
        text.to_lowercase().chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("all_*", "all_iphones"));
        assert!(wildcard_match("ALL_IPHONES", "all_iphones"));
        assert!(wildcard_match("iPhone15?2", "iPhone15,2"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("all_*", "iPhone15,2"));
        assert!(!wildcard_match("all_iphones", "all_iphones_x"));
        assert!(wildcard_match("i*e*s", "iphones"));
    }

    #[test]
    fn pruning_keeps_allowed_devices_and_drops_breakdowns() {
        let mut m: XcodeMetrics = serde_json::from_value(serde_json::json!({
            "insights": {"regressions": [
                {"metric": "m", "populations": [{"device": "all_iphones", "deltaPercentage": 10}, {"device": "iPhone15,2", "deltaPercentage": 20}]},
                {"metric": "n", "populations": [{"device": "iPad13,1", "deltaPercentage": 30}]}
            ]},
            "productData": [{"platform": "iOS", "metricCategories": [{"identifier": "BATTERY", "metrics": [{"identifier": "m", "datasets": [
                {"filterCriteria": {"device": "all_iphones"}, "points": [{"version": "1", "value": 1, "percentageBreakdown": [{"value": 60, "subSystemLabel": "CPU"}]}]},
                {"filterCriteria": {"device": "iPhone15,2"}, "points": [{"version": "1", "value": 2}]}
            ]}]}]}]
        }))
        .unwrap();
        let mut opts = RefreshOptions::from(&Config::default());
        let mut all = m.clone();
        prune(&mut all, &opts);
        assert_eq!(all, m, "defaults keep everything");
        opts.refresh.devices = vec!["all_*".into()];
        opts.refresh.percentage_breakdowns = false;
        prune(&mut m, &opts);
        let datasets = &m.product_data[0].metric_categories[0].metrics[0].datasets;
        assert_eq!(datasets.len(), 1);
        assert_eq!(
            datasets[0].filter_criteria.device.as_deref(),
            Some("all_iphones")
        );
        assert!(datasets[0].points[0].percentage_breakdown.is_empty());
        let regressions = &m.insights.as_ref().unwrap().regressions;
        assert_eq!(
            regressions.len(),
            1,
            "an insight left without populations goes"
        );
        assert_eq!(regressions[0].populations.len(), 1);
    }
}
