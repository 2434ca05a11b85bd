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
//! Admin API (no auth, not counted): `GET /_sim/state`, `PUT /_sim/scenario`
//! `{"scenario":"regression"}`, `POST /_sim/faults`
//! `{"path_prefix":"/v1/apps/1","status":500,"times":null}`,
//! `DELETE /_sim/faults`, `POST /_sim/apps/{id}/release`.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::SimConfig;
use super::auth::Verifier;
use super::control::{Fault, Scenario, SimControl};
use super::data::{self, Account, BuildRef, CATEGORIES, DIAGNOSTIC_TYPES, MetricsQuery, SimApp};
use super::fixtures::{self, FixtureRoute};
use crate::asc::client::{DIAGNOSTIC_LOGS_JSON, JSON, XCODE_METRICS_JSON, natural_cmp, routes};
use crate::asc::model::{
    ApiErrorItem, App, AppAttributes, Build, BuildAttributes, BuildRelationships,
    DiagnosticSignature, DiagnosticSignatureAttributes, DiagnosticSignatureRelationships,
    ErrorResponse, Links, LogsRelationship, PagedDocumentLinks, Paging, PagingInformation,
    PrereleaseVersion, PrereleaseVersionAttributes, Relationship, ResourceIdentifier,
};

/// Largest `limit` Apple accepts.
const MAX_LIMIT: usize = 200;

struct Shared {
    control: SimControl,
    verifier: Verifier,
    addr: SocketAddr,
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
        .route("/_sim/state", get(admin_state))
        .route("/_sim/scenario", put(admin_scenario))
        .route(
            "/_sim/faults",
            post(admin_add_fault).delete(admin_clear_faults),
        )
        .route("/_sim/apps/{id}/release", post(admin_release))
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

// ----- admin ------------------------------------------------------------------

fn admin_json(status: StatusCode, v: Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], v.to_string()).into_response()
}

async fn admin_state(State(s): State<Arc<Shared>>) -> Response {
    admin_json(StatusCode::OK, s.control.state_json())
}

async fn admin_scenario(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let scenario = parsed
        .as_ref()
        .and_then(|v| v.get("scenario"))
        .and_then(Value::as_str)
        .and_then(Scenario::parse);
    match scenario {
        Some(sc) => {
            s.control.set_scenario(sc);
            admin_json(StatusCode::OK, json!({"scenario": sc.as_str()}))
        }
        None => admin_json(
            StatusCode::BAD_REQUEST,
            json!({"error": "expected {\"scenario\": \"baseline\" | \"regression\"}"}),
        ),
    }
}

async fn admin_add_fault(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) if (400..=599).contains(&f.status) && f.path_prefix.starts_with('/') => {
            s.control.fail(&f.path_prefix, f.status, f.times);
            admin_json(StatusCode::CREATED, json!({"faults": s.control.faults()}))
        }
        _ => admin_json(
            StatusCode::BAD_REQUEST,
            json!({"error": "expected {\"path_prefix\": \"/v1/...\", \"status\": 400..599, \"times\": n | null}"}),
        ),
    }
}

