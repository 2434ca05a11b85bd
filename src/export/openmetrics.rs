//! The OpenMetrics 1.0.0 text format
//! (<https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md>)
//! for the same [`MetricFamily`] protos the text format 0.0.4 is encoded
//! from, so both formats carry exactly the same samples.
//!
//! Written by hand because no crate encodes these protos as OpenMetrics: the
//! `prometheus` crate (0.14) has only `TextEncoder` (0.0.4) and
//! `ProtobufEncoder`, and `prometheus-client` encodes OpenMetrics from its own
//! registry and metric types only (families whose series have different label
//! sets, as ours do, would have to be rebuilt in its model on every refresh).
//! The format is a line grammar (spec §"ABNF"); what this writer emits:
//!
//! - per family, in the spec's order: `# TYPE`, `# UNIT` (only when the
//!   family name ends with `_<unit>`, never for `info`), `# HELP` (escaped:
//!   `\\`, `\n`, `\"`), then its samples; no blank lines;
//! - a counter named `foo_total` is the family `foo` with samples
//!   `foo_total` (the same sample lines as the text format); a gauge named
//!   `foo_info` that the caller marks [`Kind::Info`] is the info family
//!   `foo` with samples `foo_info` (value 1);
//! - label values escaped as in the text format (`\\`, `\"`, `\n`); values
//!   in Rust's shortest round-trip form (the text encoder's), `+Inf`,
//!   `-Inf`, `NaN` for the non-finite; timestamps (milliseconds in the
//!   proto) in seconds;
//! - the caller ends the exposition with [`EOF`].
//!
//! Histograms and summaries are not written (neither the exporter's families
//! nor the process collector have any); a family of either type is skipped
//! with a warning rather than written wrongly.

use std::fmt::Write as _;

use ::prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

/// The `Content-Type` of an OpenMetrics 1.0.0 exposition, exactly as the
/// spec and Prometheus write it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The last line of every OpenMetrics exposition.
pub const EOF: &str = "# EOF\n";

/// The OpenMetrics type a family is exposed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A gauge named `*_info` whose value is always 1.
    Info,
    Unknown,
}

impl Kind {
    /// The type of a proto family (a gauge is never guessed to be an info).
    pub fn of(mf: &MetricFamily) -> Option<Kind> {
        match mf.get_field_type() {
            MetricType::COUNTER => Some(Kind::Counter),
            MetricType::GAUGE => Some(Kind::Gauge),
            MetricType::UNTYPED => Some(Kind::Unknown),
            MetricType::HISTOGRAM | MetricType::SUMMARY => None,
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Info => "info",
            Kind::Unknown => "unknown",
        }
    }
}

/// The OpenMetrics family name of a proto family exposed as `kind`: the
/// name without `_total` for a counter, without `_info` for an info.
pub fn family_name(name: &str, kind: Kind) -> &str {
    let suffix = match kind {
        Kind::Counter => "_total",
        Kind::Info => "_info",
        Kind::Gauge | Kind::Unknown => return name,
    };
    name.strip_suffix(suffix)
        .filter(|s| !s.is_empty())
        .unwrap_or(name)
}

/// Writes one family as OpenMetrics text (without [`EOF`]). `unit` is the
/// family's unit suffix (`seconds`, `bytes`, ...; `""` for none); it is
/// written as `# UNIT` only where the spec allows it. Returns the number of
/// samples written (0 for a skipped family).
pub fn write_family(out: &mut String, mf: &MetricFamily, kind: Kind, unit: &str) -> usize {
    if !write_metadata(out, mf, kind, unit) {
        return 0;
    }
    let family = family_name(mf.name(), kind);
    // A counter sample is always `<family>_total`, an info sample
    // `<family>_info` (the proto name, when it has the suffix).
    let sample_suffix = match kind {
        Kind::Counter => "_total",
        Kind::Info => "_info",
        Kind::Gauge | Kind::Unknown => "",
    };
    out.reserve(mf.get_metric().len() * (family.len() + sample_suffix.len() + 64));
    for m in mf.get_metric() {
        out.push_str(family);
        out.push_str(sample_suffix);
        write_labels(out, m.get_label());
        out.push(' ');
        write_value(out, sample_value(m, mf.get_field_type()));
        let ts = m.timestamp_ms();
        if ts != 0 {
            // Milliseconds in the proto, seconds in OpenMetrics.
            let _ = write!(out, " {}", ts as f64 / 1000.0);
        }
        out.push('\n');
    }
    mf.get_metric().len()
}

