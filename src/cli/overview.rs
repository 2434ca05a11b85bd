//! `overview APP_ID` and `parse overview --input FILE`: API 4.5's
//! performance overview (`GET /v1/apps/{id}/performanceOverviews`), the
//! page Xcode Organizer opens with: per category and section the latest
//! value of each dataset against Apple's recommended goal, the insights
//! (joined to the overview's own datasets as `insights` joins
//! perfPowerMetrics'), and the top hang, launch and disk-write call sites as
//! `file:line` with count, weight, trend and the earlier versions' values.
//!
//! Both commands render the same [`OverviewView`]; a 404 from `overview` is
//! "not measured" when the app exists (one more request, `GET /v1/apps/{id}`,
//! tells the two apart) and Apple's error otherwise.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::Context;
use super::insights::{InsightView, PopulationFilter, device_matches, join_insights};
use super::parse::{DocKind, ParseOverviewArgs, load_document};
use super::render::{Table, dash, delta, num, opt_unit};
use crate::asc::client::OverviewFilter;
use crate::asc::model::{
    AppMetadata, OverviewCategory, PerformanceSignature, XcodeOverview, percentile_label,
};

/// Arguments of `overview`.
#[derive(Debug, Args)]
pub struct OverviewArgs {
    /// App Store Connect app id (numeric; see `apps`).
    pub app_id: String,
    /// Only this device: Apple's device id (`all_iphones`, `iPhone15,2`),
    /// sent as `filter[deviceType]`; insight populations are filtered too.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Write the raw performanceOverviews response here, byte for byte
    /// (read it back with `parse overview --input FILE`).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// One top call site as the commands show it.
#[derive(Debug, Clone, Serialize)]
pub struct CallSiteView {
    /// `HANGS`, `LAUNCHES` or `DISK_WRITES` (diagnosticSignatures' types).
    pub diagnostic_type: &'static str,
    /// `File.m:88` (`File.m` without a line), when Apple names a file.
    pub location: Option<String>,
    /// The weight as a fraction ([`PerformanceSignature::weight_fraction`]).
    pub weight_ratio: Option<f64>,
    /// Apple's entry as sent (camelCase).
    pub call_site: PerformanceSignature,
}

/// What `overview` and `parse overview` show (their `-o json` output,
/// beside `app_id` or `file`).
#[derive(Debug, Clone, Serialize)]
pub struct OverviewView {
    /// False when every list is empty or Apple answered 404 (not measured).
    pub has_data: bool,
    pub app_metadata: Option<AppMetadata>,
    /// The categories, each section's datasets passing the device filter,
    /// sections in Apple's order (`sortOrder`).
    pub categories: Vec<OverviewCategory>,
    pub insights: Vec<InsightView>,
    /// Hangs, launches, disk writes, each heaviest first as Apple sent them.
    pub top_call_sites: Vec<CallSiteView>,
}

impl OverviewView {
    /// The view of `o`, datasets and insight populations limited to
    /// `device` (an id or marketing name, case-insensitive) when given.
    pub fn new(o: &XcodeOverview, device: Option<&str>) -> Self {
        let filter = PopulationFilter {
            device: device.map(str::to_string),
            percentile: None,
        };
        let insights = join_insights(&o.to_xcode_metrics(), &filter);
        let categories = o
            .categories
            .iter()
            .map(|c| OverviewCategory {
                identifier: c.identifier.clone(),
                display_name: c.display_name.clone(),
                sections: c
                    .sections_sorted()
                    .into_iter()
                    .map(|s| {
                        let mut s = s.clone();
                        s.datasets.retain(|d| {
                            device_matches(
                                device,
                                d.filter_criteria.device(),
                                d.filter_criteria.device_name(),
                            )
                        });
                        s
                    })
                    .collect(),
            })
            .collect();
        let top_call_sites = o
            .signatures
            .iter()
            .map(|(kind, s)| CallSiteView {
                diagnostic_type: kind.diagnostic_type(),
                location: s.location(),
                weight_ratio: s.weight_fraction(),
                call_site: s.clone(),
            })
            .collect();
        Self {
            has_data: o.has_data(),
            app_metadata: o.app_metadata.clone(),
            categories,
            insights,
            top_call_sites,
        }
    }

