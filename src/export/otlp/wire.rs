//! The OTLP metrics request (`ExportMetricsServiceRequest`, protobuf)
//! encoded once per snapshot, re-sent every export interval with only its
//! timestamps rewritten in place.
//!
//! Why not the SDK's metrics pipeline: at 220k series it spent 1.0-1.2 s of
//! CPU per export, this 19-37 ms (see "OTLP output CPU (issue 12)" in
//! `bench/RESULTS.md`): the observable callbacks, the SDK's aggregation
//! (hashing and sorting each point's attributes into its value map every
//! collection), the conversion of every attribute into owned proto
//! `String`s and the protobuf encode of tens of MB, all repeated every
//! interval for data that only changes once per refresh. The SDK has no
//! stable API to hand it pre-aggregated, pre-encoded data (its
//! `MetricProducer` is `experimental_*` in 0.33 and its data types cannot be
//! built outside the crate), so the request is written here: the schema is
//! OTLP's stable v1 protobuf (`opentelemetry/proto/metrics/v1`, the field
//! numbers noted below), checked by tests that decode it with
//! `opentelemetry-proto`. Every timestamp is a `fixed64`, so rewriting it
//! does not move a byte; the encoder records where each one is.
//!
//! What a request holds is what the SDK sent: one `ResourceMetrics` (the
//! resource), one `ScopeMetrics` (scope `asc-perf-exporter` and the
//! exporter's version), one `Metric` per family with at least one series
//! (split over several requests of a bounded size when the snapshot is
//! larger: a Collector refuses a gRPC message over 4 MiB by default)
//! (name, description, unit; a `Gauge`, or a cumulative monotonic `Sum` for
//! counters), one `NumberDataPoint` per series (attributes, `as_double`).
//! Gauges carry the previous export's time as `start_time_unix_nano` (the
//! SDK's delta-aggregated observable gauge does the same), sums the
//! output's start time; `time_unix_nano` is the export's time.

use bytes::Bytes;
use opentelemetry::Value;

use crate::export::model::{Families, Family, Kind, Series};

use super::metrics::{instrument_key, otel_name};

/// The times one export stamps into the request, in Unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub previous_export: u64,
    pub output_start: u64,
    pub now: u64,
}

/// An encoded request and where its timestamps are.
#[derive(Debug, Default)]
pub struct MetricsRequest {
    bytes: Vec<u8>,
    /// The bytes while lent to a transport (`bytes` is empty then).
    lent: Option<Bytes>,
    /// Where each data point's `start_time_unix_nano` is (its 8 bytes;
    /// `time_unix_nano` follows after a tag byte), gauges and sums apart
    /// as they take different start times. One slot a point, so a stamp
    /// touches each point's cache line once.
    gauge_points: Vec<u32>,
    sum_points: Vec<u32>,
    /// Metrics and data points in the request.
    pub metrics: usize,
    pub points: usize,
}

impl MetricsRequest {
    /// The request's bytes (as last stamped).
    pub fn bytes(&self) -> &[u8] {
        self.lent.as_deref().unwrap_or(&self.bytes)
    }

    /// Stamps the request for one export and lends its bytes to a
    /// transport without a copy. They come back at the next call: without
    /// a copy unless the transport still holds them then (h2 keeps the
    /// last frame it wrote until it writes the next one, which by the
    /// next export it has).
    pub fn stamped(&mut self, s: Stamp) -> Bytes {
        if let Some(b) = self.lent.take() {
            self.bytes = match b.try_into_mut() {
                Ok(b) => b.into(),
                Err(b) => b.to_vec(),
            };
        }
        self.stamp(s);
        let b = Bytes::from(std::mem::take(&mut self.bytes));
        self.lent = Some(b.clone());
        b
    }

    /// Rewrites every timestamp for one export.
    fn stamp(&mut self, s: Stamp) {
        let now = s.now.to_le_bytes();
        for (slots, start) in [
            (&self.gauge_points, s.previous_export),
            (&self.sum_points, s.output_start),
        ] {
            let start = start.to_le_bytes();
            for &at in slots {
                let at = at as usize;
                let point = &mut self.bytes[at..at + TIMES];
                point[..8].copy_from_slice(&start);
                point[9..].copy_from_slice(&now);
            }
        }
    }