async fn admin_clear_faults(State(s): State<Arc<Shared>>) -> Response {
    s.control.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_release(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let version = s.control.release_version(&id);
    if version.is_empty() {
        admin_json(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no synthetic app with id '{id}'")}),
        )
    } else {
        admin_json(StatusCode::OK, json!({"app_id": id, "version": version}))
    }
}

// ----- errors -----------------------------------------------------------------

/// An API error: status plus one `ErrorResponse` item.
#[derive(Debug)]
struct ApiError {
    status: u16,
    item: Box<ApiErrorItem>,
}

fn error_id() -> String {
    let mut r = rand::thread_rng();
    let b: [u8; 16] = r.r#gen();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl ApiError {
    fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        let mut item = ApiErrorItem::new(status, code, title, detail);
        item.id = Some(error_id());
        Self {
            status,
            item: Box::new(item),
        }
    }
    fn path(detail: impl Into<String>) -> Self {
        Self::new(404, "PATH_ERROR", "The URL path is not valid", detail)
    }
    fn not_found(kind: &str, id: &str) -> Self {
        Self::path(format!(
            "There is no resource of type '{kind}' with id '{id}'"
        ))
    }
    fn invalid(param: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            400,
            "PARAMETER_ERROR.INVALID",
            "A parameter has an invalid value",
            detail,
        );
        e.item.source = Some(json!({ "parameter": param }));
        e
    }
    fn illegal(param: &str) -> Self {
        let mut e = Self::new(
            400,
            "PARAMETER_ERROR.ILLEGAL",
            "A parameter cannot be used with this request",
            format!("The parameter '{param}' can not be used with this request"),
        );
        e.item.source = Some(json!({ "parameter": param }));
        e
    }
    /// The error a fault injection with `status` produces.
    fn injected(status: u16) -> Self {
        let (code, title) = match status {
            400 => (
                "PARAMETER_ERROR.INVALID",
                "A parameter has an invalid value",
            ),
            401 => (
                "NOT_AUTHORIZED",
                "Authentication credentials are missing or invalid.",
            ),
            403 => (
                "FORBIDDEN_ERROR",
                "This request is forbidden for security reasons",
            ),
            404 => ("NOT_FOUND", "The specified resource does not exist"),
            409 => ("CONFLICT", "The provided resource data is not valid."),
            429 => (
                "RATE_LIMIT_EXCEEDED",
                "The request rate limit has been reached.",
            ),
            500 => ("UNEXPECTED_ERROR", "An unexpected error occurred."),
            503 => (
                "SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable.",
            ),
            _ => ("SIMULATED_ERROR", "A simulated error occurred."),
        };
        Self::new(
            status,
            code,
            title,
            format!("Injected by the simulator (HTTP {status})"),
        )
    }

    fn into_response(self, rate: &str, retry_after: Option<u64>) -> Response {
        let body = serde_json::to_vec(&ErrorResponse {
            errors: vec![*self.item],
        })
        .unwrap_or_default();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = body_response(status, JSON, body, rate);
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

fn body_response(status: StatusCode, content_type: &str, body: Vec<u8>, rate: &str) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    if let Ok(v) = HeaderValue::from_str(rate) {
        h.insert("x-rate-limit", v);
    }
    if let Ok(v) = HeaderValue::from_str(&error_id().to_uppercase()) {
        h.insert("x-request-id", v);
    }
    resp
}

// ----- request context ----------------------------------------------------------

/// A successful API answer.
struct Answer {
    content_type: &'static str,
    body: Vec<u8>,
}

impl Answer {
    fn json<T: Serialize>(content_type: &'static str, v: &T) -> Result<Answer, ApiError> {
        serde_json::to_vec(v)
            .map(|body| Answer { content_type, body })
            .map_err(|e| ApiError::injected(500).with_detail(format!("serialization failed: {e}")))
    }
}

impl ApiError {
    fn with_detail(mut self, d: String) -> Self {
        self.item.detail = Some(d);
        self
    }
}

/// The parsed request: origin for links, path, query pairs.
struct Ctx<'a> {
    base: String,
    path: &'a str,
    query: Vec<(String, String)>,
    account: Arc<Account>,
    control: &'a SimControl,
}