    fn datasets(&self) -> usize {
        self.categories
            .iter()
            .flat_map(|c| &c.sections)
            .map(|s| s.datasets.len())
            .sum()
    }
}

/// JSON output of `overview`.
#[derive(Debug, Serialize)]
pub struct OverviewOutput<'a> {
    pub app_id: &'a str,
    #[serde(flatten)]
    pub view: OverviewView,
}

/// JSON output of `parse overview`.
#[derive(Debug, Serialize)]
pub struct ParseOverviewOutput {
    pub file: String,
    #[serde(flatten)]
    pub view: OverviewView,
}

/// A weight as a percentage (`37%`), through the fraction rule.
fn weight_percent(w: Option<f64>) -> String {
    w.map(|w| format!("{}%", num(w * 100.0)))
        .unwrap_or_else(|| "-".into())
}

fn trend_text(t: &str) -> String {
    match t {
        "UP" => "UP ▲".into(),
        "DOWN" => "DOWN ▼".into(),
        "" => "-".into(),
        other => other.to_string(),
    }
}

/// Every (device, marketing name) of the document, for "available" hints.
fn available_devices(o: &XcodeOverview) -> String {
    let mut seen: Vec<String> = Vec::new();
    for (_, s) in o.sections() {
        for d in &s.datasets {
            let text = format!(
                "{} \"{}\"",
                d.filter_criteria.device(),
                d.filter_criteria.device_name()
            );
            if !seen.contains(&text) {
                seen.push(text);
            }
        }
    }
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(", ")
    }
}

