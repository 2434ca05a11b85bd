//! How an injected fault ([`FaultKind`]) goes on the wire.
//!
//! [`serve`] turns the route's real answer ([`Reply`]) into the faulted
//! response. Bodies that must arrive late, partly or endlessly are axum
//! streaming bodies: hyper sends the head as soon as the handler returns,
//! writes each chunk as the stream yields it, uses a `Content-Length` header
//! set here as the framing of a stream of unknown size, and closes the
//! connection, without the final chunk, when the stream fails. The JSON
//! transforms (drift, NaN) walk the document with an explicit stack to a
//! bounded depth; deep call stacks are generated as text, never as a nested
//! value.

use std::fmt::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use serde_json::{Map, Number, Value};

use super::faults::{Drift, FaultKind, Framing, NanLiteral};
use super::response::{ApiError, Reply, body_response};
use crate::asc::api::DIAGNOSTIC_LOGS_JSON;

/// Deepest JSON level a drift or NaN transform looks at (serde_json's own
/// recursion limit: the simulator's documents never come near it).
pub const MAX_DRIFT_DEPTH: usize = 128;

/// How long a cut-off body's connection stays open after the last byte, so
/// that hyper flushes what was sent before it closes the connection.
const CUT_LINGER: Duration = Duration::from_millis(100);

/// The body of `malformed_json` by default: JSON-looking, but not JSON.
pub const MALFORMED_BODY: &str = r#"{"version": "1.0.0", "productData": [ {"platform": "iOS", } ]"#;

/// The body of `html_502` by default.
pub const HTML_502_BODY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A `huge_body` document: this prefix, padding, then [`HUGE_SUFFIX`].
pub const HUGE_PREFIX: &[u8] = br#"{"productData":[],"padding":""#;
/// See [`HUGE_PREFIX`].
pub const HUGE_SUFFIX: &[u8] = br#""}"#;
/// Padding bytes, sent by reference (a static), never allocated per request.
static PAD: [u8; 64 * 1024] = [b'x'; 64 * 1024];

const NAN_MARK: &str = "__asc_sim_nan__";
const DEEP_MARK: &str = "__asc_sim_deep_call_stack__";
/// Where the first log's call stack sits in a `diagnosticLogs` document.
const ROOT_FRAMES: &str =
    "/productData/0/diagnosticLogs/0/callStackTree/0/callStacks/0/callStackRootFrames";

/// What [`serve`] needs to know about the request.
pub(crate) struct FaultEnv<'a> {
    /// The `X-Rate-Limit` value of this request.
    pub rate: &'a str,
    /// The route's media type (for the 200s a fault invents).
    pub media_type: &'static str,
    /// Path and query, for a default redirect target.
    pub path_and_query: &'a str,
    /// The simulator's port, for a default redirect target.
    pub port: u16,
    /// The signature id of a logs route.
    pub signature_id: Option<&'a str>,
}

/// The response for a request that `kind` faults; `real` is the route's answer.
pub(crate) async fn serve(kind: &FaultKind, env: &FaultEnv<'_>, real: Reply) -> Response {
    let ok = StatusCode::OK;
    match kind {
        FaultKind::Status {
            status,
            retry_after,
        } => ApiError::injected(*status).into_response(env.rate, retry_after.seconds(*status)),
        FaultKind::SlowHeaders { delay } => {
            tokio::time::sleep(*delay).await;
            real.into_response(env.rate)
        }
        FaultKind::SlowBody { delay, chunks } => slow_body(real, *delay, *chunks, env.rate),
        FaultKind::CutOffBody {
            framing,
            keep_percent,
        } => cut_off(real, *framing, *keep_percent, env.rate),
        FaultKind::MalformedJson { body } => {
            let body = body.clone().unwrap_or_else(|| MALFORMED_BODY.into());
            body_response(ok, env.media_type, body, env.rate)
        }
        FaultKind::Empty200 => body_response(ok, env.media_type, Body::empty(), env.rate),
        FaultKind::Html502 { body } => {
            let body = body.clone().unwrap_or_else(|| HTML_502_BODY.into());
            body_response(StatusCode::BAD_GATEWAY, "text/html", body, env.rate)
        }
        FaultKind::Drift(d) => {
            let real = transform(real, |doc| {
                drift(doc, d);
                serde_json::to_vec(doc).ok()
            });
            real.into_response(env.rate)
        }
        FaultKind::Nan { key, literal } => {
            let real = transform(real, |doc| nan(doc, key.as_deref(), *literal));
            real.into_response(env.rate)
        }
        FaultKind::HugeBody {
            bytes,
            content_length,
        } => huge_body(*bytes, *content_length, env),
        FaultKind::Redirect { status, location } => {
            let location = location
                .clone()
                .unwrap_or_else(|| format!("http://127.0.0.2:{}{}", env.port, env.path_and_query));
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::FOUND);
            let page = format!("<a href=\"{location}\">{status}</a>\n");
            let mut resp = body_response(status, "text/html", page, env.rate);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        FaultKind::DeepCallStack { depth } => {
            let body = deep_logs(&real, env.signature_id, *depth);
            body_response(ok, DIAGNOSTIC_LOGS_JSON, body, env.rate)
        }
    }
}

