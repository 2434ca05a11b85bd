//! The explorer's JSON views of a [`Snapshot`]: pure functions from the
//! snapshot to `Serialize` structs whose field names are the API's
//! (`docs/api.md`; snake_case, stable: fields are added, never renamed).
//! Values are Apple's, in Apple's unit (`unit` names it): the explorer shows
//! what App Store Connect says, the metrics outputs convert.

use serde::Serialize;

use crate::asc::api::natural_cmp;

use super::html::seg;
use crate::asc::model::{
    CallSiteKind, DiagnosticLog, DiagnosticLogs, DiagnosticSignature, MetricsInsight,
    PerformanceSignature, XcodeMetrics, percentile_label,
};
use crate::refresh::snapshot::{AppSnapshot, BuildSnapshot, Snapshot};

/// `GET /api/v1/apps`.
#[derive(Debug, Serialize)]
pub struct AppList {
    /// Unix seconds of the snapshot's last refresh attempt.
    pub refreshed_unix: f64,
    /// Whether a refresh is under way (some apps are still the previous
    /// refresh's).
    pub refreshing: bool,
    pub apps: Vec<AppSummary>,
}

/// One app at a glance.
#[derive(Debug, Serialize)]
pub struct AppSummary {
    pub id: String,
    pub name: String,
    pub bundle_id: String,
    /// The newest marketing version in Apple's data.
    pub latest_version: Option<String>,
    /// Unix seconds of the app's last successful refresh.
    pub last_success_unix: Option<f64>,
    /// Seconds since then, at the time of the request.
    pub data_age_seconds: Option<f64>,
    /// The latest refresh of the app failed (its data is the last good one).
    pub refresh_failed: bool,
    pub last_error: Option<String>,
    /// Active regressions, high impact first.
    pub regressions: Vec<InsightView>,
    /// Trending-up insights.
    pub trending_up: Vec<InsightView>,
    /// The performance overview's top call sites, heaviest first (at most
    /// three in the list; all of them in `GET /api/v1/apps/{id}`).
    pub top_call_sites: Vec<CallSite>,
    pub links: AppLinks,
}

#[derive(Debug, Serialize)]
pub struct AppLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub insights: String,
    pub signatures: String,
}

/// `GET /api/v1/apps/{id}`.
#[derive(Debug, Serialize)]
pub struct AppDetail {
    #[serde(flatten)]
    pub summary: AppSummary,
    /// Every version in the app's data, newest first.
    pub versions: Vec<String>,
    /// Each metric with its datasets, as Apple reports them for the app.
    pub metrics: Vec<MetricView>,
    /// The followed builds, newest first.
    pub builds: Vec<BuildView>,
}

#[derive(Debug, Serialize)]
pub struct MetricView {
    pub platform: String,
    pub category: String,
    pub metric: String,
    /// Apple's unit identifier (`ms`, `MB`, ...), `""` when none.
    pub unit: String,
    pub datasets: Vec<DatasetView>,
    /// Goal bands: key and bounds, in the metric's unit.
    pub goals: Vec<GoalView>,
}