/// The text of both commands. `subject` names the app or file in messages.
pub fn render(
    view: &OverviewView,
    o: &XcodeOverview,
    subject: &str,
    device: Option<&str>,
) -> String {
    let mut out = String::new();
    if !view.has_data {
        let _ = writeln!(
            out,
            "No overview data for {subject} (not measured yet): Apple reports metrics and call sites only after enough devices have used the app."
        );
        return out;
    }
    let meta = view.app_metadata.clone().unwrap_or_default();
    let mut head = format!("Performance overview of {subject}");
    let about: Vec<&str> = [meta.bundle_id.as_deref(), meta.platform.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    if !about.is_empty() {
        let _ = write!(head, " ({})", about.join(", "));
    }
    if let Some(v) = o.latest_version() {
        let _ = write!(head, ", latest version {v}");
    }
    let _ = writeln!(out, "{head}");
    write_sections(&mut out, view, o, device);
    write_insights(&mut out, &view.insights, o.all_insights().count(), device);
    write_call_sites(&mut out, &view.top_call_sites);
    out
}

fn write_sections(out: &mut String, view: &OverviewView, o: &XcodeOverview, device: Option<&str>) {
    if view.datasets() == 0 {
        out.push('\n');
        match device {
            Some(d) if o.sections().any(|(_, s)| !s.datasets.is_empty()) => {
                let _ = writeln!(
                    out,
                    "No datasets for --device {d}; available: {}",
                    available_devices(o)
                );
            }
            Some(d) => {
                let _ = writeln!(
                    out,
                    "No datasets for --device {d}: Apple sent none for it (device ids look like all_iphones, all_ipads, iPhone15,2)."
                );
            }
            _ => {
                let _ = writeln!(out, "No metric datasets.");
            }
        }
        return;
    }
    for c in &view.categories {
        if c.sections.iter().all(|s| s.datasets.is_empty()) {
            continue;
        }
        out.push('\n');
        let mut title = dash(Some(c.id()));
        if c.name() != c.id() {
            let _ = write!(title, " ({})", c.name());
        }
        let _ = writeln!(out, "{title}");
        let mut t = Table::new([
            "#",
            "SECTION",
            "RELEVANCE",
            "DEVICE",
            "PERCENTILE",
            "LATEST",
            "RECOMMENDED",
            "VS GOAL",
        ])
        .right(&[0, 2, 5, 6, 7]);
        let mut goals: Vec<String> = Vec::new();
        for s in &c.sections {
            let unit = s.unit_display();
            for d in &s.datasets {
                let latest = d.points.iter().rev().find(|p| p.value.is_some());
                let goal = d.recommended_metric_goal.as_ref();
                let goal_value = goal.and_then(|g| g.value);
                let vs = match (latest.and_then(|p| p.value), goal_value) {
                    (Some(v), Some(g)) if g != 0.0 => {
                        delta(((v / g - 1.0) * 1000.0).round() / 10.0)
                    }
                    _ => "-".into(),
                };
                t.row([
                    s.sort_order.map(|o| o.to_string()).unwrap_or_default(),
                    dash(Some(s.id())),
                    s.relevance_score.map(num).unwrap_or_else(|| "-".into()),
                    dash(Some(d.filter_criteria.device_name())),
                    dash(Some(percentile_label(d.filter_criteria.percentile()))),
                    latest
                        .map(|p| {
                            format!(
                                "{} = {}",
                                dash(p.version.as_deref()),
                                opt_unit(p.value, unit)
                            )
                        })
                        .unwrap_or_else(|| "-".into()),
                    opt_unit(goal_value, unit),
                    vs,
                ]);
                if let Some(g) = goal.filter(|g| g.value.is_some() || g.detail.is_some()) {
                    let line = format!(
                        "recommended {}: {}{}",
                        s.id(),
                        opt_unit(g.value, unit),
                        g.detail
                            .as_deref()
                            .filter(|d| !d.is_empty())
                            .map(|d| format!(" - {d}"))
                            .unwrap_or_default()
                    );
                    if !goals.contains(&line) {
                        goals.push(line);
                    }
                }
            }
        }
        out.push_str(&t.render());
        for g in goals {
            let _ = writeln!(out, "{g}");
        }
    }
}

fn write_insights(out: &mut String, views: &[InsightView], total: usize, device: Option<&str>) {
    out.push('\n');
    match (views.is_empty(), device) {
        (true, Some(d)) if total > 0 => {
            let _ = writeln!(
                out,
                "Insights: none for --device {d} ({total} for other devices)"
            );
            return;
        }
        (true, _) => {
            let _ = writeln!(out, "Insights: none");
            return;
        }
        _ => {}
    }
    let _ = writeln!(out, "Insights ({}):", views.len());
    for v in views {
        let i = &v.insight;
        let unit = v.unit_display();
        let mut title = format!("{}  {}", v.kind.title(), dash(i.metric.as_deref()));
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
            let _ = writeln!(out, "  {s}");
        }
        if v.populations.is_empty() {
            continue;
        }
        let mut t = Table::new(["DEVICE", "PERCENTILE", "LATEST", "REFERENCE AVG", "DELTA"])
            .right(&[2, 3, 4]);
        for p in &v.populations {
            let p = &p.population;
            t.row([
                dash(p.device.as_deref()),
                percentile_label(p.percentile.as_deref().unwrap_or("")).to_string(),
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

fn write_call_sites(out: &mut String, sites: &[CallSiteView]) {
    out.push('\n');
    if sites.is_empty() {
        let _ = writeln!(out, "Top call sites: none");
        return;
    }
    let _ = writeln!(out, "Top call sites ({}):", sites.len());
    let mut t = Table::new([
        "TYPE",
        "LOCATION",
        "COUNT",
        "WEIGHT",
        "TREND",
        "EARLIER VERSIONS",
        "SIGNATURE",
    ])
    .right(&[2, 3]);
    for s in sites {
        let c = &s.call_site;
        let earlier: Vec<String> = c
            .reference_versions()
            .iter()
            .map(|r| {
                let value = PerformanceSignature {
                    weight: r.value,
                    ..Default::default()
                }
                .weight_fraction();
                format!("{} {}", dash(r.version.as_deref()), weight_percent(value))
            })
            .collect();
        t.row([
            s.diagnostic_type.to_string(),
            dash(s.location.as_deref()),
            c.count.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            weight_percent(s.weight_ratio),
            trend_text(c.trend()),
            if earlier.is_empty() {
                "-".into()
            } else {
                earlier.join(", ")
            },
            dash(Some(c.signature())),
        ]);
    }
    out.push_str(&t.render());
}

/// Fetches the app's overview and prints it.
pub async fn run(args: OverviewArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let device = args
        .device
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let filter = OverviewFilter {
        device_types: device.map(str::to_string).into_iter().collect(),
    };
    let overview = match client.app_overview(&args.app_id, &filter).await {
        Ok(fetched) => {
            if let Some(path) = &args.save {
                super::write_file(path, &fetched.body)?;
                tracing::info!(path = %path.display(), bytes = fetched.body.len(), "saved response");
            }
            fetched.value
        }
        // A 404 for an app that exists: Apple has no overview for it yet.
        // For an id the account does not have, Apple's 404 is the answer.
        Err(e) if e.is_not_found() => {
            if client.get_app(&args.app_id).await.is_err() {
                return Err(e.into());
            }
            if let Some(path) = &args.save {
                tracing::warn!(path = %path.display(), "Apple answered 404 (no overview yet): nothing saved");
            }
            XcodeOverview::default()
        }
        Err(e) => return Err(e.into()),
    };
    let view = OverviewView::new(&overview, device);
    if ctx.json() {
        return ctx.emit_json(&OverviewOutput {
            app_id: &args.app_id,
            view,
        });
    }
    let subject = format!("app {}", args.app_id);
    ctx.emit(&render(&view, &overview, &subject, device))
}

/// `parse overview`: a saved overview, rendered as `overview` does.
pub fn run_parse(a: ParseOverviewArgs, ctx: &Context) -> anyhow::Result<()> {
    let overview: XcodeOverview = load_document(&a.input, DocKind::Overview)?;
    let file = a.input.display().to_string();
    let device = a.device.as_deref().map(str::trim).filter(|d| !d.is_empty());
    let view = OverviewView::new(&overview, device);
    if ctx.json() {
        return ctx.emit_json(&ParseOverviewOutput { file, view });
    }
    ctx.emit(&render(&view, &overview, &file, device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::model::CallSiteKind;

    #[test]
    fn call_site_kinds_render_in_order_with_locations() {
        let doc = serde_json::json!({
            "categories": [],
            "signatures": {
                "topHangPoint": [{"signature": "A: f + 1", "sourceFile": "A.m", "lineNumber": 7, "weight": 0.5, "count": 3, "trendInfo": "UP",
                                  "metricsSummary": {"referenceVersions": {"version": "1.0", "value": 25}}}],
                "topLaunchPoint": [{"signature": "A: g + 2", "sourceFile": "B.swift", "weight": 12.5, "trendInfo": "SIDEWAYS"}],
                "topDiskWritePoint": []
            }
        });
        let o: XcodeOverview = crate::asc::model::decode::json(doc.to_string().as_bytes()).unwrap();
        let view = OverviewView::new(&o, None);
        assert!(view.has_data);
        let text = render(&view, &o, "app 1", None);
        assert!(text.contains("No metric datasets."), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("TYPE"))
            .collect();
        assert!(
            rows[1].starts_with("HANGS     A.m:7")
                && rows[1].contains("50%")
                && rows[1].contains("UP ▲")
                && rows[1].contains("1.0 25%"),
            "{text}"
        );
        assert!(
            rows[2].starts_with("LAUNCHES  B.swift")
                && rows[2].contains("12.5%")
                && rows[2].contains("SIDEWAYS"),
            "{text}"
        );
        assert_eq!(view.top_call_sites[1].diagnostic_type, "LAUNCHES");
        assert_eq!(view.top_call_sites[1].weight_ratio, Some(0.125));
        assert_eq!(CallSiteKind::ALL.len(), 3);
    }
}
