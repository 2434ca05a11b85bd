//! The simulated performance overview (API 4.5,
//! `GET /v1/apps/{id}/performanceOverviews`), built from the same account as
//! every other route, so that it agrees with them:
//!
//! * **Sections** are the app's perfPowerMetrics metrics, grouped by their
//!   category (the MetricCategory values, with a display name), with the
//!   very datasets [`data::app_metrics`] serves for the same
//!   `filter[deviceType]` (same value per metric, device, percentile and
//!   version; `recommendedMetricGoal` included; no per-point `goal`, which
//!   the overview does not have), and the same insights.
//! * **Relevance**: each section's `relevanceScore` (0.01–1) is computed
//!   from the document's own data: how close the latest values are to the
//!   metric's poor band (or, for metrics without goal bands, how far they
//!   moved from the previous versions), raised when an insight names the
//!   metric (regression +0.2, trending up +0.1, high impact +0.1).
//!   `sortOrder` ranks the sections of a category by relevance (1 = most).
//! * **Top call sites**: the [`TOP_CALL_SITES`] heaviest hang, launch and
//!   disk-write signatures of the app's latest build (the last build of its
//!   newest version), with the diagnosticSignatures id, signature text and
//!   weight; `sourceFile` and `lineNumber` are the blame frame's `fileName`
//!   and `lineNumber` in the signature's first log (no line for a Swift
//!   `static` initializer: compiler-generated code); `count` is
//!   the weight's share of the build's events of that kind. `trendInfo` and
//!   `metricsSummary.referenceVersions` are the signature's trend insight
//!   when it has one (the same `direction` and `{version, value}`s as
//!   diagnosticSignatures), else `UNDEFINED` with a steady history (±3 %)
//!   over the previous three versions.
//!
//! The scenarios move the call sites as they move the metrics
//! ([`shape_call_site_trends`], applied when the account is generated, so
//! diagnosticSignatures shows the same trends):
//!
//! * baseline: call sites steady or improving: every trend insight is
//!   `DOWN` (references 5–35 % above the current weight);
//! * regression: as baseline, and in the regressed version the heaviest
//!   hang call site has risen 70 % and the heaviest launch call site 45 %
//!   over the previous versions (`UP`), with `launchTime` and `hangRate`;
//! * mixed: the lived-in account's trends as they are, and at the latest
//!   baseline version the heaviest launch call site of apps 0, 3, … rises
//!   12 % (with their `launchTime` step) and the heaviest disk-write call
//!   site of apps 2, 5, … 30 % (with their `logicalWrites` spike).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::control::Scenario;
use super::data::{self, Account, METRICS, MetricsQuery, SimApp, SimSignature, mix, str_hash};
use crate::asc::model::{
    AppMetadata, CallSiteKind, CallStackNode, DiagnosticInsight, DiagnosticInsightReferenceVersion,
    Insights, Metric, MetricsSummary, OverviewCategory, OverviewSection, PerformanceSignature,
    TopSignatures, XcodeMetrics, XcodeOverview,
};

/// Call sites per kind in the overview.
pub const TOP_CALL_SITES: usize = 3;

/// Versions before the latest that a call site's history covers.
const HISTORY_VERSIONS: usize = 3;

fn rng(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(parts))
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Display name of a category in the overview.
pub fn category_display_name(category: &str) -> &str {
    match category {
        "LAUNCH" => "Launch Time",
        "HANG" => "Hangs",
        "MEMORY" => "Memory",
        "DISK" => "Disk Writes",
        "BATTERY" => "Battery Usage",
        "TERMINATION" => "Terminations",
        "ANIMATION" => "Hitches",
        "STORAGE" => "Storage",
        other => other,
    }
}

/// The overview of an app with no data: every list empty ("not measured").
pub fn empty_overview() -> XcodeOverview {
    XcodeOverview {
        version: Some("1.0.0".into()),
        insights: Some(Insights::default()),
        ..XcodeOverview::default()
    }
}

