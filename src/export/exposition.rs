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
/// cheap. Each buffer is complete on its own (the OpenMetrics ones end with
/// `# EOF`); [`Exposition::body`] builds a scrape's body from them.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// The text format 0.0.4 (UTF-8, [`TEXT_CONTENT_TYPE`]).
    pub text: Bytes,
    /// `text`, gzip-compressed, for clients sending `Accept-Encoding: gzip`.
    /// Empty only if compression failed, which an in-memory sink cannot do;
    /// serve `text` then.
    pub gzip: Bytes,
    /// OpenMetrics 1.0.0 ([`openmetrics::CONTENT_TYPE`]), ending with `# EOF`.
    pub openmetrics: Bytes,
    /// `openmetrics`, gzip-compressed (empty as `gzip` is).
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
    /// Encodes `families` in both formats and compresses each; the two
    /// formats are encoded on two threads.
    pub fn encode(families: &[Encodable]) -> Exposition {
        let ((text, gzip, text_resume), (om, om_gzip, om_resume, om_series)) =
            std::thread::scope(|s| {
                let om = std::thread::Builder::new()
                    .name("encode-openmetrics".into())
                    .spawn_scoped(s, || encode_openmetrics(families));
                let text = encode_text(families);
                let om = match om {
                    Ok(handle) => handle
                        .join()
                        .unwrap_or_else(|_| encode_openmetrics(families)),
                    Err(_) => encode_openmetrics(families),
                };
                (text, om)
            });
        let (text, text_families, series) = text;
        if om_series != series {
            tracing::warn!(
                text = series,
                openmetrics = om_series,
                "the two formats have different numbers of series"
            );
        }
        Exposition {
            text,
            gzip,
            openmetrics: om,
            openmetrics_gzip: om_gzip,
            families: text_families,
            series,
            process_metrics: false,
            text_resume,
            openmetrics_resume: om_resume,
        }
    }

    /// The cached buffer of `format`, complete (`gzip`: compressed; empty if
    /// compression failed).
    pub fn cached(&self, format: Format, gzip: bool) -> &Bytes {
        match (format, gzip) {
            (Format::Text, false) => &self.text,
            (Format::Text, true) => &self.gzip,
            (Format::OpenMetrics, false) => &self.openmetrics,
            (Format::OpenMetrics, true) => &self.openmetrics_gzip,
        }
    }

    /// The body of a scrape in `format` with `extra` (already encoded in
    /// that format; OpenMetrics without `# EOF`) after the cached families:
    /// buffers to send in order, the first one the cached buffer itself
    /// (shared, not copied), and whether they are gzip-compressed (asked
    /// for with `gzip`, and possible: false only if compression failed).
    pub fn body(&self, format: Format, gzip: bool, extra: &[u8]) -> (Vec<Bytes>, bool) {
        let tail: &[u8] = match format {
            Format::Text => b"",
            Format::OpenMetrics => openmetrics::EOF.as_bytes(),
        };
        let resume = match format {
            Format::Text => self.text_resume.as_ref(),
            Format::OpenMetrics => self.openmetrics_resume.as_ref(),
        };
        let compressed = self.cached(format, true);
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
        let plain = self.cached(format, false);
        if extra.is_empty() {
            return (vec![plain.clone()], false);
        }
        let cut = plain.len().saturating_sub(tail.len());
        let mut end = Vec::with_capacity(extra.len() + tail.len());
        end.extend_from_slice(extra);
        end.extend_from_slice(tail);
        (vec![plain.slice(..cut), Bytes::from(end)], false)
    }
}

/// The text format: the buffer, its gzip copy and resume point, the
/// number of families and series written.
#[allow(clippy::type_complexity)]
fn encode_text(families: &[Encodable]) -> ((Bytes, usize, usize), Bytes, Option<Resume>) {
    let encoder = TextEncoder::new();
    let mut text = String::with_capacity(families.len() * 512);
    let (mut written, mut series) = (0, 0);
    for f in families {
        // Writing to a String cannot fail; the encoder only rejects empty or
        // unnamed families, which the builder never yields.
        match encoder.encode_utf8(std::slice::from_ref(&f.family), &mut text) {
            Ok(()) => {
                written += 1;
                series += f.family.get_metric().len();
            }
            Err(e) => tracing::warn!(family = f.family.name(), error = %e, "family not encoded"),
        }
    }
    let (gz, resume) = compress(text.as_bytes(), b"");
    text.shrink_to_fit();
    ((Bytes::from(text), written, series), gz, resume)
}

/// OpenMetrics: the buffer (with `# EOF`), its gzip copy and resume point
/// (before `# EOF`), and the number of series written.
fn encode_openmetrics(families: &[Encodable]) -> (Bytes, Bytes, Option<Resume>, usize) {
    let mut om = String::with_capacity(families.len() * 512);
    let mut series = 0;
    for f in families {
        series += openmetrics::write_family(&mut om, &f.family, f.kind, &f.unit);
    }
    let (gz, resume) = compress(om.as_bytes(), openmetrics::EOF.as_bytes());
    om.push_str(openmetrics::EOF);
    om.shrink_to_fit();
    (Bytes::from(om), gz, resume, series)
}

fn compress(body: &[u8], tail: &[u8]) -> (Bytes, Option<Resume>) {
    match gzip::member(body, tail, LEVEL) {
        Some((bytes, resume)) => (Bytes::from(bytes), Some(resume)),
        None => {
            tracing::warn!("gzip of the exposition failed; serving it uncompressed");
            (Bytes::new(), None)
        }
    }
}