impl Ctx<'_> {
    fn fixtures(&self) -> &[fixtures::Fixture] {
        &self.control.config().fixtures
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The last value of a parameter.
    fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated list parameter.
    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rejects parameters the route does not take (`fields[...]` is accepted).
    fn allow(&self, names: &[&str]) -> Result<(), ApiError> {
        for (k, _) in &self.query {
            let sparse_fields = k.starts_with("fields[") && k.ends_with(']');
            if !(names.contains(&k.as_str()) || sparse_fields) {
                return Err(ApiError::illegal(k));
            }
        }
        Ok(())
    }

    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default.clamp(1, MAX_LIMIT)),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                Ok(n) if n > MAX_LIMIT => Err(ApiError::invalid(
                    "limit",
                    format!(
                        "The parameter 'limit' exceeds the maximum allowed value of {MAX_LIMIT}"
                    ),
                )),
                _ => Err(ApiError::invalid(
                    "limit",
                    format!("The parameter 'limit' must be an integer between 1 and {MAX_LIMIT}"),
                )),
            },
        }
    }

    fn check_enum(&self, name: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let values = self.list(name);
        for v in &values {
            if !allowed.contains(&v.as_str()) {
                return Err(ApiError::invalid(
                    name,
                    format!(
                        "'{v}' is not a valid value for the parameter '{name}'; expected one of {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(values)
    }

    /// This URL with the given query pairs.
    fn with_query(&self, pairs: &[(String, String)]) -> String {
        let mut s = self.url(self.path);
        if !pairs.is_empty() {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                ser.append_pair(k, v);
            }
            s.push('?');
            s.push_str(&ser.finish());
        }
        s
    }

    /// One page of `items`: (page, links, meta). The cursor is opaque to clients.
    fn page<T>(
        &self,
        items: Vec<T>,
        default: usize,
    ) -> Result<(Vec<T>, PagedDocumentLinks, PagingInformation), ApiError> {
        let limit = self.limit(default)?;
        let offset = match self.get("cursor") {
            None => 0,
            Some(c) => decode_cursor(c)
                .filter(|o| *o <= items.len())
                .ok_or_else(|| ApiError::invalid("cursor", "The cursor is not valid"))?,
        };
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
        let next_offset = offset + page.len();
        let next_cursor = (next_offset < total).then(|| encode_cursor(next_offset));
        let rest: Vec<(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        let next = next_cursor.as_ref().map(|c| {
            let mut pairs = vec![("cursor".to_string(), c.clone())];
            pairs.extend(rest.iter().cloned());
            self.with_query(&pairs)
        });
        let links = PagedDocumentLinks {
            self_: self.with_query(&self.query),
            first: None,
            next,
        };
        let meta = PagingInformation {
            paging: Paging {
                total: Some(total as i64),
                limit: limit as i64,
                next_cursor,
            },
        };
        Ok((page, links, meta))
    }
}

fn encode_cursor(offset: usize) -> String {
    let check = data::mix(&[offset as u64, 0xC0FFEE]) & 0xffff;
    format!("AQ.{offset:x}.{check:04x}")
}

fn decode_cursor(c: &str) -> Option<usize> {
    let rest = c.strip_prefix("AQ.")?;
    let (o, check) = rest.split_once('.')?;
    let offset = usize::from_str_radix(o, 16).ok()?;
    (encode_cursor(offset) == c && check.len() == 4).then_some(offset)
}

/// The origin used in links: the request's Host header (so that clients
/// stay on the origin they called), else the bound address.
fn origin(headers: &HeaderMap, addr: SocketAddr) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => format!("http://{addr}"),
    }
}

// ----- routing --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Apps,
    App(&'a str),
    AppBuilds(&'a str),
    AppMetrics(&'a str),
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
        ["v1", "builds"] => Route::Builds,
        ["v1", "builds", id] if ok(id) => Route::Build(id),
        ["v1", "builds", id, "perfPowerMetrics"] if ok(id) => Route::BuildMetrics(id),
        ["v1", "builds", id, "diagnosticSignatures"] if ok(id) => Route::BuildSignatures(id),
        ["v1", "diagnosticSignatures", id, "logs"] if ok(id) => Route::SignatureLogs(id),
        _ => Route::Unknown,
    }
}

async fn api(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if path.starts_with("/_sim") {
        return admin_json(
            StatusCode::NOT_FOUND,
            json!({"error": "unknown admin endpoint"}),
        );
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
    if let Some(status) = s.control.take_fault(path) {
        let retry = (status == 429).then_some(1);
        return ApiError::injected(status).into_response(&rate.header, retry);
    }
    if method != Method::GET {
        return ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            "The request method is not allowed",
            format!("The method {method} is not allowed for this resource"),
        )
        .into_response(&rate.header, None);
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
        base: origin(&headers, s.addr),
        path,
        query,
        account: s.control.account(),
        control: &s.control,
    };
    let result = match route {
        Route::Apps => list_apps(&ctx),
        Route::App(id) => get_app(&ctx, id),
        Route::AppBuilds(id) => app_builds(&ctx, id),
        Route::AppMetrics(id) => app_metrics(&ctx, id),
        Route::Builds => list_builds(&ctx),
        Route::Build(id) => get_build(&ctx, id),
        Route::BuildMetrics(id) => build_metrics(&ctx, id),
        Route::BuildSignatures(id) => build_signatures(&ctx, id),
        Route::SignatureLogs(id) => signature_logs(&ctx, id),
        Route::Unknown => Err(ApiError::path(format!(
            "The path '{path}' is not a resource of this API"
        ))),
    };
    match result {
        Ok(a) => body_response(StatusCode::OK, a.content_type, a.body, &rate.header),
        Err(e) => e.into_response(&rate.header, None),
    }
}

fn fixture_answer(ctx: &Ctx<'_>, route: FixtureRoute, id: &str) -> Option<Answer> {
    fixtures::find(ctx.fixtures(), route, id).map(|f| Answer {
        content_type: route.content_type(),
        body: f.body.bytes(),
    })
}

// ----- apps -------------------------------------------------------------------------

fn app_resource(ctx: &Ctx<'_>, app: &SimApp) -> App {
    let mut rel = serde_json::Map::new();
    rel.insert(
        "builds".into(),
        json!({"links": {
            "self": ctx.url(&format!("/v1/apps/{}/relationships/builds", app.id)),
            "related": ctx.url(&format!("/v1/apps/{}/builds", app.id)),
        }}),
    );
    rel.insert(
        "perfPowerMetrics".into(),
        json!({"links": {"related": ctx.url(&format!("/v1/apps/{}/perfPowerMetrics", app.id))}}),
    );
    App {
        kind: "apps".into(),
        id: app.id.clone(),
        attributes: AppAttributes {
            name: Some(app.name.clone()),
            bundle_id: Some(app.bundle_id.clone()),
            sku: Some(app.sku.clone()),
            primary_locale: Some("en-US".into()),
        },
        relationships: Some(rel),
        links: Some(Links {
            self_: Some(ctx.url(&format!("/v1/apps/{}", app.id))),
            related: None,
        }),
    }
}

/// The resource of an app that exists only through fixtures.
fn fixture_app_resource(ctx: &Ctx<'_>, id: &str) -> Value {
    if let Some(data) = fixtures::find(ctx.fixtures(), FixtureRoute::App, id)
        .and_then(|f| f.body.json())
        .and_then(|v| v.get("data").cloned())
        .filter(Value::is_object)
    {
        return data;
    }
    let mut rel = serde_json::Map::new();
    rel.insert(
        "perfPowerMetrics".into(),
        json!({"links": {"related": ctx.url(&format!("/v1/apps/{id}/perfPowerMetrics"))}}),
    );
    serde_json::to_value(App {
        kind: "apps".into(),
        id: id.to_string(),
        attributes: AppAttributes {
            name: Some(format!("Fixture app {id}")),
            bundle_id: Some(format!("fixture.{id}")),
            sku: Some(format!("FIXTURE-{id}")),
            primary_locale: Some("en-US".into()),
        },
        relationships: Some(rel),
        links: Some(Links {
            self_: Some(ctx.url(&format!("/v1/apps/{id}"))),
            related: None,
        }),
    })
    .unwrap_or(Value::Null)
}

/// Fixture-only app ids that are not removed and not synthetic.
fn fixture_only_apps(ctx: &Ctx<'_>) -> Vec<String> {
    fixtures::fixture_app_ids(ctx.fixtures())
        .into_iter()
        .filter(|id| ctx.account.app(id).is_none() && !ctx.control.is_removed(id))
        .collect()
}

fn attr<'v>(v: &'v Value, name: &str) -> &'v str {
    v.get("attributes")
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Applies `fields[type]` (sparse fieldsets) to a resource.
fn sparse(v: &mut Value, fields: &[String]) {
    if fields.is_empty() {
        return;
    }
    for key in ["attributes", "relationships"] {
        if let Some(obj) = v.get_mut(key).and_then(Value::as_object_mut) {
            obj.retain(|k, _| fields.iter().any(|f| f == k));
        }
    }
    if let Some(obj) = v.as_object_mut()
        && obj
            .get("relationships")
            .and_then(Value::as_object)
            .is_some_and(|m| m.is_empty())
    {
        obj.remove("relationships");
    }
}

fn list_apps(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    ctx.allow(&[
        "filter[id]",
        "filter[bundleId]",
        "filter[name]",
        "filter[sku]",
        "sort",
        "limit",
        "cursor",
    ])?;
    let mut items: Vec<Value> = ctx
        .account
        .apps
        .iter()
        .filter_map(|a| serde_json::to_value(app_resource(ctx, a)).ok())
        .collect();
    items.extend(
        fixture_only_apps(ctx)
            .iter()
            .map(|id| fixture_app_resource(ctx, id)),
    );
    for (param, field) in [
        ("filter[bundleId]", "bundleId"),
        ("filter[name]", "name"),
        ("filter[sku]", "sku"),
    ] {
        let wanted = ctx.list(param);
        if !wanted.is_empty() {
            items.retain(|v| wanted.iter().any(|w| w == attr(v, field)));
        }
    }
    let ids = ctx.list("filter[id]");
    if !ids.is_empty() {
        items.retain(|v| {
            ids.iter()
                .any(|w| Some(w.as_str()) == v.get("id").and_then(Value::as_str))
        });
    }
    if let Some(sort) = ctx.get("sort") {
        let (desc, field) = match sort.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort),
        };
        if !matches!(field, "name" | "bundleId" | "sku") {
            return Err(ApiError::invalid(
                "sort",
                format!(
                    "'{sort}' is not a valid value for the parameter 'sort'; expected one of name, -name, bundleId, -bundleId, sku, -sku"
                ),
            ));
        }
        items.sort_by(|a, b| {
            let o = attr(a, field).cmp(attr(b, field));
            if desc { o.reverse() } else { o }
        });
    }
    let fields = ctx.list("fields[apps]");
    for v in &mut items {
        sparse(v, &fields);
    }
    let (data, links, meta) = ctx.page(items, ctx.control.config().page_size)?;
    Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}))
}