#[derive(Debug, Serialize)]
pub struct GoalView {
    pub goal: String,
    pub lower_bound: Option<f64>,
    pub upper_bound: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DatasetView {
    pub device: String,
    pub device_name: String,
    /// `p50`, `p90`, or Apple's value as-is.
    pub percentile: String,
    pub recommended_goal: Option<f64>,
    /// Oldest version first.
    pub points: Vec<PointView>,
}

#[derive(Debug, Serialize)]
pub struct PointView {
    pub version: Option<String>,
    pub value: Option<f64>,
    pub error_margin: Option<f64>,
    /// The goal band the value falls in.
    pub goal: Option<String>,
}

/// An Apple insight (regression or trending up).
#[derive(Debug, Serialize)]
pub struct InsightView {
    /// `regression` or `trending_up`.
    pub kind: &'static str,
    pub category: Option<String>,
    pub metric: Option<String>,
    pub latest_version: Option<String>,
    pub high_impact: bool,
    /// Apple's summary text.
    pub summary: Option<String>,
    pub reference_versions: Vec<String>,
    pub populations: Vec<PopulationView>,
}

#[derive(Debug, Serialize)]
pub struct PopulationView {
    pub device: Option<String>,
    pub percentile: Option<String>,
    /// Change against the reference versions' average, in percent.
    pub delta_percentage: Option<f64>,
    pub latest_version_value: Option<f64>,
    pub reference_average_value: Option<f64>,
    pub summary: Option<String>,
}

/// `GET /api/v1/apps/{id}/insights`.
#[derive(Debug, Serialize)]
pub struct InsightList {
    pub app_id: String,
    pub regressions: Vec<InsightView>,
    pub trending_up: Vec<InsightView>,
}

/// A top call site of the performance overview.
#[derive(Debug, Serialize)]
pub struct CallSite {
    /// `HANGS`, `LAUNCHES` or `DISK_WRITES`.
    pub diagnostic_type: &'static str,
    pub signature_id: String,
    pub signature: String,
    pub source_file: Option<String>,
    pub line: Option<u64>,
    /// `File.m:88`, when Apple names the file.
    pub location: Option<String>,
    /// A fraction of the app's total of the type.
    pub weight: Option<f64>,
    pub count: Option<u64>,
    /// `UP`, `DOWN`, `UNDEFINED`, or Apple's new value as-is.
    pub trend: String,
    /// The weight (a fraction) in the versions Apple compares.
    pub versions: Vec<VersionWeight>,
}

#[derive(Debug, Serialize)]
pub struct VersionWeight {
    pub version: String,
    pub weight: f64,
}

#[derive(Debug, Serialize)]
pub struct BuildView {
    pub id: String,
    pub number: String,
    pub version: Option<String>,
    pub uploaded_date: Option<String>,
    pub processing_state: Option<String>,
    /// Apple has build-level metrics for it.
    pub has_metrics: bool,
    pub signatures: usize,
    pub links: BuildLinks,
}

#[derive(Debug, Serialize)]
pub struct BuildLinks {
    pub signatures: String,
}

/// A diagnostic signature of a followed build.
#[derive(Debug, Serialize)]
pub struct SignatureView {
    pub id: String,
    pub app_id: String,
    pub app: String,
    pub build_id: String,
    pub build: String,
    pub version: Option<String>,
    pub diagnostic_type: String,
    pub signature: String,
    /// A fraction of the build's total of the type.
    pub weight: f64,
    /// Apple's insight on the signature: type, direction and the versions
    /// it compares.
    pub insight: Option<SignatureInsight>,
    /// Logs the exporter holds for it.
    pub logs: usize,
    pub links: SignatureLinks,
}

#[derive(Debug, Serialize)]
pub struct SignatureInsight {
    pub insight_type: Option<String>,
    pub direction: Option<String>,
    pub reference_versions: Vec<VersionWeight>,
}

#[derive(Debug, Serialize)]
pub struct SignatureLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub logs: String,
    pub markdown: String,
}

/// `GET /api/v1/signatures`.
#[derive(Debug, Serialize)]
pub struct SignatureList {
    pub signatures: Vec<SignatureView>,
}

/// `GET /api/v1/signatures/{id}`: the signature and each log's metadata.
#[derive(Debug, Serialize)]
pub struct SignatureDetail {
    #[serde(flatten)]
    pub signature: SignatureView,
    /// Apple's insights on the logs (`diagnosticInsights`): text and link.
    pub apple_insights: Vec<AppleInsight>,
    pub log_metadata: Vec<LogMetadata>,
}

#[derive(Debug, Serialize)]
pub struct AppleInsight {
    pub category: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LogMetadata {
    pub app_version: Option<String>,
    pub build_version: Option<String>,
    pub os_version: Option<String>,
    pub device_type: Option<String>,
    pub platform_architecture: Option<String>,
    pub event: Option<String>,
    pub event_detail: Option<String>,
    pub writes_caused: Option<String>,
    /// Frames in the log's call stacks, and how many are blame frames.
    pub frames: usize,
    pub blame_frames: usize,
}

/// `GET /api/v1/signatures/{id}/logs`: Apple's logs documents as they were
/// fetched (`diagnosticLogs`: `productData[].diagnosticLogs[]` with
/// `callStackTree` and `diagnosticMetaData`, Apple's field names).
#[derive(Debug, Serialize)]
pub struct SignatureLogs<'a> {
    pub signature_id: String,
    pub logs: Vec<&'a DiagnosticLogs>,
}

/// The API's URL of an app.
pub fn app_path(id: &str) -> String {
    format!("/api/v1/apps/{}", seg(id))
}

