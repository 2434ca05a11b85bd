//! The simulator's HTTP server (axum 0.8).
//!
//! API requests (`/v1/...`) go through one pipeline: count the route, verify
//! the JWT (401 `NOT_AUTHORIZED`), spend one request of the rate-limit budget
//! (429 `RATE_LIMIT_EXCEEDED` + `Retry-After`), apply injected faults, then
//! answer. Every API response carries `X-Rate-Limit`. Paths and query
//! parameters are parsed by hand so that every failure is an Apple-style
//! `ErrorResponse` (404 `PATH_ERROR`, 400 `PARAMETER_ERROR.*`), never a
//! framework default.
//!
//! The routes' handlers are in `routes.rs` (on the parsed request of
//! `jsonapi.rs`: query, paging, links), the faults' wire behaviour in
//! [`super::inject`], the admin API (`/_sim/...`, no auth, not counted) in
//! `admin.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::SimConfig;
use super::admin;
use super::auth::Verifier;
use super::control::SimControl;
use super::inject::{self, FaultEnv};
use super::jsonapi::{Ctx, origin};
use super::response::{ApiError, Reply};
use super::routes as handlers;
use crate::asc::api::{
    DIAGNOSTIC_LOGS_JSON, JSON, XCODE_METRICS_JSON, XCODE_OVERVIEW_JSON, routes,
};

/// What every handler shares.
pub(crate) struct Shared {
    pub(crate) control: SimControl,
    pub(crate) verifier: Verifier,
    pub(crate) addr: SocketAddr,
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    pub addr: SocketAddr,
    pub control: SimControl,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves in a tokio task.
/// Fails when the public key is not an EC PEM or the bind fails.
pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    let verifier = Verifier::new(
        &config.public_key_pem,
        config.key_id.clone(),
        config.issuer_id.clone(),
    )
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let control = SimControl::new(config);
    let shared = Arc::new(Shared {
        control: control.clone(),
        verifier,
        addr,
    });
    let router = Router::new()
        .route("/_sim/state", get(admin::state))
        .route("/_sim/scenario", put(admin::scenario))
        .route(
            "/_sim/faults",
            post(admin::add_fault)
                .get(admin::list_faults)
                .delete(admin::clear_faults),
        )
        .route("/_sim/rate_limit", put(admin::rate_limit))
        .route("/_sim/apps/{id}/release", post(admin::release))
        .fallback(api)
        .with_state(shared);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    tracing::info!(%addr, "simulated App Store Connect listening");
    Ok(SimHandle {
        addr,
        control,
        shutdown: Some(tx),
        task: Some(task),
    })
}