/// A response whose `body` is streamed, framed by `content_length` when
/// given (else chunked).
fn streamed(
    status: StatusCode,
    content_type: &str,
    content_length: Option<usize>,
    body: Body,
    rate: &str,
) -> Response {
    let mut resp = body_response(status, content_type, body, rate);
    if let Some(n) = content_length {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    resp
}

fn slow_body(real: Reply, delay: Duration, chunks: u32, rate: &str) -> Response {
    let Reply {
        status,
        content_type,
        body,
    } = real;
    let len = body.len();
    let chunks = usize::try_from(chunks.max(1)).unwrap_or(1);
    let size = len.div_ceil(chunks).max(1);
    let body = Bytes::from(body);
    let parts: Vec<Bytes> = (0..chunks)
        .map(|i| body.slice((i * size).min(len)..((i + 1) * size).min(len)))
        .collect();
    let stream = futures::stream::iter(parts).then(move |part| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, std::io::Error>(part)
    });
    streamed(
        status,
        content_type,
        Some(len),
        Body::from_stream(stream),
        rate,
    )
}

fn cut_off(real: Reply, framing: Framing, keep_percent: u8, rate: &str) -> Response {
    let Reply {
        status,
        content_type,
        mut body,
    } = real;
    let len = body.len();
    body.truncate(len * usize::from(keep_percent.min(99)) / 100);
    if framing == Framing::TruncatedJson {
        return body_response(status, content_type, body, rate);
    }
    // The part, then (once hyper has flushed it) an error: hyper closes the
    // connection without completing the Content-Length or the chunked body.
    let stream =
        futures::stream::iter([Ok(Bytes::from(body))]).chain(futures::stream::once(async {
            tokio::time::sleep(CUT_LINGER).await;
            Err(std::io::Error::other("body cut off by the simulator"))
        }));
    let content_length = (framing == Framing::ContentLength).then_some(len);
    streamed(
        status,
        content_type,
        content_length,
        Body::from_stream(stream),
        rate,
    )
}

fn huge_body(bytes: u64, content_length: bool, env: &FaultEnv<'_>) -> Response {
    let (prefix, suffix) = (HUGE_PREFIX.len() as u64, HUGE_SUFFIX.len() as u64);
    let total = bytes.max(prefix + suffix);
    let stream = futures::stream::unfold(0u64, move |pos| async move {
        if pos >= total {
            return None;
        }
        let chunk = if pos == 0 {
            Bytes::from_static(HUGE_PREFIX)
        } else if pos >= total - suffix {
            Bytes::from_static(HUGE_SUFFIX)
        } else {
            let n = (total - suffix - pos).min(PAD.len() as u64) as usize;
            Bytes::from_static(&PAD[..n])
        };
        let next = pos + chunk.len() as u64;
        Some((Ok::<_, std::io::Error>(chunk), next))
    });
    let mut resp = body_response(
        StatusCode::OK,
        env.media_type,
        Body::from_stream(stream),
        env.rate,
    );
    if content_length {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    }
    resp
}

/// `real` with its JSON body rewritten by `f`; unchanged when the body is
/// not JSON or `f` declines (returns `None`).
fn transform(real: Reply, f: impl FnOnce(&mut Value) -> Option<Vec<u8>>) -> Reply {
    let Ok(mut doc) = serde_json::from_slice::<Value>(&real.body) else {
        return real;
    };
    match f(&mut doc) {
        Some(body) => Reply { body, ..real },
        None => real,
    }
}

