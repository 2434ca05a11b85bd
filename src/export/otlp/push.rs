//! Sending the encoded metrics request ([`wire`](super::wire)) as the SDK's
//! OTLP exporters do: HTTP/protobuf (`POST …/v1/metrics`,
//! `application/x-protobuf`, optionally gzip) with reqwest, or gRPC
//! (`MetricsService/Export`, optionally gzip) with tonic over a lazily
//! connected channel; the resolved headers on every request; the export
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

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;

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
        grpc: tonic::client::Grpc<tonic::transport::Channel>,
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
                    .timeout(target.timeout)
                    .connect_lazy();
                let mut grpc = tonic::client::Grpc::new(channel);
                if target.gzip {
                    grpc = grpc
                        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Transport::Grpc { grpc }
            }
        };
        Ok(Self { target, transport })
    }

    /// Sends `body` (an encoded `ExportMetricsServiceRequest`), retrying as
    /// the SDK does within the export timeout. `Err` names the last failure.
    pub async fn export(&self, body: Bytes) -> Result<(), String> {
        // HTTP compresses once per export, not per attempt (gRPC compresses
        // inside tonic).
        let (body, encoding) = match (&self.transport, self.target.gzip) {
            (Transport::Http { .. }, true) => {
                let raw = body.clone();
                let gz = tokio::task::spawn_blocking(move || gzip(&raw))
                    .await
                    .map_err(|e| format!("compressing the OTLP request failed: {e}"))?;
                (Bytes::from(gz), Some("gzip"))
            }
            _ => (body, None),
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
            Transport::Grpc { grpc } => {
                let mut grpc = grpc.clone();
                grpc.ready().await.map_err(|e| Failure {
                    message: format!("gRPC export failed: the channel is not ready: {e}"),
                    retry: Retry::Yes,
                })?;
                let mut req = tonic::Request::new(body);
                *req.metadata_mut() =
                    tonic::metadata::MetadataMap::from_headers(self.target.headers.clone());
                let path = axum::http::uri::PathAndQuery::from_static(GRPC_PATH);
                match grpc.unary(req, path, RawCodec).await {
                    Ok(resp) => {
                        let r = resp.into_inner();
                        if let Some(p) = r.partial_success
                            && (p.rejected_data_points > 0 || !p.error_message.is_empty())
                        {
                            warn_partial(p.rejected_data_points, &p.error_message);
                        }
                        Ok(())
                    }
                    Err(status) => Err(grpc_failure(&status)),
                }
            }
        }
    }
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

/// A tonic codec that sends already encoded bytes and decodes the
/// `ExportMetricsServiceResponse`.
struct RawCodec;

struct RawEncoder;
struct ResponseDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportMetricsServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ResponseDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl tonic::codec::Decoder for ResponseDecoder {
    type Item = ExportMetricsServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, Self::Error> {
        let r = ExportMetricsServiceResponse::decode(src.copy_to_bytes(src.remaining())).map_err(
            |e| tonic::Status::internal(format!("bad ExportMetricsServiceResponse: {e}")),
        )?;
        Ok(Some(r))
    }
}