    /// Encodes the families (renamed and deduplicated as
    /// [`otel_families_of`](super::otel_families_of) does: a later family
    /// with the same instrument key replaces an earlier one), under the
    /// resource and scope, into requests of at most about `max_bytes` each
    /// (a family larger than that is spread over several requests, as an
    /// SDK batching by size would). Timestamps are zero until
    /// [`Self::stamp`].
    pub fn encode_split(
        set: &Families,
        resource: &[(&str, &Value)],
        scope_name: &str,
        scope_version: &str,
        max_bytes: usize,
    ) -> Vec<Self> {
        // The families in instrument-key order, the last of a key kept.
        let mut by_key = std::collections::BTreeMap::new();
        for f in &set.families {
            if f.series.is_empty() {
                continue;
            }
            let monotonic = f.kind == Kind::Counter;
            let name = otel_name(&f.name, monotonic, &f.unit);
            by_key.insert(instrument_key(&name, &f.unit.ucum, monotonic), (name, f));
        }
        let kv = |n, v| kv_len(set.strings.get(n).len(), set.strings.get(v).len());
        let point_len = |f: &Family, s: &Series| {
            let attrs: usize = f
                .labels_of(s)
                .iter()
                .map(|&(n, v)| len_field(kv(n, v)))
                .sum();
            len_field(POINT_FIXED + attrs)
        };
        // Plan the pieces by size (a few bytes of each length prefix are
        // estimated: the budget keeps a margin for them).
        let header = resource
            .iter()
            .map(|(k, v)| len_field(any_kv_len(k, v)))
            .sum::<usize>()
            + len_field(scope_len(scope_name, scope_version))
            + 32;
        let mut requests: Vec<Vec<Piece<'_>>> = Vec::new();
        let mut current: Vec<Piece<'_>> = Vec::new();
        let mut size = header;
        for (name, f) in by_key.values() {
            let meta = str_field(name.len())
                + str_field(f.help.len())
                + str_field(f.unit.ucum.len())
                + SUM_TRAILER
                + 16;
            let mut from = 0;
            size += meta;
            for (i, s) in f.series.iter().enumerate() {
                let p = point_len(f, s);
                if size + p > max_bytes && (i > from || !current.is_empty()) {
                    if i > from {
                        current.push(Piece {
                            name,
                            family: f,
                            from,
                            to: i,
                        });
                    }
                    requests.push(std::mem::take(&mut current));
                    from = i;
                    size = header + meta;
                }
                size += p;
            }
            current.push(Piece {
                name,
                family: f,
                from,
                to: f.series.len(),
            });
        }
        if !current.is_empty() {
            requests.push(current);
        }
        requests
            .iter()
            .map(|pieces| Self::encode_pieces(set, pieces, resource, scope_name, scope_version))
            .collect()
    }

    /// [`Self::encode_split`] without a size limit: one request.
    pub fn encode(
        set: &Families,
        resource: &[(&str, &Value)],
        scope_name: &str,
        scope_version: &str,
    ) -> Self {
        let mut all = Self::encode_split(set, resource, scope_name, scope_version, usize::MAX);
        match all.len() {
            0 => Self::encode_pieces(set, &[], resource, scope_name, scope_version),
            _ => all.swap_remove(0),
        }
    }

