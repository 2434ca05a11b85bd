//! Sending the encoded metrics request ([`wire`](super::wire)) as the SDK's
//! OTLP exporters do: HTTP/protobuf (`POST …/v1/metrics`,
//! `application/x-protobuf`, optionally gzip) with reqwest, or gRPC
//! (`MetricsService/Export`, optionally gzip) over a lazily connected tonic
//! channel; the resolved headers on every request; the export
//! timeout on each attempt and as the deadline of the retries; the OTLP
//! spec's retryable failures (HTTP 429/502/503/504 and connection errors,
//! `Retry-After` honoured; gRPC `UNAVAILABLE`, `CANCELLED`,
//! `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`) retried
//! with exponential backoff and jitter; a partial success logged.
//!
//! Hand-written rather than the SDK's `MetricExporter` because that one
//! only takes the SDK's `ResourceMetrics` (which it converts and encodes on
//! every export); nothing here is protocol logic beyond framing a body the
//! caller already encoded.
//!
//! The gRPC call is framed here too, on tonic's `Channel` (which owns the
//! HTTP/2 connection, reconnects and the timeout), rather than with
//! `tonic::client::Grpc`: tonic compresses each message itself, at gzip
//! level 6 with no way to choose, and again on every retry. The request is
//! tens of MB; compressing it once per export at level 1, as the HTTP path
//! does, halves the output's CPU (bench/RESULTS.md, "OTLP CPU"). The
//! framing is gRPC's length-prefixed message (a compressed-flag byte and a
//! big-endian u32 length), the status is tonic's own reading of the
//! `grpc-status`/`grpc-message` trailers (or headers, for a trailers-only
//! answer), and an HTTP status without one maps as gRPC's
//! `http-grpc-status-mapping.md` says (as tonic does). The channel's TCP
//! stream is [`Coalesced`](super::coalesce::Coalesced): h2 writes each
//! 16 KiB DATA frame with a syscall of its own, which it gathers into
//! large writes, the message by reference ([`Bodies`]).

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;

use super::coalesce::Bodies;
use super::config::{MetricsTarget, Proto};

