//! Fault injection in the simulated App Store Connect, kind by kind, over
//! real HTTP on 127.0.0.1: what each fault puts on the wire (seen with
//! reqwest, or with a raw `TcpStream` where a cut-off or the timing of the
//! head matters), that `times` counts down, that `faults_served` counts what
//! was served, and that other paths keep answering normally.

mod common;

use std::time::{Duration, Instant};

use asc_perf_exporter::sim::{Drift, Fault, FaultKind, Framing, NanLiteral, RetryAfter};
use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const XCODE: &str = "application/vnd.apple.xcode-metrics+json";
const LOGS: &str = "application/vnd.apple.diagnostic-logs+json";

// ----- helpers ------------------------------------------------------------------

fn inject(env: &Env, prefix: &str, kind: FaultKind, times: Option<u32>) {
    let mut f = Fault::new(prefix, kind);
    f.times = times;
    env.handle.control.inject(f).expect("a valid fault");
}

/// A response read off a raw socket until the server closed it.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    /// Bytes after the head, as sent (chunked framing not decoded).
    body: Vec<u8>,
    /// When the end of the head arrived, and when the connection closed.
    head_at: Instant,
    closed_at: Instant,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GET over a raw socket; reads until the server closes the connection (a
/// normal response is asked with `Connection: close`; a faulted one is not,
/// so that EOF proves the server closed it).
async fn raw_get(env: &Env, path: &str, close: bool) -> Raw {
    let mut sock = tokio::net::TcpStream::connect(env.handle.addr)
        .await
        .expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n{}\r\n",
        env.handle.addr,
        env.token(),
        if close { "Connection: close\r\n" } else { "" }
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut head_at = None;
    let read_all = async {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if head_at.is_none() && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                head_at = Some(Instant::now());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server closes the connection within 20 s");
    let closed_at = Instant::now();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: buf[end + 4..].to_vec(),
        head_at: head_at.unwrap(),
        closed_at,
    }
}

/// Decodes a chunked body: (data, whether the final 0-size chunk came).
fn dechunk(mut b: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16)
            .expect("chunk size");
        if size == 0 {
            return (out, true);
        }
        let data = &b[eol + 2..];
        if data.len() < size {
            out.extend_from_slice(data);
            return (out, false);
        }
        out.extend_from_slice(&data[..size]);
        b = data[size..].strip_prefix(b"\r\n").unwrap_or(&[]);
    }
}

/// How many times `key` occurs as an object key anywhere in `v`.
fn key_count(v: &Value, key: &str) -> usize {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, c)| usize::from(k == key) + key_count(c, key))
            .sum(),
        Value::Array(a) => a.iter().map(|c| key_count(c, key)).sum(),
        _ => 0,
    }
}

/// The deepest bracket nesting of a JSON text (strings skipped), without
/// parsing it (serde_json stops at 128 levels).
fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in text {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "balanced");
    max
}

async fn first_app(env: &Env) -> String {
    env.handle.control.app_ids()[0].clone()
}

/// The id of a signature that has logs (the first build with signatures).
async fn a_signature(env: &Env) -> String {
    let account = env.handle.control.account();
    account
        .all_builds()
        .flat_map(|b| b.build.signatures.iter())
        .map(|s| s.id.clone())
        .next()
        .expect("the account has signatures")
}

// ----- status ---------------------------------------------------------------------