/// The API's URL of a signature.
pub fn signature_path(id: &str) -> String {
    format!("/api/v1/signatures/{}", seg(id))
}

pub fn app_list(s: &Snapshot, now: f64) -> AppList {
    AppList {
        refreshed_unix: s.refresh.last_attempt_unix,
        refreshing: s.is_partial(),
        apps: s
            .apps
            .iter()
            .map(|a| app_summary(a, now, Some(3)))
            .collect(),
    }
}

pub fn app_summary(a: &AppSnapshot, now: f64, top: Option<usize>) -> AppSummary {
    let (mut regressions, trending_up) = insights(a.metrics.as_ref());
    regressions.sort_by_key(|i| !i.high_impact);
    let mut sites = call_sites(a);
    if let Some(n) = top {
        sites.truncate(n);
    }
    AppSummary {
        id: a.app.id.clone(),
        name: a.app.name.clone(),
        bundle_id: a.app.bundle_id.clone(),
        latest_version: a.latest_version(),
        last_success_unix: a.last_success_unix,
        data_age_seconds: a.last_success_unix.map(|t| (now - t).max(0.0)),
        refresh_failed: a.last_attempt_failed,
        last_error: a.last_error.clone(),
        regressions,
        trending_up,
        top_call_sites: sites,
        links: AppLinks {
            this: app_path(&a.app.id),
            insights: format!("{}/insights", app_path(&a.app.id)),
            signatures: format!("/api/v1/signatures?app={}", seg(&a.app.id)),
        },
    }
}

pub fn app_detail(a: &AppSnapshot, now: f64) -> AppDetail {
    let mut versions: Vec<String> = a
        .metrics
        .iter()
        .flat_map(|m| m.metrics())
        .flat_map(|(_, _, m)| m.datasets.iter())
        .flat_map(|d| d.points.iter())
        .filter_map(|p| p.version.as_deref().map(str::to_string))
        .collect();
    versions.sort_by(|x, y| natural_cmp(y, x).then_with(|| y.cmp(x)));
    versions.dedup();
    AppDetail {
        summary: app_summary(a, now, None),
        versions,
        metrics: a.metrics.as_ref().map(metric_views).unwrap_or_default(),
        builds: a.builds.iter().map(|b| build_view(a, b)).collect(),
    }
}

pub fn insight_list(a: &AppSnapshot) -> InsightList {
    let (regressions, trending_up) = insights(a.metrics.as_ref());
    InsightList {
        app_id: a.app.id.clone(),
        regressions,
        trending_up,
    }
}

fn metric_views(m: &XcodeMetrics) -> Vec<MetricView> {
    m.metrics()
        .map(|(platform, category, metric)| MetricView {
            platform: platform.to_string(),
            category: category.id().to_string(),
            metric: metric.id().to_string(),
            unit: metric.unit_id().to_string(),
            goals: metric
                .goal_keys
                .iter()
                .map(|g| GoalView {
                    goal: g.goal_key.clone().unwrap_or_default(),
                    lower_bound: g.lower_bound,
                    upper_bound: g.upper_bound,
                })
                .collect(),
            datasets: metric
                .datasets
                .iter()
                .map(|d| {
                    let fc = &d.filter_criteria;
                    let mut points: Vec<PointView> = d
                        .points
                        .iter()
                        .map(|p| PointView {
                            version: p.version.as_deref().map(str::to_string),
                            value: p.value,
                            error_margin: p.error_margin,
                            goal: p.goal.as_deref().map(str::to_string),
                        })
                        .collect();
                    points.sort_by(|a, b| {
                        natural_cmp(
                            a.version.as_deref().unwrap_or(""),
                            b.version.as_deref().unwrap_or(""),
                        )
                    });
                    DatasetView {
                        device: fc.device().to_string(),
                        device_name: fc.device_name().to_string(),
                        percentile: percentile_label(fc.percentile()).to_string(),
                        recommended_goal: d.recommended_metric_goal.as_ref().and_then(|g| g.value),
                        points,
                    }
                })
                .collect(),
        })
        .collect()
}

fn insights(m: Option<&XcodeMetrics>) -> (Vec<InsightView>, Vec<InsightView>) {
    let Some(i) = m.and_then(|m| m.insights.as_ref()) else {
        return (Vec::new(), Vec::new());
    };
    let view = |kind: &'static str| move |x: &MetricsInsight| insight_view(kind, x);
    (
        i.regressions.iter().map(view("regression")).collect(),
        i.trending_up.iter().map(view("trending_up")).collect(),
    )
}

