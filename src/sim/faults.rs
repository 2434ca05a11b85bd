//! What an injected fault is: the [`Fault`] model shared by the Rust API
//! ([`SimControl::inject`](super::SimControl::inject)), the admin API
//! (`POST /_sim/faults`) and `simulate --fault`.
//!
//! A fault is (path prefix, [`FaultKind`], times). A request whose path starts
//! with the prefix, once it has passed the JWT check and spent one request of
//! the budget, is answered by the first matching fault instead of (or on top
//! of) the route's real answer; `times: Some(n)` counts down and removes the
//! fault at 0, `None` keeps it until cleared. How each kind is put on the wire
//! is in [`super::inject`]; `docs/simulator.md` lists every kind with a curl
//! example.
//!
//! JSON form (the admin API and `--fault`): the fields of the kind sit beside
//! `path_prefix`, `kind` and `times`, durations are milliseconds:
//!
//! ```json
//! {"path_prefix": "/v1/apps/1/perfPowerMetrics", "kind": "slow_body", "delay_ms": 300, "chunks": 4, "times": 1}
//! {"path_prefix": "/v1/apps", "status": 503, "times": 2}
//! ```
//!
//! The second line is the older form: no `kind` but a `status` means
//! `"kind": "status"`. Unknown fields and out-of-range values are rejected
//! with one line naming the field and what is expected.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Longest delay a fault may hold a response (one hour).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Deepest call stack `deep_call_stack` generates.
pub const MAX_STACK_DEPTH: usize = 1_000_000;
/// Smallest `huge_body`: its JSON without padding.
pub const HUGE_MIN: u64 =
    (super::inject::HUGE_PREFIX.len() + super::inject::HUGE_SUFFIX.len()) as u64;
/// Most chunks `slow_body` splits a body into.
pub const MAX_CHUNKS: u32 = 100_000;

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Requests whose path (without the query) starts with this prefix.
    pub path_prefix: String,
    /// What they get.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Remaining times; `None` = until cleared.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault on `path_prefix` until cleared.
    pub fn new(path_prefix: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            kind,
            times: None,
        }
    }

    /// The same fault, served `n` times only.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Parses the JSON form (see the module docs).
    pub fn from_json(text: &str) -> Result<Fault, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("a fault is a JSON object: {e}"))?;
        Self::from_value(v)
    }

    /// Parses the JSON form from a value and validates it.
    pub fn from_value(v: Value) -> Result<Fault, String> {
        let Value::Object(mut map) = v else {
            return Err("a fault is a JSON object such as {\"path_prefix\": \"/v1/apps\", \"kind\": \"html_502\", \"times\": 1}".into());
        };
        let path_prefix = match map.remove("path_prefix") {
            Some(Value::String(s)) => s,
            Some(_) => return Err("'path_prefix' must be a string such as \"/v1/apps\"".into()),
            None => return Err("'path_prefix' is missing (e.g. \"/v1/apps\")".into()),
        };
        let times = match map.remove("times") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        format!(
                            "'times' must be a whole number from 1 to {}, or null (until cleared)",
                            u32::MAX
                        )
                    })?,
            ),
            Some(_) => {
                return Err(
                    "'times' must be a whole number of times, or null (until cleared)".into(),
                );
            }
        };
        if !map.contains_key("kind") {
            if !map.contains_key("status") {
                return Err(format!(
                    "'kind' is missing; expected one of {}",
                    FaultKind::NAMES.join(", ")
                ));
            }
            map.insert("kind".into(), Value::String("status".into()));
        }
        if let Some(Value::String(k)) = map.get("kind")
            && UNIT_KINDS.contains(&k.as_str())
            && let Some(extra) = map.keys().find(|key| *key != "kind")
        {
            return Err(format!(
                "unknown field `{extra}`: kind '{k}' takes no parameters"
            ));
        }
        let kind: FaultKind = serde_json::from_value(Value::Object(map))
            .map_err(|e| format!("invalid fault: {e}"))?;
        let fault = Fault {
            path_prefix,
            kind,
            times,
        };
        fault.validate()?;
        Ok(fault)
    }

    /// Checks the ranges the JSON form enforces (the Rust API too).
    pub fn validate(&self) -> Result<(), String> {
        if !self.path_prefix.starts_with('/') {
            return Err(format!(
                "'path_prefix' must start with '/' (e.g. \"/v1/apps\"), got {:?}",
                self.path_prefix
            ));
        }
        if self.times == Some(0) {
            return Err("'times' must be at least 1, or null (until cleared)".into());
        }
        self.kind.validate()
    }
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Fault::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Kinds whose JSON form has no parameters.
const UNIT_KINDS: &[&str] = &["empty_200"];

