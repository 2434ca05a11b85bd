//! The HTTP server: `/metrics` (a copy of the exposition encoded once per
//! refresh, gzipped when the scraper asks), `/healthz`, `/ready` and a small
//! landing page. The routes live here ([`router`], testable with `oneshot`);
//! the accept loop and its limits (timeouts, connection cap, shutdown
//! deadline) in [`listener`], one connection in `conn`, the pure policies
//! (accept backoff, eviction choice) in [`policy`]; the open-file limit in
//! [`fdlimit`].

mod conn;
pub mod fdlimit;
pub mod listener;
pub mod metrics;
pub mod policy;

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

use crate::export::prometheus::Exposition;
use crate::refresh::Snapshot;

#[derive(Clone)]
pub struct ServerState {
    /// The current exposition, swapped in whole by the Prometheus output.
    pub exposition: Arc<ArcSwapOption<Exposition>>,
    /// The current snapshot (for readiness and the landing page).
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    /// `prometheus.enabled`: when off, `/metrics` answers 404.
    pub metrics_enabled: bool,
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/", get(landing))
        .with_state(state)
}

pub use listener::{Limits, ServerStats, ServerStatsSnapshot};

/// Binds `addr` (port 0 picks one; read it with `local_addr`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves the exporter's routes on `listener` within `limits` until
/// `shutdown`; returns at most `limits.shutdown_timeout` after it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    limits: Limits,
    stats: Arc<ServerStats>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    listener::serve(listener, router(state), limits, stats, shutdown).await
}

async fn ready(State(state): State<ServerState>) -> Response {
    if state.snapshots.borrow().is_some() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no data yet: waiting for the first refresh\n",
        )
            .into_response()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn when(unix: Option<f64>) -> String {
    unix.and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "never".into())
}

async fn landing(State(state): State<ServerState>) -> Html<String> {
    let snap = state.snapshots.borrow().clone();
    let mut rows = String::new();
    if let Some(s) = &snap {
        for a in &s.apps {
            let status = if a.last_attempt_failed {
                format!(
                    "<td class=bad>failed: {}</td>",
                    esc(a.last_error.as_deref().unwrap_or(""))
                )
            } else {
                "<td class=ok>ok</td>".to_string()
            };
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{status}</tr>\n",
                esc(&a.app.name),
                esc(&a.app.id),
                esc(&a.app.bundle_id),
                esc(a.latest_version().as_deref().unwrap_or("-")),
                when(a.last_success_unix),
            ));
        }
    }
    let summary = match &snap {
        None => "No data yet: waiting for the first refresh.".to_string(),
        Some(s) => format!(
            "Last refresh {} ({}, {:.1} s); last full success {}.",
            when(Some(s.refresh.last_attempt_unix)),
            if s.refresh.last_success {
                "succeeded"
            } else {
                "had failures"
            },
            s.refresh.duration_seconds,
            when(s.refresh.last_success_unix)
        ),
    };
    Html(format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>asc-perf-exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}.bad{{color:#b00}}.ok{{color:#070}}</style></head>
<body><h1>asc-perf-exporter {version}</h1>
<p>App Store Connect Power &amp; Performance metrics for Prometheus.</p>
<p><a href="/metrics">/metrics</a> · <a href="/ready">/ready</a> · <a href="/healthz">/healthz</a></p>
<p>{summary}</p>
<table><tr><th>App</th><th>Id</th><th>Bundle id</th><th>Latest version</th><th>Last success</th><th>Latest attempt</th></tr>
{rows}</table></body></html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        summary = esc(&summary),
    ))
}