// ----- routing --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Apps,
    App(&'a str),
    AppBuilds(&'a str),
    AppMetrics(&'a str),
    AppOverview(&'a str),
    Builds,
    Build(&'a str),
    BuildMetrics(&'a str),
    BuildSignatures(&'a str),
    SignatureLogs(&'a str),
    Unknown,
}

impl Route<'_> {
    fn template(&self) -> &'static str {
        match self {
            Route::Apps => routes::APPS,
            Route::App(_) => routes::APP,
            Route::AppBuilds(_) => routes::APP_BUILDS,
            Route::AppMetrics(_) => routes::APP_METRICS,
            Route::AppOverview(_) => routes::APP_OVERVIEW,
            Route::Builds => routes::BUILDS,
            Route::Build(_) => routes::BUILD,
            Route::BuildMetrics(_) => routes::BUILD_METRICS,
            Route::BuildSignatures(_) => routes::BUILD_SIGNATURES,
            Route::SignatureLogs(_) => routes::SIGNATURE_LOGS,
            Route::Unknown => "unknown",
        }
    }
}

fn classify(path: &str) -> Route<'_> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    let ok = |s: &str| !s.is_empty();
    match segs.as_slice() {
        ["v1", "apps"] => Route::Apps,
        ["v1", "apps", id] if ok(id) => Route::App(id),
        ["v1", "apps", id, "builds"] if ok(id) => Route::AppBuilds(id),
        ["v1", "apps", id, "perfPowerMetrics"] if ok(id) => Route::AppMetrics(id),
        ["v1", "apps", id, "performanceOverviews"] if ok(id) => Route::AppOverview(id),
        ["v1", "builds"] => Route::Builds,
        ["v1", "builds", id] if ok(id) => Route::Build(id),
        ["v1", "builds", id, "perfPowerMetrics"] if ok(id) => Route::BuildMetrics(id),
        ["v1", "builds", id, "diagnosticSignatures"] if ok(id) => Route::BuildSignatures(id),
        ["v1", "diagnosticSignatures", id, "logs"] if ok(id) => Route::SignatureLogs(id),
        _ => Route::Unknown,
    }
}

impl Route<'_> {
    /// The media type of the route's successful answers.
    fn media_type(&self) -> &'static str {
        match self {
            Route::AppMetrics(_) | Route::BuildMetrics(_) => XCODE_METRICS_JSON,
            Route::AppOverview(_) => XCODE_OVERVIEW_JSON,
            Route::SignatureLogs(_) => DIAGNOSTIC_LOGS_JSON,
            _ => JSON,
        }
    }
}

/// The API pipeline: count, verify the JWT, spend the budget, take a fault,
/// answer (through the fault when there is one).
async fn api(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if path.starts_with("/_sim") {
        return admin::unknown();
    }
    let route = classify(path);
    s.control.count(route.template());

    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(reason) = s.verifier.verify(authorization) {
        tracing::debug!(path, reason, "rejected token");
        return ApiError::new(
            401,
            "NOT_AUTHORIZED",
            "Authentication credentials are missing or invalid.",
            format!(
                "Provide a properly configured and signed bearer token, and make sure that it has not expired. Reason: {reason}"
            ),
        )
        .into_response(&s.control.peek_rate(), None);
    }
    let rate = s.control.spend();
    if let Some(retry) = rate.retry_after {
        return ApiError::new(
            429,
            "RATE_LIMIT_EXCEEDED",
            "The request rate limit has been reached.",
            "We've received too many requests for this API. Please wait and try again or slow down your request rate.",
        )
        .into_response(&rate.header, Some(retry));
    }
    let fault = s.control.take_fault(path);
    let real = answer(&s, &method, &uri, &headers, route);
    let Some(kind) = fault else {
        return real.into_response(&rate.header);
    };
    let env = FaultEnv {
        rate: &rate.header,
        media_type: route.media_type(),
        path_and_query: uri.path_and_query().map_or(path, |p| p.as_str()),
        port: s.addr.port(),
        signature_id: match route {
            Route::SignatureLogs(id) => Some(id),
            _ => None,
        },
    };
    inject::serve(&kind, &env, real).await
}

/// What the route answers (405 for anything but GET).
fn answer(s: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, route: Route<'_>) -> Reply {
    let path = uri.path();
    if method != Method::GET {
        return ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            "The request method is not allowed",
            format!("The method {method} is not allowed for this resource"),
        )
        .into_reply();
    }
    let query = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let ctx = Ctx {
        base: origin(headers, s.addr),
        path,
        query,
        account: s.control.account(),
        control: &s.control,
    };
    Reply::from(match route {
        Route::Apps => handlers::list_apps(&ctx),
        Route::App(id) => handlers::get_app(&ctx, id),
        Route::AppBuilds(id) => handlers::app_builds(&ctx, id),
        Route::AppMetrics(id) => handlers::app_metrics(&ctx, id),
        Route::AppOverview(id) => handlers::app_overview(&ctx, id),
        Route::Builds => handlers::list_builds(&ctx),
        Route::Build(id) => handlers::get_build(&ctx, id),
        Route::BuildMetrics(id) => handlers::build_metrics(&ctx, id),
        Route::BuildSignatures(id) => handlers::build_signatures(&ctx, id),
        Route::SignatureLogs(id) => handlers::signature_logs(&ctx, id),
        Route::Unknown => Err(ApiError::path(format!(
            "The path '{path}' is not a resource of this API"
        ))),
    })
}