#[tokio::test]
async fn status_faults_choose_their_retry_after_and_count_down() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let metrics = format!("/v1/apps/{app}/perfPowerMetrics");
    let cases = [
        (RetryAfter::Default, Some("1")),
        (RetryAfter::Seconds(0), Some("0")),
        (RetryAfter::Seconds(3600), Some("3600")),
        (RetryAfter::Omit, None),
    ];
    for (retry_after, expected) in cases {
        inject(
            &env,
            &metrics,
            FaultKind::Status {
                status: 429,
                retry_after,
            },
            Some(1),
        );
        let r = env.get(&metrics).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.error()["code"], "RATE_LIMIT_EXCEEDED");
        assert_eq!(
            r.header("retry-after").as_deref(),
            expected,
            "{retry_after:?}"
        );
        assert!(r.header("x-rate-limit").is_some());
    }
    // A 503 may carry Retry-After too; by default it does not.
    inject(&env, &metrics, FaultKind::status(503), Some(2));
    inject(
        &env,
        "/v1/builds",
        FaultKind::Status {
            status: 503,
            retry_after: RetryAfter::Seconds(7),
        },
        Some(1),
    );
    for _ in 0..2 {
        let r = env.get(&metrics).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.error()["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(r.header("retry-after"), None);
        // Other paths answer normally meanwhile.
        assert_eq!(env.get(&format!("/v1/apps/{app}")).await.status, 200);
    }
    assert_eq!(env.get(&metrics).await.status, 200, "times ran out");
    let r = env.get("/v1/builds").await;
    assert_eq!((r.status, r.header("retry-after")), (503, Some("7".into())));
    assert_eq!(env.get("/v1/builds").await.status, 200);
    assert_eq!(env.handle.control.served("status"), 7);
    assert!(env.handle.control.faults().is_empty());
}

#[tokio::test]
async fn times_counts_down_and_the_first_matching_fault_serves() {
    let env = start(|_| {}).await;
    let ids = env.handle.control.app_ids();
    let (a, b) = (&ids[0], &ids[1]);
    inject(&env, &format!("/v1/apps/{a}"), FaultKind::Empty200, Some(3));
    inject(&env, "/v1/apps", FaultKind::status(500), None);
    for left in [2, 1] {
        assert_eq!(env.get(&format!("/v1/apps/{a}")).await.bytes.len(), 0);
        assert_eq!(env.handle.control.faults()[0].times, Some(left));
    }
    assert_eq!(env.get(&format!("/v1/apps/{a}")).await.bytes.len(), 0);
    // The first fault is used up; the second (until cleared) now serves.
    assert_eq!(env.handle.control.faults().len(), 1);
    for _ in 0..3 {
        assert_eq!(env.get(&format!("/v1/apps/{b}")).await.status, 500);
    }
    // Paths outside every prefix are untouched.
    assert_eq!(env.get("/v1/builds?limit=1").await.status, 200);
    env.handle.control.clear_faults();
    assert_eq!(env.get(&format!("/v1/apps/{b}")).await.status, 200);
    let served = env.handle.control.faults_served();
    assert_eq!(served.get("empty_200"), Some(&3));
    assert_eq!(served.get("status"), Some(&3));
    assert_eq!(served.len(), 2, "{served:?}");
}

// ----- timing ---------------------------------------------------------------------

#[tokio::test]
async fn slow_headers_hold_the_head_until_a_client_timeout_fires() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let path = format!("/v1/apps/{app}/perfPowerMetrics");
    let url = format!("{}{path}", env.base());
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1000))
        .build()
        .unwrap();
    // Without the fault the same client gets its answer.
    let ok = impatient
        .get(&url)
        .bearer_auth(env.token())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let normal = ok.bytes().await.unwrap();

    let delay = Duration::from_millis(3000);
    inject(&env, &path, FaultKind::SlowHeaders { delay }, Some(2));
    let e = impatient
        .get(&url)
        .bearer_auth(env.token())
        .send()
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    // A patient client gets the real answer, but only after the delay.
    let asked = Instant::now();
    let r = raw_get(&env, &path, true).await;
    assert!(r.head_at - asked >= delay, "head after the delay");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(XCODE));
    assert_eq!(r.body, normal);
    assert_eq!(env.handle.control.served("slow_headers"), 2);
}