/// What a faulted request gets. Every kind keeps `X-Rate-Limit` and
/// `X-Request-Id`; "the real answer" is what the route would have answered
/// (whatever its status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// `status` (400..=599) with an Apple `ErrorResponse` of the matching
    /// code (`RATE_LIMIT_EXCEEDED` for 429, `UNEXPECTED_ERROR` for 500, ...).
    Status {
        status: u16,
        /// `Retry-After`: default 1 on a 429 and none otherwise.
        #[serde(default, skip_serializing_if = "RetryAfter::is_default")]
        retry_after: RetryAfter,
    },
    /// The real answer, but its head is sent only after `delay`.
    SlowHeaders {
        #[serde(rename = "delay_ms", with = "millis")]
        delay: Duration,
    },
    /// The head (with the real `Content-Length`) at once, then the real body
    /// in `chunks` parts, each sent after `delay`: the body takes
    /// `chunks x delay`.
    SlowBody {
        #[serde(rename = "delay_ms", with = "millis")]
        delay: Duration,
        #[serde(default = "default_chunks")]
        chunks: u32,
    },
    /// The first `keep_percent` % of the real body, framed as `framing` says.
    CutOffBody {
        #[serde(default)]
        framing: Framing,
        #[serde(default = "default_keep_percent")]
        keep_percent: u8,
    },
    /// 200 with the route's media type and a body that is not JSON.
    MalformedJson {
        /// The body; default: a JSON-looking text with a syntax error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// 200 with the route's media type and an empty body (`Content-Length: 0`).
    #[serde(rename = "empty_200")]
    Empty200,
    /// 502 `text/html`: a load balancer's error page, no `ErrorResponse`.
    #[serde(rename = "html_502")]
    Html502 {
        /// The page; default: an nginx-style "502 Bad Gateway" page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Schema drift: the real answer with one JSON transform applied.
    Drift(Drift),
    /// The real answer with one number replaced by a literal JSON does not
    /// allow (`NaN`, `Infinity`, `-Infinity`) or no `f64` holds (`1e999`).
    Nan {
        /// The key whose numeric value is replaced (the first one in
        /// document order); default: the first number of the document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(default)]
        literal: NanLiteral,
    },
    /// 200 with the route's media type and a valid JSON document of exactly
    /// `bytes` bytes, streamed lazily (never held in memory), with or
    /// without `Content-Length` (else chunked).
    HugeBody {
        bytes: u64,
        #[serde(default = "yes")]
        content_length: bool,
    },
    /// A redirect (301, 302, 303, 307 or 308) to `location`; default: the
    /// same path and query on `http://127.0.0.2:PORT`, another origin.
    Redirect {
        #[serde(default = "default_redirect")]
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// On the logs route: the real document, but the first log's call stack
    /// is `depth` frames deep (a generated document when the route has no
    /// log to change, e.g. for an unknown signature).
    DeepCallStack {
        #[serde(default = "default_depth")]
        depth: usize,
    },
}

impl FaultKind {
    /// Every kind's JSON name, as counted by
    /// [`SimControl::faults_served`](super::SimControl::faults_served).
    pub const NAMES: &'static [&'static str] = &[
        "status",
        "slow_headers",
        "slow_body",
        "cut_off_body",
        "malformed_json",
        "empty_200",
        "html_502",
        "drift",
        "nan",
        "huge_body",
        "redirect",
        "deep_call_stack",
    ];

    /// `status` with the default `Retry-After` (1 on a 429).
    pub fn status(status: u16) -> Self {
        FaultKind::Status {
            status,
            retry_after: RetryAfter::Default,
        }
    }

    /// A 429 `RATE_LIMIT_EXCEEDED` with `Retry-After: seconds`, or without
    /// the header for `None`.
    pub fn too_many_requests(retry_after: Option<u64>) -> Self {
        FaultKind::Status {
            status: 429,
            retry_after: retry_after.map_or(RetryAfter::Omit, RetryAfter::Seconds),
        }
    }

    /// The kind's JSON name (`"slow_body"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Status { .. } => "status",
            FaultKind::SlowHeaders { .. } => "slow_headers",
            FaultKind::SlowBody { .. } => "slow_body",
            FaultKind::CutOffBody { .. } => "cut_off_body",
            FaultKind::MalformedJson { .. } => "malformed_json",
            FaultKind::Empty200 => "empty_200",
            FaultKind::Html502 { .. } => "html_502",
            FaultKind::Drift(_) => "drift",
            FaultKind::Nan { .. } => "nan",
            FaultKind::HugeBody { .. } => "huge_body",
            FaultKind::Redirect { .. } => "redirect",
            FaultKind::DeepCallStack { .. } => "deep_call_stack",
        }
    }

    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<(), String> {
        let delay = |d: &Duration| {
            if *d > MAX_DELAY {
                Err(format!(
                    "'delay_ms' must be at most {} (one hour)",
                    MAX_DELAY.as_millis()
                ))
            } else {
                Ok(())
            }
        };
        match self {
            FaultKind::Status { status, .. } if !(400..=599).contains(status) => Err(format!(
                "'status' must be an HTTP error status from 400 to 599, got {status}"
            )),
            FaultKind::SlowHeaders { delay: d } => delay(d),
            FaultKind::SlowBody { delay: d, chunks } => {
                delay(d)?;
                if (1..=MAX_CHUNKS).contains(chunks) {
                    Ok(())
                } else {
                    Err(format!(
                        "'chunks' must be from 1 to {MAX_CHUNKS}, got {chunks}"
                    ))
                }
            }
            FaultKind::CutOffBody { keep_percent, .. } if *keep_percent > 99 => Err(format!(
                "'keep_percent' must be from 0 to 99 (100 would not cut anything), got {keep_percent}"
            )),
            FaultKind::Drift(d) => d.validate(),
            FaultKind::Nan { key: Some(k), .. } if k.is_empty() => {
                Err("'key' must not be empty (omit it for the first number)".into())
            }
            FaultKind::Redirect { status, location } => {
                if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                    return Err(format!(
                        "'status' of a redirect must be 301, 302, 303, 307 or 308, got {status}"
                    ));
                }
                match location {
                    Some(l) if url::Url::parse(l).is_err() => Err(format!(
                        "'location' must be an absolute URL such as \"http://127.0.0.2:8080/v1/apps\", got {l:?}"
                    )),
                    _ => Ok(()),
                }
            }
            FaultKind::HugeBody { bytes, .. } if *bytes < HUGE_MIN => Err(format!(
                "'bytes' must be at least {HUGE_MIN} (the JSON around the padding), got {bytes}"
            )),
            FaultKind::DeepCallStack { depth } if !(1..=MAX_STACK_DEPTH).contains(depth) => Err(
                format!("'depth' must be from 1 to {MAX_STACK_DEPTH}, got {depth}"),
            ),
            _ => Ok(()),
        }
    }
}

