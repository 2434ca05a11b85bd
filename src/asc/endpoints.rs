//! The typed endpoints of the Power and Performance API (API-NOTES §1) on
//! top of [`AscClient`]'s request machinery: URLs and filters, paging
//! limits, and what each response is decoded into.

use super::api::{
    BuildInfo, DIAGNOSTIC_LOGS_JSON, JSON, MAX_PAGE, XCODE_METRICS_JSON, XCODE_OVERVIEW_JSON,
    join_builds, natural_cmp, routes,
};
use super::client::{AscClient, Fetched};
use super::error::AscError;
use super::model::{
    App, Build, DiagnosticLogs, DiagnosticSignature, SingleDocument, XcodeMetrics, XcodeOverview,
};
use url::Url;

/// Filters of the perfPowerMetrics endpoints (comma-joined, API-NOTES §1.1).
#[derive(Debug, Clone, Default)]
pub struct MetricsFilter {
    pub platforms: Vec<String>,
    pub metric_types: Vec<String>,
    pub device_types: Vec<String>,
}

/// Filters of the performance overview (API-NOTES §11): `filter[deviceType]`
/// is its only query parameter (comma-joined).
#[derive(Debug, Clone, Default)]
pub struct OverviewFilter {
    /// Apple's device ids (`all_iphones`, `iPhone15,2`); empty = all.
    pub device_types: Vec<String>,
}

/// Filters of `GET /v1/apps`.
#[derive(Debug, Clone, Default)]
pub struct AppsQuery {
    pub ids: Vec<String>,
    pub bundle_ids: Vec<String>,
    /// Page size (max 200).
    pub limit: Option<u32>,
}

impl AscClient {
    /// `GET /v1/apps`, every page.
    pub async fn list_apps(&self, query: &AppsQuery) -> Result<Vec<App>, AscError> {
        let mut url = self.url(&["v1", "apps"]);
        {
            let mut q = url.query_pairs_mut();
            if !query.ids.is_empty() {
                q.append_pair("filter[id]", &query.ids.join(","));
            }
            if !query.bundle_ids.is_empty() {
                q.append_pair("filter[bundleId]", &query.bundle_ids.join(","));
            }
            q.append_pair("fields[apps]", "name,bundleId,sku,primaryLocale");
            q.append_pair("limit", &query.limit.unwrap_or(200).min(200).to_string());
        }
        Ok(self.get_paged(routes::APPS, url, None).await?.0)
    }

    /// `GET /v1/apps/{id}`.
    pub async fn get_app(&self, id: &str) -> Result<App, AscError> {
        let url = self.url(&["v1", "apps", id]);
        let doc: SingleDocument<App> = self.get_json(routes::APP, url, JSON).await?.value;
        Ok(doc.data)
    }

    /// The newest `limit` builds of an app, newest first, with marketing
    /// versions: `GET /v1/builds?filter[app]=..&sort=-uploadedDate&include=preReleaseVersion`.
    pub async fn list_builds(
        &self,
        app_id: &str,
        limit: usize,
    ) -> Result<Vec<BuildInfo>, AscError> {
        let mut url = self.url(&["v1", "builds"]);
        url.query_pairs_mut()
            .append_pair("filter[app]", app_id)
            .append_pair("sort", "-uploadedDate")
            .append_pair("include", "preReleaseVersion")
            .append_pair("limit", &limit.clamp(1, 200).to_string());
        let (builds, included) = self
            .get_paged::<Build>(routes::BUILDS, url, Some(limit))
            .await?;
        let mut out = join_builds(builds, &included);
        // Apple documents the sort, but never trust an order we can compute.
        out.sort_by(|a, b| {
            b.uploaded_date
                .cmp(&a.uploaded_date)
                .then_with(|| natural_cmp(&b.number, &a.number))
        });
        Ok(out)
    }

    /// `GET /v1/apps/{id}/perfPowerMetrics` (with insights).
    pub async fn app_metrics(
        &self,
        app_id: &str,
        filter: &MetricsFilter,
    ) -> Result<Fetched<XcodeMetrics>, AscError> {
        let url = metrics_url(
            self.url(&["v1", "apps", app_id, "perfPowerMetrics"]),
            filter,
        );
        self.get_json(routes::APP_METRICS, url, XCODE_METRICS_JSON)
            .await
    }