const GRPC_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// A failed attempt, and whether (and when) to try again.
#[derive(Debug)]
struct Failure {
    message: String,
    retry: Retry,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Retry {
    No,
    Yes,
    /// The collector asked for this delay (`Retry-After`, gRPC `RetryInfo`).
    After(Duration),
}

enum Transport {
    Http {
        client: reqwest::Client,
        url: String,
    },
    Grpc {
        channel: tonic::transport::Channel,
        /// The message being sent, which the connection writes by reference.
        bodies: Bodies,
    },
}

/// The metrics client: one per output.
pub struct MetricsClient {
    target: MetricsTarget,
    transport: Transport,
}

impl MetricsClient {
    /// Builds the client (gRPC connects lazily: needs a Tokio runtime).
    pub fn new(target: MetricsTarget) -> anyhow::Result<Self> {
        let transport = match target.proto {
            Proto::HttpProtobuf => Transport::Http {
                client: reqwest::Client::builder()
                    .timeout(target.timeout)
                    .build()
                    .map_err(|e| anyhow::anyhow!("cannot build the OTLP HTTP client: {e}"))?,
                url: target.endpoint.clone(),
            },
            Proto::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(target.endpoint.clone())
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "OTLP metrics endpoint '{}' is not a valid gRPC endpoint: {e}",
                            target.endpoint
                        )
                    })?
                    .timeout(target.timeout);
                let bodies = Bodies::default();
                let channel =
                    channel.connect_with_connector_lazy(connector(target.timeout, bodies.clone()));
                Transport::Grpc { channel, bodies }
            }
        };
        Ok(Self { target, transport })
    }

    /// Sends `body` (an encoded `ExportMetricsServiceRequest`), retrying as
    /// the SDK does within the export timeout. `Err` names the last failure.
    pub async fn export(&self, body: Bytes) -> Result<(), String> {
        // Compressed once per export, not per attempt.
        let (body, encoding) = match self.target.gzip {
            true => {
                let raw = body.clone();
                let gz = tokio::task::spawn_blocking(move || gzip(&raw))
                    .await
                    .map_err(|e| format!("compressing the OTLP request failed: {e}"))?;
                (Bytes::from(gz), Some("gzip"))
            }
            false => (body, None),
        };
        let start = Instant::now();
        let deadline = self.target.timeout;
        let mut delay = self.target.initial_delay;
        let mut cap = self.target.max_delay;
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(body.clone(), encoding).await {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            let remaining = deadline.saturating_sub(start.elapsed());
            if remaining.is_zero() || attempt >= self.target.max_retries {
                return Err(failure.message);
            }
            match failure.retry {
                Retry::No => return Err(failure.message),
                Retry::Yes => {}
                Retry::After(d) => {
                    let d = d.min(Duration::from_secs(600));
                    if d > cap {
                        cap = Duration::from_secs(600);
                    }
                    delay = delay.max(d);
                }
            }
            attempt += 1;
            let sleep = (delay + jitter(self.target.max_jitter)).min(cap);
            if sleep >= remaining {
                return Err(failure.message);
            }
            tracing::debug!(attempt, delay = ?sleep, error = %failure.message, "OTLP metrics export failed; retrying");
            tokio::time::sleep(sleep).await;
            delay = (delay * 2).min(cap);
        }
    }

    async fn attempt(&self, body: Bytes, encoding: Option<&'static str>) -> Result<(), Failure> {
        match &self.transport {
            Transport::Http { client, url } => {
                let mut req = client
                    .post(url)
                    .headers(self.target.headers.clone())
                    .header("content-type", "application/x-protobuf");
                if let Some(e) = encoding {
                    req = req.header("content-encoding", e);
                }
                let resp = req.body(body).send().await.map_err(|e| Failure {
                    // reqwest's error names the URL (never the headers).
                    message: format!("HTTP export failed: {e}"),
                    retry: Retry::Yes,
                })?;
                let status = resp.status().as_u16();
                if !resp.status().is_success() {
                    let after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let retry = match (status, after) {
                        (429 | 503, Some(d)) => Retry::After(d),
                        (429 | 502 | 503 | 504, _) => Retry::Yes,
                        _ => Retry::No,
                    };
                    return Err(Failure {
                        message: format!("HTTP export failed with status code: {status}"),
                        retry,
                    });
                }
                let body = resp.bytes().await.unwrap_or_default();
                partial_success(&body);
                Ok(())
            }
            Transport::Grpc { channel, bodies } => {
                let _lent = bodies.lend(body.clone());
                self.grpc_attempt(channel.clone(), body, encoding).await
            }
        }
    }

    /// One gRPC unary call with `body` (compressed already when `encoding`
    /// is set) as its one message.
    async fn grpc_attempt(
        &self,
        mut channel: tonic::transport::Channel,
        body: Bytes,
        encoding: Option<&'static str>,
    ) -> Result<(), Failure> {
        use axum::http::{Method, Request, header};
        use http_body_util::BodyExt;
        use tower::{Service, ServiceExt};

        let transport = |e: &dyn std::fmt::Display| Failure {
            message: format!("gRPC export failed: {e}"),
            retry: Retry::Yes,
        };
        let framed = frame(body, encoding.is_some()).map_err(|e| Failure {
            message: format!("gRPC export failed: {e}"),
            retry: Retry::No,
        })?;
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(GRPC_PATH)
            .body(tonic::body::Body::new(framed))
            .expect("a static path and method");
        let h = req.headers_mut();
        h.extend(self.target.headers.clone());
        h.insert(header::CONTENT_TYPE, "application/grpc".parse().unwrap());
        h.insert(header::TE, "trailers".parse().unwrap());
        h.insert("grpc-accept-encoding", "gzip".parse().unwrap());
        if let Some(e) = encoding {
            h.insert("grpc-encoding", e.parse().unwrap());
        }
        // The deadline, for the collector (gRPC's TimeoutValue: at most 8
        // digits, here in milliseconds).
        let ms = self.target.timeout.as_millis().min(99_999_999);
        h.insert("grpc-timeout", format!("{ms}m").parse().unwrap());

        let resp = channel
            .ready()
            .await
            .map_err(|e| transport(&format_args!("the channel is not ready: {e}")))?
            .call(req)
            .await
            .map_err(|e| transport(&e))?;
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.map_err(|e| transport(&e))?;
        let trailers = collected.trailers().cloned();
        let message = collected.to_bytes();
        match grpc_status(parts.status, &parts.headers, trailers.as_ref()) {
            Some(status) if status.code() != tonic::Code::Ok => Err(grpc_failure(&status)),
            _ => {
                let gzip = parts
                    .headers
                    .get("grpc-encoding")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                match unframe(&message, gzip) {
                    Ok(Some(r)) => partial_success(&r),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "the OTLP collector's gRPC answer is not an ExportMetricsServiceResponse; the export counts as done")
                    }
                }
                Ok(())
            }
        }
    }
}