fn get_app(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["include"])?;
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::App, id) {
        return Ok(a);
    }
    let mut data = if let Some(app) = ctx.account.app(id) {
        serde_json::to_value(app_resource(ctx, app)).unwrap_or(Value::Null)
    } else if fixture_only_apps(ctx).iter().any(|f| f == id) {
        fixture_app_resource(ctx, id)
    } else {
        return Err(ApiError::not_found("apps", id));
    };
    sparse(&mut data, &ctx.list("fields[apps]"));
    Answer::json(
        JSON,
        &json!({"data": data, "links": {"self": ctx.url(ctx.path)}}),
    )
}

// ----- builds -----------------------------------------------------------------------

fn rfc3339(d: &chrono::DateTime<chrono::FixedOffset>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn build_resource(ctx: &Ctx<'_>, b: BuildRef<'_>, include_prv: bool, include_app: bool) -> Build {
    let id = &b.build.id;
    let rel = |name: &str, with_self: bool| Relationship {
        links: Some(Links {
            self_: with_self.then(|| ctx.url(&format!("/v1/builds/{id}/relationships/{name}"))),
            related: Some(ctx.url(&format!("/v1/builds/{id}/{name}"))),
        }),
        data: None,
    };
    let mut prv = rel("preReleaseVersion", true);
    if include_prv {
        prv.data = Some(ResourceIdentifier {
            kind: "preReleaseVersions".into(),
            id: b.version.prerelease_id.clone(),
        });
    }
    let mut app = rel("app", true);
    if include_app {
        app.data = Some(ResourceIdentifier {
            kind: "apps".into(),
            id: b.app.id.clone(),
        });
    }
    Build {
        kind: "builds".into(),
        id: id.clone(),
        attributes: BuildAttributes {
            version: Some(b.build.number.to_string()),
            uploaded_date: Some(rfc3339(&b.build.uploaded)),
            expiration_date: Some(rfc3339(&b.build.expiration)),
            expired: Some(b.build.expired),
            min_os_version: Some(b.build.min_os_version.into()),
            processing_state: Some(b.build.processing_state.into()),
            build_audience_type: Some("APP_STORE_ELIGIBLE".into()),
            uses_non_exempt_encryption: Some(false),
        },
        relationships: Some(BuildRelationships {
            pre_release_version: Some(prv),
            app: Some(app),
            perf_power_metrics: Some(rel("perfPowerMetrics", false)),
            diagnostic_signatures: Some(rel("diagnosticSignatures", true)),
        }),
        links: Some(Links {
            self_: Some(ctx.url(&format!("/v1/builds/{id}"))),
            related: None,
        }),
    }
}

fn prerelease_resource(b: BuildRef<'_>) -> PrereleaseVersion {
    PrereleaseVersion {
        kind: "preReleaseVersions".into(),
        id: b.version.prerelease_id.clone(),
        attributes: PrereleaseVersionAttributes {
            version: Some(b.version.version.clone()),
            platform: Some("IOS".into()),
        },
    }
}

/// A build in a collection: synthetic, or raw from an `app-builds` fixture.
struct BuildItem<'a> {
    synthetic: Option<BuildRef<'a>>,
    raw: Option<Value>,
    app_id: String,
    uploaded: i64,
    number: String,
    marketing: String,
    state: String,
    expired: bool,
    id: String,
}