#[tokio::test]
async fn slow_body_sends_the_head_at_once_then_trickles_the_real_body() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let path = format!("/v1/apps/{app}/perfPowerMetrics");
    let normal = env.get(&path).await.bytes;
    let delay = Duration::from_millis(800);
    inject(
        &env,
        &path,
        FaultKind::SlowBody { delay, chunks: 4 },
        Some(2),
    );

    // The head comes before the client's timeout, the body does not.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let resp = impatient
        .get(format!("{}{path}", env.base()))
        .bearer_auth(env.token())
        .send()
        .await
        .expect("the head arrives before the timeout");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(normal.len() as u64));
    let e = resp.bytes().await.unwrap_err();
    assert!(e.is_timeout(), "{e}");

    // Read to the end, the body is the real one, whole, after 4 delays.
    let asked = Instant::now();
    let r = raw_get(&env, &path, true).await;
    assert!(r.head_at < r.closed_at);
    assert!(
        r.closed_at - asked >= delay * 4,
        "four chunks, one per delay"
    );
    assert_eq!(
        r.header("content-length"),
        Some(normal.len().to_string().as_str())
    );
    assert_eq!(r.body, normal);
    assert_eq!(env.handle.control.served("slow_body"), 2);
}

// ----- cut-off bodies ---------------------------------------------------------------

#[tokio::test]
async fn cut_off_body_with_content_length_sends_part_then_closes() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let path = format!("/v1/apps/{app}/perfPowerMetrics");
    let normal = env.get(&path).await.bytes;
    inject(
        &env,
        &path,
        FaultKind::CutOffBody {
            framing: Framing::ContentLength,
            keep_percent: 40,
        },
        Some(2),
    );
    let r = raw_get(&env, &path, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(normal.len().to_string().as_str()),
        "the real Content-Length"
    );
    assert_eq!(r.body, normal[..normal.len() * 40 / 100], "40 %, then EOF");
    // reqwest sees a body error, not a short success.
    let e = env
        .http
        .get(format!("{}{path}", env.base()))
        .bearer_auth(env.token())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(e.is_body() || e.is_decode() || e.is_request(), "{e:?}");
    assert_eq!(env.get(&path).await.bytes, normal, "times ran out");
}

#[tokio::test]
async fn cut_off_chunked_body_ends_without_its_last_chunk() {
    let env = start(|_| {}).await;
    let sig = a_signature(&env).await;
    let path = format!("/v1/diagnosticSignatures/{sig}/logs");
    let normal = env.get(&path).await.bytes;
    inject(
        &env,
        &path,
        FaultKind::CutOffBody {
            framing: Framing::Chunked,
            keep_percent: 50,
        },
        Some(1),
    );
    let r = raw_get(&env, &path, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(LOGS));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let (data, complete) = dechunk(&r.body);
    assert!(!complete, "no final 0-size chunk");
    assert_eq!(data, normal[..normal.len() / 2]);
}

#[tokio::test]
async fn truncated_json_is_a_well_formed_response_with_cut_json() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let path = format!("/v1/apps/{app}/builds");
    let normal = env.get(&path).await.bytes;
    inject(
        &env,
        &path,
        FaultKind::CutOffBody {
            framing: Framing::TruncatedJson,
            keep_percent: 75,
        },
        Some(1),
    );
    let r = env.get(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    let keep = normal.len() * 75 / 100;
    assert_eq!(r.header("content-length"), Some(keep.to_string()));
    assert_eq!(r.bytes, normal[..keep]);
    assert!(serde_json::from_slice::<Value>(&r.bytes).is_err());
}

