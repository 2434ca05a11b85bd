//! The diagnostics explorer (issue 14), an output beside the metrics
//! outputs: it reads the current [`Snapshot`] and serves it to people and
//! bug trackers. This first part is the JSON API under `/api/v1/`
//! (`docs/api.md`): the views ([`views`]) are pure functions of the
//! snapshot, the routes ([`api`]) read the snapshot the refresh published
//! last (during a refresh, each app whole, old or new) and answer 503 until
//! there is one. "Copy as Markdown" of a signature is [`markdown`]. The
//! pages ([`pages`], built from [`html`] and [`svg`]) show the same views
//! to people: no script framework, every Apple string escaped.
//!
//! The routes are mounted by [`crate::server::router`], so the web
//! configuration (TLS, basic auth) guards them like `/metrics`.

pub mod html;
pub mod markdown;
pub mod pages;
pub mod svg;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::sync::watch;

use crate::clock::unix_now;
use crate::refresh::Snapshot;

use views::SignatureFilter;

#[derive(Clone)]
struct Explorer {
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
}

/// The JSON API's routes, to nest under `/api/v1`.
pub fn api<S: Clone + Send + Sync + 'static>(
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
) -> Router<S> {
    Router::new()
        .route("/apps", get(apps))
        .route("/apps/{id}", get(app))
        .route("/apps/{id}/insights", get(insights))
        .route("/signatures", get(signatures))
        .route("/signatures/{id}", get(signature))
        .route("/signatures/{id}/logs", get(logs))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such API route; see docs/api.md") })
        .with_state(Explorer { snapshots })
}

/// The HTML pages: `/apps/{id}`, `/diagnostics`, `/diagnostics/{id}` and
/// `/diagnostics/{id}/flamegraph.svg`.
pub fn pages<S: Clone + Send + Sync + 'static>(
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
) -> Router<S> {
    Router::new()
        .route("/apps/{id}", get(app_page))
        .route("/diagnostics", get(diagnostics_page))
        .route("/diagnostics/{id}", get(signature_page))
        .route("/diagnostics/{id}/flamegraph.svg", get(flamegraph))
        // Asked for by browsers showing a standalone SVG (the flame graph):
        // an icon rather than a 404 in their console.
        .route("/favicon.ico", get(|| async {
            (
                [(header::CONTENT_TYPE, "image/svg+xml")],
                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#b33a1a\"/></svg>",
            )
        }))
        .with_state(Explorer { snapshots })
}

fn html_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(html::page(
            status.canonical_reason().unwrap_or("Error"),
            &format!("<h1>{}</h1><p>{}</p>", status.as_u16(), html::esc(message)),
        )),
    )
        .into_response()
}

const NO_DATA: &str = "No data yet: the first refresh has not finished (see /ready).";

async fn app_page(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return html_error(StatusCode::SERVICE_UNAVAILABLE, NO_DATA);
    };
    match s.app(&id) {
        Some(a) => Html(pages::app_page(a, unix_now())).into_response(),
        None => html_error(
            StatusCode::NOT_FOUND,
            &format!("No app {id:?} in the exporter's data."),
        ),
    }
}

async fn diagnostics_page(
    State(e): State<Explorer>,
    Query(filter): Query<SignatureFilter>,
) -> Response {
    match e.snapshot() {
        Some(s) => Html(pages::diagnostics_page(&s, &filter)).into_response(),
        None => html_error(StatusCode::SERVICE_UNAVAILABLE, NO_DATA),
    }
}

async fn signature_page(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return html_error(StatusCode::SERVICE_UNAVAILABLE, NO_DATA);
    };
    match views::find_signature(&s, &id) {
        Some((a, b, sig)) => Html(pages::signature_page(a, b, sig)).into_response(),
        None => html_error(
            StatusCode::NOT_FOUND,
            &format!("No signature {id:?} in the builds the exporter follows."),
        ),
    }
}

async fn flamegraph(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return html_error(StatusCode::SERVICE_UNAVAILABLE, NO_DATA);
    };
    let Some((_, b, sig)) = views::find_signature(&s, &id) else {
        return html_error(
            StatusCode::NOT_FOUND,
            &format!("No signature {id:?} in the builds the exporter follows."),
        );
    };
    match svg::flamegraph(sig.signature(), &views::logs_of(b, &sig.id)) {
        Some(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        None => html_error(
            StatusCode::NOT_FOUND,
            "No logs with call stacks for this signature (diagnostics.logs).",
        ),
    }
}

/// A JSON error body: `{"error": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
        ),
    }
}

impl Explorer {
    /// The current snapshot (`None` before the first refresh: [`no_data`]).
    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshots.borrow().clone()
    }
}

fn no_data() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "no data yet: the first refresh has not finished (see /ready)",
    )
}

fn no_app(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("no app {id:?} in the exporter's data (GET /api/v1/apps lists them)"),
    )
}

fn no_signature(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "no signature {id:?} in the builds the exporter follows (GET /api/v1/signatures lists them)"
        ),
    )
}

async fn apps(State(e): State<Explorer>) -> Response {
    match e.snapshot() {
        Some(s) => json(&views::app_list(&s, unix_now())),
        None => no_data(),
    }
}

async fn app(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return no_data();
    };
    match s.app(&id) {
        Some(a) => json(&views::app_detail(a, unix_now())),
        None => no_app(&id),
    }
}

async fn insights(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return no_data();
    };
    match s.app(&id) {
        Some(a) => json(&views::insight_list(a)),
        None => no_app(&id),
    }
}

async fn signatures(State(e): State<Explorer>, Query(filter): Query<SignatureFilter>) -> Response {
    match e.snapshot() {
        Some(s) => json(&views::signature_list(&s, &filter)),
        None => no_data(),
    }
}

/// `/signatures/{id}`, and `/signatures/{id}.md` (the Markdown report).
async fn signature(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return no_data();
    };
    if let Some(sig) = id.strip_suffix(".md")
        && let Some((a, b, found)) = views::find_signature(&s, sig)
    {
        return (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            markdown::signature_markdown(a, b, found),
        )
            .into_response();
    }
    match views::find_signature(&s, &id) {
        Some((a, b, sig)) => json(&views::signature_detail(a, b, sig)),
        None => no_signature(&id),
    }
}

async fn logs(State(e): State<Explorer>, Path(id): Path<String>) -> Response {
    let Some(s) = e.snapshot() else {
        return no_data();
    };
    match views::find_signature(&s, &id) {
        Some((_, b, sig)) => json(&views::SignatureLogs {
            signature_id: sig.id.clone(),
            logs: views::logs_of(b, &sig.id),
        }),
        None => no_signature(&id),
    }
}
