//! `parse metrics` and `parse diagnostics`: read saved perfPowerMetrics and
//! diagnosticLogs files offline (Apple's ppparser, including the
//! `--device`/`--platform` filters it documents but never implemented);
//! `parse overview` reads a saved performance overview (API 4.5), rendered
//! by [`super::overview`] as the `overview` command does.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::diagnostics::write_product_data;
use super::insights::{InsightView, PopulationFilter, device_matches, join_insights};
use super::render::{Table, dash, delta, num, opt_unit, with_unit};
use crate::asc::model::{DiagnosticLogs, Metric, XcodeMetrics, percentile_label};

mod document;
pub use document::{DocKind, Shape, load_document, wrong_kind};

/// `parse` subcommands.
#[derive(Debug, Subcommand)]
pub enum ParseCommand {
    /// Read a perfPowerMetrics (xcodeMetrics) JSON file.
    Metrics(ParseMetricsArgs),
    /// Read a diagnosticLogs JSON file.
    Diagnostics(ParseDiagnosticsArgs),
    /// Read a performanceOverviews (xcodeOverview, API 4.5) JSON file.
    Overview(ParseOverviewArgs),
}

/// Arguments of `parse metrics`.
#[derive(Debug, Args)]
pub struct ParseMetricsArgs {
    /// The saved perfPowerMetrics response (e.g. from `insights --save`).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Show this metric's datasets (identifier, case-insensitive, e.g. launchTime).
    #[arg(long, short = 'm', value_name = "METRIC")]
    pub metric: Option<String>,
    /// Only this device: Apple's id (`all_iphones`) or marketing name ("All iPhones").
    #[arg(long, short = 'd', value_name = "DEVICE")]
    pub device: Option<String>,
    /// Only this platform (`iOS`; case-insensitive, so `IOS` works too).
    #[arg(long, short = 'p', value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Only this percentile: p50, p90, percentile.fifty, percentile.ninety, typical, top.
    #[arg(long, value_name = "P")]
    pub percentile: Option<String>,
    /// Print Apple's insights (regressions and trending up) per population.
    #[arg(long, visible_alias = "auto_insights")]
    pub auto_insights: bool,
}

/// Arguments of `parse diagnostics`.
#[derive(Debug, Args)]
pub struct ParseDiagnosticsArgs {
    /// The saved diagnosticLogs response (e.g. from `diagnostics --save`).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// At most this many logs per signature.
    #[arg(long, short = 'l', default_value_t = 50)]
    pub limit: usize,
    /// Print each log's call-stack tree.
    #[arg(long)]
    pub callstack: bool,
}

/// Arguments of `parse overview`.
#[derive(Debug, Args)]
pub struct ParseOverviewArgs {
    /// The saved performanceOverviews response (e.g. from `overview --save`).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Only this device's datasets and insight populations: Apple's id
    /// (`all_iphones`) or marketing name ("All iPhones"), case-insensitive.
    #[arg(long, short = 'd', value_name = "DEVICE")]
    pub device: Option<String>,
}

/// Dispatches `parse` subcommands.
pub async fn run(cmd: ParseCommand, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        ParseCommand::Metrics(a) => run_metrics(a, ctx),
        ParseCommand::Diagnostics(a) => run_diagnostics(a, ctx),
        ParseCommand::Overview(a) => super::overview::run_parse(a, ctx),
    }
}

/// A metric with its platform and category; `metric.datasets` keeps only
/// the datasets that pass the filters.
#[derive(Debug, Clone, Serialize)]
pub struct MetricEntry {
    pub platform: String,
    pub category: String,
    pub metric: Metric,
}

/// JSON output of `parse metrics`.
#[derive(Debug, Serialize)]
pub struct ParseMetricsOutput {
    pub file: String,
    /// False when productData is empty (not measured yet).
    pub has_data: bool,
    pub metrics: Vec<MetricEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insights: Option<Vec<InsightView>>,
}

fn filters_text(a: &ParseMetricsArgs) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &a.device {
        parts.push(format!("--device {d}"));
    }
    if let Some(p) = &a.platform {
        parts.push(format!("--platform {p}"));
    }
    if let Some(p) = &a.percentile {
        parts.push(format!("--percentile {p}"));
    }
    parts.join(" ")
}