fn insight_view(kind: &'static str, i: &MetricsInsight) -> InsightView {
    InsightView {
        kind,
        category: i.metric_category.clone(),
        metric: i.metric.clone(),
        latest_version: i.latest_version.clone(),
        high_impact: i.high_impact.unwrap_or(false),
        summary: i.summary_string.clone(),
        reference_versions: i.reference_versions.clone(),
        populations: i
            .populations
            .iter()
            .map(|p| PopulationView {
                device: p.device.clone(),
                percentile: p
                    .percentile
                    .as_deref()
                    .map(|p| percentile_label(p).to_string()),
                delta_percentage: p.delta_percentage,
                latest_version_value: p.latest_version_value,
                reference_average_value: p.reference_average_value,
                summary: p.summary_string.clone(),
            })
            .collect(),
    }
}

/// The app's top call sites, heaviest first.
pub fn call_sites(a: &AppSnapshot) -> Vec<CallSite> {
    let Some(o) = &a.overview else {
        return Vec::new();
    };
    let mut out: Vec<CallSite> = o
        .signatures
        .iter()
        .map(|(kind, s)| call_site(kind, s))
        .collect();
    out.sort_by(|a, b| b.weight.unwrap_or(0.0).total_cmp(&a.weight.unwrap_or(0.0)));
    out
}

fn call_site(kind: CallSiteKind, s: &PerformanceSignature) -> CallSite {
    CallSite {
        diagnostic_type: kind.diagnostic_type(),
        signature_id: s.id().to_string(),
        signature: s.signature().to_string(),
        source_file: s.source_file.clone(),
        line: s.line_number,
        location: s.location(),
        weight: s.weight_fraction(),
        count: s.count,
        trend: s.trend().to_string(),
        versions: s
            .reference_versions()
            .iter()
            .filter_map(|r| {
                Some(VersionWeight {
                    version: r.version.clone()?,
                    weight: r.value.and_then(crate::asc::model::weight_as_fraction)?,
                })
            })
            .collect(),
    }
}

fn build_view(a: &AppSnapshot, b: &BuildSnapshot) -> BuildView {
    BuildView {
        id: b.build.id.clone(),
        number: b.build.number.clone(),
        version: b.build.version.clone(),
        uploaded_date: b.build.uploaded_date.clone(),
        processing_state: b.build.processing_state.clone(),
        has_metrics: b.metrics.as_ref().is_some_and(|m| m.has_data()),
        signatures: b.signatures.len(),
        links: BuildLinks {
            signatures: format!(
                "/api/v1/signatures?app={}&build={}",
                seg(&a.app.id),
                seg(&b.build.id)
            ),
        },
    }
}

/// Which signatures `GET /api/v1/signatures` lists.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct SignatureFilter {
    /// An app id.
    pub app: Option<String>,
    /// A build id or build number.
    pub build: Option<String>,
    /// A diagnostic type (`HANGS`, `DISK_WRITES`, `LAUNCHES`), any case.
    #[serde(rename = "type")]
    pub diagnostic_type: Option<String>,
}

/// Every signature of every followed build that `filter` keeps: by app,
/// then build (newest first), then weight (heaviest first).
pub fn signature_list(s: &Snapshot, filter: &SignatureFilter) -> SignatureList {
    let mut out = Vec::new();
    for a in &s.apps {
        if filter.app.as_deref().is_some_and(|id| id != a.app.id) {
            continue;
        }
        for b in &a.builds {
            if filter
                .build
                .as_deref()
                .is_some_and(|x| x != b.build.id && x != b.build.number)
            {
                continue;
            }
            let mut sigs: Vec<&DiagnosticSignature> = b
                .signatures
                .iter()
                .filter(|sig| {
                    filter
                        .diagnostic_type
                        .as_deref()
                        .is_none_or(|t| t.eq_ignore_ascii_case(sig.diagnostic_type()))
                })
                .collect();
            sigs.sort_by(|x, y| y.weight().total_cmp(&x.weight()));
            out.extend(sigs.into_iter().map(|sig| signature_view(a, b, sig)));
        }
    }
    SignatureList { signatures: out }
}

