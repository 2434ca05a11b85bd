//! The HTTP server: the metrics path (`web.telemetry_path`, default
//! `/metrics`: a copy of the exposition encoded once per refresh, gzipped
//! when the scraper asks), `/healthz`, `/ready`, the landing page `/` and
//! the explorer's JSON API under `/api/v1/` ([`crate::explorer`]).
//! The routes live here ([`router`], testable with `oneshot`), guarded by
//! the exporter-toolkit web configuration ([`webconfig`], via [`secure`]);
//! the accept loops and their limits (timeouts, connection cap, shutdown
//! deadline) in [`listener`], one connection (TLS handshake included) in
//! `conn`, the pure policies (accept backoff, eviction choice) in [`policy`];
//! `web.max_requests` in [`limit`], readiness in [`ready`], the landing page
//! in [`landing`], the open-file limit in [`fdlimit`].

mod conn;
pub mod fdlimit;
pub mod landing;
pub mod limit;
pub mod listener;
pub mod metrics;
pub mod policy;
pub mod ready;
pub mod webconfig;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::export::Exposition;
use crate::export::live::LiveMetrics;
use crate::refresh::Snapshot;

#[derive(Clone)]
pub struct ServerState {
    /// The current exposition, swapped in whole by the Prometheus output.
    pub exposition: Arc<ArcSwapOption<Exposition>>,
    /// The exporter's live metrics, encoded at every scrape after the
    /// cached exposition.
    pub live: Arc<LiveMetrics>,
    /// The current snapshot (for readiness and the landing page).
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    /// `prometheus.enabled`: when off, the metrics path answers 404.
    pub metrics_enabled: bool,
    /// `web.telemetry_path`: where the metrics are served.
    pub telemetry_path: TelemetryPath,
    /// `web.max_requests`: scrapes of the metrics path served at once
    /// (0 = no limit).
    pub max_requests: usize,
}

/// A checked `web.telemetry_path`: starts with `/`, is not one of the
/// other routes, and holds no route syntax (`{`, `}`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryPath(String);

impl TelemetryPath {
    pub fn new(path: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            Err(format!(
                "web.telemetry_path {path:?} {why}; use a path such as /metrics"
            ))
        };
        if !path.starts_with('/') {
            return bad("must start with /");
        }
        if matches!(
            path,
            "/" | "/ready" | "/healthz" | "/diagnostics" | "/api" | "/apps" | "/favicon.ico"
        ) || ["/api/", "/apps/", "/diagnostics/"]
            .iter()
            .any(|p| path.starts_with(p))
        {
            return bad("is taken by another route (the explorer's /apps, /diagnostics, /api)");
        }
        if path.contains(['{', '}', '*', '?', '#']) || path.chars().any(char::is_whitespace) {
            return bad("must be a plain path (no {, }, *, ?, # or spaces)");
        }
        if path.contains("//") {
            return bad("holds an empty segment (//)");
        }
        Ok(Self(path.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TelemetryPath {
    fn default() -> Self {
        Self("/metrics".into())
    }
}

/// The exporter's routes. Wrap them with [`secure`] to apply the web
/// configuration file.
pub fn router(state: ServerState) -> Router {
    let mut metrics_route = get(metrics::metrics);
    if state.max_requests > 0 {
        metrics_route = metrics_route.route_layer(axum::middleware::from_fn_with_state(
            limit::InFlightLimit::new(state.max_requests),
            limit::limit,
        ));
    }
    Router::new()
        .route(state.telemetry_path.as_str(), metrics_route)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/", get(landing))
        .nest("/api/v1", crate::explorer::api(state.snapshots.clone()))
        .merge(crate::explorer::pages(state.snapshots.clone()))
        .fallback(not_found)
        .with_state(state)
}

/// `app` behind the web configuration file (every route, the fallback
/// included); `app` itself without one.
pub fn secure(app: Router, web: Option<Arc<webconfig::WebConfigSource>>) -> Router {
    match web {
        Some(web) => app.layer(axum::middleware::from_fn_with_state(web, webconfig::guard)),
        None => app,
    }
}

async fn not_found() -> Response {
    webconfig::source::plain_error(StatusCode::NOT_FOUND)
}

pub use listener::{Limits, ServerStats, ServerStatsSnapshot};

/// Binds `addr` (port 0 picks one; read it with `local_addr`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves `app` on every listener within `limits` until `shutdown`; returns
/// at most `limits.shutdown_timeout` after it. With a web configuration
/// that enables TLS, connections are TLS.
pub async fn serve(
    listeners: Vec<tokio::net::TcpListener>,
    app: Router,
    web: Option<Arc<webconfig::WebConfigSource>>,
    limits: Limits,
    stats: Arc<ServerStats>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    listener::serve_all(listeners, app, limits, stats, web, shutdown).await
}

async fn ready(State(state): State<ServerState>) -> Response {
    let snap = state.snapshots.borrow().clone();
    match ready::readiness(snap.as_deref()) {
        Ok(msg) => (StatusCode::OK, format!("{msg}\n")).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

async fn landing(State(state): State<ServerState>) -> Html<String> {
    let snap = state.snapshots.borrow().clone();
    let ready = match ready::readiness(snap.as_deref()) {
        Ok(m) | Err(m) => m,
    };
    Html(landing::render(
        &landing::LandingConfig::exporter(state.telemetry_path.as_str()),
        snap.as_deref(),
        &ready,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_paths() {
        assert_eq!(TelemetryPath::default().as_str(), "/metrics");
        assert!(TelemetryPath::new("/custom/metrics").is_ok());
        for bad in [
            "", "metrics", "/", "/ready", "/healthz", "/{x}", "/a b", "/a//b", "/*",
        ] {
            let e = TelemetryPath::new(bad).unwrap_err();
            assert!(e.contains("web.telemetry_path"), "{bad:?}: {e}");
        }
    }
}
