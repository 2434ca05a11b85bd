//! Errors of the App Store Connect client. Each message names the cause and
//! the fix; none contains a token or key material.

use std::time::Duration;

use super::auth::AuthError;
use super::model::ApiErrorItem;

#[derive(Debug, thiserror::Error)]
pub enum AscError {
    #[error(transparent)]
    Auth(#[from] AuthError),

    /// A non-success status with (usually) an `ErrorResponse` body.
    #[error("{}", api_message(*status, endpoint, errors, note.as_deref(), request_id.as_deref()))]
    Api {
        status: u16,
        /// Route template, e.g. `/v1/apps/{id}/perfPowerMetrics`.
        endpoint: String,
        errors: Vec<ApiErrorItem>,
        request_id: Option<String>,
        /// What the body was when it was not an `ErrorResponse` (an HTML
        /// page from a proxy, a redirect, ...).
        note: Option<String>,
    },

    /// Not sent: the rate-limit budget is spent or Apple asked to wait.
    #[error(
        "did not call App Store Connect for {endpoint}: {reason}; requests resume in {}. The budget is per API key: refresh less often (refresh.interval), fewer apps, builds or signatures per refresh, or give other tools using this key their own key",
        crate::asc::client::human(*wait)
    )]
    RateLimited {
        endpoint: String,
        reason: &'static str,
        /// Until the hold ends.
        wait: Duration,
    },

    #[error(
        "could not reach App Store Connect at {base} for {endpoint}: {reason}; check ASC_API_BASE_URL / --base-url and the network"
    )]
    Transport {
        base: String,
        endpoint: String,
        reason: String,
    },

    #[error(
        "App Store Connect did not answer {endpoint} within {timeout:?}; raise the request timeout or retry later"
    )]
    Timeout { endpoint: String, timeout: Duration },

    #[error(
        "response from {endpoint} is larger than the {limit}-byte cap; raise asc.max_response_bytes (ASC_EXPORTER_MAX_RESPONSE_BYTES) if this is expected"
    )]
    TooLarge { endpoint: String, limit: usize },

    #[error("could not decode the response of {endpoint}: {reason}")]
    Decode { endpoint: String, reason: String },

    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
}

impl AscError {
    /// HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AscError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The first error code of an API error (`PATH_ERROR`, `NOT_AUTHORIZED`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            AscError::Api { errors, .. } => errors.first().map(|e| e.code.as_str()),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        300..=399 => "",
        401 => {
            " (authentication failed even with a freshly minted token: check ASC_ISSUER_ID, ASC_KEY_ID and that the .p8 key belongs to them and is not revoked)"
        }
        403 => {
            " (the key's role may lack access, or an agreement must be accepted in App Store Connect)"
        }
        404 => " (check the id: list apps with `apps` and builds with `builds APP_ID`)",
        429 => {
            " (rate limit still exceeded after retries: lower the refresh frequency or concurrency)"
        }
        _ => "",
    }
}

fn api_message(
    status: u16,
    endpoint: &str,
    errors: &[ApiErrorItem],
    note: Option<&str>,
    request_id: Option<&str>,
) -> String {
    let mut s = format!("App Store Connect returned HTTP {status} for {endpoint}");
    if errors.is_empty() {
        match note {
            Some(n) => {
                s.push_str(": ");
                s.push_str(n);
            }
            None => s.push_str(": no error details in the response"),
        }
    }
    for (i, e) in errors.iter().enumerate() {
        s.push_str(if i == 0 { ": " } else { "; " });
        s.push_str(&e.code);
        if !e.title.is_empty() {
            s.push_str(&format!(" \"{}\"", e.title));
        }
        if let Some(d) = e.detail.as_deref().filter(|d| !d.is_empty()) {
            s.push_str(&format!(" - {d}"));
        }
    }
    s.push_str(hint(status));
    if let Some(id) = request_id {
        s.push_str(&format!(" [x-request-id {id}]"));
    }
    s
}
