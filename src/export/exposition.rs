//! What `/metrics` serves: one snapshot's exposition in both formats, the
//! text format 0.0.4 and OpenMetrics 1.0.0, each with a gzip copy, encoded
//! once per refresh ([`Exposition::encode`]); and the body of one scrape,
//! which puts the part read at scrape time (the process metrics) after the
//! cached families without copying or compressing them again
//! ([`Exposition::body`]).

use ::prometheus::TextEncoder;
use ::prometheus::proto::MetricFamily;
use bytes::Bytes;
use flate2::Compression;

use super::gzip::{self, Resume};
use super::openmetrics::{self, Kind};

/// The `Content-Type` of the text format 0.0.4, exactly as Prometheus
/// (expfmt's `FmtText`) writes it.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => openmetrics::CONTENT_TYPE,
        }
    }
}

/// One family to encode, with its OpenMetrics type and unit suffix
/// (`seconds`, `bytes`, ...; `""` for none).
#[derive(Debug, Clone)]
pub struct Encodable {
    pub family: MetricFamily,
    pub kind: Kind,
    pub unit: String,
}

/// One encoded exposition. Encoded once per refresh; cloning the buffers is
/// cheap. [`Exposition::body`] builds a scrape's body from them.
///
/// The two formats share their sample lines: OpenMetrics writes a family's
/// samples exactly as the text format does (see
/// [`openmetrics::shares_text_samples`]), so its buffers are its own metadata
/// lines interleaved with slices of `text`. Uncompressed OpenMetrics costs a
/// few kilobytes on top of `text`, not a second copy of every series.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// The text format 0.0.4 (UTF-8, [`TEXT_CONTENT_TYPE`]).
    pub text: Bytes,
    /// `text`, gzip-compressed, for clients sending `Accept-Encoding: gzip`.
    /// Empty only if compression failed, which an in-memory sink cannot do;
    /// serve `text` then.
    pub gzip: Bytes,
    /// OpenMetrics 1.0.0 ([`openmetrics::CONTENT_TYPE`]) as buffers to send
    /// in order, the last one `# EOF`: metadata lines (its own) and sample
    /// lines (slices of `text`, not copies).
    pub openmetrics: Vec<Bytes>,
    /// The OpenMetrics exposition, gzip-compressed (empty as `gzip` is).
    pub openmetrics_gzip: Bytes,
    /// Number of metric families (the same in both formats).
    pub families: usize,
    /// Number of series (sample lines; the same in both formats).
    pub series: usize,
    /// Whether a scrape adds the exporter's process metrics after the cached
    /// families (off with `web.disable_exporter_metrics`). Set by the
    /// Prometheus output; `false` as encoded.
    pub process_metrics: bool,
    text_resume: Option<Resume>,
    openmetrics_resume: Option<Resume>,
}

/// Compression of the cached buffers (once per refresh).
const LEVEL: Compression = Compression::new(6);
/// Compression of a scrape's own part (a few hundred bytes).
const SCRAPE_LEVEL: Compression = Compression::new(1);

impl Exposition {
    /// Encodes `families` in both formats and compresses each (the two
    /// compressions run on two threads).
    pub fn encode(families: &[Encodable]) -> Exposition {
        let text = encode_text(families);
        let om = openmetrics_parts(families, &text);
        let (text_gz, om_gz) = std::thread::scope(|s| {
            let om_gz = std::thread::Builder::new()
                .name("gzip-openmetrics".into())
                .spawn_scoped(s, || {
                    compress(&om.body_parts(), openmetrics::EOF.as_bytes())
                });
            let text_gz = compress(&[&text.bytes[..]], b"");
            let om_gz = match om_gz {
                Ok(handle) => handle.join().ok(),
                Err(_) => None,
            }
            .unwrap_or_else(|| compress(&om.body_parts(), openmetrics::EOF.as_bytes()));
            (text_gz, om_gz)
        });
        if om.series != text.series {
            tracing::warn!(
                text = text.series,
                openmetrics = om.series,
                "the two formats have different numbers of series"
            );
        }
        Exposition {
            text: text.bytes,
            gzip: text_gz.0,
            openmetrics: om.parts,
            openmetrics_gzip: om_gz.0,
            families: text.families,
            series: text.series,
            process_metrics: false,
            text_resume: text_gz.1,
            openmetrics_resume: om_gz.1,
        }
    }

