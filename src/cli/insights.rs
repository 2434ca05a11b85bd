//! `insights`: an app's regressions and trending-up metrics, each joined
//! to the datasets its populations refer to (get-metrics-insights.py parity:
//! metric whose identifier == insight.metric, dataset whose
//! filterCriteria.device and percentile match the population).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::Context;
use super::render::{Table, dash, delta, opt_unit, with_unit};
use crate::asc::MetricsFilter;
use crate::asc::model::{
    Dataset, InsightPopulation, MetricsInsight, Unit, XcodeMetrics, percentile_label,
    percentile_matches,
};

/// Arguments of `insights`.
#[derive(Debug, Args)]
pub struct InsightsArgs {
    /// App Store Connect app id (numeric; see `apps`).
    pub app_id: String,
    /// Write the raw perfPowerMetrics response here, byte for byte
    /// (read it back with `parse metrics --input FILE`).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Only populations of this device (`all_iphones`, or a marketing name
    /// such as "All iPhones"; case-insensitive).
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Only populations of this percentile (`p50`, `p90`, `percentile.fifty`, …).
    #[arg(long, value_name = "P")]
    pub percentile: Option<String>,
}

/// Which list an insight came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InsightKind {
    Regression,
    TrendingUp,
}

impl InsightKind {
    pub fn title(self) -> &'static str {
        match self {
            InsightKind::Regression => "REGRESSION",
            InsightKind::TrendingUp => "TRENDING UP",
        }
    }
}

/// Population filters shared by `insights` and `parse metrics`.
#[derive(Debug, Clone, Default)]
pub struct PopulationFilter {
    pub device: Option<String>,
    pub percentile: Option<String>,
}

impl PopulationFilter {
    /// `device` matches Apple's id or the marketing name, case-insensitively.
    pub fn device_ok(&self, device: &str, marketing_name: &str) -> bool {
        device_matches(self.device.as_deref(), device, marketing_name)
    }
    pub fn percentile_ok(&self, percentile: &str) -> bool {
        self.percentile
            .as_deref()
            .is_none_or(|f| percentile_matches(f, percentile))
    }
    pub fn is_empty(&self) -> bool {
        self.device.is_none() && self.percentile.is_none()
    }
}

/// `filter` (if any) equals the device id or its marketing name, ignoring case.
pub fn device_matches(filter: Option<&str>, device: &str, marketing_name: &str) -> bool {
    filter.is_none_or(|f| {
        let f = f.trim();
        f.eq_ignore_ascii_case(device)
            || (!marketing_name.is_empty() && f.eq_ignore_ascii_case(marketing_name))
    })
}

/// One insight with its populations joined to their datasets.
#[derive(Debug, Clone, Serialize)]
pub struct InsightView {
    pub kind: InsightKind,
    /// Apple's insight; `populations` keeps only those passing the filters.
    pub insight: MetricsInsight,
    /// The metric's unit, from productData.
    pub unit: Option<Unit>,
    pub populations: Vec<PopulationView>,
}

/// A population and the dataset it refers to (absent when productData has none).
#[derive(Debug, Clone, Serialize)]
pub struct PopulationView {
    pub population: InsightPopulation,
    pub dataset: Option<Dataset>,
}

impl InsightView {
    pub fn unit_display(&self) -> &str {
        self.unit
            .as_ref()
            .and_then(|u| u.display_name.as_deref().or(u.identifier.as_deref()))
            .unwrap_or("")
    }
    /// The version the insight evaluates (falls back to the last point).
    pub fn latest_version(&self) -> Option<&str> {
        self.insight.latest_version.as_deref().or_else(|| {
            self.populations
                .iter()
                .filter_map(|p| p.dataset.as_ref()?.points.last()?.version.as_deref())
                .next()
        })
    }
}

/// Regressions then trending-up insights, each joined to its datasets and
/// filtered. An insight none of whose populations pass a filter is dropped.
pub fn join_insights(m: &XcodeMetrics, filter: &PopulationFilter) -> Vec<InsightView> {
    let Some(insights) = m.insights.as_ref() else {
        return Vec::new();
    };
    let lists = [
        (InsightKind::Regression, &insights.regressions),
        (InsightKind::TrendingUp, &insights.trending_up),
    ];
    let mut out = Vec::new();
    for (kind, list) in lists {
        for insight in list {
            let metric = insight
                .metric
                .as_deref()
                .and_then(|id| m.find_metric(id))
                .map(|(_, metric)| metric);
            let mut populations = Vec::new();
            for p in &insight.populations {
                let device = p.device.as_deref().unwrap_or("");
                let percentile = p.percentile.as_deref().unwrap_or("");
                let dataset = metric.and_then(|metric| {
                    metric.datasets.iter().find(|d| {
                        d.filter_criteria.device().eq_ignore_ascii_case(device)
                            && d.filter_criteria
                                .percentile()
                                .eq_ignore_ascii_case(percentile)
                    })
                });
                let marketing = dataset
                    .map(|d| d.filter_criteria.device_name())
                    .unwrap_or("");
                if filter.device_ok(device, marketing) && filter.percentile_ok(percentile) {
                    populations.push(PopulationView {
                        population: p.clone(),
                        dataset: dataset.cloned(),
                    });
                }
            }
            if populations.is_empty() && !(filter.is_empty() && insight.populations.is_empty()) {
                continue;
            }
            let mut insight = insight.clone();
            insight.populations = populations.iter().map(|p| p.population.clone()).collect();
            out.push(InsightView {
                kind,
                insight,
                unit: metric.and_then(|m| m.unit.clone()),
                populations,
            });
        }
    }
    out
}