/// Connects as tonic's own connector does (DNS, `TCP_NODELAY`), with the
/// stream's writes coalesced ([`super::coalesce`]).
fn connector(
    connect_timeout: Duration,
    bodies: Bodies,
) -> impl tower::Service<
    axum::http::Uri,
    Response = hyper_util::rt::TokioIo<super::coalesce::Coalesced>,
    Error = std::io::Error,
    Future = impl Send,
> + Send
+ Clone
+ 'static {
    use hyper_util::client::legacy::connect::HttpConnector;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    tower::service_fn(move |uri: axum::http::Uri| {
        let mut http = http.clone();
        let bodies = bodies.clone();
        async move {
            use tower::Service;
            let io = http
                .call(uri)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(hyper_util::rt::TokioIo::new(
                super::coalesce::Coalesced::new(io.into_inner(), bodies),
            ))
        }
    })
}

/// gRPC's length-prefixed message: a compressed-flag byte, the length as a
/// big-endian u32, then the message; as a body of two chunks, so the
/// message (tens of MB at worst) is handed to HTTP/2 without a copy.
fn frame(
    message: Bytes,
    compressed: bool,
) -> Result<impl http_body::Body<Data = Bytes, Error = std::convert::Infallible>, String> {
    let len = u32::try_from(message.len()).map_err(|_| {
        format!(
            "the request is {} bytes, over gRPC's 4 GiB message limit",
            message.len()
        )
    })?;
    let mut prefix = bytes::BytesMut::with_capacity(5);
    prefix.put_u8(u8::from(compressed));
    prefix.put_u32(len);
    let chunks = [prefix.freeze(), message].map(|b| Ok(http_body::Frame::data(b)));
    Ok(http_body_util::StreamBody::new(futures::stream::iter(
        chunks,
    )))
}

/// The message of a unary answer (`None` when there is none), gunzipped
/// when its flag says so and the answer's `grpc-encoding` is gzip.
fn unframe(body: &[u8], gzip: bool) -> Result<Option<Bytes>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    if body.len() < 5 {
        return Err(format!(
            "{} bytes, shorter than a message prefix",
            body.len()
        ));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let message = body[5..].get(..len).ok_or_else(|| {
        format!(
            "the prefix says {len} bytes, the answer has {}",
            body.len() - 5
        )
    })?;
    match (body[0], gzip) {
        (0, _) => Ok(Some(Bytes::copy_from_slice(message))),
        (1, true) => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(message)
                .take(64 << 20)
                .read_to_end(&mut out)
                .map_err(|e| format!("a gzip message that does not inflate: {e}"))?;
            Ok(Some(Bytes::from(out)))
        }
        (flag, _) => Err(format!(
            "compressed-flag {flag} without a known grpc-encoding"
        )),
    }
}

/// The call's status: `grpc-status` from the trailers, or from the headers
/// of a trailers-only answer; without one, from the HTTP status (`None`
/// for a 200: an answer without a status, taken as done).
fn grpc_status(
    http: axum::http::StatusCode,
    headers: &axum::http::HeaderMap,
    trailers: Option<&axum::http::HeaderMap>,
) -> Option<tonic::Status> {
    use axum::http::StatusCode;
    use tonic::Code;
    // Only the two keys: tonic's reader panics on a `grpc-status-details-bin`
    // that is not base64, and the details are not used here.
    let status_of = |map: &axum::http::HeaderMap| {
        let mut only = axum::http::HeaderMap::new();
        for key in ["grpc-status", "grpc-message"] {
            if let Some(v) = map.get(key) {
                only.insert(key, v.clone());
            }
        }
        tonic::Status::from_header_map(&only)
    };
    if let Some(s) = trailers.and_then(status_of).or_else(|| status_of(headers)) {
        return Some(s);
    }
    let code = match http {
        StatusCode::OK => return None,
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    };
    Some(tonic::Status::new(
        code,
        format!("HTTP status {http} without a gRPC status"),
    ))
}

fn grpc_failure(status: &tonic::Status) -> Failure {
    use tonic::Code;
    let retry = match status.code() {
        Code::Unavailable
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Retry::Yes,
        _ => Retry::No,
    };
    Failure {
        message: format!(
            "gRPC export failed: {:?}: {}",
            status.code(),
            status.message()
        ),
        retry,
    }
}

