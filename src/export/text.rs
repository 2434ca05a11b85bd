//! The Prometheus text format 0.0.4, written straight from the family
//! model into one buffer.
//!
//! Why not the `prometheus` crate's `TextEncoder`: it encodes its protobuf
//! `MetricFamily`, so the data would first be copied into protos (every
//! label name and value an owned `String`, per series: the old path spent
//! most of its time and a second copy of the data there), and it writes
//! through `format!`/`to_string` per sample. This writer reads the interned
//! model in place, escapes each distinct label value once, and formats
//! numbers with `itoa`/`ryu`. Its output is byte for byte what `TextEncoder`
//! writes for the same families (the format is a line grammar:
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>), which
//! `tests/prometheus_export.rs` checks on the Apple examples and a large
//! simulated account:
//!
//! - per family `# HELP <name> <help>` (help escaped: `\\`, `\n`; left out
//!   when empty), `# TYPE <name> <type>`, then one line per series;
//! - a sample line is `name{l="v",...} value` (no braces without labels),
//!   label values escaped (`\\`, `\"`, `\n`);
//! - values as Rust's `Display` writes an `f64`: the shortest form that
//!   reads back to the same number, never an exponent, `inf`, `-inf`,
//!   `NaN` for the non-finite (the model has only finite values).

use std::borrow::Cow;
use std::ops::Range;

use super::model::{Families, Family, Label, Series};

/// A written exposition, and where each family's sample lines are in it
/// (the OpenMetrics writer shares them).
#[derive(Debug, Default)]
pub struct Text {
    pub bytes: Vec<u8>,
    /// Per family of the set, in order: the byte range of its metadata
    /// (`# HELP`, `# TYPE`) and of its sample lines.
    pub families: Vec<(Range<usize>, Range<usize>)>,
}

/// Label values (and names) as written: escaped once per distinct string.
pub struct Escaped<'a> {
    strings: Vec<Cow<'a, str>>,
}

impl<'a> Escaped<'a> {
    /// Escapes every string of `set` once.
    pub fn new(set: &'a Families) -> Self {
        Self {
            strings: set.strings.all().iter().map(|s| escape(s, true)).collect(),
        }
    }

    fn get(&self, sym: u32) -> &[u8] {
        self.strings[sym as usize].as_bytes()
    }
}

/// Writes every family of `set` into one buffer.
pub fn write(set: &Families) -> Text {
    let escaped = Escaped::new(set);
    let mut out = Vec::with_capacity(estimate(set));
    let mut families = Vec::with_capacity(set.families.len());
    for f in &set.families {
        let start = out.len();
        let meta = write_family(&mut out, &escaped, f);
        families.push((start..start + meta, start + meta..out.len()));
    }
    out.shrink_to_fit();
    Text {
        bytes: out,
        families,
    }
}

/// An upper bound of the length of the exposition (numbers at their longest
/// shortest form), so the buffer is allocated once.
fn estimate(set: &Families) -> usize {
    let len = |sym: u32| set.strings.get(sym).len();
    set.families
        .iter()
        .map(|f| {
            f.help.len() * 2
                + f.name.len() * 2
                + 32
                + f.series
                    .iter()
                    .map(|s| {
                        f.name.len()
                            + 26
                            + f.labels_of(s)
                                .iter()
                                .map(|&(n, v)| len(n) + 2 * len(v) + 4)
                                .sum::<usize>()
                    })
                    .sum::<usize>()
        })
        .sum()
}

/// Writes one family (metadata, then samples) at the end of `out`; returns
/// the length of its metadata lines.
pub fn write_family(out: &mut Vec<u8>, escaped: &Escaped<'_>, f: &Family) -> usize {
    let start = out.len();
    write_metadata(out, f);
    let meta = out.len() - start;
    write_samples(out, escaped, f.name.as_bytes(), f, write_value);
    meta
}