    fn encode_pieces(
        set: &Families,
        pieces: &[Piece<'_>],
        resource: &[(&str, &Value)],
        scope_name: &str,
        scope_version: &str,
    ) -> Self {
        // Lengths first (protobuf prefixes every message with its length).
        let kv = |n, v| kv_len(set.strings.get(n).len(), set.strings.get(v).len());
        let mut metric_lens = Vec::with_capacity(pieces.len());
        let mut points = 0usize;
        let mut scope_metrics_len = len_field(scope_len(scope_name, scope_version));
        for piece in pieces {
            let (name, f, series) = (piece.name, piece.family, piece.series());
            let mut data = 0usize;
            for s in series {
                let attrs: usize = f
                    .labels_of(s)
                    .iter()
                    .map(|&(n, v)| len_field(kv(n, v)))
                    .sum();
                data += len_field(POINT_FIXED + attrs);
            }
            points += series.len();
            if f.kind == Kind::Counter {
                data += SUM_TRAILER;
            }
            let m = str_field(name.len())
                + str_field(f.help.len())
                + if f.unit.ucum.is_empty() {
                    0
                } else {
                    str_field(f.unit.ucum.len())
                }
                + len_field(data);
            metric_lens.push((m, data));
            scope_metrics_len += len_field(m);
        }
        let resource_len: usize = resource
            .iter()
            .map(|(k, v)| len_field(any_kv_len(k, v)))
            .sum();
        let resource_metrics_len = len_field(resource_len) + len_field(scope_metrics_len);
        let total = len_field(resource_metrics_len);
        assert!(
            total <= u32::MAX as usize,
            "an OTLP request of {total} bytes does not fit the 4 GiB the offsets address"
        );

        let mut out = MetricsRequest {
            bytes: Vec::with_capacity(total),
            lent: None,
            gauge_points: Vec::with_capacity(points),
            sum_points: Vec::new(),
            metrics: pieces.len(),
            points,
        };
        let b = &mut out.bytes;
        // ExportMetricsServiceRequest.resource_metrics = 1
        put_len(b, 1, resource_metrics_len);
        // ResourceMetrics.resource = 1 { Resource.attributes = 1 }
        put_len(b, 1, resource_len);
        for (k, v) in resource {
            put_len(b, 1, any_kv_len(k, v));
            put_any_kv(b, k, v);
        }
        // ResourceMetrics.scope_metrics = 2
        put_len(b, 2, scope_metrics_len);
        // ScopeMetrics.scope = 1 { InstrumentationScope.name = 1, version = 2 }
        put_len(b, 1, scope_len(scope_name, scope_version));
        put_str(b, 1, scope_name);
        if !scope_version.is_empty() {
            put_str(b, 2, scope_version);
        }
        for (piece, (metric_len, data_len)) in pieces.iter().zip(metric_lens) {
            let (name, f) = (piece.name, piece.family);
            // ScopeMetrics.metrics = 2 { Metric.name = 1, description = 2, unit = 3 }
            put_len(b, 2, metric_len);
            put_str(b, 1, name);
            put_str(b, 2, &f.help);
            if !f.unit.ucum.is_empty() {
                put_str(b, 3, &f.unit.ucum);
            }
            let counter = f.kind == Kind::Counter;
            // Metric.gauge = 5 | Metric.sum = 7
            put_len(b, if counter { 7 } else { 5 }, data_len);
            for s in piece.series() {
                let attrs: usize = f
                    .labels_of(s)
                    .iter()
                    .map(|&(n, v)| len_field(kv(n, v)))
                    .sum();
                // Gauge.data_points = 1 | Sum.data_points = 1
                put_len(b, 1, POINT_FIXED + attrs);
                // NumberDataPoint.start_time_unix_nano = 2, time_unix_nano = 3 (fixed64)
                b.push(tag(2, FIXED64));
                let at = b.len() as u32;
                b.extend_from_slice(&[0; 8]);
                b.push(tag(3, FIXED64));
                b.extend_from_slice(&[0; 8]);
                match counter {
                    true => out.sum_points.push(at),
                    false => out.gauge_points.push(at),
                }
                // NumberDataPoint.as_double = 4 (double)
                b.push(tag(4, FIXED64));
                b.extend_from_slice(&s.value.to_le_bytes());
                // NumberDataPoint.attributes = 7 { KeyValue.key = 1, value = 2 { AnyValue.string_value = 1 } }
                for &(n, v) in f.labels_of(s).iter() {
                    let (n, v) = (set.strings.get(n), set.strings.get(v));
                    put_len(b, 7, kv_len(n.len(), v.len()));
                    put_str(b, 1, n);
                    put_len(b, 2, len_field(v.len()));
                    put_any_str(b, v);
                }
            }
            if counter {
                // Sum.aggregation_temporality = 2 (CUMULATIVE = 2), is_monotonic = 3 (true)
                b.extend_from_slice(&[tag(2, VARINT), 2, tag(3, VARINT), 1]);
            }
        }
        debug_assert_eq!(b.len(), total, "encoded length matches the computed one");
        out
    }
}

/// Part of a family's series, in one request.
struct Piece<'a> {
    name: &'a str,
    family: &'a Family,
    from: usize,
    to: usize,
}