fn partial_success(body: &[u8]) {
    if let Ok(r) = ExportMetricsServiceResponse::decode(body)
        && let Some(p) = r.partial_success
        && (p.rejected_data_points > 0 || !p.error_message.is_empty())
    {
        warn_partial(p.rejected_data_points, &p.error_message);
    }
}

fn warn_partial(rejected: i64, message: &str) {
    tracing::warn!(
        rejected_data_points = rejected,
        error = message,
        "the OTLP collector accepted the metrics export only in part"
    );
}

fn jitter(max: Duration) -> Duration {
    use rand::Rng;
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::thread_rng().gen_range(0..max.as_nanos() as u64))
}

/// gzip at level 1: the request is tens of MB, compressed once per export.
fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e =
        flate2::write::GzEncoder::new(Vec::with_capacity(b.len() / 8), flate2::Compression::fast());
    e.write_all(b).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};

    async fn framed(message: &[u8], compressed: bool) -> Vec<u8> {
        use http_body_util::BodyExt;
        let body = frame(Bytes::copy_from_slice(message), compressed).unwrap();
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_message_round_trips_through_the_frame() {
        let f = framed(b"hello", false).await;
        assert_eq!(&f[..], b"\x00\x00\x00\x00\x05hello");
        assert_eq!(unframe(&f, false).unwrap().as_deref(), Some(&b"hello"[..]));
        // Compressed: the flag, and the gzip body inflated on the way back.
        let gz = gzip(b"hello hello hello");
        let f = framed(&gz, true).await;
        assert_eq!(f[0], 1);
        assert_eq!(
            u32::from_be_bytes([f[1], f[2], f[3], f[4]]) as usize,
            gz.len()
        );
        assert_eq!(
            unframe(&f, true).unwrap().as_deref(),
            Some(&b"hello hello hello"[..])
        );
    }

    #[test]
    fn hostile_answers_are_errors_not_panics() {
        assert_eq!(unframe(b"", false).unwrap(), None);
        assert!(unframe(b"\x00\x00", false).unwrap_err().contains("shorter"));
        assert!(
            unframe(b"\x00\xff\xff\xff\xffab", false)
                .unwrap_err()
                .contains("the prefix says")
        );
        assert!(
            unframe(b"\x01\x00\x00\x00\x02ab", false).is_err(),
            "flag 1 without gzip"
        );
        assert!(
            unframe(b"\x01\x00\x00\x00\x02ab", true)
                .unwrap_err()
                .contains("inflate")
        );
    }

    fn headers(kv: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in kv {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_status_comes_from_trailers_headers_or_the_http_status() {
        let none = HeaderMap::new();
        // OK in the trailers.
        let s = grpc_status(
            StatusCode::OK,
            &none,
            Some(&headers(&[("grpc-status", "0")])),
        );
        assert_eq!(s.unwrap().code(), tonic::Code::Ok);
        // A trailers-only error, percent-encoded message.
        let s = grpc_status(
            StatusCode::OK,
            &headers(&[("grpc-status", "14"), ("grpc-message", "try%20later")]),
            None,
        )
        .unwrap();
        assert_eq!(
            (s.code(), s.message()),
            (tonic::Code::Unavailable, "try later")
        );
        assert_eq!(grpc_failure(&s).retry, Retry::Yes);
        // Details that are not base64 do not panic (tonic's reader would).
        let s = grpc_status(
            StatusCode::OK,
            &none,
            Some(&headers(&[
                ("grpc-status", "3"),
                ("grpc-status-details-bin", "!!!"),
            ])),
        )
        .unwrap();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(grpc_failure(&s).retry, Retry::No);
        // No gRPC status: from the HTTP status, as gRPC maps it.
        for (http, code) in [
            (StatusCode::SERVICE_UNAVAILABLE, tonic::Code::Unavailable),
            (StatusCode::TOO_MANY_REQUESTS, tonic::Code::Unavailable),
            (StatusCode::UNAUTHORIZED, tonic::Code::Unauthenticated),
            (StatusCode::NOT_FOUND, tonic::Code::Unimplemented),
            (StatusCode::IM_A_TEAPOT, tonic::Code::Unknown),
        ] {
            assert_eq!(
                grpc_status(http, &none, None).unwrap().code(),
                code,
                "{http}"
            );
        }
        assert!(grpc_status(StatusCode::OK, &none, None).is_none());
    }
}