/// The `Retry-After` of a `status` fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfter {
    /// `Retry-After: 1` on a 429, none on other statuses (JSON: field absent).
    #[default]
    Default,
    /// No `Retry-After` header (JSON: `"none"` or `null`).
    Omit,
    /// `Retry-After: n`, including 0 and large values (JSON: a number).
    Seconds(u64),
}

impl RetryAfter {
    pub fn is_default(&self) -> bool {
        *self == RetryAfter::Default
    }

    /// The header's value for a response with `status`.
    pub fn seconds(&self, status: u16) -> Option<u64> {
        match self {
            RetryAfter::Default => (status == 429).then_some(1),
            RetryAfter::Omit => None,
            RetryAfter::Seconds(n) => Some(*n),
        }
    }
}

impl Serialize for RetryAfter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RetryAfter::Default => s.serialize_none(),
            RetryAfter::Omit => s.serialize_str("none"),
            RetryAfter::Seconds(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for RetryAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Word(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(RetryAfter::Omit),
            Some(Raw::Seconds(n)) => Ok(RetryAfter::Seconds(n)),
            Some(Raw::Word(w)) if w == "none" => Ok(RetryAfter::Omit),
            Some(Raw::Word(w)) => Err(serde::de::Error::custom(format!(
                "'retry_after' must be a whole number of seconds or \"none\", got {w:?}"
            ))),
        }
    }
}