impl<'a> BuildItem<'a> {
    fn synthetic(b: BuildRef<'a>) -> Self {
        Self {
            synthetic: Some(b),
            raw: None,
            app_id: b.app.id.clone(),
            uploaded: b.build.uploaded.timestamp(),
            number: b.build.number.to_string(),
            marketing: b.version.version.clone(),
            state: b.build.processing_state.to_string(),
            expired: b.build.expired,
            id: b.build.id.clone(),
        }
    }
    fn raw(app_id: &str, v: Value) -> Self {
        let uploaded = chrono::DateTime::parse_from_rfc3339(attr(&v, "uploadedDate"))
            .map(|d| d.timestamp())
            .unwrap_or(0);
        Self {
            synthetic: None,
            app_id: app_id.to_string(),
            uploaded,
            number: attr(&v, "version").to_string(),
            marketing: String::new(),
            state: attr(&v, "processingState").to_string(),
            expired: v
                .get("attributes")
                .and_then(|a| a.get("expired"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            id: v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            raw: Some(v),
        }
    }
    fn value(&self, ctx: &Ctx<'_>, prv: bool, app: bool) -> Value {
        match (&self.synthetic, &self.raw) {
            (Some(b), _) => {
                serde_json::to_value(build_resource(ctx, *b, prv, app)).unwrap_or(Value::Null)
            }
            (None, Some(v)) => v.clone(),
            (None, None) => Value::Null,
        }
    }
}

/// Builds saved in an `app-builds` fixture.
fn fixture_builds<'a>(ctx: &Ctx<'_>, app_id: &str) -> Vec<BuildItem<'a>> {
    fixtures::find(ctx.fixtures(), FixtureRoute::AppBuilds, app_id)
        .and_then(|f| f.body.json())
        .and_then(|v| v.get("data").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(Value::is_object)
        .map(|v| BuildItem::raw(app_id, v))
        .collect()
}

fn app_builds(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["limit", "cursor"])?;
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::AppBuilds, id) {
        return Ok(a);
    }
    let Some(app) = ctx.account.app(id) else {
        if fixture_only_apps(ctx).iter().any(|f| f == id) {
            let (data, links, meta) =
                ctx.page(Vec::<Value>::new(), ctx.control.config().page_size)?;
            return Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}));
        }
        return Err(ApiError::not_found("apps", id));
    };
    let mut builds: Vec<BuildRef<'_>> = ctx
        .account
        .all_builds()
        .filter(|b| b.app.id == app.id)
        .collect();
    // Unordered like the live API, but stable between pages and runs.
    data::shuffle_seeded(&mut builds, &[ctx.account.seed, 7, data::str_hash(id)]);
    let fields = ctx.list("fields[builds]");
    let items: Vec<Value> = builds
        .into_iter()
        .map(|b| {
            let mut v =
                serde_json::to_value(build_resource(ctx, b, false, false)).unwrap_or(Value::Null);
            sparse(&mut v, &fields);
            v
        })
        .collect();
    let (data, links, meta) = ctx.page(items, ctx.control.config().page_size)?;
    Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}))
}

