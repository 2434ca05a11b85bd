//! One app's refresh: its builds' metrics and diagnostics, the app-level
//! metrics and the overview, paced against the minute window, with the
//! optional parts dropped when the hourly budget runs low.

use super::{Refresher, pace_delay};
use crate::asc::client::{MetricsFilter, OverviewFilter};
use crate::asc::model::XcodeOverview;
use crate::asc::{AscError, BuildInfo};
use crate::clock::unix_now;
use crate::refresh::prune::{prune, prune_overview};
use crate::refresh::snapshot::{AppRef, AppSnapshot, BuildSnapshot};

impl Refresher {
    /// Whether optional work may spend requests: the hourly budget left is
    /// above the reserve (or unknown).
    fn budget_allows_optional(&self) -> bool {
        match self
            .client
            .stats()
            .rate_limit()
            .and_then(|o| o.limit.hour_fraction_remaining())
        {
            Some(f) => f >= self.opts.refresh.rate_limit_reserve,
            None => true,
        }
    }

    /// Waits when the per-minute window is nearly spent, instead of
    /// running into 429s (see [`pace_delay`]).
    async fn pace(&self) {
        let Some(obs) = self.client.stats().rate_limit() else {
            return;
        };
        let wait = pace_delay(&obs.limit, obs.at.elapsed(), self.opts.refresh.concurrency);
        if !wait.is_zero() {
            tracing::info!(?wait, "minute rate-limit window nearly spent, pausing");
            tokio::time::sleep(wait).await;
        }
    }

    pub(super) async fn refresh_app(
        &self,
        app: &AppRef,
        prev: Option<&AppSnapshot>,
    ) -> Result<AppSnapshot, AscError> {
        self.pace().await;
        let mut metrics = self
            .client
            .app_metrics(&app.id, &MetricsFilter::default())
            .await?
            .value;
        prune(&mut metrics, &self.opts);
        let mut overview = self.refresh_overview(app, prev).await?;
        if let Some(o) = &mut overview {
            // The overview's datasets repeat most of perfPowerMetrics: keep
            // what is new only (its call sites and sections stay whole).
            o.drop_given(&metrics);
        }
        let builds = if self.opts.refresh.builds_per_app > 0 {
            self.pace().await;
            self.client
                .list_builds(&app.id, self.opts.refresh.builds_per_app)
                .await?
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(builds.len());
        let mut skipped: Vec<String> = Vec::new();
        for build in builds {
            let prev_build = prev.and_then(|p| p.builds.iter().find(|b| b.build.id == build.id));
            if !self.budget_allows_optional() {
                skipped.push(build.number.clone());
                out.push(match prev_build {
                    Some(b) => BuildSnapshot { build, ..b.clone() },
                    None => BuildSnapshot {
                        build,
                        ..Default::default()
                    },
                });
                continue;
            }
            out.push(self.refresh_build(&app.id, build).await?);
        }
        if !skipped.is_empty() {
            tracing::warn!(app_id = %app.id, builds = %skipped.join(","), reserve = self.opts.refresh.rate_limit_reserve, "hourly rate-limit budget below refresh.rate_limit_reserve; keeping these builds' previous details this refresh");
        }
        Ok(AppSnapshot {
            app: app.clone(),
            metrics: Some(metrics),
            overview,
            builds: out,
            last_success_unix: Some(unix_now()),
            last_attempt_failed: false,
            last_error: None,
        })
    }

    /// The app's performance overview: `None` when `refresh.overview` is
    /// off, or when Apple has none (404, or a document without data: "not
    /// measured", not zero). Optional work: below the budget reserve the
    /// previous overview is kept. Any other error fails the app, which
    /// then keeps all its last good data.
    async fn refresh_overview(
        &self,
        app: &AppRef,
        prev: Option<&AppSnapshot>,
    ) -> Result<Option<XcodeOverview>, AscError> {
        if !self.opts.refresh.overview {
            return Ok(None);
        }
        if !self.budget_allows_optional() {
            tracing::warn!(app_id = %app.id, reserve = self.opts.refresh.rate_limit_reserve, "hourly rate-limit budget below refresh.rate_limit_reserve; keeping the app's previous performance overview this refresh");
            return Ok(prev.and_then(|p| p.overview.clone()));
        }
        self.pace().await;
        match self
            .client
            .app_overview(&app.id, &OverviewFilter::default())
            .await
        {
            Ok(f) if f.value.has_data() => {
                let mut overview = f.value;
                prune_overview(&mut overview, &self.opts);
                Ok(Some(overview))
            }
            Ok(_) => {
                tracing::info!(app_id = %app.id, "Apple has no performance overview for this app yet (empty document): not measured");
                Ok(None)
            }
            Err(e) if e.is_not_found() => {
                tracing::info!(app_id = %app.id, "Apple has no performance overview for this app (404): not measured");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn refresh_build(
        &self,
        app_id: &str,
        build: BuildInfo,
    ) -> Result<BuildSnapshot, AscError> {
        let metrics = if self.opts.refresh.build_metrics {
            self.pace().await;
            match self
                .client
                .build_metrics(&build.id, &MetricsFilter::default())
                .await
            {
                Ok(mut f) if f.value.has_data() => {
                    prune(&mut f.value, &self.opts);
                    Some(f.value)
                }
                Ok(_) => {
                    tracing::info!(app_id = %app_id, build = %build.number, "Apple has no metrics for this build yet (empty document): not measured");
                    None
                }
                Err(e) if e.is_not_found() => {
                    tracing::info!(app_id = %app_id, build = %build.number, "Apple has no metrics for this build (404): not measured");
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let mut signatures = Vec::new();
        let mut logs = Vec::new();
        if self.opts.diagnostics.enabled && self.opts.diagnostics.top > 0 {
            self.pace().await;
            signatures = match self
                .client
                .diagnostic_signatures(
                    &build.id,
                    &self.opts.diagnostics.types,
                    Some(self.opts.diagnostics.top),
                )
                .await
            {
                Ok(s) => s,
                Err(e) if e.is_not_found() => {
                    tracing::info!(app_id = %app_id, build = %build.number, "Apple has no diagnostic signatures for this build (404)");
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            if self.opts.diagnostics.logs {
                for sig in signatures.iter().take(self.opts.diagnostics.logs_top) {
                    if !self.budget_allows_optional() {
                        break;
                    }
                    self.pace().await;
                    match self
                        .client
                        .diagnostic_logs(&sig.id, Some(self.opts.diagnostics.logs_per_signature))
                        .await
                    {
                        Ok(f) => logs.push((sig.id.clone(), f.value)),
                        Err(e) if e.is_not_found() => {
                            tracing::info!(app_id = %app_id, build = %build.number, signature_id = %sig.id, "Apple has no logs for this signature (404)");
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(BuildSnapshot {
            build,
            metrics,
            signatures,
            logs,
        })
    }
}