    /// `GET /v1/apps/{id}/performanceOverviews` (API 4.5): the overview with
    /// the top hang, launch and disk-write call sites, decoded by the
    /// model's one decoder (see [`XcodeOverview`] for what must be present).
    ///
    /// A 404 is returned as the error it is ([`AscError::is_not_found`]):
    /// for an app the account lists it means Apple has no overview for it
    /// ("not measured", like an overview whose lists are all empty, see
    /// [`XcodeOverview::has_data`]), never zeros; for an id the account does
    /// not have, it is the mistake it looks like.
    pub async fn app_overview(
        &self,
        app_id: &str,
        filter: &OverviewFilter,
    ) -> Result<Fetched<XcodeOverview>, AscError> {
        let mut url = self.url(&["v1", "apps", app_id, "performanceOverviews"]);
        let devices: Vec<&str> = filter
            .device_types
            .iter()
            .map(|d| d.trim())
            .filter(|d| !d.is_empty())
            .collect();
        if !devices.is_empty() {
            url.query_pairs_mut()
                .append_pair("filter[deviceType]", &devices.join(","));
        }
        self.get_json(routes::APP_OVERVIEW, url, XCODE_OVERVIEW_JSON)
            .await
    }

    /// `GET /v1/builds/{id}/perfPowerMetrics`.
    pub async fn build_metrics(
        &self,
        build_id: &str,
        filter: &MetricsFilter,
    ) -> Result<Fetched<XcodeMetrics>, AscError> {
        let url = metrics_url(
            self.url(&["v1", "builds", build_id, "perfPowerMetrics"]),
            filter,
        );
        self.get_json(routes::BUILD_METRICS, url, XCODE_METRICS_JSON)
            .await
    }

    /// `GET /v1/builds/{id}/diagnosticSignatures`, all pages up to `max`,
    /// sorted by weight (heaviest first).
    pub async fn diagnostic_signatures(
        &self,
        build_id: &str,
        types: &[String],
        max: Option<usize>,
    ) -> Result<Vec<DiagnosticSignature>, AscError> {
        let mut url = self.url(&["v1", "builds", build_id, "diagnosticSignatures"]);
        {
            let mut q = url.query_pairs_mut();
            if !types.is_empty() {
                q.append_pair("filter[diagnosticType]", &types.join(","));
            }
            // Always the largest page: the top K by weight can only be chosen
            // from the full list (the API promises no weight order), and
            // pages of K would cost more requests for the same list.
            q.append_pair("limit", &MAX_PAGE.to_string());
        }
        let (mut sigs, _) = self
            .get_paged::<DiagnosticSignature>(routes::BUILD_SIGNATURES, url, None)
            .await?;
        sigs.sort_by(|a, b| b.weight().total_cmp(&a.weight()));
        if let Some(m) = max {
            sigs.truncate(m);
        }
        Ok(sigs)
    }

    /// `GET /v1/diagnosticSignatures/{id}/logs?limit=N`.
    pub async fn diagnostic_logs(
        &self,
        signature_id: &str,
        limit: Option<u32>,
    ) -> Result<Fetched<DiagnosticLogs>, AscError> {
        let mut url = self.url(&["v1", "diagnosticSignatures", signature_id, "logs"]);
        if let Some(l) = limit {
            url.query_pairs_mut()
                .append_pair("limit", &l.clamp(1, 200).to_string());
        }
        self.get_json(routes::SIGNATURE_LOGS, url, DIAGNOSTIC_LOGS_JSON)
            .await
    }
}

fn metrics_url(mut url: Url, f: &MetricsFilter) -> Url {
    {
        let mut q = url.query_pairs_mut();
        for (name, values) in [
            ("filter[platform]", &f.platforms),
            ("filter[metricType]", &f.metric_types),
            ("filter[deviceType]", &f.device_types),
        ] {
            if !values.is_empty() {
                q.append_pair(name, &values.join(","));
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}