fn parse_bool(ctx: &Ctx<'_>, name: &str) -> Result<Option<bool>, ApiError> {
    match ctx.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(
            name,
            format!("The parameter '{name}' must be true or false"),
        )),
    }
}

fn includes(ctx: &Ctx<'_>) -> Result<(bool, bool), ApiError> {
    let inc = ctx.check_enum("include", &["preReleaseVersion", "app"])?;
    Ok((
        inc.iter().any(|i| i == "preReleaseVersion"),
        inc.iter().any(|i| i == "app"),
    ))
}

fn included(ctx: &Ctx<'_>, builds: &[BuildRef<'_>], prv: bool, app: bool) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for b in builds {
        if prv && seen.insert(b.version.prerelease_id.clone()) {
            out.extend(serde_json::to_value(prerelease_resource(*b)).ok());
        }
        if app && seen.insert(format!("app:{}", b.app.id)) {
            out.extend(serde_json::to_value(app_resource(ctx, b.app)).ok());
        }
    }
    out
}

fn list_builds(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    ctx.allow(&[
        "filter[app]",
        "filter[version]",
        "filter[processingState]",
        "filter[preReleaseVersion.version]",
        "filter[preReleaseVersion.platform]",
        "filter[expired]",
        "filter[id]",
        "sort",
        "include",
        "limit",
        "cursor",
    ])?;
    let (with_prv, with_app) = includes(ctx)?;
    let states = ctx.check_enum(
        "filter[processingState]",
        &["PROCESSING", "FAILED", "INVALID", "VALID"],
    )?;
    let platforms = ctx.check_enum(
        "filter[preReleaseVersion.platform]",
        &["IOS", "MAC_OS", "TV_OS", "VISION_OS"],
    )?;
    let expired = parse_bool(ctx, "filter[expired]")?;
    let apps = ctx.list("filter[app]");
    let numbers = ctx.list("filter[version]");
    let marketing = ctx.list("filter[preReleaseVersion.version]");
    let ids = ctx.list("filter[id]");

    let mut items: Vec<BuildItem<'_>> =
        ctx.account.all_builds().map(BuildItem::synthetic).collect();
    for app_id in fixture_only_apps(ctx) {
        items.extend(fixture_builds(ctx, &app_id));
    }
    items.retain(|b| {
        (apps.is_empty() || apps.contains(&b.app_id))
            && (numbers.is_empty() || numbers.contains(&b.number))
            && (marketing.is_empty() || marketing.contains(&b.marketing))
            && (ids.is_empty() || ids.contains(&b.id))
            && (states.is_empty() || states.contains(&b.state))
            && (platforms.is_empty() || platforms.iter().any(|p| p == "IOS"))
            && expired.is_none_or(|e| e == b.expired)
    });
    if let Some(sort) = ctx.get("sort") {
        let (desc, field) = match sort.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort),
        };
        let cmp: fn(&BuildItem<'_>, &BuildItem<'_>) -> Ordering = match field {
            "uploadedDate" => |a, b| {
                a.uploaded
                    .cmp(&b.uploaded)
                    .then_with(|| natural_cmp(&a.number, &b.number))
            },
            "version" => |a, b| natural_cmp(&a.number, &b.number),
            "preReleaseVersion" => |a, b| {
                natural_cmp(&a.marketing, &b.marketing)
                    .then_with(|| natural_cmp(&a.number, &b.number))
            },
            _ => {
                return Err(ApiError::invalid(
                    "sort",
                    format!(
                        "'{sort}' is not a valid value for the parameter 'sort'; expected one of version, -version, uploadedDate, -uploadedDate, preReleaseVersion, -preReleaseVersion"
                    ),
                ));
            }
        };
        items.sort_by(|a, b| if desc { cmp(b, a) } else { cmp(a, b) });
    }
    let (page, links, meta) = ctx.page(items, ctx.control.config().page_size)?;
    let refs: Vec<BuildRef<'_>> = page.iter().filter_map(|b| b.synthetic).collect();
    let fields = ctx.list("fields[builds]");
    let data: Vec<Value> = page
        .iter()
        .map(|b| {
            let mut v = b.value(ctx, with_prv, with_app);
            sparse(&mut v, &fields);
            v
        })
        .collect();
    let mut doc = json!({"data": data, "links": links, "meta": meta});
    let inc = included(ctx, &refs, with_prv, with_app);
    if !inc.is_empty() {
        doc["included"] = Value::Array(inc);
    }
    Answer::json(JSON, &doc)
}

