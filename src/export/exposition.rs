//! What `/metrics` serves: one snapshot's families in both formats, the
//! text format 0.0.4 and OpenMetrics 1.0.0, each with a gzip copy, written
//! once per snapshot ([`Exposition::encode`]); and the body of one scrape,
//! which puts the part made at scrape time (the exporter's live metrics)
//! after the cached families without copying or compressing them again
//! ([`Exposition::body`]).
//!
//! The exposition is kept per family: each family's metadata and sample
//! lines are buffers of their own, with their gzip segments
//! ([`gzip::Segment`]: compressed alone, so they can be put together in any
//! order). That gives three things:
//!
//! - the two formats share their sample lines (the families of the model
//!   are written identically in both, see
//!   [`openmetrics::shares_text_samples`]), uncompressed and compressed:
//!   OpenMetrics adds only its own metadata lines;
//! - a new snapshot's exposition reuses the buffers and segments of every
//!   family whose bytes did not change ([`Exposition::encode_after`]): Apple
//!   refreshes its data daily, the exporter hourly, so most refreshes write
//!   the text again (to compare it) but compress and keep only what
//!   changed, and hold one copy of the unchanged families, not two;
//! - the compression of what changed runs on two threads, in segments of at
//!   most [`SEGMENT`] bytes of whole lines.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use flate2::{Compress, Compression};

use super::gzip::{self, Resume, Segment};
use super::model::Families;
use super::openmetrics;
use super::text::{self, Escaped};

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

/// Some bytes of the exposition and their gzip segments.
#[derive(Debug, Clone, Default)]
struct Chunk {
    bytes: Bytes,
    segments: Arc<[Segment]>,
}

/// One family as written in both formats.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    /// `# HELP` and `# TYPE` of the text format.
    text_meta: Chunk,
    /// The sample lines (the same in both formats when `shared`).
    samples: Chunk,
    /// OpenMetrics' metadata lines; the whole OpenMetrics family when the
    /// samples are not shared.
    om: Chunk,
    shared: bool,
    series: usize,
}

/// One encoded exposition. Encoded once per snapshot; cloning the buffers is
/// cheap. [`Exposition::body`] builds a scrape's body from them.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    parts: Vec<Part>,
    /// The text format, gzip-compressed, for clients sending
    /// `Accept-Encoding: gzip`. Empty only if compression failed, which an
    /// in-memory sink cannot do; the plain text is served then.
    pub gzip: Bytes,
    /// The OpenMetrics exposition, gzip-compressed (empty as `gzip` is).
    pub openmetrics_gzip: Bytes,
    /// Number of metric families (the same in both formats).
    pub families: usize,
    /// Number of series (sample lines; the same in both formats).
    pub series: usize,
    /// Families whose buffers came from the previous exposition unchanged.
    pub reused: usize,
    eof: Bytes,
    text_resume: Option<Resume>,
    openmetrics_resume: Option<Resume>,
}

/// Compression of the cached buffers (once per snapshot, only what
/// changed). Chosen by measurement (`cargo bench --bench exporter`, table in
/// `bench/RESULTS.md`): on a 220k-series exposition zlib-rs at level 2 takes
/// a quarter of level 6's CPU for 1.4x its bytes (still 30:1), which keeps
/// a cold decode + map + encode within 2x of parsing the same data into a
/// `serde_json::Value`; levels above 6 cost 2.5x for 8 % fewer bytes.
pub const LEVEL: Compression = Compression::new(2);
/// Compression of a scrape's own part (a few kilobytes).
const SCRAPE_LEVEL: Compression = Compression::new(1);
/// The most bytes of sample lines in one gzip segment: big enough that the
/// reset every segment costs nothing measurable (deflate's window is 32 KiB),
/// small enough to share the work between two threads evenly.
pub const SEGMENT: usize = 1 << 20;

impl Exposition {
    /// Writes `set` in both formats and compresses each.
    pub fn encode(set: &Families) -> Exposition {
        Self::encode_after(set, None)
    }