/// `GET /v1/apps/{id}/performanceOverviews` of a synthetic app;
/// `query.devices` is `filter[deviceType]` (`query.categories` must be
/// empty: the overview has no category filter).
pub fn app_overview(account: &Account, app: &SimApp, query: &MetricsQuery) -> XcodeOverview {
    let metrics = data::app_metrics(account, app, query);
    let insights = metrics.insights.clone().unwrap_or_default();
    let categories = sections(&metrics, &insights);
    let latest = app.latest_version();
    let mut signatures = TopSignatures::default();
    for kind in CallSiteKind::ALL {
        *signatures.list_mut(kind) = call_sites(account, app, kind);
    }
    let mut t = rng(&[
        account.seed,
        11,
        app.index as u64,
        latest.map_or(0, |v| v.ordinal as u64),
    ]);
    let b: [u8; 16] = t.r#gen();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    XcodeOverview {
        version: Some("1.0.0".into()),
        app_metadata: Some(AppMetadata {
            bundle_id: Some(app.bundle_id.clone()),
            app_id: Some(app.id.clone()),
            latest_version: latest.map(|v| v.version.clone()),
            platform: Some("iOS".into()),
        }),
        insights: Some(insights),
        categories,
        signatures,
        telemetry_identifier: Some(format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )),
    }
}

/// The categories of `metrics` as overview categories: sections with
/// relevance and sort order, points without goals.
fn sections(metrics: &XcodeMetrics, insights: &Insights) -> Vec<OverviewCategory> {
    let mut out = Vec::new();
    for product in &metrics.product_data {
        for category in &product.metric_categories {
            let mut sections: Vec<OverviewSection> = category
                .metrics
                .iter()
                .map(|m| OverviewSection {
                    identifier: m.identifier.clone(),
                    display_name: Some(data::metric_display_name(m.id())),
                    relevance_score: Some(relevance(m, insights)),
                    sort_order: None,
                    unit: m.unit.clone(),
                    datasets: m
                        .datasets
                        .iter()
                        .cloned()
                        .map(|mut d| {
                            for p in &mut d.points {
                                p.goal = None;
                            }
                            d
                        })
                        .collect(),
                })
                .collect();
            // Most relevant first; ties keep the metrics' order (stable sort).
            sections.sort_by(|a, b| {
                b.relevance_score
                    .unwrap_or(0.0)
                    .total_cmp(&a.relevance_score.unwrap_or(0.0))
            });
            for (i, s) in sections.iter_mut().enumerate() {
                s.sort_order = Some(i as i64 + 1);
            }
            out.push(OverviewCategory {
                identifier: category.identifier.clone(),
                display_name: Some(category_display_name(category.id()).to_string()),
                sections,
            });
        }
    }
    out
}

/// A section's relevance: 0.2 + 0.5 × (latest values against the poor
/// band, capped at 1.2 of it, scaled to 0–1) + the insight boosts, in
/// 0.01–1, two decimals.
fn relevance(metric: &Metric, insights: &Insights) -> f64 {
    let spec = METRICS.iter().find(|s| s.identifier == metric.id());
    let mut pressures = Vec::new();
    for d in &metric.datasets {
        let values: Vec<f64> = d.points.iter().filter_map(|p| p.value).collect();
        let Some(&latest) = values.last() else {
            continue;
        };
        let pressure = match spec.and_then(|s| s.goals) {
            Some((_, poor)) if poor > 0.0 => latest / poor,
            _ => {
                let before = &values[values.len().saturating_sub(5)..values.len() - 1];
                if before.is_empty() {
                    0.5
                } else {
                    let avg = before.iter().sum::<f64>() / before.len() as f64;
                    if avg > 0.0 { 0.5 * latest / avg } else { 0.5 }
                }
            }
        };
        pressures.push(pressure.clamp(0.0, 1.2));
    }
    let pressure = if pressures.is_empty() {
        0.0
    } else {
        pressures.iter().sum::<f64>() / pressures.len() as f64
    };
    let names = |i: &&crate::asc::model::MetricsInsight| i.metric.as_deref() == Some(metric.id());
    let mut boost = 0.0;
    if let Some(r) = insights.regressions.iter().find(names) {
        boost += 0.2;
        if r.high_impact == Some(true) {
            boost += 0.1;
        }
    }
    if insights.trending_up.iter().any(|i| names(&i)) {
        boost += 0.1;
    }
    round((0.2 + 0.5 * pressure / 1.2 + boost).clamp(0.01, 1.0), 2)
}