// ----- bad bodies -------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_empty_200_and_html_502() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let metrics = format!("/v1/apps/{app}/perfPowerMetrics");
    inject(
        &env,
        &metrics,
        FaultKind::MalformedJson { body: None },
        Some(1),
    );
    let r = env.get(&metrics).await;
    assert_eq!((r.status, r.content_type.as_str()), (200, XCODE));
    assert!(!r.bytes.is_empty());
    assert!(serde_json::from_slice::<Value>(&r.bytes).is_err());

    inject(
        &env,
        "/v1/apps",
        FaultKind::MalformedJson {
            body: Some("<xml/>".into()),
        },
        Some(1),
    );
    let r = env.get("/v1/apps").await;
    assert_eq!(
        (r.content_type.as_str(), r.bytes.as_slice()),
        ("application/json", &b"<xml/>"[..])
    );

    inject(&env, &metrics, FaultKind::Empty200, Some(1));
    let r = env.get(&metrics).await;
    assert_eq!((r.status, r.content_type.as_str()), (200, XCODE));
    assert_eq!(r.header("content-length").as_deref(), Some("0"));
    assert!(r.bytes.is_empty());

    inject(&env, &metrics, FaultKind::Html502 { body: None }, Some(1));
    let r = env.get(&metrics).await;
    assert_eq!((r.status, r.content_type.as_str()), (502, "text/html"));
    let page = String::from_utf8(r.bytes.clone()).unwrap();
    assert!(page.contains("502 Bad Gateway"), "{page}");
    assert!(
        serde_json::from_slice::<Value>(&r.bytes).is_err(),
        "no ErrorResponse"
    );
    assert!(r.header("x-rate-limit").is_some());

    assert_eq!(
        env.get(&metrics).await.json()["productData"][0]["platform"],
        "iOS"
    );
    let served = env.handle.control.faults_served();
    assert_eq!(
        (
            served["malformed_json"],
            served["empty_200"],
            served["html_502"]
        ),
        (2, 1, 1)
    );
}

// ----- schema drift ---------------------------------------------------------------

#[tokio::test]
async fn drift_removes_renames_retypes_and_nulls_keys_of_the_real_answer() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let metrics = format!("/v1/apps/{app}/perfPowerMetrics");
    let normal = env.get(&metrics).await.json();
    assert!(key_count(&normal, "metrics") > 0 && key_count(&normal, "points") > 0);

    let drifted = |d: Drift| {
        let env = &env;
        let metrics = metrics.clone();
        async move {
            inject(env, &metrics, FaultKind::Drift(d), Some(1));
            let r = env.get(&metrics).await;
            assert_eq!((r.status, r.content_type.as_str()), (200, XCODE));
            r.json()
        }
    };

    let v = drifted(Drift::remove("productData")).await;
    assert!(v.get("productData").is_none(), "missing, not empty");
    assert_eq!(
        v["insights"], normal["insights"],
        "the rest is the real answer"
    );

    let v = drifted(Drift::rename("metrics", "metricsV2")).await;
    assert_eq!(key_count(&v, "metrics"), 0);
    assert_eq!(key_count(&v, "metricsV2"), key_count(&normal, "metrics"));

    let v = drifted(Drift::rename("points", "datapoints")).await;
    assert_eq!(key_count(&v, "datapoints"), key_count(&normal, "points"));

    let v = drifted(Drift::retype("points")).await;
    let points = &v["productData"][0]["metricCategories"][0]["metrics"][0]["datasets"][0]["points"];
    assert!(points.is_object(), "array -> object: {points}");
    assert_eq!(
        points["0"],
        normal["productData"][0]["metricCategories"][0]["metrics"][0]["datasets"][0]["points"][0]
    );

    let v = drifted(Drift::retype("value")).await;
    let first =
        &v["productData"][0]["metricCategories"][0]["metrics"][0]["datasets"][0]["points"][0];
    let real =
        &normal["productData"][0]["metricCategories"][0]["metrics"][0]["datasets"][0]["points"][0];
    assert!(first["value"].is_string(), "number -> string: {first}");
    assert_eq!(
        first["value"].as_str().unwrap().parse::<f64>().unwrap(),
        real["value"].as_f64().unwrap()
    );

    let v = drifted(Drift::null("value")).await;
    assert!(v["productData"][0]["metricCategories"][0]["metrics"][0]["datasets"][0]["points"][0]["value"].is_null());

    // On the app list: bundleId -> bundleID in every app.
    inject(
        &env,
        "/v1/apps",
        FaultKind::Drift(Drift::rename("bundleId", "bundleID")),
        Some(1),
    );
    let v = env.ok("/v1/apps").await;
    for a in v["data"].as_array().unwrap() {
        assert!(a["attributes"].get("bundleId").is_none());
        assert!(
            a["attributes"]["bundleID"]
                .as_str()
                .unwrap()
                .starts_with("com.example.")
        );
    }
    assert_eq!(env.get(&metrics).await.json(), normal, "times ran out");
    assert_eq!(env.handle.control.served("drift"), 7);
}