    /// The length of the OpenMetrics exposition.
    pub fn openmetrics_len(&self) -> usize {
        self.openmetrics.iter().map(Bytes::len).sum()
    }

    /// The OpenMetrics exposition in one buffer (a copy, for tests and tools).
    pub fn openmetrics_bytes(&self) -> Vec<u8> {
        self.openmetrics.concat()
    }

    /// Bytes this exposition holds: the text, the two gzip copies and
    /// OpenMetrics' own metadata (its sample lines are the text's).
    pub fn heap_bytes(&self) -> usize {
        let text = self.text.as_ptr_range();
        let own: usize = self
            .openmetrics
            .iter()
            .filter(|b| !text.contains(&b.as_ptr()))
            .map(Bytes::len)
            .sum();
        self.text.len() + self.gzip.len() + self.openmetrics_gzip.len() + own
    }

    /// The body of a scrape in `format` with `extra` (already encoded in
    /// that format; OpenMetrics without `# EOF`) after the cached families:
    /// buffers to send in order, sharing the cached ones (not copied), and
    /// whether they are gzip-compressed (asked for with `gzip`, and possible:
    /// false only if compression failed).
    pub fn body(&self, format: Format, gzip: bool, extra: &[u8]) -> (Vec<Bytes>, bool) {
        let (compressed, resume, tail): (&Bytes, Option<&Resume>, &[u8]) = match format {
            Format::Text => (&self.gzip, self.text_resume.as_ref(), b""),
            Format::OpenMetrics => (
                &self.openmetrics_gzip,
                self.openmetrics_resume.as_ref(),
                openmetrics::EOF.as_bytes(),
            ),
        };
        if gzip && !compressed.is_empty() {
            if extra.is_empty() {
                return (vec![compressed.clone()], true);
            }
            if let Some((prefix, end)) =
                resume.and_then(|r| gzip::continue_with(compressed, r, extra, tail, SCRAPE_LEVEL))
            {
                return (vec![prefix, end], true);
            }
        }
        let mut parts = match format {
            Format::Text => vec![self.text.clone()],
            Format::OpenMetrics => self.openmetrics.clone(),
        };
        if !extra.is_empty() {
            if format == Format::OpenMetrics && parts.last().is_some_and(|b| b[..] == *tail) {
                parts.pop();
            }
            let mut end = Vec::with_capacity(extra.len() + tail.len());
            end.extend_from_slice(extra);
            end.extend_from_slice(tail);
            parts.push(Bytes::from(end));
        }
        (parts, false)
    }
}

/// The text format, and where each family's sample lines are in it.
struct Text {
    bytes: Bytes,
    /// Per family of `families` (`None`: not encoded): the byte range of
    /// its sample lines.
    samples: Vec<Option<std::ops::Range<usize>>>,
    families: usize,
    series: usize,
}

fn encode_text(families: &[Encodable]) -> Text {
    let encoder = TextEncoder::new();
    let mut text = String::with_capacity(families.len() * 512);
    let mut samples = Vec::with_capacity(families.len());
    let (mut written, mut series) = (0, 0);
    for f in families {
        let start = text.len();
        // Writing to a String cannot fail; the encoder only rejects empty or
        // unnamed families, which the builder never yields.
        match encoder.encode_utf8(std::slice::from_ref(&f.family), &mut text) {
            Ok(()) => {
                written += 1;
                series += f.family.get_metric().len();
                // The metadata lines (`# HELP`, `# TYPE`) come first; no
                // sample line starts with `#`.
                let mut at = start;
                while text[at..].starts_with('#') {
                    at += text[at..].find('\n').map_or(text.len() - at, |i| i + 1);
                }
                samples.push(Some(at..text.len()));
            }
            Err(e) => {
                text.truncate(start);
                samples.push(None);
                tracing::warn!(family = f.family.name(), error = %e, "family not encoded");
            }
        }
    }
    text.shrink_to_fit();
    Text {
        bytes: Bytes::from(text),
        samples,
        families: written,
        series,
    }
}

