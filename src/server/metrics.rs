//! The metrics endpoint: the cached exposition in the format the scraper
//! asks for (OpenMetrics 1.0.0 or the text format 0.0.4, negotiated from
//! `Accept` as Prometheus's expfmt does, see [`negotiate`]), gzipped when
//! `Accept-Encoding` allows it, with the exporter's live metrics (see
//! [`crate::export::live`]) read at scrape time after the cached families.
//! A scrape copies no part of the cached buffers: the body is the cached
//! buffer itself followed by the few hundred bytes made for this scrape.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::ServerState;
use crate::export::Format;

/// `GET /metrics`.
pub async fn metrics(State(state): State<ServerState>, headers: HeaderMap) -> Response {
    if !state.metrics_enabled {
        return (
            StatusCode::NOT_FOUND,
            "the Prometheus output is disabled (prometheus.enabled: false)\n",
        )
            .into_response();
    }
    let Some(exp) = state.exposition.load_full() else {
        state.live.scrape_served(503);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "exposition not encoded yet\n",
        )
            .into_response();
    };
    let format = negotiate(&headers);
    let extra = state.live.encode(format);
    state.live.scrape_served(200);
    let (parts, gzipped) = exp.body(format, accepts_gzip(&headers), &extra);
    let mut resp = Response::new(Body::new(Parts::new(parts)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-encoding"),
    );
    resp
}

/// Whether `Accept-Encoding` allows gzip (a `gzip` token without `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// The format to answer with, from every `Accept` header of the request.
///
/// The offers are expfmt's `FmtText` and `FmtOpenMetrics_1_0_0`, matched as
/// `expfmt.NegotiateAccept` matches them (prometheus/common
/// `expfmt/encode.go`): type and subtype (or `*`), and the `version`
/// parameter, which defaults to `0.0.4` for `text/plain` and to `0.0.1` for
/// `application/openmetrics-text` (so only an explicit `version=1.0.0` gets
/// OpenMetrics; other parameters such as `charset` and Prometheus 3's
/// `escaping` are ignored: every name here is a legacy name). Where expfmt is
/// loose, RFC 9110 §12.5.1 decides: each offer gets the quality of the most
/// specific range that matches it, `q=0` means "not acceptable", and the
/// higher quality wins. A tie (`*/*`, a browser) and no acceptable offer at
/// all (where expfmt also falls back) give the text format, which every
/// scraper and human reads.
///
/// Prometheus 2.x sends `application/openmetrics-text;version=1.0.0,...;
/// text/plain;version=0.0.4;q=0.5,*/*;q=0.1` and 3.x
/// `application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,
/// ...,text/plain;version=0.0.4;q=0.3,*/*;q=0.2`: both get OpenMetrics.
pub fn negotiate(headers: &HeaderMap) -> Format {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    negotiate_accept(&values.join(","))
}

