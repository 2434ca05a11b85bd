//! The OpenMetrics 1.0.0 text format
//! (<https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md>),
//! written from the family model, so both formats carry exactly the same
//! samples.
//!
//! Written by hand because no crate writes it from a neutral model: the
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
//!   `foo_info` of kind [`Kind::Info`] is the info family `foo` with
//!   samples `foo_info` (value 1);
//! - label values escaped as in the text format (`\\`, `\"`, `\n`); values
//!   in the text format's shortest round-trip form, `+Inf`, `-Inf`, `NaN`
//!   for the non-finite;
//! - the caller ends the exposition with [`EOF`].

use super::model::{Family, Kind};
use super::text::{self, Escaped};

/// The `Content-Type` of an OpenMetrics 1.0.0 exposition, exactly as the
/// spec and Prometheus write it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The last line of every OpenMetrics exposition.
pub const EOF: &str = "# EOF\n";

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Info => "info",
            Kind::Unknown => "unknown",
        }
    }

    /// The suffix every sample name of the kind ends with.
    fn sample_suffix(self) -> &'static str {
        match self {
            Kind::Counter => "_total",
            Kind::Info => "_info",
            Kind::Gauge | Kind::Unknown => "",
        }
    }
}

/// The OpenMetrics family name of a family named `name` of `kind`: the name
/// without `_total` for a counter, without `_info` for an info.
pub fn family_name(name: &str, kind: Kind) -> &str {
    let suffix = kind.sample_suffix();
    if suffix.is_empty() {
        return name;
    }
    name.strip_suffix(suffix)
        .filter(|s| !s.is_empty())
        .unwrap_or(name)
}

/// Writes a family's metadata lines (`# TYPE`, `# UNIT`, `# HELP`).
pub fn write_metadata(out: &mut Vec<u8>, f: &Family) {
    let family = family_name(&f.name, f.kind);
    out.extend_from_slice(b"# TYPE ");
    out.extend_from_slice(family.as_bytes());
    out.push(b' ');
    out.extend_from_slice(f.kind.keyword().as_bytes());
    out.push(b'\n');
    let unit = f.unit.suffix.as_str();
    let unit_fits = !unit.is_empty()
        && f.kind != Kind::Info
        && family
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_') && rest.len() > 1);
    if unit_fits {
        out.extend_from_slice(b"# UNIT ");
        out.extend_from_slice(family.as_bytes());
        out.push(b' ');
        out.extend_from_slice(unit.as_bytes());
        out.push(b'\n');
    }
    if !f.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(family.as_bytes());
        out.push(b' ');
        out.extend_from_slice(text::escape(&f.help, true).as_bytes());
        out.push(b'\n');
    }
}

/// Whether the text format's sample lines of `f` are also its OpenMetrics
/// sample lines, byte for byte: the sample name is the family's name (a
/// counter's ends with `_total`, an info's with `_info`) and every value is
/// finite (the text format spells infinity `inf`). Label escaping and the
/// number format are the same in both.
pub fn shares_text_samples(f: &Family) -> bool {
    let named = match f.kind {
        Kind::Counter | Kind::Info => family_name(&f.name, f.kind) != f.name,
        Kind::Gauge => true,
        Kind::Unknown => false,
    };
    named && f.series.iter().all(|s| s.value.is_finite())
}

/// Writes one family as OpenMetrics text (without [`EOF`]): metadata and
/// samples, label values from `escaped` (the family's set, escaped once).
/// Returns the number of samples written.
pub fn write_family(out: &mut Vec<u8>, escaped: &Escaped<'_>, f: &Family) -> usize {
    write_metadata(out, f);
    if shares_text_samples(f) {
        text::write_samples(out, escaped, f.name.as_bytes(), f, text::write_value);
    } else {
        let family = family_name(&f.name, f.kind);
        let name = [family, f.kind.sample_suffix()].concat();
        text::write_samples(out, escaped, name.as_bytes(), f, write_value);
    }
    f.series.len()
}

