//! The names of the families that do not depend on the data (the
//! exporter's own, the API's, the per-app status families and the
//! cross-metric ones), which of them are OpenMetrics `info` families, the
//! names OpenMetrics derives from them (reserved, so a data-derived family
//! never clashes with one) and their units. The rules that name
//! data-derived families live in [`super::units`].

use super::units::UnitMapping;

pub const EXPORTER_BUILD_INFO: &str = "asc_exporter_build_info";
pub const EXPORTER_LAST_SUCCESS: &str = "asc_exporter_last_refresh_success";
pub const EXPORTER_LAST_SUCCESS_TS: &str = "asc_exporter_last_refresh_success_timestamp_seconds";
pub const EXPORTER_LAST_ATTEMPT_TS: &str = "asc_exporter_last_refresh_timestamp_seconds";
pub const EXPORTER_DURATION: &str = "asc_exporter_refresh_duration_seconds";
pub const EXPORTER_INTERVAL: &str = "asc_exporter_refresh_interval_seconds";
pub const EXPORTER_NEXT_TS: &str = "asc_exporter_next_refresh_timestamp_seconds";
/// Apps done of the refresh under way (1 between refreshes).
pub const EXPORTER_PROGRESS: &str = "asc_exporter_refresh_progress_ratio";
pub const API_REQUESTS: &str = "asc_api_requests_total";
pub const API_RETRIES: &str = "asc_api_retries_total";
/// Requests left in a rate-limit window (`X-Rate-Limit`).
pub const API_RL_REMAINING: &str = "asc_api_rate_limit_remaining";
/// Requests a rate-limit window allows, its budget (`CONTRACT.md`; was
/// `asc_api_rate_limit_limit`, which said "limit" twice).
pub const API_RL_LIMIT: &str = "asc_api_rate_limit_budget";
pub const APP_LAST_SUCCESS_TS: &str = "asc_app_last_refresh_success_timestamp_seconds";
pub const APP_REFRESH_FAILED: &str = "asc_app_refresh_failed";
pub const APP_LATEST_VERSION: &str = "asc_app_latest_version_info";
pub const APP_VERSION_RANK: &str = "asc_app_version_rank";
/// Whether Apple returned metrics: `scope="app"`, or `scope="build"` with
/// the build number in `build` (a build number was in `scope` before).
pub const DATA_AVAILABLE: &str = "asc_data_available";
pub const BUILD_UPLOADED: &str = "asc_build_uploaded_timestamp_seconds";
pub const SIGNATURE_WEIGHT: &str = "asc_diagnostic_signature_weight_ratio";
/// The performance overview's top call sites (CONTRACT.md; the count is
/// `_occurrences`, not `_count`: see `mapping::overview`).
pub const TOP_SIGNATURE_WEIGHT: &str = "asc_top_signature_weight_ratio";
pub const TOP_SIGNATURE_OCCURRENCES: &str = "asc_top_signature_occurrences";
pub const TOP_SIGNATURE_INFO: &str = "asc_top_signature_info";
pub const TOP_SIGNATURE_VERSION_WEIGHT: &str = "asc_top_signature_version_weight_ratio";
pub const OVERVIEW_RELEVANCE: &str = "asc_overview_relevance_score";
pub const OVERVIEW_SORT_ORDER: &str = "asc_overview_sort_order";
pub const METRIC_GOAL_INFO: &str = "asc_metric_goal_info";
pub const METRIC_BREAKDOWN: &str = "asc_metric_breakdown_ratio";
pub const INSIGHT_REGRESSION_DELTA: &str = "asc_insight_regression_delta_ratio";
pub const INSIGHT_TRENDING_UP_DELTA: &str = "asc_insight_trending_up_delta_ratio";
pub const API_AUTH_FAILURES: &str = "asc_api_auth_failures_total";
pub const API_AUTH_RECOVERED: &str = "asc_api_auth_recovered_total";
pub const API_DECODE_ERRORS: &str = "asc_api_decode_errors_total";
pub const API_RL_RESUME_TS: &str = "asc_api_rate_limit_resume_timestamp_seconds";
pub const STATE_WRITE_FAILURES: &str = "asc_exporter_state_write_failures_total";
pub const STATE_LAST_WRITE_TS: &str = "asc_exporter_state_last_write_success_timestamp_seconds";
pub const OTLP_EXPORTS: &str = "asc_otlp_exports_total";
pub const OTLP_LAST_SUCCESS_TS: &str = "asc_otlp_last_export_success_timestamp_seconds";
pub const OTLP_LOG_RECORDS: &str = "asc_otlp_log_records_sent_total";
pub const HTTP_ACCEPTED: &str = "asc_exporter_http_connections_accepted_total";
pub const HTTP_OPEN: &str = "asc_exporter_http_connections_open";
pub const HTTP_EVICTED: &str = "asc_exporter_http_connections_evicted_total";
pub const HTTP_IDLE_CLOSED: &str = "asc_exporter_http_connections_idle_closed_total";
pub const HTTP_HEADER_TIMEOUTS: &str = "asc_exporter_http_header_timeouts_total";
pub const HTTP_ACCEPT_ERRORS: &str = "asc_exporter_http_accept_errors_total";
pub const HTTP_TLS_HANDSHAKE_FAILURES: &str = "asc_exporter_http_tls_handshake_failures_total";