/// [`negotiate`] for one `Accept` value.
pub fn negotiate_accept(accept: &str) -> Format {
    let ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
    let quality = |offer: &Offer| {
        ranges
            .iter()
            .filter_map(|r| r.specificity(offer).map(|s| (s, r.q)))
            // The first of the most specific ranges.
            .fold(None, |best: Option<(u8, f32)>, (s, q)| match best {
                Some((bs, _)) if bs >= s => best,
                _ => Some((s, q)),
            })
            .map_or(0.0, |(_, q)| q)
    };
    let (text, om) = (quality(&TEXT), quality(&OPENMETRICS));
    if om > 0.0 && om > text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// A format on offer: media type and version.
struct Offer {
    kind: &'static str,
    subtype: &'static str,
    version: &'static str,
    /// The version a range of exactly this type means without one.
    default_version: &'static str,
}

const TEXT: Offer = Offer {
    kind: "text",
    subtype: "plain",
    version: "0.0.4",
    default_version: "0.0.4",
};

const OPENMETRICS: Offer = Offer {
    kind: "application",
    subtype: "openmetrics-text",
    version: "1.0.0",
    default_version: "0.0.1",
};

/// One element of an `Accept` header.
struct MediaRange {
    kind: String,
    subtype: String,
    version: Option<String>,
    /// Parameters other than `q` (for precedence only).
    params: usize,
    q: f32,
}

impl MediaRange {
    /// `type/subtype *( ";" name=value )`; a lone `*` reads `*/*` (as
    /// goautoneg reads it). A malformed element is ignored, a malformed `q`
    /// reads 0 (goautoneg's reading; RFC 9110: not acceptable).
    fn parse(element: &str) -> Option<MediaRange> {
        let mut parts = element.split(';');
        let range = parts.next()?.trim();
        let (kind, subtype) = match range.split_once('/') {
            Some((t, s)) => (t.trim(), s.trim()),
            None if range == "*" => ("*", "*"),
            None => return None,
        };
        let token = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('/');
        if !token(kind) || !token(subtype) || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut r = MediaRange {
            kind: kind.to_ascii_lowercase(),
            subtype: subtype.to_ascii_lowercase(),
            version: None,
            params: 0,
            q: 1.0,
        };
        for p in parts {
            let Some((name, value)) = p.split_once('=') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if name == "q" {
                r.q = value
                    .parse::<f32>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .map_or(0.0, |q| q.clamp(0.0, 1.0));
            } else {
                if name == "version" {
                    r.version = Some(value.to_string());
                }
                r.params += 1;
            }
        }
        Some(r)
    }

    /// How specifically the range matches `offer` (RFC 9110: `*/*` <
    /// `type/*` < `type/subtype` < with parameters), or `None`.
    fn specificity(&self, offer: &Offer) -> Option<u8> {
        if self.kind == "*" {
            return Some(0);
        }
        if self.kind != offer.kind {
            return None;
        }
        let exact = self.subtype == offer.subtype;
        if !exact && self.subtype != "*" {
            return None;
        }
        let version = match (&self.version, exact) {
            (Some(v), _) => v.as_str(),
            (None, true) => offer.default_version,
            // `text/*` without a version matches no version (as in expfmt).
            (None, false) => return None,
        };
        if version != offer.version {
            return None;
        }
        Some(1 + u8::from(exact) + u8::from(self.params > 0))
    }
}

/// A body of a few buffers sent in order, with its exact length (so the
/// response has a `Content-Length`).
struct Parts {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl Parts {
    fn new(parts: Vec<Bytes>) -> Self {
        let parts: VecDeque<Bytes> = parts.into_iter().filter(|b| !b.is_empty()).collect();
        let remaining = parts.iter().map(|b| b.len() as u64).sum();
        Self { parts, remaining }
    }
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.parts.pop_front().map(|b| {
            this.remaining -= b.len() as u64;
            Ok(Frame::data(b))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus 2.42 (Debian 12), `scrapeAcceptHeader` in scrape/scrape.go.
    const PROM_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// Prometheus 2.42 with native histograms (`scrapeAcceptHeaderWithProtobuf`).
    const PROM_2_PROTO: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// Prometheus 3 defaults (`acceptHeader(DefaultScrapeProtocols, allow-utf-8)`,
    /// as in scrape/scrape_test.go).
    const PROM_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    /// Prometheus 3 with native histograms (`DefaultProtoFirstScrapeProtocols`).
    const PROM_3_PROTO: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    /// Prometheus 3, `scrape_protocols: [PrometheusText0.0.4]`.
    const PROM_3_TEXT: &str = "text/plain;version=0.0.4;q=0.6,*/*;q=0.5";
    /// Prometheus 3, `scrape_protocols: [PrometheusText1.0.0]` (not offered).
    const PROM_3_TEXT_1: &str = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5";

    #[test]
    fn prometheus_gets_openmetrics_unless_it_asks_for_text() {
        for h in [PROM_2, PROM_2_PROTO, PROM_3, PROM_3_PROTO] {
            assert_eq!(negotiate_accept(h), Format::OpenMetrics, "{h}");
        }
        for h in [PROM_3_TEXT, PROM_3_TEXT_1] {
            assert_eq!(negotiate_accept(h), Format::Text, "{h}");
        }
    }

    #[test]
    fn negotiation_cases() {
        use Format::{OpenMetrics as Om, Text};
        for (accept, want) in [
            ("", Text),
            ("*/*", Text),
            ("*", Text),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                Text,
            ),
            ("text/plain", Text),
            ("text/*", Text),
            ("application/openmetrics-text;version=1.0.0", Om),
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Om,
            ),
            ("Application/OpenMetrics-Text; Version=\"1.0.0\"", Om),
            ("application/*;version=1.0.0", Om),
            // No version means 0.0.1, which is not offered.
            ("application/openmetrics-text", Text),
            ("application/openmetrics-text;version=0.0.1", Text),
            ("application/openmetrics-text;version=2.0.0", Text),
            ("application/*", Text),
            // q=0: not acceptable.
            ("application/openmetrics-text;version=1.0.0;q=0", Text),
            (
                "application/openmetrics-text;version=1.0.0;q=0, text/plain",
                Text,
            ),
            (
                "text/plain;q=0, application/openmetrics-text;version=1.0.0;q=0.1",
                Om,
            ),
            ("*/*;q=0.1, text/plain;q=0", Om),
            ("*/*;q=0", Text),
            // The higher quality wins, whatever the order.
            (
                "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.9",
                Om,
            ),
            (
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.9",
                Text,
            ),
            // Equal quality: text.
            (
                "application/openmetrics-text;version=1.0.0,text/plain",
                Text,
            ),
            // Malformed elements are ignored; a malformed q reads 0.
            (";;,foo,/,*/plain,text/ plain", Text),
            ("application/openmetrics-text;version=1.0.0;q=abc", Text),
            ("application/openmetrics-text;version=1.0.0;q=7", Om),
            ("application/json", Text),
        ] {
            assert_eq!(negotiate_accept(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn several_accept_headers_are_one_list() {
        let mut h = HeaderMap::new();
        h.append(header::ACCEPT, "text/plain;q=0.2".parse().unwrap());
        h.append(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h), Format::OpenMetrics);
        assert_eq!(negotiate(&HeaderMap::new()), Format::Text);
    }

    #[test]
    fn gzip_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn parts_report_their_exact_length() {
        use http_body::Body as _;
        let p = Parts::new(vec![
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"de"),
        ]);
        assert_eq!(p.size_hint().exact(), Some(5));
        assert_eq!(p.parts.len(), 2, "empty parts are dropped");
        assert!(Parts::new(vec![Bytes::new()]).is_end_stream());
    }
}
