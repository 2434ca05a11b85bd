//! The simulator's admin API under `/_sim` (no auth, not counted, never
//! faulted). `docs/simulator.md` has a curl example of each call.
//!
//! * `GET /_sim/state`: scenario, apps, faults, counters, rate limit.
//! * `PUT /_sim/scenario` `{"scenario":"regression"}` (`baseline`, `regression`, `mixed`).
//! * `POST /_sim/faults` with a [`Fault`] in its JSON form
//!   (`{"path_prefix":"/v1/apps","kind":"html_502","times":1}`, or the older
//!   `{"path_prefix":"/v1/apps/1","status":500,"times":null}`): 201 and the
//!   active faults, or 400 and one line naming the bad field.
//! * `GET /_sim/faults`: the active faults and the faults served per kind.
//! * `DELETE /_sim/faults`: clears the active faults (not the counters).
//! * `PUT /_sim/rate_limit` `{"hour_remaining":0,"minute_remaining":5,
//!   "hour_resets_in_ms":2000,"minute_resets_in_ms":1000}` (every field
//!   optional): sets what is left of the budget and when each window resets.
//! * `POST /_sim/apps/{id}/release`: the app ships a new version.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::control::Scenario;
use super::faults::Fault;
use super::server::Shared;
use crate::asc::api::JSON;

fn admin_json(status: StatusCode, v: Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], v.to_string()).into_response()
}

fn bad_request(error: impl Into<String>) -> Response {
    admin_json(StatusCode::BAD_REQUEST, json!({"error": error.into()}))
}

/// Any `/_sim` path that is not an admin endpoint.
pub(crate) fn unknown() -> Response {
    admin_json(
        StatusCode::NOT_FOUND,
        json!({"error": "unknown admin endpoint"}),
    )
}

pub(crate) async fn state(State(s): State<Arc<Shared>>) -> Response {
    admin_json(StatusCode::OK, s.control.state_json())
}

pub(crate) async fn scenario(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
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
        None => bad_request("expected {\"scenario\": \"baseline\" | \"regression\" | \"mixed\"}"),
    }
}

pub(crate) async fn add_fault(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match Fault::from_json(&text).and_then(|f| s.control.inject(f)) {
        Ok(()) => admin_json(StatusCode::CREATED, json!({"faults": s.control.faults()})),
        Err(e) => bad_request(format!(
            "{e} (a fault looks like {{\"path_prefix\": \"/v1/apps\", \"kind\": \"html_502\", \"times\": 1}}; see docs/simulator.md)"
        )),
    }
}

pub(crate) async fn list_faults(State(s): State<Arc<Shared>>) -> Response {
    admin_json(
        StatusCode::OK,
        json!({"faults": s.control.faults(), "served": s.control.faults_served()}),
    )
}

pub(crate) async fn clear_faults(State(s): State<Arc<Shared>>) -> Response {
    s.control.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `PUT /_sim/rate_limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    hour_remaining: Option<u64>,
    minute_remaining: Option<u64>,
    hour_resets_in_ms: Option<u64>,
    minute_resets_in_ms: Option<u64>,
}

pub(crate) async fn rate_limit(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let b: RateLimitBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return bad_request(format!(
                "invalid rate limit ({e}); expected {{\"hour_remaining\": n, \"minute_remaining\": n, \"hour_resets_in_ms\": ms, \"minute_resets_in_ms\": ms}}, every field optional"
            ));
        }
    };
    let ms = |v: Option<u64>| v.map(Duration::from_millis);
    if let Err(e) = s
        .control
        .set_rate_resets_in(ms(b.hour_resets_in_ms), ms(b.minute_resets_in_ms))
    {
        return bad_request(e);
    }
    if b.hour_remaining.is_some() || b.minute_remaining.is_some() {
        s.control
            .set_rate_remaining(b.hour_remaining, b.minute_remaining);
    }
    admin_json(
        StatusCode::OK,
        json!({"rate_limit": s.control.rate_limit_header()}),
    )
}

pub(crate) async fn release(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
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