impl Piece<'_> {
    fn series(&self) -> &[Series] {
        &self.family.series[self.from..self.to]
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// Tag, start time, time and value of a data point: three fixed64 fields.
const POINT_FIXED: usize = 3 * 9;
/// A point's start time, the time's tag and the time: what a stamp writes.
const TIMES: usize = 8 + 1 + 8;
/// `aggregation_temporality` and `is_monotonic` of a Sum.
const SUM_TRAILER: usize = 4;

fn tag(field: u8, wire: u8) -> u8 {
    // Every field number here is below 16: one byte.
    (field << 3) | wire
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// A length-delimited field of `payload` bytes, with its tag and length.
fn len_field(payload: usize) -> usize {
    1 + varint_len(payload as u64) + payload
}

/// A string field, left out when empty (proto3's default).
fn str_field(len: usize) -> usize {
    if len == 0 { 0 } else { len_field(len) }
}

fn put_len(b: &mut Vec<u8>, field: u8, len: usize) {
    b.push(tag(field, LEN));
    put_varint(b, len as u64);
}

fn put_str(b: &mut Vec<u8>, field: u8, s: &str) {
    if !s.is_empty() {
        put_len(b, field, s.len());
        b.extend_from_slice(s.as_bytes());
    }
}

/// A `KeyValue` with a string value: its payload length. The value is a
/// `oneof` member, so it is written even when empty.
fn kv_len(key: usize, value: usize) -> usize {
    str_field(key) + len_field(len_field(value))
}

/// `AnyValue.string_value = 1`, written even when empty (a `oneof`).
fn put_any_str(b: &mut Vec<u8>, s: &str) {
    put_len(b, 1, s.len());
    b.extend_from_slice(s.as_bytes());
}

fn scope_len(name: &str, version: &str) -> usize {
    str_field(name.len()) + str_field(version.len())
}

/// A resource attribute's `AnyValue` payload.
enum Any<'a> {
    Str(std::borrow::Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
}

fn any(v: &Value) -> Any<'_> {
    match v {
        Value::Bool(b) => Any::Bool(*b),
        Value::I64(i) => Any::Int(*i),
        Value::F64(f) => Any::Double(*f),
        Value::String(s) => Any::Str(std::borrow::Cow::Borrowed(s.as_str())),
        // Arrays (not produced by the exporter's resource) as their text.
        other => Any::Str(std::borrow::Cow::Owned(other.to_string())),
    }
}

fn any_len(v: &Any<'_>) -> usize {
    match v {
        Any::Str(s) => len_field(s.len()),
        Any::Bool(_) => 2,
        Any::Int(i) => 1 + varint_len(*i as u64),
        Any::Double(_) => 9,
    }
}

fn any_kv_len(k: &str, v: &Value) -> usize {
    str_field(k.len()) + len_field(any_len(&any(v)))
}

fn put_any_kv(b: &mut Vec<u8>, k: &str, v: &Value) {
    let v = any(v);
    put_str(b, 1, k);
    put_len(b, 2, any_len(&v));
    match v {
        // AnyValue.string_value = 1, bool_value = 2, int_value = 3, double_value = 4
        Any::Str(s) => put_any_str(b, &s),
        Any::Bool(x) => b.extend_from_slice(&[tag(2, VARINT), x as u8]),
        Any::Int(i) => {
            b.push(tag(3, VARINT));
            put_varint(b, i as u64);
        }
        Any::Double(d) => {
            b.push(tag(4, FIXED64));
            b.extend_from_slice(&d.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::model::Strings;
    use crate::export::units::{UnitMapping, unit_mapping};
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
    use prost::Message;

    fn families() -> Families {
        let mut strings = Strings::default();
        let mut labels = |pairs: &[(&str, &str)]| -> Vec<(u32, u32)> {
            pairs
                .iter()
                .map(|(n, v)| (strings.intern(n), strings.intern(v)))
                .collect()
        };
        let mut gauge = Family::new(
            "asc_launch_time_seconds",
            "Launch time.",
            Kind::Gauge,
            unit_mapping("milliseconds", "ms"),
        );
        gauge.push(&labels(&[("app", "Ä app"), ("percentile", "p50")]), 0.7687);
        // An empty value is still a string attribute; a long one takes a
        // two-byte length.
        gauge.push(
            &labels(&[("app", ""), ("percentile", &"x".repeat(300))]),
            -1.5,
        );
        let mut counter = Family::new(
            "asc_api_requests_total",
            String::new(),
            Kind::Counter,
            UnitMapping {
                suffix: String::new(),
                factor: 1.0,
                ucum: "{request}".into(),
            },
        );
        counter.push(&labels(&[("route", "apps")]), 42.0);
        let empty = Family::new(
            "asc_nothing",
            "No series.",
            Kind::Gauge,
            UnitMapping::none(),
        );
        let mut f = Families::with_strings(strings);
        f.families = vec![gauge, counter, empty];
        f
    }

    #[test]
    fn the_request_decodes_as_otlp_and_timestamps_are_rewritten() {
        let set = families();
        let name = Value::from("svc");
        let n = Value::I64(-3);
        let flag = Value::Bool(true);
        let resource = [("service.name", &name), ("n", &n), ("flag", &flag)];
        let mut r = MetricsRequest::encode(&set, &resource, "scope", "1.2.3");
        assert_eq!((r.metrics, r.points), (2, 3));
        for (prev, start, now) in [(1u64, 2u64, 3u64), (u64::MAX - 1, 7, u64::MAX)] {
            let body = r.stamped(Stamp {
                previous_export: prev,
                output_start: start,
                now,
            });
            let req = ExportMetricsServiceRequest::decode(body).expect("valid protobuf");
            assert_eq!(req.resource_metrics.len(), 1);
            let rm = &req.resource_metrics[0];
            let res = &rm.resource.as_ref().unwrap().attributes;
            let got: Vec<_> = res
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_ref().unwrap().value.clone()))
                .collect();
            assert_eq!(
                got,
                [
                    (
                        "service.name",
                        Some(any_value::Value::StringValue("svc".into()))
                    ),
                    ("n", Some(any_value::Value::IntValue(-3))),
                    ("flag", Some(any_value::Value::BoolValue(true))),
                ]
            );
            let sm = &rm.scope_metrics[0];
            let scope = sm.scope.as_ref().unwrap();
            assert_eq!(
                (scope.name.as_str(), scope.version.as_str()),
                ("scope", "1.2.3")
            );
            assert_eq!(sm.metrics.len(), 2, "the empty family is left out");
            let by_name = |n: &str| sm.metrics.iter().find(|m| m.name == n).unwrap();

            let m = by_name("asc_launch_time");
            assert_eq!(
                (m.unit.as_str(), m.description.as_str()),
                ("s", "Launch time.")
            );
            let Some(metric::Data::Gauge(g)) = &m.data else {
                panic!("not a gauge: {m:?}")
            };
            assert_eq!(g.data_points.len(), 2);
            for (p, (want_attrs, want)) in g.data_points.iter().zip([
                (vec![("app", "Ä app"), ("percentile", "p50")], 0.7687),
                (vec![("app", ""), ("percentile", &*"x".repeat(300))], -1.5),
            ]) {
                let attrs: Vec<_> = p
                    .attributes
                    .iter()
                    .map(|kv| match &kv.value.as_ref().unwrap().value {
                        Some(any_value::Value::StringValue(s)) => (kv.key.as_str(), s.as_str()),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(attrs, want_attrs);
                assert_eq!(p.value, Some(number_data_point::Value::AsDouble(want)));
                assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (prev, now));
            }

            let m = by_name("asc_api_requests");
            assert_eq!(m.unit, "{request}");
            let Some(metric::Data::Sum(s)) = &m.data else {
                panic!("not a sum: {m:?}")
            };
            assert!(s.is_monotonic);
            assert_eq!(s.aggregation_temporality, 2, "cumulative");
            let p = &s.data_points[0];
            assert_eq!(p.value, Some(number_data_point::Value::AsDouble(42.0)));
            assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (start, now));
        }
    }

    #[test]
    fn split_requests_hold_every_point_once_within_the_limit() {
        let mut strings = Strings::default();
        let labels: Vec<(u32, u32)> = (0..1000)
            .map(|i| (strings.intern("k"), strings.intern(&format!("v{i:04}"))))
            .collect();
        let family = |name: &str, kind| {
            let mut f = Family::new(name, "h", kind, UnitMapping::none());
            for (i, l) in labels.iter().enumerate() {
                f.push(&[*l], i as f64);
            }
            f
        };
        let mut set = Families::with_strings(strings);
        set.families = vec![family("a", Kind::Gauge), family("b_total", Kind::Counter)];
        let one = MetricsRequest::encode(&set, &[], "s", "v");
        let parts = MetricsRequest::encode_split(&set, &[], "s", "v", 4096);
        assert!(parts.len() > 10, "{} parts", parts.len());
        let mut seen = Vec::new();
        for p in &parts {
            assert!(p.bytes().len() <= 4096, "{} bytes", p.bytes().len());
            let req = ExportMetricsServiceRequest::decode(p.bytes()).unwrap();
            for m in &req.resource_metrics[0].scope_metrics[0].metrics {
                let pts = match &m.data {
                    Some(metric::Data::Gauge(g)) => &g.data_points,
                    Some(metric::Data::Sum(s)) => {
                        assert!(s.is_monotonic && s.aggregation_temporality == 2);
                        &s.data_points
                    }
                    other => panic!("{other:?}"),
                };
                for p in pts {
                    seen.push((m.name.clone(), p.value));
                }
            }
        }
        let whole = ExportMetricsServiceRequest::decode(one.bytes()).unwrap();
        let mut want = Vec::new();
        for m in &whole.resource_metrics[0].scope_metrics[0].metrics {
            let pts = match &m.data {
                Some(metric::Data::Gauge(g)) => &g.data_points,
                Some(metric::Data::Sum(s)) => &s.data_points,
                other => panic!("{other:?}"),
            };
            for p in pts {
                want.push((m.name.clone(), p.value));
            }
        }
        assert_eq!(want.len(), 2000);
        assert_eq!(seen, want, "every point once, in order");
        assert_eq!(parts.iter().map(|p| p.points).sum::<usize>(), 2000);
    }

    #[test]
    fn lent_bytes_come_back_without_a_copy_unless_still_held() {
        let mut r = MetricsRequest::encode(&families(), &[], "s", "");
        let stamp = |now| Stamp {
            previous_export: 1,
            output_start: 2,
            now,
        };
        let first = r.stamped(stamp(10));
        assert_eq!(r.bytes(), &first[..]);
        let at = first.as_ptr();
        drop(first);
        // Released: the same allocation, restamped in place.
        let second = r.stamped(stamp(20));
        assert_eq!(second.as_ptr(), at);
        // Still held (a transport has not let go): copied, and the held
        // bytes keep their timestamps.
        let held = second.clone();
        let third = r.stamped(stamp(30));
        assert_ne!(third.as_ptr(), held.as_ptr());
        assert_ne!(held, third);
        let times = |b: &[u8]| {
            let req = ExportMetricsServiceRequest::decode(b).unwrap();
            let m = &req.resource_metrics[0].scope_metrics[0].metrics[0];
            match &m.data {
                Some(metric::Data::Gauge(g)) => g.data_points[0].time_unix_nano,
                Some(metric::Data::Sum(s)) => s.data_points[0].time_unix_nano,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!((times(&held), times(&third)), (20, 30));
        assert_eq!(r.bytes(), &third[..]);
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }
}
