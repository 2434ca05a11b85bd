//! What `/metrics` serves: one snapshot's families in both formats, the
//! text format 0.0.4 and OpenMetrics 1.0.0, each with a gzip copy, written
//! once per snapshot ([`Exposition::encode`]); and the body of one scrape,
//! which puts the part made at scrape time (the exporter's live metrics)
//! after the cached families without copying or compressing them again
//! ([`Exposition::body`]).
//!
//! The two formats share their sample lines (the families of the model are
//! written identically in both, see [`openmetrics::shares_text_samples`]):
//! OpenMetrics is its own metadata lines interleaved with slices of the
//! text buffer, and the sample lines are compressed once, as gzip segments
//! ([`gzip::Segment`]) that both formats' members are made of. Segments are
//! at most [`SEGMENT`] bytes of whole lines and are compressed on two
//! threads.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use flate2::{Compress, Compression};

use super::gzip::{self, Resume, Segment};
use super::model::Families;
use super::openmetrics;
use super::text;

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

/// One encoded exposition. Encoded once per snapshot; cloning the buffers is
/// cheap. [`Exposition::body`] builds a scrape's body from them.
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
    /// Whether a scrape adds the exporter's live metrics after the cached
    /// families (off with `web.disable_exporter_metrics`: then only the
    /// families of the live registry that are not process metrics). Set by
    /// the service; `false` as encoded.
    pub process_metrics: bool,
    text_resume: Option<Resume>,
    openmetrics_resume: Option<Resume>,
}

/// Compression of the cached buffers (once per snapshot): chosen by
/// measurement, see `bench/RESULTS.md`.
pub const LEVEL: Compression = Compression::new(6);
/// Compression of a scrape's own part (a few kilobytes).
const SCRAPE_LEVEL: Compression = Compression::new(1);
/// The most bytes of sample lines in one gzip segment: big enough that the
/// reset every segment costs nothing measurable (deflate's window is 32 KiB),
/// small enough to share the work between two threads evenly.
pub const SEGMENT: usize = 1 << 20;