fn get_build(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["include"])?;
    let (with_prv, with_app) = includes(ctx)?;
    let Some(b) = ctx.account.build(id) else {
        // A build listed by an app-builds fixture is served from it.
        for app_id in fixture_only_apps(ctx) {
            if let Some(item) = fixture_builds(ctx, &app_id)
                .into_iter()
                .find(|b| b.id == id)
            {
                return Answer::json(
                    JSON,
                    &json!({"data": item.raw, "links": {"self": ctx.url(ctx.path)}}),
                );
            }
        }
        return Err(ApiError::not_found("builds", id));
    };
    let mut data =
        serde_json::to_value(build_resource(ctx, b, with_prv, with_app)).unwrap_or(Value::Null);
    sparse(&mut data, &ctx.list("fields[builds]"));
    let mut doc = json!({"data": data, "links": {"self": ctx.url(ctx.path)}});
    let inc = included(ctx, &[b], with_prv, with_app);
    if !inc.is_empty() {
        doc["included"] = Value::Array(inc);
    }
    Answer::json(JSON, &doc)
}

// ----- metrics ------------------------------------------------------------------------

fn metrics_query(ctx: &Ctx<'_>) -> Result<MetricsQuery, ApiError> {
    ctx.allow(&[
        "filter[platform]",
        "filter[metricType]",
        "filter[deviceType]",
    ])?;
    for p in ctx.list("filter[platform]") {
        if !p.eq_ignore_ascii_case("IOS") {
            return Err(ApiError::invalid(
                "filter[platform]",
                format!(
                    "'{p}' is not a valid value for the parameter 'filter[platform]'; expected IOS"
                ),
            ));
        }
    }
    Ok(MetricsQuery {
        categories: ctx.check_enum("filter[metricType]", CATEGORIES)?,
        devices: ctx.list("filter[deviceType]"),
    })
}