/// Applies `d` to every object of `doc` down to [`MAX_DRIFT_DEPTH`];
/// returns the number of changes.
pub fn drift(doc: &mut Value, d: &Drift) -> usize {
    let mut changed = 0;
    let mut stack: Vec<(&mut Value, usize)> = vec![(doc, 0)];
    while let Some((v, depth)) = stack.pop() {
        if let Value::Object(map) = v {
            changed += drift_object(map, d);
        }
        if depth >= MAX_DRIFT_DEPTH {
            continue;
        }
        match v {
            Value::Object(map) => stack.extend(map.values_mut().map(|c| (c, depth + 1))),
            Value::Array(items) => stack.extend(items.iter_mut().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    changed
}

fn drift_object(map: &mut Map<String, Value>, d: &Drift) -> usize {
    match d {
        Drift::Remove { key } => usize::from(map.remove(key).is_some()),
        Drift::Rename { key, to } => match map.remove(key) {
            Some(v) => {
                map.insert(to.clone(), v);
                1
            }
            None => 0,
        },
        Drift::Retype { key } => match map.get_mut(key) {
            Some(v) => {
                *v = retype(v.take());
                1
            }
            None => 0,
        },
        Drift::Null { key } => match map.get_mut(key) {
            Some(v) => {
                *v = Value::Null;
                1
            }
            None => 0,
        },
    }
}

/// The value as another JSON type (see [`Drift::Retype`]).
pub fn retype(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::Array(vec![Value::String(s)]),
        },
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, x)| (i.to_string(), x))
                .collect(),
        ),
        Value::Object(map) => Value::Array(map.into_iter().map(|(_, x)| x).collect()),
        Value::Null => Value::Null,
    }
}

/// `doc` serialized with its first number (under `key`, when given) written
/// as `literal`; `None` when there is no such number.
pub fn nan(doc: &mut Value, key: Option<&str>, literal: NanLiteral) -> Option<Vec<u8>> {
    // Depth-first in document order: children are pushed in reverse.
    let mut stack: Vec<(&mut Value, usize, bool)> = vec![(doc, 0, key.is_none())];
    let mut found = false;
    while let Some((v, depth, wanted)) = stack.pop() {
        match v {
            Value::Number(_) if wanted => {
                *v = Value::String(NAN_MARK.into());
                found = true;
                break;
            }
            Value::Object(map) if depth < MAX_DRIFT_DEPTH => {
                for (k, c) in map.iter_mut().rev() {
                    stack.push((c, depth + 1, key.is_none_or(|want| want == k)));
                }
            }
            Value::Array(items) if depth < MAX_DRIFT_DEPTH => {
                for c in items.iter_mut().rev() {
                    stack.push((c, depth + 1, key.is_none()));
                }
            }
            _ => {}
        }
    }
    if !found {
        return None;
    }
    let text = serde_json::to_string(doc).ok()?;
    Some(
        text.replacen(&format!("\"{NAN_MARK}\""), literal.text(), 1)
            .into_bytes(),
    )
}

/// A `diagnosticLogs` document whose first log's call stack is `depth`
/// frames deep: the real document when it has a log, else a generated one.
pub(crate) fn deep_logs(real: &Reply, signature_id: Option<&str>, depth: usize) -> Vec<u8> {
    let mut doc = serde_json::from_slice::<Value>(&real.body)
        .ok()
        .filter(|_| real.status == StatusCode::OK);
    let mut placed = false;
    if let Some(slot) = doc.as_mut().and_then(|d| d.pointer_mut(ROOT_FRAMES)) {
        *slot = Value::String(DEEP_MARK.into());
        placed = true;
    }
    if !placed {
        doc = Some(generated_logs(signature_id.unwrap_or("unknown")));
    }
    let text = serde_json::to_string(&doc).unwrap_or_default();
    text.replacen(&format!("\"{DEEP_MARK}\""), &deep_frames(depth), 1)
        .into_bytes()
}

fn generated_logs(signature_id: &str) -> Value {
    serde_json::json!({
        "productData": [{
            "signatureId": signature_id,
            "diagnosticInsights": [],
            "diagnosticLogs": [{
                "callStackTree": [{
                    "callStackPerThread": true,
                    "callStacks": [{"callStackRootFrames": DEEP_MARK}],
                }],
                "diagnosticMetaData": {
                    "event": "hang",
                    "eventDetail": "Hang duration of 2.50 s",
                    "appVersion": "1.0",
                    "buildVersion": "1",
                    "deviceType": "iPhone15_2",
                    "osVersion": "iPhone OS 17.5 (21F79)",
                    "platformArchitecture": "arm64",
                },
            }],
        }],
        "version": "1.0.0",
    })
}