    /// [`Exposition::encode`], reusing the buffers and gzip segments of the
    /// families of `previous` whose bytes are unchanged.
    pub fn encode_after(set: &Families, previous: Option<&Exposition>) -> Exposition {
        let old: HashMap<&str, &Part> = previous
            .map(|p| {
                p.parts
                    .iter()
                    .map(|part| (part.name.as_str(), part))
                    .collect()
            })
            .unwrap_or_default();
        let escaped = Escaped::new(set);
        let mut scratch = Vec::new();
        let mut parts = Vec::with_capacity(set.families.len());
        // Inputs to compress: (part, which chunk, range of the chunk).
        let mut jobs: Vec<(usize, u8, Range<usize>)> = Vec::new();
        let mut reused = 0;
        for f in &set.families {
            let shared = openmetrics::shares_text_samples(f);
            let mut text_meta = Vec::new();
            text::write_metadata(&mut text_meta, f);
            let mut om = Vec::new();
            if shared {
                openmetrics::write_metadata(&mut om, f);
            } else {
                openmetrics::write_family(&mut om, &escaped, f);
            }
            let i = parts.len();
            // The sample lines unless they are the previous exposition's
            // (then that family's part is reused, compressed already).
            let samples = match old.get(f.name.as_str()).filter(|p| {
                p.shared == shared
                    && p.text_meta.bytes[..] == text_meta[..]
                    && p.om.bytes[..] == om[..]
            }) {
                Some(p) => {
                    match text::samples_unless(&p.samples.bytes, &escaped, f, &mut scratch) {
                        None => {
                            parts.push((*p).clone());
                            reused += 1;
                            continue;
                        }
                        Some(samples) => samples,
                    }
                }
                None => {
                    let mut samples = Vec::new();
                    text::write_samples(
                        &mut samples,
                        &escaped,
                        f.name.as_bytes(),
                        f,
                        text::write_value,
                    );
                    samples
                }
            };
            // Kept for as long as the snapshot is served: no spare room
            // (large buffers shrink with mremap, not a copy).
            let new = |mut b: Vec<u8>| {
                b.shrink_to_fit();
                Chunk {
                    bytes: Bytes::from(b),
                    segments: Arc::from(Vec::new()),
                }
            };
            parts.push(Part {
                name: f.name.clone(),
                text_meta: new(text_meta),
                samples: new(samples),
                om: new(om),
                shared,
                series: f.series.len(),
            });
            let p: &Part = &parts[i];
            jobs.push((i, 0, 0..p.text_meta.bytes.len()));
            let mut ranges = Vec::new();
            split_lines(
                &p.samples.bytes,
                0..p.samples.bytes.len(),
                SEGMENT,
                &mut ranges,
            );
            jobs.extend(ranges.into_iter().map(|r| (i, 1, r)));
            jobs.push((i, 2, 0..p.om.bytes.len()));
        }
        drop(scratch);

        let inputs: Vec<&[u8]> = jobs
            .iter()
            .map(|(i, which, r)| {
                let p = &parts[*i];
                let chunk = match which {
                    0 => &p.text_meta,
                    1 => &p.samples,
                    _ => &p.om,
                };
                &chunk.bytes[r.clone()]
            })
            .collect();
        let compressed = compress_all(&inputs, LEVEL);
        drop(inputs);
        let ok = compressed.is_some();
        if let Some(segments) = compressed {
            let mut per: HashMap<(usize, u8), Vec<Segment>> = HashMap::new();
            for ((i, which, _), seg) in jobs.iter().zip(segments) {
                per.entry((*i, *which)).or_default().push(seg);
            }
            for ((i, which), segs) in per {
                let p = &mut parts[i];
                let chunk = match which {
                    0 => &mut p.text_meta,
                    1 => &mut p.samples,
                    _ => &mut p.om,
                };
                chunk.segments = Arc::from(segs);
            }
        }

        let series = parts.iter().map(|p| p.series).sum();
        let mut e = Exposition {
            families: parts.len(),
            series,
            reused,
            eof: Bytes::from_static(openmetrics::EOF.as_bytes()),
            parts,
            ..Default::default()
        };
        if ok {
            let text: Vec<&Segment> = e
                .parts
                .iter()
                .flat_map(|p| p.text_meta.segments.iter().chain(p.samples.segments.iter()))
                .collect();
            let om: Vec<&Segment> = e
                .parts
                .iter()
                .flat_map(|p| {
                    let samples: &[Segment] = if p.shared { &p.samples.segments } else { &[] };
                    p.om.segments.iter().chain(samples.iter())
                })
                .collect();
            let (gz, resume) = finish(gzip::member_of_segments(&text, b"", LEVEL));
            let (om_gz, om_resume) = finish(gzip::member_of_segments(
                &om,
                openmetrics::EOF.as_bytes(),
                LEVEL,
            ));
            e.gzip = gz;
            e.text_resume = resume;
            e.openmetrics_gzip = om_gz;
            e.openmetrics_resume = om_resume;
        } else {
            tracing::warn!("gzip of the exposition failed; serving it uncompressed");
        }
        e
    }