#[tokio::test]
async fn nan_and_out_of_range_numbers_make_the_body_invalid_json() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let metrics = format!("/v1/apps/{app}/perfPowerMetrics");
    let normal = env.get(&metrics).await;
    for (literal, text) in [
        (NanLiteral::Nan, "NaN"),
        (NanLiteral::Infinity, "Infinity"),
        (NanLiteral::OutOfRange, "1e999"),
    ] {
        inject(
            &env,
            &metrics,
            FaultKind::Nan {
                key: Some("value".into()),
                literal,
            },
            Some(1),
        );
        let r = env.get(&metrics).await;
        assert_eq!((r.status, r.content_type.as_str()), (200, XCODE));
        let body = String::from_utf8(r.bytes.clone()).unwrap();
        assert!(body.contains(&format!("\"value\":{text}")), "{literal:?}");
        assert!(serde_json::from_str::<Value>(&body).is_err(), "{literal:?}");
        // Putting a number back gives the real document.
        let fixed: Value =
            serde_json::from_str(&body.replacen(&format!("\"value\":{text}"), "\"value\":0", 1))
                .unwrap();
        assert_eq!(
            key_count(&fixed, "value"),
            key_count(&normal.json(), "value")
        );
    }
    assert_eq!(env.handle.control.served("nan"), 3);
}

// ----- size -------------------------------------------------------------------------