/// An insight as text: a title line, Apple's summary, then per population
/// a header `metric (unit), device, percentile` and a version/value/error
/// margin table with the latest version marked.
pub fn render_insight(v: &InsightView) -> String {
    let mut out = String::new();
    let i = &v.insight;
    let unit = v.unit_display();
    let metric = i.metric.as_deref().unwrap_or("?");
    let mut title = format!("{}  {metric}", v.kind.title());
    if let Some(c) = i.metric_category.as_deref() {
        let _ = write!(title, " ({c})");
    }
    if let Some(l) = v.latest_version() {
        let _ = write!(title, ", latest version {l}");
    }
    if !i.reference_versions.is_empty() {
        let _ = write!(title, " vs {}", i.reference_versions.join(", "));
    }
    if i.high_impact == Some(true) {
        title.push_str("  [HIGH IMPACT]");
    }
    let _ = writeln!(out, "{title}");
    if let Some(s) = i.summary_string.as_deref() {
        let _ = writeln!(out, "{s}");
    }
    if let Some(max) = i.max_latest_version_value {
        let _ = writeln!(out, "max latest-version value: {}", with_unit(max, unit));
    }
    for pv in &v.populations {
        let p = &pv.population;
        let device = p.device.as_deref().unwrap_or("");
        let percentile = p.percentile.as_deref().unwrap_or("");
        out.push('\n');
        let name = pv
            .dataset
            .as_ref()
            .map(|d| d.filter_criteria.device_name().to_string())
            .unwrap_or_else(|| device.to_string());
        let _ = writeln!(
            out,
            "{metric} ({unit}), {name}, {}",
            percentile_label(percentile)
        );
        let mut line = String::from("population: ");
        if let Some(s) = p.summary_string.as_deref() {
            let _ = write!(line, "{s}; ");
        }
        let _ = write!(
            line,
            "latest {}, reference average {}, delta {}",
            opt_unit(p.latest_version_value, unit),
            opt_unit(p.reference_average_value, unit),
            p.delta_percentage.map(delta).unwrap_or_else(|| "-".into())
        );
        let _ = writeln!(out, "{line}");
        let Some(d) = pv.dataset.as_ref() else {
            let _ = writeln!(
                out,
                "(no dataset for device {device}, {percentile} in productData)"
            );
            continue;
        };
        let latest = v.latest_version().map(str::to_string).or_else(|| {
            d.points
                .last()
                .and_then(|p| p.version.as_deref().map(str::to_string))
        });
        let mut t = Table::new(["VERSION", "VALUE", "ERROR MARGIN", "GOAL", ""]).right(&[1, 2]);
        for pt in &d.points {
            let is_latest = pt.version.is_some() && pt.version.as_deref() == latest.as_deref();
            let note = if is_latest {
                let mut n = String::from("◀ latest");
                if let Some(dp) = p.delta_percentage {
                    let _ = write!(n, " {}", delta(dp));
                }
                if i.high_impact == Some(true) {
                    n.push_str(" HIGH IMPACT");
                }
                n
            } else if pt
                .version
                .as_deref()
                .is_some_and(|v| i.reference_versions.iter().any(|r| r == v))
            {
                "ref".to_string()
            } else {
                String::new()
            };
            t.row([
                dash(pt.version.as_deref()),
                opt_unit(pt.value, unit),
                pt.error_margin
                    .map(|e| format!("±{}", with_unit(e, unit)))
                    .unwrap_or_else(|| "-".into()),
                dash(pt.goal.as_deref()),
                note,
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

/// JSON output of `insights`.
#[derive(Debug, Serialize)]
pub struct InsightsOutput<'a> {
    pub app_id: &'a str,
    /// False when Apple returned an empty productData (not measured yet).
    pub has_data: bool,
    pub insights: Vec<InsightView>,
}

/// Fetches the app's metrics and prints its insights.
pub async fn run(args: InsightsArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let fetched = client
        .app_metrics(&args.app_id, &MetricsFilter::default())
        .await?;
    if let Some(path) = &args.save {
        super::write_file(path, &fetched.body)?;
        tracing::info!(path = %path.display(), bytes = fetched.body.len(), "saved response");
    }
    let metrics = &fetched.value;
    let filter = PopulationFilter {
        device: args.device.clone(),
        percentile: args.percentile.clone(),
    };
    let views = join_insights(metrics, &filter);
    if ctx.json() {
        return ctx.emit_json(&InsightsOutput {
            app_id: &args.app_id,
            has_data: metrics.has_data(),
            insights: views,
        });
    }
    let mut out = String::new();
    if views.is_empty() {
        let total = metrics
            .insights
            .as_ref()
            .map(|i| i.regressions.len() + i.trending_up.len())
            .unwrap_or(0);
        if !metrics.has_data() && total == 0 {
            let _ = writeln!(
                out,
                "No data for app {} (not measured yet): Apple needs enough usage before it reports metrics.",
                args.app_id
            );
        } else if total == 0 {
            let _ = writeln!(
                out,
                "No insights for app {}: no regressions or trending-up metrics.",
                args.app_id
            );
        } else {
            let _ = writeln!(
                out,
                "No insights for app {} match the filters ({total} insight(s) in total).",
                args.app_id
            );
        }
        return ctx.emit(&out);
    }
    for (n, v) in views.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&render_insight(v));
    }
    ctx.emit(&out)
}