/// The top call sites of one kind from the app's latest build.
fn call_sites(account: &Account, app: &SimApp, kind: CallSiteKind) -> Vec<PerformanceSignature> {
    let Some(latest) = app.latest_version() else {
        return Vec::new();
    };
    let Some(build) = latest.builds.last() else {
        return Vec::new();
    };
    let mut sigs: Vec<&SimSignature> = build
        .signatures
        .iter()
        .filter(|s| s.diagnostic_type == kind.diagnostic_type())
        .collect();
    sigs.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    sigs.truncate(TOP_CALL_SITES);
    let events: f64 = rng(&[
        account.seed,
        10,
        app.index as u64,
        str_hash(&build.id),
        kind as u64,
    ])
    .gen_range(400.0..6000.0);
    let history_from = latest.ordinal.saturating_sub(HISTORY_VERSIONS);
    sigs.into_iter()
        .map(|s| {
            let (trend, history) = match &s.insight {
                Some(i) => (
                    i.direction.clone().unwrap_or_else(|| "UNDEFINED".into()),
                    i.reference_versions.clone(),
                ),
                None => {
                    let mut r = rng(&[account.seed, 12, str_hash(&s.id)]);
                    let refs = app.versions[history_from..latest.ordinal]
                        .iter()
                        .map(|v| DiagnosticInsightReferenceVersion {
                            version: Some(v.version.clone()),
                            value: Some(round(s.weight * r.gen_range(0.97..1.03), 4)),
                        })
                        .collect();
                    ("UNDEFINED".to_string(), refs)
                }
            };
            PerformanceSignature {
                signature_id: Some(s.id.clone()),
                signature: Some(s.signature(&app.executable)),
                count: Some(((s.weight * events).round() as u64).max(1)),
                weight: Some(s.weight),
                source_file: Some(s.file.to_string()),
                line_number: blame_line(account, s),
                trend_info: Some(trend),
                metrics_summary: Some(MetricsSummary {
                    reference_versions: history,
                }),
            }
        })
        .collect()
}

/// The blame frame's line in the signature's first log; none for a Swift
/// `static` initializer (compiler-generated code).
fn blame_line(account: &Account, s: &SimSignature) -> Option<u64> {
    if s.symbol.starts_with("static ") {
        return None;
    }
    let logs = data::signature_logs(account, account.signature(&s.id)?, Some(1));
    let mut frames: Vec<&CallStackNode> = logs
        .product_data
        .iter()
        .flat_map(|p| &p.diagnostic_logs)
        .flat_map(|l| &l.call_stack_tree)
        .flat_map(|t| &t.call_stacks)
        .flat_map(|c| &c.call_stack_root_frames)
        .collect();
    while let Some(f) = frames.pop() {
        if f.is_blame_frame == Some(true) {
            return f.line_number.as_deref()?.parse().ok();
        }
        frames.extend(&f.sub_frames);
    }
    None
}