impl Exposition {
    /// Writes `set` in both formats and compresses each.
    pub fn encode(set: &Families) -> Exposition {
        let text = text::write(set);
        let series = set.series();
        // OpenMetrics' own lines: per family its metadata (or, for a family
        // whose samples differ, everything), then `# EOF`.
        let mut own = Vec::with_capacity(set.families.len() * 256 + 8);
        enum Piece {
            Own(Range<usize>),
            /// The sample lines of family `.0` of the text buffer.
            Text(usize, Range<usize>),
        }
        let mut om = Vec::with_capacity(set.families.len() * 2 + 1);
        for (i, (f, (_, samples))) in set.families.iter().zip(&text.families).enumerate() {
            let start = own.len();
            if openmetrics::shares_text_samples(f) {
                openmetrics::write_metadata(&mut own, f);
                om.push(Piece::Own(start..own.len()));
                om.push(Piece::Text(i, samples.clone()));
            } else {
                openmetrics::write_family(&mut own, set, f);
                om.push(Piece::Own(start..own.len()));
            }
        }
        let eof_start = own.len();
        own.extend_from_slice(openmetrics::EOF.as_bytes());

        // The gzip jobs: every text range (metadata and samples cut at
        // segment size) once, and OpenMetrics' own ranges.
        let mut text_jobs: Vec<Range<usize>> = Vec::new();
        // Per family: the jobs of its sample lines.
        let mut sample_jobs: Vec<Range<usize>> = Vec::with_capacity(text.families.len());
        for (meta, samples) in &text.families {
            text_jobs.push(meta.clone());
            let first = text_jobs.len();
            split_lines(&text.bytes, samples.clone(), SEGMENT, &mut text_jobs);
            sample_jobs.push(first..text_jobs.len());
        }
        let own_jobs: Vec<Range<usize>> = om
            .iter()
            .filter_map(|p| match p {
                Piece::Own(r) => Some(r.clone()),
                Piece::Text(..) => None,
            })
            .collect();
        let inputs: Vec<&[u8]> = text_jobs
            .iter()
            .map(|r| &text.bytes[r.clone()])
            .chain(own_jobs.iter().map(|r| &own[r.clone()]))
            .collect();
        let segments = compress_all(&inputs, LEVEL);

        let (gzip, text_resume, om_gzip, om_resume) = match &segments {
            Some(segs) => {
                let text_segs: Vec<&Segment> = segs[..text_jobs.len()].iter().collect();
                let (text_gz, text_resume) =
                    finish(gzip::member_of_segments(&text_segs, b"", LEVEL));
                let mut own_segs = segs[text_jobs.len()..].iter();
                let mut om_segs: Vec<&Segment> = Vec::with_capacity(segs.len());
                for p in &om {
                    match p {
                        Piece::Own(_) => om_segs.extend(own_segs.next()),
                        Piece::Text(i, _) => om_segs.extend(&segs[sample_jobs[*i].clone()]),
                    }
                }
                // `# EOF` is the member's tail.
                let (om_gz, om_resume) = finish(gzip::member_of_segments(
                    &om_segs,
                    openmetrics::EOF.as_bytes(),
                    LEVEL,
                ));
                (text_gz, text_resume, om_gz, om_resume)
            }
            None => {
                tracing::warn!("gzip of the exposition failed; serving it uncompressed");
                (Bytes::new(), None, Bytes::new(), None)
            }
        };

        let text_bytes = Bytes::from(text.bytes);
        let own = Bytes::from(own);
        let mut openmetrics: Vec<Bytes> = om
            .into_iter()
            .map(|p| match p {
                Piece::Own(r) => own.slice(r),
                Piece::Text(_, r) => text_bytes.slice(r),
            })
            .filter(|b| !b.is_empty())
            .collect();
        openmetrics.push(own.slice(eof_start..));
        Exposition {
            text: text_bytes,
            gzip,
            openmetrics,
            openmetrics_gzip: om_gzip,
            families: set.families.len(),
            series,
            process_metrics: false,
            text_resume,
            openmetrics_resume: om_resume,
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

fn finish(m: Option<(Vec<u8>, Resume)>) -> (Bytes, Option<Resume>) {
    match m {
        Some((bytes, resume)) => (Bytes::from(bytes), Some(resume)),
        None => (Bytes::new(), None),
    }
}

/// Cuts `range` of `bytes` into pieces of at most `max` bytes that end at a
/// line end (a longer line is a piece of its own).
fn split_lines(bytes: &[u8], range: Range<usize>, max: usize, out: &mut Vec<Range<usize>>) {
    let mut start = range.start;
    while range.end - start > max {
        let window = &bytes[start..start + max];
        let cut = match window.iter().rposition(|&b| b == b'\n') {
            Some(i) => start + i + 1,
            None => match bytes[start + max..range.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                Some(i) => start + max + i + 1,
                None => range.end,
            },
        };
        out.push(start..cut);
        start = cut;
    }
    out.push(start..range.end);
}

/// Compresses every input as its own segment, on two threads (the biggest
/// first, each thread taking the next input when done); `None` if deflate
/// failed for one, which an in-memory stream cannot.
fn compress_all(inputs: &[&[u8]], level: Compression) -> Option<Vec<Segment>> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].len()));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut z = Compress::new(level, false);
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            done.push((i, Segment::compress(&mut z, inputs[i])));
        }
        done
    };
    let total: usize = inputs.iter().map(|i| i.len()).sum();
    let mut results: Vec<(usize, Option<Segment>)> = if total > 4 * SEGMENT {
        std::thread::scope(|s| {
            let other = std::thread::Builder::new()
                .name("gzip".into())
                .spawn_scoped(s, work);
            let mut mine = work();
            if let Ok(handle) = other
                && let Ok(theirs) = handle.join()
            {
                mine.extend(theirs);
            }
            mine
        })
    } else {
        work()
    };
    if results.len() != inputs.len() {
        return None;
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::export::model::{Family, Kind, Series, Strings};
    use crate::export::units::UnitMapping;

    fn exposition_of(families: &[(&str, Kind, &str, f64)]) -> Exposition {
        let mut strings = Strings::default();
        let label = (strings.intern("app"), strings.intern("Odd \"q\" b\\s\nn"));
        let mut set = Families::with_strings(strings);
        for (name, kind, unit, value) in families {
            let mut u = UnitMapping::none();
            u.suffix = unit.to_string();
            set.families.push(Family {
                name: name.to_string(),
                help: format!("Help of {name}."),
                kind: *kind,
                unit: u,
                series: vec![Series {
                    labels: vec![label].into_boxed_slice(),
                    value: *value,
                }],
            });
        }
        Exposition::encode(&set)
    }

    fn exposition() -> Exposition {
        exposition_of(&[
            ("a_total", Kind::Counter, "", 5.0),
            ("b_info", Kind::Info, "", 1.0),
            ("c_seconds", Kind::Gauge, "seconds", 0.7687),
            ("d", Kind::Gauge, "", f64::INFINITY),
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
             d{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} +Inf\n\
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
        let text = std::str::from_utf8(&e.text).unwrap();
        assert!(text.contains("# TYPE b_info gauge\n"), "{text}");
        assert!(text.contains("} inf\n"), "{text}");
        assert_eq!(
            gunzip(std::slice::from_ref(&e.openmetrics_gzip)),
            om.as_bytes()
        );
        assert_eq!(gunzip(std::slice::from_ref(&e.gzip)), text.as_bytes());
    }

    #[test]
    fn big_families_are_compressed_in_segments() {
        // Enough series for several segments and both threads.
        let mut strings = Strings::default();
        let name = strings.intern("version");
        let series: Vec<Series> = (0..200_000)
            .map(|i| Series {
                labels: vec![(name, strings.intern(&format!("1.{i}")))].into_boxed_slice(),
                value: i as f64 * 0.25,
            })
            .collect();
        let mut set = Families::with_strings(strings);
        for (n, kind) in [("big_seconds", Kind::Gauge), ("big_total", Kind::Counter)] {
            set.families.push(Family {
                name: n.into(),
                help: "h".into(),
                kind,
                unit: UnitMapping::none(),
                series: series.clone(),
            });
        }
        let e = Exposition::encode(&set);
        assert!(e.text.len() > 8 * SEGMENT, "{}", e.text.len());
        assert_eq!(gunzip(std::slice::from_ref(&e.gzip)), e.text.to_vec());
        assert_eq!(
            gunzip(std::slice::from_ref(&e.openmetrics_gzip)),
            e.openmetrics_bytes()
        );
        assert!(e.gzip.len() * 5 < e.text.len());
    }

    #[test]
    fn lines_are_split_at_line_ends() {
        let bytes = b"aaaa\nbb\ncccccccccc\nd\n";
        let mut out = Vec::new();
        split_lines(bytes, 0..bytes.len(), 6, &mut out);
        let pieces: Vec<&[u8]> = out.iter().map(|r| &bytes[r.clone()]).collect();
        assert_eq!(pieces, [&b"aaaa\n"[..], b"bb\n", b"cccccccccc\n", b"d\n"]);
        assert_eq!(out.last().unwrap().end, bytes.len());
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

    #[test]
    fn an_empty_set_is_just_eof() {
        let e = Exposition::encode(&Families::default());
        assert_eq!(e.text.len(), 0);
        assert_eq!(e.openmetrics_bytes(), b"# EOF\n");
        assert_eq!(
            gunzip(std::slice::from_ref(&e.openmetrics_gzip)),
            b"# EOF\n"
        );
        assert_eq!(gunzip(std::slice::from_ref(&e.gzip)), b"");
    }
}