    /// The text format as buffers to send in order (shared, not copied).
    pub fn text(&self) -> Vec<Bytes> {
        self.parts
            .iter()
            .flat_map(|p| [p.text_meta.bytes.clone(), p.samples.bytes.clone()])
            .filter(|b| !b.is_empty())
            .collect()
    }

    /// The text format in one buffer (a copy, for tests and tools).
    pub fn text_bytes(&self) -> Vec<u8> {
        self.text().concat()
    }

    /// The length of the text format.
    pub fn text_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.text_meta.bytes.len() + p.samples.bytes.len())
            .sum()
    }

    /// OpenMetrics 1.0.0 as buffers to send in order, the last one `# EOF`:
    /// its own metadata lines and the text's sample lines (shared).
    pub fn openmetrics(&self) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = self
            .parts
            .iter()
            .flat_map(|p| {
                let samples = if p.shared {
                    p.samples.bytes.clone()
                } else {
                    Bytes::new()
                };
                [p.om.bytes.clone(), samples]
            })
            .filter(|b| !b.is_empty())
            .collect();
        out.push(self.eof.clone());
        out
    }

    /// The length of the OpenMetrics exposition.
    pub fn openmetrics_len(&self) -> usize {
        self.openmetrics().iter().map(Bytes::len).sum()
    }

    /// The OpenMetrics exposition in one buffer (a copy, for tests and tools).
    pub fn openmetrics_bytes(&self) -> Vec<u8> {
        self.openmetrics().concat()
    }

    /// Bytes this exposition holds: the text, OpenMetrics' own lines, the
    /// gzip segments and the two gzip members.
    pub fn heap_bytes(&self) -> usize {
        let chunk = |c: &Chunk| c.bytes.len() + c.segments.iter().map(Segment::len).sum::<usize>();
        self.parts
            .iter()
            .map(|p| chunk(&p.text_meta) + chunk(&p.samples) + chunk(&p.om))
            .sum::<usize>()
            + self.gzip.len()
            + self.openmetrics_gzip.len()
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
            Format::Text => self.text(),
            Format::OpenMetrics => self.openmetrics(),
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
    use crate::export::model::{Family, Kind, Strings};
    use crate::export::units::UnitMapping;

    fn exposition_of(families: &[(&str, Kind, &str, f64)]) -> Exposition {
        let mut strings = Strings::default();
        let label = (strings.intern("app"), strings.intern("Odd \"q\" b\\s\nn"));
        let mut set = Families::with_strings(strings);
        for (name, kind, unit, value) in families {
            let mut u = UnitMapping::none();
            u.suffix = unit.to_string();
            let mut f = Family::new(*name, format!("Help of {name}."), *kind, u);
            f.push(&[label], *value);
            set.families.push(f);
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
        // The sample lines of a, b and c are the text's buffers.
        let text: Vec<*const u8> = e.text().iter().map(|b| b.as_ptr()).collect();
        let om_parts = e.openmetrics();
        let shared: Vec<&[u8]> = om_parts
            .iter()
            .filter(|b| text.contains(&b.as_ptr()))
            .map(|b| &b[..])
            .collect();
        assert_eq!(shared.len(), 3);
        assert!(shared.iter().all(|s| s.starts_with(b"a_total{")
            || s.starts_with(b"b_info{")
            || s.starts_with(b"c_seconds{")));
        let text_bytes = e.text_bytes();
        let text = std::str::from_utf8(&text_bytes).unwrap();
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
        let labels: Vec<_> = (0..200_000)
            .map(|i| (name, strings.intern(&format!("1.{i}"))))
            .collect();
        let mut set = Families::with_strings(strings);
        for (n, kind) in [("big_seconds", Kind::Gauge), ("big_total", Kind::Counter)] {
            let mut f = Family::new(n, "h", kind, UnitMapping::none());
            for (i, l) in labels.iter().enumerate() {
                f.push(&[*l], i as f64 * 0.25);
            }
            set.families.push(f);
        }
        let e = Exposition::encode(&set);
        assert!(e.text_len() > 8 * SEGMENT, "{}", e.text_len());
        assert_eq!(gunzip(std::slice::from_ref(&e.gzip)), e.text_bytes());
        assert_eq!(
            gunzip(std::slice::from_ref(&e.openmetrics_gzip)),
            e.openmetrics_bytes()
        );
        assert!(e.gzip.len() * 5 < e.text_len());
    }

    #[test]
    fn unchanged_families_are_reused() {
        let first = exposition();
        let again = Exposition::encode_after(
            &{
                let mut strings = Strings::default();
                let label = (strings.intern("app"), strings.intern("Odd \"q\" b\\s\nn"));
                let mut set = Families::with_strings(strings);
                for (name, kind, unit, value) in [
                    ("a_total", Kind::Counter, "", 6.0),
                    ("b_info", Kind::Info, "", 1.0),
                    ("c_seconds", Kind::Gauge, "seconds", 0.7687),
                    ("d", Kind::Gauge, "", f64::INFINITY),
                ] {
                    let mut u = UnitMapping::none();
                    u.suffix = unit.to_string();
                    let mut f = Family::new(name, format!("Help of {name}."), kind, u);
                    f.push(&[label], value);
                    set.families.push(f);
                }
                set
            },
            Some(&first),
        );
        // a changed (5 -> 6); b, c and d are the first exposition's buffers.
        assert_eq!(again.reused, 3);
        let old: Vec<*const u8> = first.text().iter().map(|b| b.as_ptr()).collect();
        let shared = again
            .text()
            .iter()
            .filter(|b| old.contains(&b.as_ptr()))
            .count();
        assert_eq!(shared, 6, "metadata and samples of b, c and d");
        let text = String::from_utf8(again.text_bytes()).unwrap();
        assert!(
            text.contains("a_total{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 6\n"),
            "{text}"
        );
        assert_eq!(
            gunzip(std::slice::from_ref(&again.gzip)),
            again.text_bytes()
        );
        assert_eq!(
            gunzip(std::slice::from_ref(&again.openmetrics_gzip)),
            again.openmetrics_bytes()
        );
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
        let text_with = [&e.text_bytes()[..], extra].concat();
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
                Format::Text => e.text_bytes(),
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
        assert_eq!(e.text_len(), 0);
        assert_eq!(e.openmetrics_bytes(), b"# EOF\n");
        assert_eq!(
            gunzip(std::slice::from_ref(&e.openmetrics_gzip)),
            b"# EOF\n"
        );
        assert_eq!(gunzip(std::slice::from_ref(&e.gzip)), b"");
    }
}