/// Makes the call sites' trend insights follow the scenario (see the
/// module docs); called once per app when the account is generated.
pub(super) fn shape_call_site_trends(app: &mut SimApp, scenario: Scenario) {
    if scenario != Scenario::Mixed {
        // Steady or improving: references above the current weight. The
        // same draws as before, mapped from 0.5–1.5 onto 1.05–1.35.
        for version in &mut app.versions {
            for build in &mut version.builds {
                for s in &mut build.signatures {
                    let weight = s.weight;
                    if let Some(i) = s.insight.as_mut() {
                        for r in &mut i.reference_versions {
                            if let Some(v) = r.value.as_mut() {
                                let u = (*v / weight).clamp(0.5, 1.5);
                                *v = round(weight * (1.05 + (u - 0.5) * 0.3), 4);
                            }
                        }
                        i.direction = Some("DOWN".into());
                    }
                }
            }
        }
    }
    let mut rises: Vec<(usize, CallSiteKind, f64)> = Vec::new();
    match scenario {
        Scenario::Regression => {
            if let Some(k) = app.regression_ordinal {
                rises.push((k, CallSiteKind::Hang, 1.7));
                rises.push((k, CallSiteKind::Launch, 1.45));
            }
        }
        Scenario::Mixed => match app.index % 3 {
            0 => rises.push((app.anchor, CallSiteKind::Launch, 1.12)),
            2 => rises.push((app.anchor, CallSiteKind::DiskWrite, 1.3)),
            _ => {}
        },
        Scenario::Baseline => {}
    }
    for (k, kind, rise) in rises {
        if k == 0 || k >= app.versions.len() {
            continue;
        }
        let before: Vec<String> = app.versions[k.saturating_sub(HISTORY_VERSIONS)..k]
            .iter()
            .map(|v| v.version.clone())
            .collect();
        let Some(build) = app.versions[k].builds.last_mut() else {
            continue;
        };
        let Some(top) = build
            .signatures
            .iter_mut()
            .filter(|s| s.diagnostic_type == kind.diagnostic_type())
            .max_by(|a, b| a.weight.total_cmp(&b.weight))
        else {
            continue;
        };
        let weight = top.weight;
        let id_hash = str_hash(&top.id);
        top.insight = Some(DiagnosticInsight {
            insight_type: Some("TREND".into()),
            direction: Some("UP".into()),
            reference_versions: before
                .into_iter()
                .enumerate()
                .map(|(n, version)| {
                    // ±2 % between the reference versions, deterministic.
                    let wobble = 1.0 + 0.01 * ((mix(&[id_hash, n as u64]) % 5) as f64 - 2.0);
                    DiagnosticInsightReferenceVersion {
                        version: Some(version),
                        value: Some(round(weight / rise * wobble, 4)),
                    }
                })
                .collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;
    use std::collections::{BTreeMap, BTreeSet};

    fn account(scenario: Scenario) -> Account {
        let (_, public) = crate::asc::auth::generate_key_pair();
        Account::generate(
            &SimConfig::new(public),
            scenario,
            &BTreeMap::new(),
            &BTreeSet::new(),
        )
    }

    #[test]
    fn baseline_call_sites_never_rise() {
        let a = account(Scenario::Baseline);
        for app in &a.apps {
            let o = app_overview(&a, app, &MetricsQuery::default());
            assert!(o.has_data());
            for (_, s) in o.signatures.iter() {
                assert_ne!(s.trend(), "UP", "{}", s.signature());
                for r in s.reference_versions() {
                    assert!(r.value.unwrap() >= s.weight.unwrap() * 0.97, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn regression_raises_the_top_hang_and_launch_call_sites() {
        let a = account(Scenario::Regression);
        for app in &a.apps {
            let o = app_overview(&a, app, &MetricsQuery::default());
            for kind in [CallSiteKind::Hang, CallSiteKind::Launch] {
                let top = &o.signatures.list(kind)[0];
                assert_eq!(top.trend(), "UP");
                assert_eq!(top.reference_versions().len(), HISTORY_VERSIONS);
                for r in top.reference_versions() {
                    assert!(r.value.unwrap() < top.weight.unwrap() / 1.3);
                }
            }
        }
    }
}