/// A signature by id, with the app and build that hold it (the first, if
/// Apple reuses an id across builds).
pub fn find_signature<'a>(
    s: &'a Snapshot,
    id: &str,
) -> Option<(&'a AppSnapshot, &'a BuildSnapshot, &'a DiagnosticSignature)> {
    s.apps.iter().find_map(|a| {
        a.builds.iter().find_map(|b| {
            b.signatures
                .iter()
                .find(|sig| sig.id == id)
                .map(|sig| (&**a, b, sig))
        })
    })
}

/// Every log the build holds for a signature, across its documents.
pub fn log_entries<'a>(b: &'a BuildSnapshot, id: &str) -> Vec<&'a DiagnosticLog> {
    logs_of(b, id)
        .into_iter()
        .flat_map(|l| l.product_data.iter())
        .flat_map(|p| p.diagnostic_logs.iter())
        .collect()
}

/// The logs the build holds for a signature.
pub fn logs_of<'a>(b: &'a BuildSnapshot, id: &str) -> Vec<&'a DiagnosticLogs> {
    b.logs
        .iter()
        .filter(|(sig, _)| sig == id)
        .map(|(_, l)| l)
        .collect()
}

pub fn signature_view(
    a: &AppSnapshot,
    b: &BuildSnapshot,
    sig: &DiagnosticSignature,
) -> SignatureView {
    let insight = sig.attributes.insight.as_ref().map(|i| SignatureInsight {
        insight_type: i.insight_type.clone(),
        direction: i.direction.clone(),
        reference_versions: i
            .reference_versions
            .iter()
            .filter_map(|r| {
                Some(VersionWeight {
                    version: r.version.clone()?,
                    weight: r.value?,
                })
            })
            .collect(),
    });
    let logs = log_entries(b, &sig.id).len();
    let this = signature_path(&sig.id);
    SignatureView {
        id: sig.id.clone(),
        app_id: a.app.id.clone(),
        app: a.app.name.clone(),
        build_id: b.build.id.clone(),
        build: b.build.number.clone(),
        version: b.build.version.clone(),
        diagnostic_type: sig.diagnostic_type().to_string(),
        signature: sig.signature().to_string(),
        weight: sig.weight(),
        insight,
        logs,
        links: SignatureLinks {
            logs: format!("{this}/logs"),
            markdown: format!("{this}.md"),
            this,
        },
    }
}

pub fn signature_detail(
    a: &AppSnapshot,
    b: &BuildSnapshot,
    sig: &DiagnosticSignature,
) -> SignatureDetail {
    let mut apple_insights = Vec::new();
    let mut log_metadata = Vec::new();
    for logs in logs_of(b, &sig.id) {
        for p in &logs.product_data {
            for i in &p.diagnostic_insights {
                apple_insights.push(AppleInsight {
                    category: i.insights_category.clone(),
                    text: i.insights_string.clone(),
                    url: i.insights_url.clone(),
                });
            }
            for l in &p.diagnostic_logs {
                let m = &l.diagnostic_meta_data;
                let (frames, blame_frames) = count_frames(l);
                log_metadata.push(LogMetadata {
                    app_version: m.app_version.clone(),
                    build_version: m.build_version.clone(),
                    os_version: m.os_version.clone(),
                    device_type: m.device_type.clone(),
                    platform_architecture: m.platform_architecture.clone(),
                    event: m.event.clone(),
                    event_detail: m.event_detail.clone(),
                    writes_caused: m.writes_caused.clone(),
                    frames,
                    blame_frames,
                });
            }
        }
    }
    SignatureDetail {
        signature: signature_view(a, b, sig),
        apple_insights,
        log_metadata,
    }
}

/// Frames and blame frames of a log, iteratively (call stacks can be deep).
fn count_frames(l: &crate::asc::model::DiagnosticLog) -> (usize, usize) {
    let mut stack: Vec<&crate::asc::model::CallStackNode> = l
        .call_stack_tree
        .iter()
        .flat_map(|t| t.call_stacks.iter())
        .flat_map(|s| s.call_stack_root_frames.iter())
        .collect();
    let (mut frames, mut blame) = (0, 0);
    while let Some(n) = stack.pop() {
        frames += 1;
        if n.is_blame() {
            blame += 1;
        }
        stack.extend(n.sub_frames.iter());
    }
    (frames, blame)
}