#[tokio::test]
async fn huge_body_streams_exactly_n_bytes_of_json_with_and_without_content_length() {
    let env = start(|_| {}).await;
    let app = first_app(&env).await;
    let metrics = format!("/v1/apps/{app}/perfPowerMetrics");
    const N: u64 = 100 * 1024 * 1024;
    for content_length in [true, false] {
        inject(
            &env,
            &metrics,
            FaultKind::HugeBody {
                bytes: N,
                content_length,
            },
            Some(1),
        );
        let mut resp = env
            .http
            .get(format!("{}{metrics}", env.base()))
            .bearer_auth(env.token())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"].to_str().unwrap(), XCODE);
        assert_eq!(resp.content_length(), content_length.then_some(N));
        if !content_length {
            assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        }
        // Count without holding the body.
        let (mut total, mut head, mut tail) = (0u64, Vec::new(), Vec::new());
        while let Some(chunk) = resp.chunk().await.unwrap() {
            total += chunk.len() as u64;
            if head.len() < 64 {
                head.extend_from_slice(&chunk[..chunk.len().min(64)]);
            }
            tail.extend_from_slice(&chunk);
            tail.drain(..tail.len().saturating_sub(8));
        }
        assert_eq!(total, N);
        assert!(head.starts_with(br#"{"productData":[],"padding":"xxxx"#));
        assert!(tail.ends_with(br#"xx"}"#));
    }
    // A small one parses: valid JSON all the way.
    inject(
        &env,
        &metrics,
        FaultKind::HugeBody {
            bytes: 200_000,
            content_length: true,
        },
        Some(1),
    );
    let r = env.get(&metrics).await;
    assert_eq!(r.bytes.len(), 200_000);
    assert_eq!(r.json()["productData"], serde_json::json!([]));
    assert_eq!(env.handle.control.served("huge_body"), 3);
}

// ----- redirect ---------------------------------------------------------------------

#[tokio::test]
async fn redirects_point_to_another_origin() {
    let env = start(|_| {}).await;
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let path = "/v1/apps?limit=2";
    inject(
        &env,
        "/v1/apps",
        FaultKind::Redirect {
            status: 302,
            location: None,
        },
        Some(1),
    );
    let r = no_follow
        .get(format!("{}{path}", env.base()))
        .bearer_auth(env.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let port = env.handle.addr.port();
    assert_eq!(
        r.headers()["location"],
        format!("http://127.0.0.2:{port}{path}").as_str()
    );
    inject(
        &env,
        "/v1/apps",
        FaultKind::Redirect {
            status: 307,
            location: Some("http://asc-elsewhere.invalid/steal".into()),
        },
        Some(1),
    );
    let r = no_follow
        .get(format!("{}{path}", env.base()))
        .bearer_auth(env.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        "http://asc-elsewhere.invalid/steal"
    );
    assert_eq!(env.get(path).await.status, 200);
    assert_eq!(env.handle.control.served("redirect"), 2);
}

// ----- deep call stacks -------------------------------------------------------------

#[tokio::test]
async fn deep_call_stacks_nest_n_frames_in_the_real_logs_document() {
    let env = start(|_| {}).await;
    let sig = a_signature(&env).await;
    let path = format!("/v1/diagnosticSignatures/{sig}/logs");
    let normal = env.get(&path).await.json();
    let real_meta = normal["productData"][0]["diagnosticLogs"][0]["diagnosticMetaData"].clone();
    let normal_depth = nesting(&serde_json::to_vec(&normal).unwrap());
    assert!(normal_depth < 64);
    for depth in [2_000usize, 10_000] {
        inject(&env, &path, FaultKind::DeepCallStack { depth }, Some(1));
        let r = env.get(&path).await;
        assert_eq!((r.status, r.content_type.as_str()), (200, LOGS));
        // Each frame is an object in a subFrames array: two levels a frame.
        let levels = nesting(&r.bytes);
        assert!(levels >= 2 * depth, "{levels} levels for {depth} frames");
        assert!(levels <= 2 * depth + normal_depth, "{levels}");
        assert!(
            serde_json::from_slice::<Value>(&r.bytes).is_err(),
            "past serde_json's limit"
        );
        // The rest is the real document: the first log's metadata follows its stack.
        let text = String::from_utf8(r.bytes.clone()).unwrap();
        let at = text.find(r#""diagnosticMetaData":"#).unwrap() + r#""diagnosticMetaData":"#.len();
        let meta: Value = serde_json::Deserializer::from_str(&text[at..])
            .into_iter()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(meta, real_meta);
        assert!(text.contains(&format!(r#""signatureId":"{sig}""#)));
    }
    // An unknown signature gets a generated document.
    let unknown = "/v1/diagnosticSignatures/nope/logs";
    assert_eq!(env.get(unknown).await.status, 404);
    inject(
        &env,
        unknown,
        FaultKind::DeepCallStack { depth: 3 },
        Some(1),
    );
    let v = env.get(unknown).await.json();
    assert_eq!(v["productData"][0]["signatureId"], "nope");
    let root = &v["productData"][0]["diagnosticLogs"][0]["callStackTree"][0]["callStacks"][0]["callStackRootFrames"]
        [0];
    assert_eq!(
        root["subFrames"][0]["subFrames"][0]["subFrames"],
        serde_json::json!([])
    );
    assert_eq!(env.handle.control.served("deep_call_stack"), 3);
}

// ----- the budget -------------------------------------------------------------------

#[tokio::test]
async fn an_exhausted_hour_budget_reports_zero_then_answers_429_until_the_window_resets() {
    let env = start(|c| c.hour_limit = 100).await;
    let control = &env.handle.control;
    control.set_rate_remaining(Some(1), None);
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 200);
    let rate = r.header("x-rate-limit").unwrap();
    assert!(
        rate.contains("user-hour-lim:100;user-hour-rem:0;"),
        "{rate}"
    );
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error()["code"], "RATE_LIMIT_EXCEEDED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (3500..=3600).contains(&retry),
        "the hour window says {retry}"
    );
    // Faults are not served while the budget is spent.
    inject(&env, "/v1/apps", FaultKind::Empty200, Some(1));
    assert_eq!(env.get("/v1/apps").await.status, 429);
    assert_eq!(control.served("empty_200"), 0);

    // The window can be made to end soon; then the budget is back.
    control
        .set_rate_resets_in(Some(Duration::from_millis(2000)), None)
        .unwrap();
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "the window ends in 2 s: {retry}");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let r = env.get("/v1/apps").await;
    assert_eq!(
        r.status, 200,
        "the empty_200 fault serves once the budget is back"
    );
    assert!(r.bytes.is_empty());
    assert!(
        r.header("x-rate-limit")
            .unwrap()
            .contains("user-hour-rem:99;")
    );
    assert_eq!(control.served("rate_limit"), 3);
    assert!(
        control
            .set_rate_resets_in(Some(Duration::from_secs(3601)), None)
            .is_err()
    );
}

#[tokio::test]
async fn an_exhausted_minute_budget_answers_429_with_the_minute_s_retry_after() {
    let env = start(|c| c.minute_limit = 10).await;
    env.handle.control.set_rate_remaining(None, Some(0));
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    let rate = r.header("x-rate-limit").unwrap();
    assert!(rate.contains("user-minute-rem:0"), "{rate}");
    assert!(
        rate.contains("user-hour-rem:3600;"),
        "the hour is untouched: {rate}"
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

// ----- admin API --------------------------------------------------------------------

#[tokio::test]
async fn the_admin_api_takes_every_kind_and_rejects_bad_ones_in_one_line() {
    let env = start(|_| {}).await;
    let base = env.base();
    let http = &env.http;
    let app = first_app(&env).await;
    let kinds = [
        r#"{"kind":"status","status":429,"retry_after":3600}"#,
        r#"{"kind":"status","status":429,"retry_after":"none"}"#,
        r#"{"status":503}"#,
        r#"{"kind":"slow_headers","delay_ms":300}"#,
        r#"{"kind":"slow_body","delay_ms":200,"chunks":5}"#,
        r#"{"kind":"cut_off_body","framing":"chunked","keep_percent":30}"#,
        r#"{"kind":"malformed_json"}"#,
        r#"{"kind":"empty_200"}"#,
        r#"{"kind":"html_502"}"#,
        r#"{"kind":"drift","op":"remove","key":"productData"}"#,
        r#"{"kind":"drift","op":"rename","key":"metrics","to":"metricsV2"}"#,
        r#"{"kind":"drift","op":"retype","key":"value"}"#,
        r#"{"kind":"drift","op":"null","key":"value"}"#,
        r#"{"kind":"nan","key":"value","literal":"1e999"}"#,
        r#"{"kind":"huge_body","bytes":104857600,"content_length":false}"#,
        r#"{"kind":"redirect","status":307,"location":"http://127.0.0.2:9/v1/apps"}"#,
        r#"{"kind":"deep_call_stack","depth":10000}"#,
    ];
    for (i, k) in kinds.iter().enumerate() {
        let mut v: Value = serde_json::from_str(k).unwrap();
        v["path_prefix"] = format!("/v1/x{i}").into();
        v["times"] = 1.into();
        let r = http
            .post(format!("{base}/_sim/faults"))
            .body(v.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{k}: {}", r.text().await.unwrap());
    }
    let list: Value = http
        .get(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let faults = list["faults"].as_array().unwrap();
    assert_eq!(faults.len(), kinds.len());
    assert_eq!(faults[2]["kind"], "status");
    assert_eq!(faults[10]["to"], "metricsV2");
    assert_eq!(faults[14]["bytes"], 104857600);

    let r = http
        .post(format!("{base}/_sim/faults"))
        .body(r#"{"path_prefix":"/v1/apps","kind":"slow_headers","delay":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("unknown field `delay`") && !msg.contains('\n'),
        "{msg}"
    );

    // A served fault shows in GET /_sim/faults and /_sim/state.
    http.delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
    let r = http
        .post(format!("{base}/_sim/faults"))
        .body(format!(
            r#"{{"path_prefix":"/v1/apps/{app}","kind":"html_502","times":1}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(env.get(&format!("/v1/apps/{app}")).await.status, 502);
    let list: Value = http
        .get(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["served"]["html_502"], 1);
    assert_eq!(list["faults"], serde_json::json!([]));
    let state: Value = http
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["faults_served"]["html_502"], 1);

    // The budget over the admin API.
    let r = http
        .put(format!("{base}/_sim/rate_limit"))
        .body(r#"{"hour_remaining":0,"hour_resets_in_ms":5000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["rate_limit"]
            .as_str()
            .unwrap()
            .contains("user-hour-rem:0;"),
        "{v}"
    );
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    let r = http
        .put(format!("{base}/_sim/rate_limit"))
        .body(r#"{"hour_left":0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_redirect_or_status_fault_does_not_need_the_route_to_exist() {
    let env = start(|_| {}).await;
    inject(&env, "/v1/nowhere", FaultKind::status(500), Some(1));
    assert_eq!(env.get("/v1/nowhere").await.status, 500);
    assert_eq!(env.get("/v1/nowhere").await.status, 404, "the real answer");
}

// ----- simulate --fault --------------------------------------------------------------

/// The binary with every ASC_* variable removed.
fn bare() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_asc-perf-exporter"));
    for v in [
        "ASC_ISSUER_ID",
        "ASC_KEY_ID",
        "ASC_PRIVATE_KEY_PATH",
        "ASC_PRIVATE_KEY",
        "ASC_API_BASE_URL",
        "ASC_OUTPUT",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
    c
}

#[tokio::test]
async fn simulate_installs_the_faults_given_on_the_command_line() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mut child = bare()
        .args([
            "-o",
            "json",
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--write-key",
        ])
        .arg(dir.path().join("k.p8"))
        .args([
            "--fault",
            r#"{"path_prefix":"/v1/apps","kind":"html_502","times":2}"#,
            "--fault",
            r#"{"path_prefix":"/v1/builds","status":503}"#,
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop_guard();
    let stdout = child.0.stdout.take().unwrap();
    // The JSON banner (pretty-printed: read until it parses).
    let info = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines() {
            text.push_str(&line.unwrap());
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                return v;
            }
        }
        panic!("no JSON banner: {text}");
    });
    let info = tokio::time::timeout(Duration::from_secs(60), info)
        .await
        .expect("simulate printed its address")
        .unwrap();
    let base = info["base_url"].as_str().unwrap();
    let list: Value = reqwest::get(format!("{base}/_sim/faults"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(child);
    let faults = list["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{list}");
    assert_eq!(faults[0]["kind"], "html_502");
    assert_eq!(faults[0]["times"], 2);
    assert_eq!(faults[1]["status"], 503);
    assert_eq!(faults[1]["times"], Value::Null);

    // A bad one stops the start with one line naming it.
    let out = bare()
        .args(["simulate", "--listen", "127.0.0.1:0", "--fault"])
        .arg(r#"{"path_prefix":"/v1","kind":"boom"}"#)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--fault") && err.contains("unknown variant `boom`"),
        "{err}"
    );
}

/// Kills the child when dropped (also when an assertion fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

trait SpawnGuard {
    fn kill_on_drop_guard(&mut self) -> KillOnDrop;
}

impl SpawnGuard for std::process::Command {
    fn kill_on_drop_guard(&mut self) -> KillOnDrop {
        KillOnDrop(self.spawn().expect("the binary starts"))
    }
}