/// Every (device, percentile) pair present, for "available" hints.
fn available_datasets(m: &XcodeMetrics) -> String {
    let mut seen: Vec<String> = Vec::new();
    for (platform, _, metric) in m.metrics() {
        for d in &metric.datasets {
            let s = format!(
                "{} \"{}\" {} ({platform})",
                d.filter_criteria.device(),
                d.filter_criteria.device_name(),
                percentile_label(d.filter_criteria.percentile())
            );
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
    }
    seen.join(", ")
}

/// The metrics that pass the filters, each with only its passing datasets.
/// They are moved out of `m` (a big document is not held twice); a metric
/// none of whose datasets pass stays in `m`, so `m` is untouched when
/// nothing matches.
fn select_metrics(m: &mut XcodeMetrics, a: &ParseMetricsArgs) -> Vec<MetricEntry> {
    let filter = PopulationFilter {
        device: a.device.clone(),
        percentile: a.percentile.clone(),
    };
    let keep = |d: &crate::asc::model::Dataset| {
        device_matches(
            a.device.as_deref(),
            d.filter_criteria.device(),
            d.filter_criteria.device_name(),
        ) && filter.percentile_ok(d.filter_criteria.percentile())
    };
    let mut out = Vec::new();
    for p in &mut m.product_data {
        let platform = p.platform.as_deref().unwrap_or("");
        if a.platform
            .as_deref()
            .is_some_and(|want| !want.trim().eq_ignore_ascii_case(platform))
        {
            continue;
        }
        for category in &mut p.metric_categories {
            let category_id = category.id().to_string();
            for metric in &mut category.metrics {
                if a.metric
                    .as_deref()
                    .is_some_and(|want| !metric.id().eq_ignore_ascii_case(want.trim()))
                {
                    continue;
                }
                if !metric.datasets.iter().any(keep) {
                    continue;
                }
                let mut metric = std::mem::take(metric);
                metric.datasets.retain(keep);
                out.push(MetricEntry {
                    platform: platform.to_string(),
                    category: category_id.clone(),
                    metric,
                });
            }
        }
    }
    out
}

fn goal_bands(metric: &Metric) -> Option<String> {
    if metric.goal_keys.is_empty() {
        return None;
    }
    let unit = metric.unit_display();
    let bands: Vec<String> = metric
        .goal_keys
        .iter()
        .map(|g| {
            let name = g.goal_key.as_deref().unwrap_or("?");
            match (g.lower_bound, g.upper_bound) {
                (Some(l), Some(u)) => format!("{name} {}–{}", num(l), with_unit(u, unit)),
                (Some(l), None) => format!("{name} ≥{}", with_unit(l, unit)),
                (None, Some(u)) => format!("{name} <{}", with_unit(u, unit)),
                (None, None) => name.to_string(),
            }
        })
        .collect();
    Some(bands.join(", "))
}

/// A metric's datasets: header `metric (unit), device, percentile`, goals,
/// then version / value / error margin / goal rows.
fn render_metric_datasets(e: &MetricEntry) -> String {
    let mut out = String::new();
    let m = &e.metric;
    let unit = m.unit_display();
    for d in &m.datasets {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} ({unit}), {}, {}   [{}, {}]",
            m.id(),
            d.filter_criteria.device_name(),
            percentile_label(d.filter_criteria.percentile()),
            dash(Some(&e.category)),
            dash(Some(&e.platform)),
        );
        if let Some(b) = goal_bands(m) {
            let _ = writeln!(out, "goals: {b}");
        }
        if let Some(g) = &d.recommended_metric_goal {
            let _ = writeln!(
                out,
                "recommended goal: {}{}",
                opt_unit(g.value, unit),
                g.detail
                    .as_deref()
                    .map(|s| format!(" - {s}"))
                    .unwrap_or_default()
            );
        }
        // The breakdown column only when some point has one (battery-style metrics).
        let breakdowns = d.points.iter().any(|p| !p.percentage_breakdown.is_empty());
        let mut headers = vec!["VERSION", "VALUE", "ERROR MARGIN", "GOAL"];
        if breakdowns {
            headers.push("BREAKDOWN");
        }
        let mut t = Table::new(headers).right(&[1, 2]);
        for p in &d.points {
            let breakdown: Vec<String> = p
                .percentage_breakdown
                .iter()
                .map(|b| {
                    format!(
                        "{} {}",
                        dash(b.sub_system_label.as_deref()),
                        b.value.map(|v| format!("{}%", num(v))).unwrap_or_default()
                    )
                })
                .collect();
            t.row([
                dash(p.version.as_deref()),
                opt_unit(p.value, unit),
                p.error_margin
                    .map(|e| format!("±{}", with_unit(e, unit)))
                    .unwrap_or_else(|| "-".into()),
                dash(p.goal.as_deref()),
                breakdown.join(", "),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

/// All datasets, one row each.
fn write_overview<W: std::fmt::Write + ?Sized>(
    out: &mut W,
    entries: &[MetricEntry],
) -> std::fmt::Result {
    let t = Table::new([
        "PLATFORM",
        "CATEGORY",
        "METRIC",
        "UNIT",
        "DEVICE",
        "PERCENTILE",
        "POINTS",
        "LATEST",
    ])
    .right(&[6]);
    // Rows are made twice (sizing, printing) rather than held: a big file
    // has one row per dataset.
    let rows = || {
        entries.iter().flat_map(|e| {
            e.metric.datasets.iter().map(move |d| {
                let latest = d
                    .points
                    .last()
                    .map(|p| {
                        format!(
                            "{} = {}",
                            dash(p.version.as_deref()),
                            opt_unit(p.value, e.metric.unit_display())
                        )
                    })
                    .unwrap_or_else(|| "-".into());
                vec![
                    dash(Some(&e.platform)),
                    dash(Some(&e.category)),
                    e.metric.id().to_string(),
                    dash(Some(e.metric.unit_display())),
                    dash(Some(d.filter_criteria.device_name())),
                    percentile_label(d.filter_criteria.percentile()).to_string(),
                    d.points.len().to_string(),
                    latest,
                ]
            })
        })
    };
    t.write_streamed(out, rows)
}

/// ppparser's `--auto_insights`: per insight the summary, then per
/// population metric, device, latest value and delta.
fn render_auto_insights(views: &[InsightView]) -> String {
    let mut out = String::new();
    for (kind, title) in [
        (super::insights::InsightKind::TrendingUp, "Trending up"),
        (super::insights::InsightKind::Regression, "Regressions"),
    ] {
        let list: Vec<&InsightView> = views.iter().filter(|v| v.kind == kind).collect();
        if !out.is_empty() {
            out.push('\n');
        }
        if list.is_empty() {
            let _ = writeln!(out, "{title}: none");
            continue;
        }
        let _ = writeln!(out, "{title} ({}):", list.len());
        for v in list {
            let i = &v.insight;
            let unit = v.unit_display();
            let mut head = format!(
                "- {}",
                i.summary_string.as_deref().unwrap_or("(no summary)")
            );
            if i.high_impact == Some(true) {
                head.push_str(" [HIGH IMPACT]");
            }
            let _ = writeln!(out, "{head}");
            let mut t = Table::new([
                "METRIC",
                "DEVICE",
                "PERCENTILE",
                "LATEST VERSION",
                "LATEST VALUE",
                "REFERENCE AVG",
                "DELTA",
            ])
            .right(&[4, 5, 6]);
            for p in &v.populations {
                let p = &p.population;
                t.row([
                    dash(i.metric.as_deref()),
                    dash(p.device.as_deref()),
                    percentile_label(p.percentile.as_deref().unwrap_or("")).to_string(),
                    dash(v.latest_version()),
                    opt_unit(p.latest_version_value, unit),
                    opt_unit(p.reference_average_value, unit),
                    p.delta_percentage.map(delta).unwrap_or_else(|| "-".into()),
                ]);
            }
            for line in t.render().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

fn run_metrics(a: ParseMetricsArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut m: XcodeMetrics = load_document(&a.input, DocKind::Metrics)?;
    let file = a.input.display().to_string();
    let has_data = m.has_data();
    if let Some(want) = a.metric.as_deref()
        && has_data
        && m.find_metric(want.trim()).is_none()
    {
        let ids: Vec<&str> = m.metrics().map(|(_, _, x)| x.id()).collect();
        anyhow::bail!(
            "metric '{want}' not found in {file}; available metrics: {}",
            ids.join(", ")
        );
    }
    // Insights first: they look datasets up in `m`, which selection empties.
    let insights = a.auto_insights.then(|| {
        let filter = PopulationFilter {
            device: a.device.clone(),
            percentile: a.percentile.clone(),
        };
        let mut v = join_insights(&m, &filter);
        if let Some(want) = a.metric.as_deref() {
            v.retain(|i| {
                i.insight
                    .metric
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(want.trim()))
            });
        }
        v
    });
    let entries = select_metrics(&mut m, &a);
    if ctx.json() {
        drop(m);
        return ctx.emit_json(&ParseMetricsOutput {
            file,
            has_data,
            metrics: entries,
            insights,
        });
    }
    let mut out = ctx.text_out();
    let _ = write_metrics_text(
        &mut out,
        &a,
        &file,
        &m,
        has_data,
        &entries,
        insights.as_deref(),
    );
    ctx.finish(out)
}

/// The text of `parse metrics`, streamed to `out`.
fn write_metrics_text<W: std::fmt::Write>(
    out: &mut W,
    a: &ParseMetricsArgs,
    file: &str,
    m: &XcodeMetrics,
    has_data: bool,
    entries: &[MetricEntry],
    insights: Option<&[InsightView]>,
) -> std::fmt::Result {
    let mut wrote = false;
    let show_metrics = a.metric.is_some() || !a.auto_insights;
    if show_metrics {
        wrote = true;
        if !has_data {
            writeln!(
                out,
                "{file}: no data (not measured yet): productData is empty; Apple reports metrics only after enough devices have used the app."
            )?;
        } else if entries.is_empty() {
            writeln!(
                out,
                "{file}: no datasets match {}; available: {}",
                filters_text(a),
                available_datasets(m)
            )?;
        } else if a.metric.is_some() {
            for (n, e) in entries.iter().enumerate() {
                if n > 0 {
                    out.write_char('\n')?;
                }
                out.write_str(&render_metric_datasets(e))?;
            }
        } else {
            write_overview(out, entries)?;
        }
    }
    if let Some(views) = insights {
        if wrote {
            out.write_char('\n')?;
        }
        out.write_str(&render_auto_insights(views))?;
    }
    Ok(())
}

fn run_diagnostics(a: ParseDiagnosticsArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut logs: DiagnosticLogs = load_document(&a.input, DocKind::DiagnosticLogs)?;
    if ctx.json() {
        // What text shows: at most `limit` logs, call stacks only on request.
        for pd in &mut logs.product_data {
            pd.diagnostic_logs.truncate(a.limit);
            if !a.callstack {
                for l in &mut pd.diagnostic_logs {
                    l.call_stack_tree.clear();
                }
            }
        }
        return ctx.emit_json(&logs);
    }
    let mut out = ctx.text_out();
    let _ = write_diagnostics_text(&mut out, &a, &logs);
    ctx.finish(out)
}

/// The text of `parse diagnostics`, streamed to `out`.
fn write_diagnostics_text<W: std::fmt::Write>(
    out: &mut W,
    a: &ParseDiagnosticsArgs,
    logs: &DiagnosticLogs,
) -> std::fmt::Result {
    if logs.product_data.is_empty() {
        writeln!(
            out,
            "{}: no diagnostic logs (productData is empty).",
            a.input.display()
        )?;
    }
    for (n, pd) in logs.product_data.iter().enumerate() {
        if n > 0 {
            out.write_char('\n')?;
        }
        writeln!(out, "signatureId: {}", dash(pd.signature_id.as_deref()))?;
        write_product_data(out, pd, a.limit, a.callstack, "  ")?;
    }
    Ok(())
}
