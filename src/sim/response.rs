//! Apple-style responses: the `ErrorResponse` errors of the API, the headers
//! every API response carries (`X-Rate-Limit`, `X-Request-Id`) and the
//! answer of a route ([`Reply`]) before faults are applied to it.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde::Serialize;
use serde_json::json;

use crate::asc::api::JSON;
use crate::asc::model::{ApiErrorItem, ErrorResponse};

/// An API error: status plus one `ErrorResponse` item.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) item: Box<ApiErrorItem>,
}

pub(crate) fn error_id() -> String {
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
    pub(crate) fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        let mut item = ApiErrorItem::new(status, code, title, detail);
        item.id = Some(error_id());
        Self {
            status,
            item: Box::new(item),
        }
    }
    pub(crate) fn path(detail: impl Into<String>) -> Self {
        Self::new(404, "PATH_ERROR", "The URL path is not valid", detail)
    }
    pub(crate) fn not_found(kind: &str, id: &str) -> Self {
        Self::path(format!(
            "There is no resource of type '{kind}' with id '{id}'"
        ))
    }
    pub(crate) fn invalid(param: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            400,
            "PARAMETER_ERROR.INVALID",
            "A parameter has an invalid value",
            detail,
        );
        e.item.source = Some(json!({ "parameter": param }));
        e
    }
    pub(crate) fn illegal(param: &str) -> Self {
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
    pub(crate) fn injected(status: u16) -> Self {
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

    /// The error as a [`Reply`] (status, `application/json`, `ErrorResponse`).
    pub(crate) fn into_reply(self) -> Reply {
        let body = serde_json::to_vec(&ErrorResponse {
            errors: vec![*self.item],
        })
        .unwrap_or_default();
        Reply {
            status: StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            content_type: JSON,
            body,
        }
    }

    /// The error response, with `Retry-After` when given.
    pub(crate) fn into_response(self, rate: &str, retry_after: Option<u64>) -> Response {
        let mut resp = self.into_reply().into_response(rate);
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A response with the headers every API response carries.
pub(crate) fn body_response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Body>,
    rate: &str,
) -> Response {
    let mut resp = Response::new(body.into());
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

/// What a route answers (success or error), before faults are applied.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn into_response(self, rate: &str) -> Response {
        body_response(self.status, self.content_type, self.body, rate)
    }
}

impl From<Result<Answer, ApiError>> for Reply {
    fn from(r: Result<Answer, ApiError>) -> Reply {
        match r {
            Ok(a) => Reply {
                status: StatusCode::OK,
                content_type: a.content_type,
                body: a.body,
            },
            Err(e) => e.into_reply(),
        }
    }
}

/// A successful API answer.
pub(crate) struct Answer {
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json<T: Serialize>(
        content_type: &'static str,
        v: &T,
    ) -> Result<Answer, ApiError> {
        serde_json::to_vec(v)
            .map(|body| Answer { content_type, body })
            .map_err(|e| ApiError::injected(500).with_detail(format!("serialization failed: {e}")))
    }
}

impl ApiError {
    pub(crate) fn with_detail(mut self, d: String) -> Self {
        self.item.detail = Some(d);
        self
    }
}