fn app_metrics(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    let query = metrics_query(ctx)?;
    if ctx.control.is_removed(id) {
        return Err(ApiError::not_found("apps", id));
    }
    if let Some(a) = fixture_answer(ctx, FixtureRoute::AppMetrics, id) {
        return Ok(a);
    }
    match ctx.account.app(id) {
        Some(app) => Answer::json(
            XCODE_METRICS_JSON,
            &data::app_metrics(&ctx.account, app, &query),
        ),
        None if fixture_only_apps(ctx).iter().any(|f| f == id) => Answer::json(
            XCODE_METRICS_JSON,
            &json!({"productData": [], "insights": {"trendingUp": [], "regressions": []}, "version": "1.0.0"}),
        ),
        None => Err(ApiError::not_found("apps", id)),
    }
}

fn build_metrics(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    let query = metrics_query(ctx)?;
    if let Some(a) = fixture_answer(ctx, FixtureRoute::BuildMetrics, id) {
        return Ok(a);
    }
    let b = ctx
        .account
        .build(id)
        .ok_or_else(|| ApiError::not_found("builds", id))?;
    Answer::json(
        XCODE_METRICS_JSON,
        &data::build_metrics(&ctx.account, b, &query),
    )
}

// ----- diagnostics ----------------------------------------------------------------------

fn build_signatures(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["filter[diagnosticType]", "limit", "cursor"])?;
    let types = ctx.check_enum("filter[diagnosticType]", DIAGNOSTIC_TYPES)?;
    ctx.limit(ctx.control.config().page_size)?;
    if let Some(a) = fixture_answer(ctx, FixtureRoute::BuildSignatures, id) {
        return Ok(a);
    }
    let b = ctx
        .account
        .build(id)
        .ok_or_else(|| ApiError::not_found("builds", id))?;
    let sigs: Vec<DiagnosticSignature> = b
        .build
        .signatures
        .iter()
        .filter(|s| types.is_empty() || types.iter().any(|t| t == s.diagnostic_type))
        .map(|s| DiagnosticSignature {
            kind: "diagnosticSignatures".into(),
            id: s.id.clone(),
            attributes: DiagnosticSignatureAttributes {
                diagnostic_type: Some(s.diagnostic_type.into()),
                signature: Some(s.signature(&b.app.executable)),
                weight: Some(s.weight),
                insight: s.insight.clone(),
            },
            relationships: Some(DiagnosticSignatureRelationships {
                logs: Some(LogsRelationship {
                    links: Some(Links {
                        self_: None,
                        related: Some(ctx.url(&format!("/v1/diagnosticSignatures/{}/logs", s.id))),
                    }),
                }),
            }),
            links: Some(Links {
                self_: Some(ctx.url(&format!("/v1/diagnosticSignatures/{}", s.id))),
                related: None,
            }),
        })
        .collect();
    let (data, links, meta) = ctx.page(sigs, ctx.control.config().page_size)?;
    Answer::json(JSON, &json!({"data": data, "links": links, "meta": meta}))
}

fn signature_logs(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ctx.allow(&["limit"])?;
    let limit = match ctx.get("limit") {
        Some(_) => Some(ctx.limit(MAX_LIMIT)?),
        None => None,
    };
    if let Some(a) = fixture_answer(ctx, FixtureRoute::SignatureLogs, id) {
        return Ok(a);
    }
    let s = ctx
        .account
        .signature(id)
        .ok_or_else(|| ApiError::not_found("diagnosticSignatures", id))?;
    Answer::json(
        DIAGNOSTIC_LOGS_JSON,
        &data::signature_logs(&ctx.account, s, limit),
    )
}