/// Every fixed family name; data-derived names never take one of these.
pub const FIXED: &[&str] = &[
    EXPORTER_BUILD_INFO,
    EXPORTER_LAST_SUCCESS,
    EXPORTER_LAST_SUCCESS_TS,
    EXPORTER_LAST_ATTEMPT_TS,
    EXPORTER_DURATION,
    EXPORTER_INTERVAL,
    EXPORTER_NEXT_TS,
    EXPORTER_PROGRESS,
    API_REQUESTS,
    API_RETRIES,
    API_RL_REMAINING,
    API_RL_LIMIT,
    API_AUTH_FAILURES,
    API_AUTH_RECOVERED,
    API_DECODE_ERRORS,
    API_RL_RESUME_TS,
    STATE_WRITE_FAILURES,
    STATE_LAST_WRITE_TS,
    APP_LAST_SUCCESS_TS,
    APP_REFRESH_FAILED,
    APP_LATEST_VERSION,
    APP_VERSION_RANK,
    DATA_AVAILABLE,
    BUILD_UPLOADED,
    SIGNATURE_WEIGHT,
    TOP_SIGNATURE_WEIGHT,
    TOP_SIGNATURE_OCCURRENCES,
    TOP_SIGNATURE_INFO,
    TOP_SIGNATURE_VERSION_WEIGHT,
    OVERVIEW_RELEVANCE,
    OVERVIEW_SORT_ORDER,
    METRIC_GOAL_INFO,
    METRIC_BREAKDOWN,
    INSIGHT_REGRESSION_DELTA,
    INSIGHT_TRENDING_UP_DELTA,
    OTLP_EXPORTS,
    OTLP_LAST_SUCCESS_TS,
    OTLP_LOG_RECORDS,
    HTTP_ACCEPTED,
    HTTP_OPEN,
    HTTP_EVICTED,
    HTTP_IDLE_CLOSED,
    HTTP_HEADER_TIMEOUTS,
    HTTP_ACCEPT_ERRORS,
    HTTP_TLS_HANDSHAKE_FAILURES,
];

/// The fixed families that are OpenMetrics `info` families: gauges named
/// `*_info` whose value is always 1 (version, goal band and build in
/// labels). Data-derived families are never typed info.
pub const INFO: &[&str] = &[
    EXPORTER_BUILD_INFO,
    APP_LATEST_VERSION,
    METRIC_GOAL_INFO,
    TOP_SIGNATURE_INFO,
];

/// The names OpenMetrics gives a fixed counter or info family besides its
/// own: `foo_total` is the family `foo` with samples `foo_total` and
/// `foo_created`, `foo_info` the family `foo`. A data-derived family taking
/// one of these names would clash in OpenMetrics (spec §"Suffixes"), so they
/// are reserved for the fixed family.
pub fn openmetrics_names(name: &str) -> Vec<String> {
    if let Some(family) = name.strip_suffix("_total") {
        vec![family.to_string(), format!("{family}_created")]
    } else if let Some(family) = name.strip_suffix("_info").filter(|_| INFO.contains(&name)) {
        vec![family.to_string()]
    } else {
        Vec::new()
    }
}

/// The unit of a fixed family, from the suffix its name carries. Counters
/// get a UCUM annotation (`{request}`) and no suffix: `_total` is the
/// counter's, not a unit.
pub fn fixed_unit(name: &str) -> UnitMapping {
    match name {
        API_REQUESTS => UnitMapping::annotation("{request}"),
        API_RETRIES => UnitMapping::annotation("{retry}"),
        API_AUTH_FAILURES | API_AUTH_RECOVERED => UnitMapping::annotation("{response}"),
        API_DECODE_ERRORS => UnitMapping::annotation("{response}"),
        STATE_WRITE_FAILURES => UnitMapping::annotation("{write}"),
        OTLP_EXPORTS => UnitMapping::annotation("{export}"),
        OTLP_LOG_RECORDS => UnitMapping::annotation("{record}"),
        TOP_SIGNATURE_OCCURRENCES => UnitMapping::annotation("{occurrence}"),
        _ if name.ends_with("_seconds") => UnitMapping::known("seconds", 1.0, "s"),
        _ if name.ends_with("_bytes") => UnitMapping::known("bytes", 1.0, "By"),
        _ if name.ends_with("_ratio") => UnitMapping::known("ratio", 1.0, "1"),
        _ => UnitMapping::none(),
    }
}