/// A value as OpenMetrics spells it: the text format's shortest form for
/// finite values, `+Inf`, `-Inf`, `NaN` otherwise.
pub fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        text::write_value(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::model::Families;
    use crate::export::model::Strings;
    use crate::export::units::UnitMapping;

    fn set(
        name: &str,
        kind: Kind,
        unit: &str,
        help: &str,
        series: &[(&[(&str, &str)], f64)],
    ) -> Families {
        let mut strings = Strings::default();
        let mut unit_mapping = UnitMapping::none();
        unit_mapping.suffix = unit.to_string();
        let mut f = Family::new(name, help, kind, unit_mapping);
        for (labels, value) in series {
            let labels: Vec<_> = labels
                .iter()
                .map(|(n, v)| (strings.intern(n), strings.intern(v)))
                .collect();
            f.push(&labels, *value);
        }
        let mut s = Families::with_strings(strings);
        s.families.push(f);
        s
    }

    fn write(s: &Families) -> String {
        let mut out = Vec::new();
        write_family(&mut out, &Escaped::new(s), &s.families[0]);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn counter_family_drops_total_and_keeps_sample_names() {
        let s = set(
            "asc_api_requests_total",
            Kind::Counter,
            "",
            "Requests.",
            &[(&[("status", "200")], 5.0), (&[("status", "429")], 1.0)],
        );
        assert_eq!(
            write(&s),
            "# TYPE asc_api_requests counter\n# HELP asc_api_requests Requests.\n\
             asc_api_requests_total{status=\"200\"} 5\nasc_api_requests_total{status=\"429\"} 1\n"
        );
        let cpu = set(
            "process_cpu_seconds_total",
            Kind::Counter,
            "seconds",
            "CPU.",
            &[(&[], 2.0)],
        );
        assert_eq!(
            write(&cpu),
            "# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n\
             # HELP process_cpu_seconds CPU.\nprocess_cpu_seconds_total 2\n"
        );
        // A counter without `_total`: its samples get it.
        let bare = set("c", Kind::Counter, "", "", &[(&[], 1.0)]);
        assert!(!shares_text_samples(&bare.families[0]));
        assert_eq!(write(&bare), "# TYPE c counter\nc_total 1\n");
    }

    #[test]
    fn info_family_has_no_unit_and_keeps_info_samples() {
        let s = set(
            "asc_exporter_build_info",
            Kind::Info,
            "seconds",
            "Build.",
            &[(&[("version", "0.1.0")], 1.0)],
        );
        assert_eq!(
            write(&s),
            "# TYPE asc_exporter_build info\n# HELP asc_exporter_build Build.\n\
             asc_exporter_build_info{version=\"0.1.0\"} 1\n"
        );
        let g = set(
            "asc_exporter_build_info",
            Kind::Gauge,
            "",
            "",
            &[(&[], 1.0)],
        );
        assert!(write(&g).starts_with("# TYPE asc_exporter_build_info gauge\n"));
    }

    #[test]
    fn unit_only_where_the_name_ends_with_it() {
        let with = |name: &str| write(&set(name, Kind::Gauge, "seconds", "h", &[(&[], 0.5)]));
        assert!(with("asc_x_seconds").contains("# UNIT asc_x_seconds seconds\n"));
        assert!(!with("asc_x_seconds_2").contains("# UNIT"));
        assert!(!with("seconds").contains("# UNIT"));
        assert!(!with("asc_xseconds").contains("# UNIT"));
    }

    #[test]
    fn escaping_and_values() {
        let s = set(
            "g",
            Kind::Gauge,
            "",
            "a \\ b \" c\nd",
            &[
                (&[("app", "Odd \"q\" b\\s\nn")], 0.7687),
                (&[("app", "big")], 1e21),
                (&[("app", "small")], 1.5e-7),
            ],
        );
        let out = write(&s);
        assert!(out.contains("# HELP g a \\\\ b \\\" c\\nd\n"), "{out}");
        assert!(
            out.contains("g{app=\"Odd \\\"q\\\" b\\\\s\\nn\"} 0.7687\n"),
            "{out}"
        );
        assert!(out.contains("g{app=\"big\"} 1000000000000000000000\n"));
        assert!(out.contains("g{app=\"small\"} 0.00000015\n"));
        let inf = set(
            "g",
            Kind::Gauge,
            "",
            "",
            &[
                (&[("a", "1")], f64::INFINITY),
                (&[("a", "2")], f64::NEG_INFINITY),
            ],
        );
        assert!(!shares_text_samples(&inf.families[0]));
        assert_eq!(
            write(&inf),
            "# TYPE g gauge\ng{a=\"1\"} +Inf\ng{a=\"2\"} -Inf\n"
        );
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