/// The OpenMetrics exposition as parts: its own lines and the text's
/// sample lines.
struct OpenMetricsParts {
    parts: Vec<Bytes>,
    series: usize,
}

impl OpenMetricsParts {
    /// The parts before `# EOF`.
    fn body_parts(&self) -> Vec<&[u8]> {
        let n = self.parts.len().saturating_sub(1);
        self.parts[..n].iter().map(|b| &b[..]).collect()
    }
}

fn openmetrics_parts(families: &[Encodable], text: &Text) -> OpenMetricsParts {
    enum Piece {
        Own(std::ops::Range<usize>),
        Text(std::ops::Range<usize>),
    }
    let mut own = String::with_capacity(families.len() * 256);
    let mut pieces = Vec::with_capacity(families.len() * 2 + 1);
    let mut series = 0;
    for (f, samples) in families.iter().zip(&text.samples) {
        // A family the text format left out is left out here too.
        let Some(samples) = samples else { continue };
        let start = own.len();
        if openmetrics::shares_text_samples(&f.family, f.kind) {
            if openmetrics::write_metadata(&mut own, &f.family, f.kind, &f.unit) {
                pieces.push(Piece::Own(start..own.len()));
                pieces.push(Piece::Text(samples.clone()));
                series += f.family.get_metric().len();
            }
        } else {
            series += openmetrics::write_family(&mut own, &f.family, f.kind, &f.unit);
            pieces.push(Piece::Own(start..own.len()));
        }
    }
    let start = own.len();
    own.push_str(openmetrics::EOF);
    pieces.push(Piece::Own(start..own.len()));
    own.shrink_to_fit();
    let own = Bytes::from(own);
    let parts = pieces
        .into_iter()
        .map(|p| match p {
            Piece::Own(r) => own.slice(r),
            Piece::Text(r) => text.bytes.slice(r),
        })
        .filter(|b| !b.is_empty())
        .collect();
    OpenMetricsParts { parts, series }
}