/// How `cut_off_body` frames the part of the body it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// The real `Content-Length`, fewer bytes, then the connection is closed.
    #[default]
    ContentLength,
    /// `Transfer-Encoding: chunked`, cut mid-stream (no final chunk), then
    /// the connection is closed.
    Chunked,
    /// A well-formed response: the truncated JSON with a matching
    /// `Content-Length`.
    TruncatedJson,
}

/// A schema-drift transform, applied to every object of the document (to a
/// bounded depth, [`super::inject::MAX_DRIFT_DEPTH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Drift {
    /// The key disappears (`productData`: missing, not empty).
    Remove { key: String },
    /// The key is renamed (`metrics` -> `metricsV2`, `bundleId` -> `bundleID`).
    Rename { key: String, to: String },
    /// The key's values change type: number -> string, string -> number
    /// (when numeric, else `[string]`), bool -> string, array -> object
    /// keyed `"0"`, `"1"`..., object -> array of its values; null stays.
    Retype { key: String },
    /// The key's values become `null`.
    Null { key: String },
}

impl Drift {
    pub fn remove(key: impl Into<String>) -> Self {
        Drift::Remove { key: key.into() }
    }
    pub fn rename(key: impl Into<String>, to: impl Into<String>) -> Self {
        Drift::Rename {
            key: key.into(),
            to: to.into(),
        }
    }
    pub fn retype(key: impl Into<String>) -> Self {
        Drift::Retype { key: key.into() }
    }
    pub fn null(key: impl Into<String>) -> Self {
        Drift::Null { key: key.into() }
    }

    /// The key the transform applies to.
    pub fn key(&self) -> &str {
        match self {
            Drift::Remove { key }
            | Drift::Rename { key, .. }
            | Drift::Retype { key }
            | Drift::Null { key } => key,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.key().is_empty() {
            return Err("'key' must not be empty".into());
        }
        if let Drift::Rename { key, to } = self
            && (to.is_empty() || to == key)
        {
            return Err(format!(
                "'to' must be a new, non-empty name for '{key}', got {to:?}"
            ));
        }
        Ok(())
    }
}

/// The literal a `nan` fault writes in place of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum NanLiteral {
    #[default]
    #[serde(rename = "NaN")]
    Nan,
    #[serde(rename = "Infinity")]
    Infinity,
    #[serde(rename = "-Infinity")]
    NegInfinity,
    /// `1e999`: valid JSON syntax, but out of range for an `f64`.
    #[serde(rename = "1e999")]
    OutOfRange,
}

impl NanLiteral {
    /// The text written into the body.
    pub fn text(&self) -> &'static str {
        match self {
            NanLiteral::Nan => "NaN",
            NanLiteral::Infinity => "Infinity",
            NanLiteral::NegInfinity => "-Infinity",
            NanLiteral::OutOfRange => "1e999",
        }
    }
}

fn default_chunks() -> u32 {
    4
}
fn default_keep_percent() -> u8 {
    50
}
fn yes() -> bool {
    true
}
fn default_redirect() -> u16 {
    302
}
fn default_depth() -> usize {
    2000
}