/// Writes a family's `# HELP` and `# TYPE` lines.
pub(crate) fn write_metadata(out: &mut Vec<u8>, f: &Family) {
    if !f.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(f.name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(escape(&f.help, false).as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(f.name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(f.kind.text_keyword().as_bytes());
    out.push(b'\n');
}

/// Writes a family's sample lines under `name` (the text format's and
/// OpenMetrics' sample names are the same for the families of the model),
/// each value spelled by `value` (the two formats differ only for the
/// non-finite).
pub(crate) fn write_samples(
    out: &mut Vec<u8>,
    escaped: &Escaped<'_>,
    name: &[u8],
    f: &Family,
    value: fn(&mut Vec<u8>, f64),
) {
    write_series(out, escaped, name, f, &f.series, value);
}

/// `f`'s sample lines, as [`write_samples`] writes them in the text format,
/// unless they are `old` (then `None`). They are written a batch of series
/// at a time into `scratch` and compared as they go, so comparing an
/// unchanged family (what most refreshes find) needs no buffer of the
/// family's size: the largest families are several MB, and a whole copy of
/// one (with a growing `Vec`'s room) was most of what an encode of an
/// unchanged snapshot allocated. At the first difference the lines so far
/// are `old`'s, so the new lines start as a copy of them and nothing is
/// written twice.
pub(crate) fn samples_unless(
    old: &[u8],
    escaped: &Escaped<'_>,
    f: &Family,
    scratch: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    const BATCH: usize = 256;
    let name = f.name.as_bytes();
    let mut pos = 0;
    for (i, batch) in f.series.chunks(BATCH).enumerate() {
        scratch.clear();
        write_series(scratch, escaped, name, f, batch, write_value);
        let end = pos + scratch.len();
        if old.get(pos..end) != Some(&scratch[..]) {
            let mut out = Vec::with_capacity(old.len().max(end));
            out.extend_from_slice(&old[..pos]);
            out.extend_from_slice(scratch);
            let rest = &f.series[((i + 1) * BATCH).min(f.series.len())..];
            write_series(&mut out, escaped, name, f, rest, write_value);
            return Some(out);
        }
        pos = end;
    }
    // Every line matched: the same unless `old` has more.
    (pos != old.len()).then(|| old[..pos].to_vec())
}

fn write_series(
    out: &mut Vec<u8>,
    escaped: &Escaped<'_>,
    name: &[u8],
    f: &Family,
    series: &[Series],
    value: fn(&mut Vec<u8>, f64),
) {
    // Consecutive series mostly share their first labels (the app's, the
    // metric's): a line's start up to the last shared label is copied from
    // the line before in one piece, not label by label. `ends[i]`: where
    // label `i` of the previous line ends, from the line's start.
    let mut prev: &[Label] = &[];
    let mut prev_start = 0;
    let mut ends: Vec<usize> = Vec::with_capacity(16);
    for s in series {
        let labels = f.labels_of(s);
        let shared = labels.iter().zip(prev).take_while(|(a, b)| a == b).count();
        let start = out.len();
        let mut sep = b'{';
        if shared > 0 {
            out.extend_from_within(prev_start..prev_start + ends[shared - 1]);
            sep = b',';
        } else {
            out.extend_from_slice(name);
        }
        ends.truncate(shared);
        for &(n, v) in &labels[shared..] {
            out.push(sep);
            out.extend_from_slice(escaped.get(n));
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(escaped.get(v));
            out.push(b'"');
            ends.push(out.len() - start);
            sep = b',';
        }
        if sep == b',' {
            out.push(b'}');
        }
        out.push(b' ');
        value(out, s.value);
        out.push(b'\n');
        prev = labels;
        prev_start = start;
    }
}

/// A value as `f64`'s `Display` writes it (what `TextEncoder` writes):
/// integers through `itoa`, other finite values through `ryu` where its
/// shortest form has no exponent (then the digits are `Display`'s: both are
/// the shortest round-trip form), everything else through `Display` itself.
pub fn write_value(out: &mut Vec<u8>, v: f64) {
    // Exactly representable integers (`Display` writes -0 as `-0`).
    if v == 0.0 && v.is_sign_negative() {
        out.extend_from_slice(b"-0");
        return;
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let mut buf = itoa::Buffer::new();
        out.extend_from_slice(buf.format(v as i64).as_bytes());
        return;
    }
    // `ryu` writes an integral value with `.0`: those go to `Display`.
    if v.is_finite() && v.fract() != 0.0 {
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(v);
        if !s.contains('e') {
            out.extend_from_slice(s.as_bytes());
            return;
        }
    }
    use std::io::Write as _;
    let _ = write!(out, "{v}");
}

/// The text format's escaping: `\\` and `\n`, and `\"` in label values.
pub(crate) fn escape(s: &str, quote: bool) -> Cow<'_, str> {
    let needs = |b: &u8| *b == b'\\' || *b == b'\n' || (quote && *b == b'"');
    if !s.as_bytes().iter().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::model::{Kind, Strings};
    use crate::export::units::UnitMapping;

    /// One family of `n` series (`v="0"`, `v="1"`, ...), series `i` valued
    /// `value(i)`.
    fn family(n: usize, value: impl Fn(usize) -> f64) -> Families {
        let mut strings = Strings::default();
        let v = strings.intern("v");
        let labels: Vec<_> = (0..n)
            .map(|i| (v, strings.intern(&i.to_string())))
            .collect();
        let mut set = Families::with_strings(strings);
        let mut f = Family::new("x_total", "h", Kind::Counter, UnitMapping::none());
        for (i, l) in labels.iter().enumerate() {
            f.push(&[*l], value(i));
        }
        set.families.push(f);
        set
    }

    fn samples(set: &Families) -> Vec<u8> {
        let mut out = Vec::new();
        let f = &set.families[0];
        write_samples(
            &mut out,
            &Escaped::new(set),
            f.name.as_bytes(),
            f,
            write_value,
        );
        out
    }

    #[test]
    fn samples_unless_old_compares_in_batches_and_writes_what_changed_once() {
        let old_set = family(1000, |i| i as f64);
        let old = samples(&old_set);
        let mut scratch = Vec::new();
        let unless = |set: &Families, old: &[u8], scratch: &mut Vec<u8>| {
            samples_unless(old, &Escaped::new(set), &set.families[0], scratch)
        };
        // The same lines: nothing written, and the scratch stays one batch.
        assert_eq!(unless(&old_set, &old, &mut scratch), None);
        assert!(scratch.len() * 3 < old.len(), "{}", scratch.len());
        // A change in the first, a later and the last batch, and a family
        // shorter or longer than before: exactly what `write_samples` writes.
        for (n, changed) in [
            (1000, 0),
            (1000, 700),
            (1000, 999),
            (999, usize::MAX),
            (1001, usize::MAX),
        ] {
            let set = family(n, |i| if i == changed { -1.0 } else { i as f64 });
            assert_eq!(
                unless(&set, &old, &mut scratch),
                Some(samples(&set)),
                "{n} series, series {changed} changed"
            );
        }
    }

    fn display(v: f64) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_as_display_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.7687,
            2.0143,
            1e15,
            1e16,
            1e21,
            123456789012345680.0,
            1.5e-7,
            0.00001,
            0.0001,
            -2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1700000000.123,
            0.1 + 0.2,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(display(v), v.to_string(), "{v:e}");
        }
        // A sweep across magnitudes and digit counts.
        let mut x = 1.234_567_890_123_456_7e-12_f64;
        while x < 1e22 {
            for v in [x, -x, x * 3.0 / 7.0, x.trunc(), x + 0.5] {
                assert_eq!(display(v), v.to_string(), "{v:e}");
            }
            x *= 7.3;
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("plain", true), "plain");
        assert!(matches!(escape("plain", true), Cow::Borrowed(_)));
        assert_eq!(escape("a\\b\"c\nd", true), "a\\\\b\\\"c\\nd");
        assert_eq!(escape("a\\b\"c\nd", false), "a\\\\b\"c\\nd");
        assert_eq!(escape("émoji 🙂\n", true), "émoji 🙂\\n");
    }
}