/// Writes a family's metadata lines (`# TYPE`, `# UNIT`, `# HELP`); false,
/// writing nothing, for a histogram or summary.
pub fn write_metadata(out: &mut String, mf: &MetricFamily, kind: Kind, unit: &str) -> bool {
    if Kind::of(mf).is_none() {
        tracing::warn!(
            family = mf.name(),
            "histogram and summary families are not written as OpenMetrics"
        );
        return false;
    }
    let family = family_name(mf.name(), kind);
    out.push_str("# TYPE ");
    out.push_str(family);
    out.push(' ');
    out.push_str(kind.keyword());
    out.push('\n');
    let unit_fits = !unit.is_empty()
        && kind != Kind::Info
        && family
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_') && rest.len() > 1);
    if unit_fits {
        out.push_str("# UNIT ");
        out.push_str(family);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
    if !mf.help().is_empty() {
        out.push_str("# HELP ");
        out.push_str(family);
        out.push(' ');
        escape_into(out, mf.help());
        out.push('\n');
    }
    true
}

/// Whether the text format's sample lines of `mf` (as `prometheus`'s
/// `TextEncoder` writes them) are also this writer's OpenMetrics sample
/// lines for `kind`, byte for byte: the sample name is the proto name (a
/// counter's ends with `_total`, an info's with `_info`), there are no
/// timestamps (milliseconds there, seconds here) and every value is finite
/// (the text encoder spells infinity `inf`). Label escaping and the number
/// format are the same in both (`\\`, `\"`, `\n`; Rust's shortest form).
pub fn shares_text_samples(mf: &MetricFamily, kind: Kind) -> bool {
    let t = mf.get_field_type();
    // `family_name` strips the suffix exactly when the name has it.
    let stripped = family_name(mf.name(), kind) != mf.name();
    let named = match kind {
        Kind::Counter => t == MetricType::COUNTER && stripped,
        Kind::Info => t == MetricType::GAUGE && stripped,
        Kind::Gauge => t == MetricType::GAUGE,
        Kind::Unknown => false,
    };
    named
        && mf
            .get_metric()
            .iter()
            .all(|m| m.timestamp_ms() == 0 && sample_value(m, t).is_finite())
}

fn sample_value(m: &Metric, t: MetricType) -> f64 {
    match t {
        MetricType::COUNTER => m.get_counter().value(),
        MetricType::GAUGE => m.get_gauge().value(),
        _ => m.untyped.value(),
    }
}

fn write_labels(out: &mut String, labels: &[LabelPair]) {
    if labels.is_empty() {
        return;
    }
    let mut sep = '{';
    for lp in labels {
        out.push(sep);
        out.push_str(lp.name());
        out.push_str("=\"");
        escape_into(out, lp.value());
        out.push('"');
        sep = ',';
    }
    out.push('}');
}

/// A number as OpenMetrics wants it: the shortest representation that reads
/// back to the same `f64` (integers without a decimal point), `+Inf`, `-Inf`,
/// `NaN`.
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// The spec's escaping (§"Escaping"): line feed, double quote and backslash.
fn escape_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['\\', '"', '\n']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::prometheus::proto::{Counter, Gauge};

    fn family(
        name: &str,
        t: MetricType,
        help: &str,
        series: &[(&[(&str, &str)], f64)],
    ) -> MetricFamily {
        let mut mf = MetricFamily::default();
        mf.set_name(name.into());
        mf.set_help(help.into());
        mf.set_field_type(t);
        let metrics = series
            .iter()
            .map(|(labels, v)| {
                let mut m = Metric::from_label(
                    labels
                        .iter()
                        .map(|(k, v)| {
                            let mut lp = LabelPair::default();
                            lp.set_name((*k).into());
                            lp.set_value((*v).into());
                            lp
                        })
                        .collect(),
                );
                if t == MetricType::COUNTER {
                    let mut c = Counter::default();
                    c.set_value(*v);
                    m.set_counter(c);
                } else {
                    let mut g = Gauge::default();
                    g.set_value(*v);
                    m.set_gauge(g);
                }
                m
            })
            .collect();
        mf.set_metric(metrics);
        mf
    }

    fn write(mf: &MetricFamily, kind: Kind, unit: &str) -> String {
        let mut s = String::new();
        write_family(&mut s, mf, kind, unit);
        s
    }

    #[test]
    fn counter_family_drops_total_and_keeps_sample_names() {
        let mf = family(
            "asc_api_requests_total",
            MetricType::COUNTER,
            "Requests.",
            &[(&[("status", "200")], 5.0), (&[("status", "429")], 1.0)],
        );
        assert_eq!(
            write(&mf, Kind::Counter, ""),
            "# TYPE asc_api_requests counter\n# HELP asc_api_requests Requests.\n\
             asc_api_requests_total{status=\"200\"} 5\nasc_api_requests_total{status=\"429\"} 1\n"
        );
        let cpu = family(
            "process_cpu_seconds_total",
            MetricType::COUNTER,
            "CPU.",
            &[(&[], 2.0)],
        );
        assert_eq!(
            write(&cpu, Kind::Counter, "seconds"),
            "# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n\
             # HELP process_cpu_seconds CPU.\nprocess_cpu_seconds_total 2\n"
        );
    }

    #[test]
    fn info_family_has_no_unit_and_keeps_info_samples() {
        let mf = family(
            "asc_exporter_build_info",
            MetricType::GAUGE,
            "Build.",
            &[(&[("version", "0.1.0")], 1.0)],
        );
        assert_eq!(
            write(&mf, Kind::Info, "seconds"),
            "# TYPE asc_exporter_build info\n# HELP asc_exporter_build Build.\n\
             asc_exporter_build_info{version=\"0.1.0\"} 1\n"
        );
        // Not marked info: a plain gauge, whatever its name.
        assert!(write(&mf, Kind::Gauge, "").starts_with("# TYPE asc_exporter_build_info gauge\n"));
    }

    #[test]
    fn unit_only_where_the_name_ends_with_it() {
        let mf = family("asc_x_seconds", MetricType::GAUGE, "h", &[(&[], 0.5)]);
        assert!(write(&mf, Kind::Gauge, "seconds").contains("# UNIT asc_x_seconds seconds\n"));
        let renamed = family("asc_x_seconds_2", MetricType::GAUGE, "h", &[(&[], 0.5)]);
        assert!(!write(&renamed, Kind::Gauge, "seconds").contains("# UNIT"));
        let bare = family("seconds", MetricType::GAUGE, "h", &[(&[], 0.5)]);
        assert!(!write(&bare, Kind::Gauge, "seconds").contains("# UNIT"));
        let glued = family("asc_xseconds", MetricType::GAUGE, "h", &[(&[], 0.5)]);
        assert!(!write(&glued, Kind::Gauge, "seconds").contains("# UNIT"));
    }

    #[test]
    fn escaping_and_values() {
        let mf = family(
            "g",
            MetricType::GAUGE,
            "a \\ b \" c\nd",
            &[
                (&[("app", "Odd \"q\" b\\s\nn")], 0.7687),
                (&[("app", "big")], 1e21),
                (&[("app", "small")], 1.5e-7),
                (&[("app", "neg")], -0.0),
            ],
        );
        let s = write(&mf, Kind::Gauge, "");
        assert!(s.contains("# HELP g a \\\\ b \\\" c\\nd\n"), "{s}");
        assert!(
            s.contains("g{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 0.7687\n"),
            "{s}"
        );
        assert!(s.contains("g{app=\"big\"} 1000000000000000000000\n"), "{s}");
        assert!(s.contains("g{app=\"small\"} 0.00000015\n"), "{s}");
        let mut v = String::new();
        for x in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 3.0, 0.1] {
            write_value(&mut v, x);
            v.push(' ');
        }
        assert_eq!(v, "+Inf -Inf NaN 3 0.1 ");
    }

    /// What `shares_text_samples` promises: for such a family, this
    /// writer's sample lines are the text encoder's, byte for byte.
    #[test]
    fn sample_lines_equal_the_text_encoders() {
        let odd: &[(&str, &str)] = &[("app", "Odd \"q\" b\\s\nn"), ("v", "1.10")];
        for (name, t, kind, values) in [
            ("x_total", MetricType::COUNTER, Kind::Counter, [5.0, 1e21]),
            ("x_info", MetricType::GAUGE, Kind::Info, [1.0, 1.0]),
            (
                "x_seconds",
                MetricType::GAUGE,
                Kind::Gauge,
                [0.7687, -1.5e-7],
            ),
        ] {
            let mf = family(name, t, "h", &[(odd, values[0]), (&[], values[1])]);
            assert!(shares_text_samples(&mf, kind), "{name}");
            let text = ::prometheus::TextEncoder::new()
                .encode_to_string(std::slice::from_ref(&mf))
                .unwrap();
            let samples = |s: &str| -> String {
                s.lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(|l| format!("{l}\n"))
                    .collect()
            };
            assert_eq!(samples(&write(&mf, kind, "")), samples(&text), "{name}");
        }
        let inf = family("g", MetricType::GAUGE, "h", &[(&[], f64::INFINITY)]);
        assert!(!shares_text_samples(&inf, Kind::Gauge), "text writes `inf`");
        let counter = family("c", MetricType::COUNTER, "h", &[(&[], 1.0)]);
        assert!(!shares_text_samples(&counter, Kind::Counter), "no _total");
        let mut stamped = family("s", MetricType::GAUGE, "h", &[(&[], 1.0)]);
        stamped.mut_metric()[0].set_timestamp_ms(1500);
        assert!(
            !shares_text_samples(&stamped, Kind::Gauge),
            "timestamps differ"
        );
        assert!(write(&stamped, Kind::Gauge, "").contains("\ns 1 1.5\n"));
    }

    #[test]
    fn family_names() {
        assert_eq!(family_name("a_total", Kind::Counter), "a");
        assert_eq!(family_name("a", Kind::Counter), "a");
        assert_eq!(family_name("_total", Kind::Counter), "_total");
        assert_eq!(family_name("a_info", Kind::Info), "a");
        assert_eq!(family_name("a_total", Kind::Gauge), "a_total");
    }
}