fn compress(body: &[&[u8]], tail: &[u8]) -> (Bytes, Option<Resume>) {
    match gzip::member(body, tail, LEVEL) {
        Some((bytes, resume)) => (Bytes::from(bytes), Some(resume)),
        None => {
            tracing::warn!("gzip of the exposition failed; serving it uncompressed");
            (Bytes::new(), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use ::prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricType};

    use super::*;

    fn family(name: &str, t: MetricType, value: f64, timestamp_ms: i64) -> MetricFamily {
        let mut lp = LabelPair::default();
        lp.set_name("app".into());
        lp.set_value("Odd \"q\" b\\s\nn".into());
        let mut m = Metric::from_label(vec![lp]);
        if t == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        if timestamp_ms != 0 {
            m.set_timestamp_ms(timestamp_ms);
        }
        let mut mf = MetricFamily::default();
        mf.set_name(name.into());
        mf.set_help(format!("Help of {name}."));
        mf.set_field_type(t);
        mf.set_metric(vec![m]);
        mf
    }

    fn encodable(mf: MetricFamily, kind: Kind, unit: &str) -> Encodable {
        Encodable {
            family: mf,
            kind,
            unit: unit.into(),
        }
    }

    fn exposition() -> Exposition {
        Exposition::encode(&[
            encodable(
                family("a_total", MetricType::COUNTER, 5.0, 0),
                Kind::Counter,
                "",
            ),
            encodable(family("b_info", MetricType::GAUGE, 1.0, 0), Kind::Info, ""),
            encodable(
                family("c_seconds", MetricType::GAUGE, 0.7687, 0),
                Kind::Gauge,
                "seconds",
            ),
            // A timestamp: written by the OpenMetrics writer (in seconds).
            encodable(family("d", MetricType::GAUGE, 2.0, 1500), Kind::Gauge, ""),
        ])
    }

    fn gunzip(parts: &[Bytes]) -> Vec<u8> {
        let all = parts.concat();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&all[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn openmetrics_shares_the_text_sample_lines() {
        let e = exposition();
        assert_eq!((e.families, e.series), (4, 4));
        let om = String::from_utf8(e.openmetrics_bytes()).unwrap();
        assert_eq!(
            om,
            "# TYPE a counter\n# HELP a Help of a_total.\n\
             a_total{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 5\n\
             # TYPE b info\n# HELP b Help of b_info.\n\
             b_info{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 1\n\
             # TYPE c_seconds gauge\n# UNIT c_seconds seconds\n# HELP c_seconds Help of c_seconds.\n\
             c_seconds{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 0.7687\n\
             # TYPE d gauge\n# HELP d Help of d.\n\
             d{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 2 1.5\n\
             # EOF\n"
        );
        // The sample lines of a, b and c are slices of the text buffer.
        let text = e.text.as_ptr_range();
        let shared: Vec<&[u8]> = e
            .openmetrics
            .iter()
            .filter(|b| text.contains(&b.as_ptr()))
            .map(|b| &b[..])
            .collect();
        assert_eq!(shared.len(), 3);
        assert!(shared.iter().all(|s| s.starts_with(b"a_total{")
            || s.starts_with(b"b_info{")
            || s.starts_with(b"c_seconds{")));
        // Text: the d sample keeps its millisecond timestamp.
        let text = std::str::from_utf8(&e.text).unwrap();
        assert!(text.contains("} 2 1500\n"), "{text}");
        assert_eq!(
            gunzip(std::slice::from_ref(&e.openmetrics_gzip)),
            om.as_bytes()
        );
        assert_eq!(gunzip(std::slice::from_ref(&e.gzip)), text.as_bytes());
    }

    #[test]
    fn a_scrape_puts_its_part_before_the_end() {
        let e = exposition();
        let extra = b"process_open_fds 9\n";
        let om = e.openmetrics_bytes();
        let om_with = [&om[..om.len() - 6], extra, b"# EOF\n"].concat();
        let text_with = [&e.text[..], extra].concat();
        for (format, want) in [(Format::Text, &text_with), (Format::OpenMetrics, &om_with)] {
            let (plain, gz) = e.body(format, false, extra);
            assert!(!gz);
            assert_eq!(&plain.concat(), want, "{format:?}");
            let (parts, gz) = e.body(format, true, extra);
            assert!(gz);
            assert_eq!(parts.len(), 2, "the cached prefix and a new end");
            assert_eq!(&gunzip(&parts), want, "{format:?} gzip");
            // Nothing to add: the cached buffers themselves.
            let (parts, gz) = e.body(format, true, b"");
            assert!(gz && parts.len() == 1);
            let (parts, _) = e.body(format, false, b"");
            let cached = match format {
                Format::Text => e.text.to_vec(),
                Format::OpenMetrics => om.clone(),
            };
            assert_eq!(parts.concat(), cached);
        }
        // Without a gzip copy (compression failed): plain, as asked or not.
        let broken = Exposition {
            gzip: Bytes::new(),
            openmetrics_gzip: Bytes::new(),
            ..e.clone()
        };
        let (parts, gz) = broken.body(Format::OpenMetrics, true, extra);
        assert!(!gz);
        assert_eq!(parts.concat(), om_with);
    }
}