/// `callStackRootFrames` as JSON text: one root whose `subFrames` chain is
/// `depth` frames long (the leaf has `subFrames: []`), written in a loop:
/// every frame's opening text, then every frame's closing `]}`.
pub fn deep_frames(depth: usize) -> String {
    const SYSTEM: [(&str, &str); 3] = [
        ("dyld", "start"),
        ("UIKitCore", "UIApplicationMain"),
        ("CoreFoundation", "__CFRunLoopRun"),
    ];
    let mut s = String::with_capacity(depth.saturating_mul(280).saturating_add(2));
    s.push('[');
    for i in 0..depth {
        let (binary, symbol, uuid) = match SYSTEM.get(i) {
            Some((b, sym)) => (*b, *sym, "5D4E3F2A-1B0C-4D9E-8F7A-6B5C4D3E2F1A"),
            None => (
                "DeepStack",
                "-[TreeNode layoutSubtree:]",
                "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
            ),
        };
        let blame = i + 1 == depth;
        let address = 0x1_0000_0000u64 + (i as u64) * 0x40;
        let offset = 16 + i % 512;
        let _ = write!(
            s,
            r#"{{"sampleCount":42,"isBlameFrame":{blame},"symbolName":"{symbol}","offsetIntoSymbol":"{offset}","binaryName":"{binary}","binaryUUID":"{uuid}","address":"0x{address:x}","offsetIntoBinaryTextSegment":"","rawFrame":"{binary}  0x{address:x}  {symbol} + {offset}","subFrames":["#
        );
    }
    for _ in 0..depth {
        s.push_str("]}");
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drift_renames_removes_retypes_and_nulls_wherever_the_key_occurs() {
        let doc = json!({"metrics": [{"metrics": 1}], "x": {"metrics": {"a": 2}}, "y": 3});
        let mut d = doc.clone();
        assert_eq!(drift(&mut d, &Drift::rename("metrics", "metricsV2")), 3);
        assert_eq!(
            d,
            json!({"metricsV2": [{"metricsV2": 1}], "x": {"metricsV2": {"a": 2}}, "y": 3})
        );
        let mut d = doc.clone();
        assert_eq!(drift(&mut d, &Drift::remove("metrics")), 2);
        assert_eq!(d, json!({"x": {}, "y": 3}));
        let mut d =
            json!({"value": 1.5, "points": [1, 2], "o": {"value": "7", "points": {"a": true}}});
        drift(&mut d, &Drift::retype("value"));
        drift(&mut d, &Drift::retype("points"));
        assert_eq!(
            d,
            json!({"value": "1.5", "points": {"0": 1, "1": 2}, "o": {"value": 7.0, "points": [true]}})
        );
        let mut d = doc;
        drift(&mut d, &Drift::null("metrics"));
        assert_eq!(d, json!({"metrics": null, "x": {"metrics": null}, "y": 3}));
    }

    #[test]
    fn drift_stops_at_its_depth_bound() {
        let mut deep = json!({"k": 1});
        for _ in 0..(MAX_DRIFT_DEPTH + 10) {
            deep = json!([deep]);
        }
        assert_eq!(drift(&mut deep, &Drift::remove("k")), 0);
    }

    #[test]
    fn nan_writes_the_literal_in_place_of_the_first_matching_number() {
        let mut d = json!({"a": {"value": 1}, "b": [{"value": 2}], "n": 0});
        let out = String::from_utf8(nan(&mut d, Some("value"), NanLiteral::Nan).unwrap()).unwrap();
        assert_eq!(out, r#"{"a":{"value":NaN},"b":[{"value":2}],"n":0}"#);
        assert!(serde_json::from_str::<Value>(&out).is_err());
        let mut d = json!({"a": [5], "b": 1});
        let out = String::from_utf8(nan(&mut d, None, NanLiteral::OutOfRange).unwrap()).unwrap();
        assert_eq!(out, r#"{"a":[1e999],"b":1}"#);
        assert!(
            serde_json::from_str::<Value>(&out).is_err(),
            "1e999 is out of range"
        );
        assert!(nan(&mut json!({"a": "1"}), None, NanLiteral::Nan).is_none());
    }

    #[test]
    fn deep_frames_nest_exactly_depth_frames() {
        for depth in [1, 2, 57, 300] {
            let text = deep_frames(depth);
            // Parse without a recursion limit problem: count levels by hand.
            let mut frames = 0;
            let mut rest = text.as_str();
            while let Some(i) = rest.find("\"subFrames\":[") {
                frames += 1;
                rest = &rest[i + 1..];
            }
            assert_eq!(frames, depth);
            assert!(
                text.contains(r#""subFrames":[]}"#),
                "the leaf has no frames"
            );
            assert!(text.ends_with(&format!("{}]", "]}".repeat(depth))));
            if depth <= 50 {
                let v: Value = serde_json::from_str(&text).unwrap();
                let mut node = &v[0];
                let mut n = 1;
                while let Some(child) = node["subFrames"].get(0) {
                    node = child;
                    n += 1;
                }
                assert_eq!(n, depth);
                assert_eq!(node["isBlameFrame"], true);
                assert_eq!(node["subFrames"], json!([]));
            }
        }
    }
}