/// A `Duration` as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Fault, String> {
        Fault::from_json(s)
    }

    #[test]
    fn the_old_status_form_still_parses() {
        let f = parse(r#"{"path_prefix":"/v1/apps/1","status":500,"times":null}"#).unwrap();
        assert_eq!(f, Fault::new("/v1/apps/1", FaultKind::status(500)));
        let f = parse(r#"{"path_prefix":"/v1/apps","status":429,"times":2}"#).unwrap();
        assert_eq!(f.times, Some(2));
        assert_eq!(f.kind, FaultKind::status(429));
    }

    #[test]
    fn every_kind_round_trips_through_its_json_form() {
        let kinds = vec![
            FaultKind::status(503),
            FaultKind::too_many_requests(Some(3600)),
            FaultKind::too_many_requests(Some(0)),
            FaultKind::too_many_requests(None),
            FaultKind::SlowHeaders {
                delay: Duration::from_millis(300),
            },
            FaultKind::SlowBody {
                delay: Duration::from_millis(200),
                chunks: 5,
            },
            FaultKind::CutOffBody {
                framing: Framing::Chunked,
                keep_percent: 30,
            },
            FaultKind::MalformedJson { body: None },
            FaultKind::Empty200,
            FaultKind::Html502 { body: None },
            FaultKind::Drift(Drift::rename("metrics", "metricsV2")),
            FaultKind::Drift(Drift::remove("productData")),
            FaultKind::Drift(Drift::retype("points")),
            FaultKind::Drift(Drift::null("value")),
            FaultKind::Nan {
                key: Some("value".into()),
                literal: NanLiteral::OutOfRange,
            },
            FaultKind::HugeBody {
                bytes: 100 << 20,
                content_length: false,
            },
            FaultKind::Redirect {
                status: 307,
                location: Some("http://elsewhere.invalid/v1/apps".into()),
            },
            FaultKind::DeepCallStack { depth: 10_000 },
        ];
        let mut named = std::collections::BTreeSet::new();
        for kind in kinds {
            assert!(FaultKind::NAMES.contains(&kind.name()), "{kind:?}");
            named.insert(kind.name());
            let f = Fault::new("/v1", kind).times(3);
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(parse(&json).as_ref(), Ok(&f), "{json}");
        }
        assert_eq!(named.len(), FaultKind::NAMES.len(), "every kind is tried");
    }

    #[test]
    fn the_json_form_reads_as_documented() {
        let f = parse(r#"{"path_prefix":"/v1/apps","kind":"slow_body","delay_ms":250}"#).unwrap();
        assert_eq!(
            f.kind,
            FaultKind::SlowBody {
                delay: Duration::from_millis(250),
                chunks: 4
            }
        );
        let f = parse(
            r#"{"path_prefix":"/v1/apps","kind":"drift","op":"rename","key":"bundleId","to":"bundleID"}"#,
        )
        .unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Drift(Drift::rename("bundleId", "bundleID"))
        );
        let f = parse(r#"{"path_prefix":"/v1","kind":"status","status":429,"retry_after":"none"}"#)
            .unwrap();
        assert_eq!(f.kind, FaultKind::too_many_requests(None));
        let f = parse(r#"{"path_prefix":"/v1","kind":"status","status":429,"retry_after":null}"#)
            .unwrap();
        assert_eq!(f.kind, FaultKind::too_many_requests(None));
        let f = parse(r#"{"path_prefix":"/v1","kind":"nan","literal":"1e999"}"#).unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Nan {
                key: None,
                literal: NanLiteral::OutOfRange
            }
        );
        let f = parse(r#"{"path_prefix":"/v1","kind":"cut_off_body"}"#).unwrap();
        assert_eq!(
            f.kind,
            FaultKind::CutOffBody {
                framing: Framing::ContentLength,
                keep_percent: 50
            }
        );
    }

    #[test]
    fn bad_faults_get_one_line_naming_the_field() {
        let cases = [
            (r#"[1]"#, "JSON object"),
            (r#"{"status":500}"#, "'path_prefix' is missing"),
            (
                r#"{"path_prefix":"v1","status":500}"#,
                "must start with '/'",
            ),
            (r#"{"path_prefix":"/v1"}"#, "'kind' is missing"),
            (r#"{"path_prefix":"/v1","status":200}"#, "400 to 599"),
            (r#"{"path_prefix":"/v1","status":500,"times":0}"#, "'times'"),
            (
                r#"{"path_prefix":"/v1","status":500,"times":-1}"#,
                "'times'",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"explode"}"#,
                "unknown variant `explode`",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"slow_headers","delay":5}"#,
                "unknown field `delay`",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"slow_headers"}"#,
                "missing field `delay_ms`",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"empty_200","body":"x"}"#,
                "unknown field `body`",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"cut_off_body","keep_percent":100}"#,
                "0 to 99",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"cut_off_body","framing":"gzip"}"#,
                "unknown variant `gzip`",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"drift","op":"rename","key":"a"}"#,
                "missing field `to`",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"drift","op":"rename","key":"a","to":"a"}"#,
                "'to'",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"drift","op":"remove","key":""}"#,
                "'key'",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"redirect","status":200}"#,
                "301, 302",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"redirect","location":"/x"}"#,
                "absolute URL",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"deep_call_stack","depth":0}"#,
                "'depth'",
            ),
            (
                r#"{"path_prefix":"/v1","status":429,"retry_after":"soon"}"#,
                "'retry_after'",
            ),
            (
                r#"{"path_prefix":"/v1","kind":"slow_body","delay_ms":1,"chunks":0}"#,
                "'chunks'",
            ),
        ];
        for (json, expected) in cases {
            let e = parse(json).unwrap_err();
            assert!(e.contains(expected), "{json}: {e}");
            assert!(!e.contains('\n'), "{json}: one line: {e}");
        }
    }
}
