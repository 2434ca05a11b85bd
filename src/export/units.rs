//! The naming and unit rules of the metric contract (`CONTRACT.md`,
//! `docs/metrics.md`), shared by the Prometheus and the OTLP outputs: how an
//! Apple unit is converted and named ([`unit_mapping`]), and how an Apple
//! metric identifier becomes a family name ([`metric_family_name`],
//! [`snake_case`]).
//!
//! Two rules keep names reading right whatever Apple sends:
//! - a unit kept from Apple never repeats the metric: a unit that starts
//!   with the metric's stem drops it (`terminations` in
//!   `terminationsPerDay` is `asc_terminations_per_day`, not
//!   `asc_terminations_terminations_per_day`), see [`name_suffix`];
//! - a unit never ends a name in a suffix Prometheus or OpenMetrics reserves
//!   for the samples of another type (`_count`, `_sum`, `_bucket`, `_total`,
//!   `_created`, `_info`): such a unit is an OTLP annotation only
//!   (`count` is `{count}`, no name suffix), see [`RESERVED_SUFFIXES`].

/// How an Apple unit is exported: the name suffix, the factor to the base
/// unit, and the UCUM unit for OTLP.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitMapping {
    /// `seconds`, `bytes`, `ratio`, the snake_case of an unknown unit, or
    /// `""` when Apple gives no unit.
    pub suffix: String,
    /// Multiply Apple's value by this to get the exported value.
    pub factor: f64,
    /// UCUM: `s`, `By`, `1`, `{<suffix>}` for an unknown unit, `""` for none.
    pub ucum: String,
}

impl UnitMapping {
    /// No unit: no suffix, no conversion.
    pub fn none() -> Self {
        Self {
            suffix: String::new(),
            factor: 1.0,
            ucum: String::new(),
        }
    }

    /// No suffix, a UCUM annotation only (`{request}` on a counter).
    pub(crate) fn annotation(ucum: &str) -> Self {
        Self {
            suffix: String::new(),
            factor: 1.0,
            ucum: ucum.to_string(),
        }
    }

    pub(crate) fn known(suffix: &str, factor: f64, ucum: &str) -> Self {
        Self {
            suffix: suffix.to_string(),
            factor,
            ucum: ucum.to_string(),
        }
    }

    /// Whether the unit is one of the base units (`seconds`, `bytes`,
    /// `ratio`) the exporter converts to.
    pub fn is_base_unit(&self) -> bool {
        matches!(self.suffix.as_str(), "seconds" | "bytes" | "ratio")
    }

    /// Converts a value in Apple's unit to the exported unit. Powers of ten
    /// are applied by shifting the decimal exponent of the value's shortest
    /// representation, so 768.7 ms is exactly `0.7687`, not
    /// `0.7687000000000001`.
    pub fn convert(&self, value: f64) -> f64 {
        scale(value, self.factor)
    }

    /// A phrase for HELP texts: `in seconds`, `as a ratio (0-1)`, ...
    pub(crate) fn phrase(&self) -> String {
        match self.suffix.as_str() {
            "" => match self
                .ucum
                .strip_prefix('{')
                .and_then(|u| u.strip_suffix('}'))
            {
                Some(kept) => format!("in Apple's unit {kept} (not converted)"),
                None => "(Apple gives no unit)".to_string(),
            },
            "seconds" => "in seconds".to_string(),
            "bytes" => "in bytes".to_string(),
            "ratio" => "as a ratio (1 = 100 %)".to_string(),
            other => format!("in Apple's unit {other} (not converted)"),
        }
    }
}

/// Multiplies `value` by `factor`; exact decimal shift when `factor` is a
/// power of ten: the value's shortest decimal form (`ryu`) with its
/// exponent moved, read back (`768.7` and `1e-3` read `768.7e-3`, the
/// nearest `f64` to 0.7687). No allocation: it runs for every value.
pub(crate) fn scale(value: f64, factor: f64) -> f64 {
    if factor == 1.0 || !value.is_finite() {
        return value * factor;
    }
    let Some(shift) = power_of_ten(factor) else {
        return value * factor;
    };
    shift_short(value, shift).unwrap_or_else(|| shift_digits(value, shift, factor))
}

/// [`scale`] by `factor`, `10^shift`, through the value's shortest
/// decimal form as `ryu` writes it, for any finite value.
fn shift_digits(value: f64, shift: i32, factor: f64) -> f64 {
    let mut digits = ryu::Buffer::new();
    let digits = digits.format_finite(value);
    // `digits` is `[-]d.ddd`, `[-]d.ddde<exp>` or `[-]de<exp>`.
    let (mantissa, exp) = match digits.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (digits, 0),
    };
    if let Some(v) = shift_exactly(mantissa, exp + shift) {
        return v;
    }
    let mut buf = [0u8; 48];
    let mut w = &mut buf[..];
    use std::io::Write as _;
    if write!(w, "{mantissa}e{}", exp + shift).is_err() {
        return value * factor;
    }
    let len = 48 - w.len();
    std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(value * factor)
}

/// The exact decimal shift of `value` by `10^shift` without formatting
/// it, for the short decimals Apple sends (`768.7`, `13.25`): `None` when
/// the value needs more digits than this can hold (then [`scale`] formats
/// it with `ryu`).
///
/// It finds the value's shortest decimal form as an integer `m` and a
/// number of fraction digits `d`: the first `d` for which the integer
/// nearest to `value * 10^d` reads back as `value` (`m / 10^d`, one
/// correctly rounded division of two exact `f64`s, is what parsing
/// `<m>e-<d>` gives). While `|value| * 10^d < 2^50` that is exactly the
/// decimal `ryu` writes:
/// - every real that reads back as `value` lies within one ulp of it, and
///   one ulp times `10^d` is under 1/4 there, so at most one integer
///   (scaled by `10^d`) reads back as `value`, for this `d` and every
///   smaller one;
/// - the product is off by under 1/8 of an integer, so when an integer
///   reads back, rounding the product finds it: the first `d` that works
///   is the fewest fraction digits of any decimal that reads back;
/// - a decimal that reads back with the fewest fraction digits has the
///   fewest significant digits (one with more fraction digits and as few
///   significant digits would have to cross a power of ten, which itself
///   reads back with fewer fraction digits), and it is the only one: that
///   is the shortest form, the one `ryu` writes.
///
/// Then `m * 10^(shift - d)` is the same decimal as `ryu`'s digits with the
/// exponent moved, rounded once (or `None` past the exact powers of ten).
fn shift_short(value: f64, shift: i32) -> Option<f64> {
    const LIMIT: f64 = (1u64 << 50) as f64;
    for (d, &power) in POWERS.iter().enumerate() {
        let product = value * power;
        // Not finite (NaN, infinities) or too big to round exactly.
        if product.is_nan() || product.abs() >= LIMIT {
            return None;
        }
        let m = product.round();
        if m / power == value {
            return times_power_of_ten(m, shift - d as i32);
        }
    }
    None
}

/// `m` (an integer below 2^53) times `10^e`, rounded once; `None` when
/// `10^e` is not an exact `f64` (|e| > 22).
fn times_power_of_ten(m: f64, e: i32) -> Option<f64> {
    let power = *POWERS.get(e.unsigned_abs() as usize)?;
    Some(if e >= 0 { m * power } else { m / power })
}

/// The powers of ten that are exact `f64`s.
const POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `mantissa` (`[-]d.ddd`) times `10^exp` when both the digits (as an
/// integer, below 2^53) and the power of ten (at most 10^22) are exact
/// `f64`s: then one multiplication or division is correctly rounded, the
/// same nearest `f64` a parse of `<mantissa>e<exp>` gives (Clinger's fast
/// path, which `str::parse` takes too). `None` otherwise.
fn shift_exactly(mantissa: &str, exp: i32) -> Option<f64> {
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, mantissa),
    };
    let mut m: u64 = 0;
    let mut fraction = 0i32;
    let mut in_fraction = false;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => {
                m = m.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                if in_fraction {
                    fraction += 1;
                }
            }
            b'.' if !in_fraction => in_fraction = true,
            _ => return None,
        }
    }
    if m >= 1 << 53 {
        return None;
    }
    let v = times_power_of_ten(m as f64, exp - fraction)?;
    Some(if negative { -v } else { v })
}

/// `k` when `factor` is exactly `10^k` (|k| <= 22, where every power is
/// exact in binary or is the nearest `f64` to it, as the literals are).
fn power_of_ten(factor: f64) -> Option<i32> {
    const NEGATIVE: [f64; 23] = [
        1e-0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13,
        1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22,
    ];
    if let Some(k) = POWERS.iter().position(|&p| p == factor) {
        return Some(k as i32);
    }
    NEGATIVE
        .iter()
        .position(|&p| p == factor)
        .map(|k| -(k as i32))
}

/// A unit we convert exactly, by its exact spelling (abbreviations are
/// case-sensitive: `Mb` would be megabits) or its long name (any case).
fn known_unit(unit: &str) -> Option<UnitMapping> {
    let u = unit.trim();
    let (suffix, factor, ucum) = match u {
        "ms" | "msec" => ("seconds", 1e-3, "s"),
        "s" | "sec" | "secs" => ("seconds", 1.0, "s"),
        "µs" | "μs" | "us" => ("seconds", 1e-6, "s"),
        "ns" => ("seconds", 1e-9, "s"),
        "min" => ("seconds", 60.0, "s"),
        "h" | "hr" => ("seconds", 3600.0, "s"),
        "B" => ("bytes", 1.0, "By"),
        "kB" | "KB" => ("bytes", 1e3, "By"),
        "MB" => ("bytes", 1e6, "By"),
        "GB" => ("bytes", 1e9, "By"),
        "TB" => ("bytes", 1e12, "By"),
        "KiB" => ("bytes", 1024.0, "By"),
        "MiB" => ("bytes", 1_048_576.0, "By"),
        "GiB" => ("bytes", 1_073_741_824.0, "By"),
        "%" => ("ratio", 1e-2, "1"),
        _ => match u.to_ascii_lowercase().as_str() {
            "millisecond" | "milliseconds" => ("seconds", 1e-3, "s"),
            "second" | "seconds" => ("seconds", 1.0, "s"),
            "microsecond" | "microseconds" => ("seconds", 1e-6, "s"),
            "nanosecond" | "nanoseconds" => ("seconds", 1e-9, "s"),
            "minute" | "minutes" => ("seconds", 60.0, "s"),
            "hour" | "hours" => ("seconds", 3600.0, "s"),
            "byte" | "bytes" => ("bytes", 1.0, "By"),
            "kilobyte" | "kilobytes" => ("bytes", 1e3, "By"),
            "megabyte" | "megabytes" => ("bytes", 1e6, "By"),
            "gigabyte" | "gigabytes" => ("bytes", 1e9, "By"),
            "terabyte" | "terabytes" => ("bytes", 1e12, "By"),
            "kibibyte" | "kibibytes" => ("bytes", 1024.0, "By"),
            "mebibyte" | "mebibytes" => ("bytes", 1_048_576.0, "By"),
            "gibibyte" | "gibibytes" => ("bytes", 1_073_741_824.0, "By"),
            "percent" | "percentage" => ("ratio", 1e-2, "1"),
            _ => return None,
        },
    };
    Some(UnitMapping::known(suffix, factor, ucum))
}

/// Maps Apple's unit (`unit.identifier`, `unit.displayName`) to the exported
/// unit. The identifier decides first, then the display name (Apple's
/// `scrollHitchRate` unit has identifier `scrollHitchRate` and display name
/// `%`). A unit that is not converted exactly is kept: its identifier (or,
/// without one, its display name) in snake_case becomes the suffix
/// (`secondsPerHour` -> `seconds_per_hour`, `%/day` -> `percent_per_day`),
/// unless it ends with a reserved word ([`RESERVED_SUFFIXES`]): then it is
/// the OTLP annotation only (`count` -> no suffix, UCUM `{count}`). No unit
/// at all gives no suffix.
pub fn unit_mapping(unit_identifier: &str, display_name: &str) -> UnitMapping {
    if let Some(m) = known_unit(unit_identifier).or_else(|| known_unit(display_name)) {
        return m;
    }
    let raw = if unit_identifier.trim().is_empty() {
        display_name
    } else {
        unit_identifier
    };
    let suffix = unit_snake_case(raw);
    if suffix.is_empty() {
        return UnitMapping::none();
    }
    let ucum = format!("{{{suffix}}}");
    if ends_reserved(&suffix) {
        return UnitMapping::annotation(&ucum);
    }
    UnitMapping {
        ucum,
        suffix,
        factor: 1.0,
    }
}

/// The name endings that belong to the samples of another metric type, so a
/// unit never becomes one: `_count` and `_sum` (summaries and histograms),
/// `_bucket` (histograms), `_total` and `_created` (counters), `_info`
/// (OpenMetrics info families). `promtool check metrics` flags a gauge
/// named `..._count`, `..._sum`, `..._bucket` or `..._total`, and
/// OpenMetrics reads such a sample as part of the family without the suffix.
pub const RESERVED_SUFFIXES: &[&str] = &["count", "sum", "bucket", "total", "created", "info"];

/// Whether a snake_case unit's last word is reserved, or the plural of one
/// (`count`, `counts`, `crash_count`, `event_totals`, `buckets`).
fn ends_reserved(snake: &str) -> bool {
    let last = snake.rsplit('_').next().unwrap_or(snake);
    let singular = last.strip_suffix('s').unwrap_or(last);
    RESERVED_SUFFIXES
        .iter()
        .any(|r| *r == last || *r == singular)
}

/// snake_case for units: `%` reads `percent`, `/` reads `per`.
fn unit_snake_case(unit: &str) -> String {
    let spelled = unit.replace('%', "_percent_").replace('/', "_per_");
    snake_case(&spelled)
}

/// Converts an identifier to snake_case usable in a Prometheus name:
/// camelCase and acronyms are split (`launchTime` -> `launch_time`,
/// `CPUTime` -> `cpu_time`, `v2Time` -> `v2_time`), every character outside
/// `[a-zA-Z0-9]` becomes `_`, repeated `_` collapse and leading or trailing
/// `_` are dropped. The result is lowercase ASCII, possibly empty, and may
/// start with a digit (callers prefix it).
pub fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    let sep = |out: &mut String| {
        if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            sep(&mut out);
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                sep(&mut out);
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The family name of an Apple metric's values: `asc_<identifier in
/// snake_case>_<unit suffix>` (`launchTime` in ms -> `asc_launch_time_seconds`).
/// An identifier that already ends with the suffix does not get it twice;
/// an empty identifier reads `unknown_metric`.
pub fn metric_family_name(metric_identifier: &str, unit: &UnitMapping) -> String {
    compose_name(&[], metric_identifier, &[], unit)
}

/// The metric identifier in snake_case, `unknown_metric` when empty.
fn stem(metric_identifier: &str) -> String {
    let stem = snake_case(metric_identifier);
    if stem.is_empty() {
        "unknown_metric".to_string()
    } else {
        stem
    }
}

/// The unit suffix the families of a metric carry in their names: the
/// unit's suffix, except that a unit kept from Apple which starts with the
/// metric's stem (or the stem's singular, a trailing `s` dropped) does not
/// repeat it: `terminations` in `terminations_per_day` gives `per_day`, so
/// `asc_terminations_per_day`, `asc_terminations_error_margin_per_day`,
/// `asc_insight_regression_latest_terminations_per_day`. A kept unit that is
/// the stem itself (`scrollHitchRate` in the unit `scrollHitchRate`) gives
/// none. Base units (`seconds`, `bytes`, `ratio`) always stay: they are
/// what the name is measured in.
pub fn name_suffix<'a>(metric_identifier: &str, unit: &'a UnitMapping) -> &'a str {
    let suffix = unit.suffix.as_str();
    if suffix.is_empty() || unit.is_base_unit() {
        return suffix;
    }
    let stem = stem(metric_identifier);
    let singular = stem.strip_suffix('s').filter(|s| !s.is_empty());
    for prefix in std::iter::once(stem.as_str()).chain(singular) {
        if suffix == prefix {
            return "";
        }
        if let Some(rest) = suffix
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('_'))
        {
            return rest;
        }
    }
    suffix
}

/// `asc_<prefix..>_<metric stem>_<part..>_<suffix>`, the suffix as
/// [`name_suffix`] gives it.
pub(crate) fn compose_name(
    prefix: &[&str],
    metric_identifier: &str,
    part: &[&str],
    unit: &UnitMapping,
) -> String {
    let mut stem = stem(metric_identifier);
    let suffix = name_suffix(metric_identifier, unit);
    let mut append_suffix = !suffix.is_empty();
    if append_suffix {
        if let Some(s) = stem.strip_suffix(suffix).and_then(|s| s.strip_suffix('_')) {
            stem = s.to_string();
        } else if stem == suffix && part.is_empty() {
            append_suffix = false;
        }
    }
    let mut name = String::from("asc");
    for p in prefix
        .iter()
        .chain(std::iter::once(&stem.as_str()))
        .chain(part)
    {
        name.push('_');
        name.push_str(p);
    }
    if append_suffix {
        name.push('_');
        name.push_str(suffix);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_conversions() {
        let ms = unit_mapping("milliseconds", "ms");
        assert_eq!((ms.suffix.as_str(), ms.ucum.as_str()), ("seconds", "s"));
        assert_eq!(ms.convert(768.7), 0.7687);
        assert_eq!(ms.convert(2014.3), 2.0143);
        assert_eq!(ms.convert(997.8), 0.9978);
        assert_eq!(ms.convert(907.48), 0.90748);
        let pct = unit_mapping("scrollHitchRate", "%");
        assert_eq!((pct.suffix.as_str(), pct.ucum.as_str()), ("ratio", "1"));
        assert_eq!(pct.convert(6.5), 0.065);
        assert_eq!(pct.convert(10.0), 0.1);
        for (id, display, suffix, factor) in [
            ("seconds", "", "seconds", 1.0),
            ("s", "", "seconds", 1.0),
            ("", "sec", "seconds", 1.0),
            ("ms", "", "seconds", 1e-3),
            ("bytes", "B", "bytes", 1.0),
            ("kilobytes", "KB", "bytes", 1e3),
            ("", "KB", "bytes", 1e3),
            ("megabytes", "", "bytes", 1e6),
            ("", "MB", "bytes", 1e6),
            ("Gigabytes", "", "bytes", 1e9),
            ("percent", "", "ratio", 1e-2),
            ("", "%", "ratio", 1e-2),
        ] {
            let u = unit_mapping(id, display);
            assert_eq!(
                (u.suffix.as_str(), u.factor),
                (suffix, factor),
                "{id:?} {display:?}"
            );
        }
        assert_eq!(unit_mapping("megabytes", "MB").convert(1.5), 1_500_000.0);
        assert_eq!(unit_mapping("kilobytes", "KB").convert(0.1), 100.0);
    }

    #[test]
    fn identifier_decides_before_display_name() {
        // The identifier is a known unit: its display name does not matter.
        assert_eq!(unit_mapping("milliseconds", "%").suffix, "seconds");
        // Unknown identifier, known display name.
        assert_eq!(unit_mapping("scrollHitchRate", "%").suffix, "ratio");
    }

    #[test]
    fn unknown_units_are_kept_in_snake_case() {
        let u = unit_mapping("secondsPerHour", "s/hr");
        assert_eq!(
            (u.suffix.as_str(), u.factor, u.ucum.as_str()),
            ("seconds_per_hour", 1.0, "{seconds_per_hour}")
        );
        assert_eq!(
            unit_mapping("percentPerDay", "%/day").suffix,
            "percent_per_day"
        );
        assert_eq!(unit_mapping("", "%/day").suffix, "percent_per_day");
        assert_eq!(
            unit_mapping("", "Mb").suffix,
            "mb",
            "megabits are not bytes"
        );
        assert_eq!(unit_mapping("", "").suffix, "");
        assert_eq!(unit_mapping("  ", "").ucum, "");
        assert_eq!(unit_mapping("", "").factor, 1.0);
        assert_eq!(unit_mapping("countPerDay", "").suffix, "count_per_day");
        assert_eq!(unit_mapping("discount", "").suffix, "discount");
        assert_eq!(unit_mapping("accounts", "").suffix, "accounts");
    }

    /// A unit ending in a word reserved for another type's samples is an
    /// OTLP annotation, never a name suffix.
    #[test]
    fn reserved_units_are_annotations_only() {
        for (id, display, snake) in [
            ("count", "", "count"),
            ("counts", "", "counts"),
            ("Count", "", "count"),
            ("crashCount", "", "crash_count"),
            ("", "count", "count"),
            ("sum", "", "sum"),
            ("sums", "", "sums"),
            ("bucket", "", "bucket"),
            ("buckets", "", "buckets"),
            ("total", "", "total"),
            ("eventTotals", "", "event_totals"),
            ("created", "", "created"),
            ("info", "", "info"),
        ] {
            let u = unit_mapping(id, display);
            assert_eq!(u.suffix, "", "{id:?} {display:?}");
            assert_eq!(u.ucum, format!("{{{snake}}}"), "{id:?} {display:?}");
            assert_eq!(u.factor, 1.0);
            assert_eq!(
                u.phrase(),
                format!("in Apple's unit {snake} (not converted)")
            );
            for part in [
                &[][..],
                &["error", "margin"][..],
                &["goal", "lower", "bound"][..],
            ] {
                let n = compose_name(&[], "crashes", part, &u);
                let last = n.rsplit('_').next().unwrap();
                assert!(!RESERVED_SUFFIXES.contains(&last), "{n}");
            }
        }
        let count = unit_mapping("count", "");
        assert_eq!(metric_family_name("crashes", &count), "asc_crashes");
        assert_eq!(
            compose_name(&[], "crashes", &["error", "margin"], &count),
            "asc_crashes_error_margin"
        );
        assert_eq!(UnitMapping::none().phrase(), "(Apple gives no unit)");
    }

    /// A unit kept from Apple that starts with the metric's stem does not
    /// repeat it, in every family of the metric.
    #[test]
    fn a_unit_does_not_repeat_the_metric() {
        let per_day = unit_mapping("terminationsPerDay", "per day");
        assert_eq!(per_day.suffix, "terminations_per_day");
        assert_eq!(per_day.ucum, "{terminations_per_day}");
        assert_eq!(name_suffix("terminations", &per_day), "per_day");
        assert_eq!(
            metric_family_name("terminations", &per_day),
            "asc_terminations_per_day"
        );
        for (prefix, part, want) in [
            (
                &[][..],
                &["error", "margin"][..],
                "asc_terminations_error_margin_per_day",
            ),
            (
                &[],
                &["goal", "lower", "bound"],
                "asc_terminations_goal_lower_bound_per_day",
            ),
            (
                &[],
                &["goal", "upper", "bound"],
                "asc_terminations_goal_upper_bound_per_day",
            ),
            (
                &[],
                &["recommended", "goal"],
                "asc_terminations_recommended_goal_per_day",
            ),
            (
                &["insight", "regression", "latest"],
                &[],
                "asc_insight_regression_latest_terminations_per_day",
            ),
            (
                &["insight", "trending_up", "reference"],
                &[],
                "asc_insight_trending_up_reference_terminations_per_day",
            ),
        ] {
            assert_eq!(compose_name(prefix, "terminations", part, &per_day), want);
        }
        // The stem's singular, too.
        let singular = unit_mapping("terminationPerDay", "");
        assert_eq!(
            metric_family_name("terminations", &singular),
            "asc_terminations_per_day"
        );
        // A unit that is the stem itself adds nothing.
        let itself = unit_mapping("scrollHitchRate", "");
        assert_eq!(name_suffix("scrollHitchRate", &itself), "");
        assert_eq!(
            metric_family_name("scrollHitchRate", &itself),
            "asc_scroll_hitch_rate"
        );
        assert_eq!(
            compose_name(&[], "scrollHitchRate", &["error", "margin"], &itself),
            "asc_scroll_hitch_rate_error_margin"
        );
        // Only whole words: `hangar` does not start with the stem `hang`.
        let hangar = unit_mapping("hangarPerDay", "");
        assert_eq!(
            metric_family_name("hang", &hangar),
            "asc_hang_hangar_per_day"
        );
        // Other metrics keep their unit.
        assert_eq!(
            metric_family_name("hangRate", &unit_mapping("seconds.per.hour", "")),
            "asc_hang_rate_seconds_per_hour"
        );
        assert_eq!(
            metric_family_name("batteryUsage", &unit_mapping("percentPerDay", "%/day")),
            "asc_battery_usage_percent_per_day"
        );
        // Base units always stay: they are what the value is measured in.
        let s = unit_mapping("seconds", "");
        assert_eq!(name_suffix("seconds", &s), "seconds");
        assert_eq!(
            compose_name(&[], "seconds", &["error", "margin"], &s),
            "asc_seconds_error_margin_seconds"
        );
    }

    #[test]
    fn snake_case_edge_cases() {
        for (input, want) in [
            ("launchTime", "launch_time"),
            ("scrollHitchRate", "scroll_hitch_rate"),
            ("CPUTime", "cpu_time"),
            ("cpuTimeCPU", "cpu_time_cpu"),
            ("HTTPStatus2XX", "http_status2_xx"),
            ("v2Time", "v2_time"),
            ("p90", "p90"),
            ("peakMemory", "peak_memory"),
            ("already_snake", "already_snake"),
            ("With Spaces-and.dots", "with_spaces_and_dots"),
            ("__weird__name__", "weird_name"),
            ("a--b", "a_b"),
            ("émoji🙂Rate", "moji_rate"),
            ("", ""),
            ("%", ""),
            ("123abc", "123abc"),
            ("ABC", "abc"),
        ] {
            assert_eq!(snake_case(input), want, "{input:?}");
        }
    }

    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    #[test]
    fn family_names() {
        let ms = unit_mapping("milliseconds", "ms");
        assert_eq!(
            metric_family_name("launchTime", &ms),
            "asc_launch_time_seconds"
        );
        let pct = unit_mapping("scrollHitchRate", "%");
        assert_eq!(
            metric_family_name("scrollHitchRate", &pct),
            "asc_scroll_hitch_rate_ratio"
        );
        let none = UnitMapping::none();
        assert_eq!(metric_family_name("newThing", &none), "asc_new_thing");
        assert_eq!(metric_family_name("", &none), "asc_unknown_metric");
        assert_eq!(metric_family_name("9lives", &none), "asc_9lives");
        let sph = unit_mapping("secondsPerHour", "");
        assert_eq!(
            metric_family_name("hangRate", &sph),
            "asc_hang_rate_seconds_per_hour"
        );
        // No doubled suffix.
        let s = unit_mapping("seconds", "s");
        assert_eq!(
            metric_family_name("launchTimeSeconds", &s),
            "asc_launch_time_seconds"
        );
        assert_eq!(metric_family_name("seconds", &s), "asc_seconds");
        assert_eq!(
            compose_name(&[], "launchTimeSeconds", &["error", "margin"], &s),
            "asc_launch_time_error_margin_seconds"
        );
        assert_eq!(
            compose_name(&["insight", "regression", "latest"], "launchTime", &[], &ms),
            "asc_insight_regression_latest_launch_time_seconds"
        );
        for id in ["launchTime", "", "日本", "a b", "_x", "9", "%%%"] {
            for u in [&ms, &pct, &none, &sph] {
                let n = metric_family_name(id, u);
                assert!(valid_name(&n), "{n}");
            }
        }
    }

    #[test]
    fn scale_is_exact_for_powers_of_ten() {
        assert_eq!(scale(768.7, 1e-3), 0.7687);
        assert_eq!(scale(6.5, 1e-2), 0.065);
        assert_eq!(scale(13.0, 1e-2), 0.13);
        assert_eq!(scale(0.0, 1e-3), 0.0);
        assert_eq!(scale(-1.5, 1e3), -1500.0);
        assert_eq!(scale(2.0, 60.0), 120.0);
        assert!(scale(f64::NAN, 1e-3).is_nan());
    }

    /// The decimal shift is the old formatted one (`{:e}`, shifted, parsed)
    /// for values of every magnitude.
    /// The shift without formatting gives what the shift of `ryu`'s digits
    /// gives wherever it answers, and answers for the short decimals Apple
    /// sends: at its limit (2^50), next to powers of two (where the values
    /// reading back as one `f64` are not centred on it) and of ten, for
    /// short decimals of every length, and for random bit patterns.
    #[test]
    fn shift_without_formatting_is_the_shift_of_the_shortest_digits() {
        let mut next = {
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            }
        };
        let mut values = vec![0.0, -0.0, 0.1, 0.3, 768.7, 2014.3, 1e-7, 123.456_789];
        let limit = (1u64 << 50) as f64;
        for k in -60..=60 {
            let two = 2f64.powi(k);
            let ten = 10f64.powi(k.clamp(-22, 22));
            for v in [two, ten, limit / ten] {
                values.extend([v, v.next_up(), v.next_down(), v * 0.1, v / 3.0]);
            }
        }
        for digits in 1..=17u32 {
            for _ in 0..2_000 {
                let m = next() % 10u64.pow(digits);
                let d = (next() % 20) as i32;
                values.push(m as f64 / 10f64.powi(d));
            }
        }
        values.extend((0..100_000).map(|_| f64::from_bits(next())));
        let mut answered = 0;
        for v in values.into_iter().filter(|v| v.is_finite()) {
            for shift in [-9, -6, -3, -2, 3, 6] {
                let factor = 10f64.powi(shift);
                let slow = shift_digits(v, shift, factor);
                if let Some(fast) = shift_short(v, shift) {
                    answered += 1;
                    assert_eq!(fast.to_bits(), slow.to_bits(), "{v:e} x 1e{shift}");
                }
                assert_eq!(scale(v, factor).to_bits(), slow.to_bits(), "{v:e}");
            }
        }
        assert!(answered > 100_000, "{answered}");
        // What Apple sends is answered without formatting.
        for v in [768.7, 0.1, 13.25, 2014.3, 99.99, 1_234_567.5] {
            assert!(shift_short(v, -3).is_some(), "{v}");
        }
    }

    #[test]
    fn scale_is_the_decimal_shift() {
        let old = |value: f64, factor: f64| -> f64 {
            let f = format!("{factor:e}");
            let shift: i32 = f.split_once('e').unwrap().1.parse().unwrap();
            let v = format!("{value:e}");
            let (m, e) = v.split_once('e').unwrap();
            format!("{m}e{}", e.parse::<i32>().unwrap() + shift)
                .parse()
                .unwrap()
        };
        let mut x = 1.234_567_890_123e-9_f64;
        while x < 1e12 {
            for v in [x, -x, x * 7.0 / 3.0, x.trunc(), 768.7, 2014.3, 0.1] {
                for factor in [1e-3, 1e-2, 1e-6, 1e-9, 1e3, 1e6, 1e9, 1e12] {
                    assert_eq!(scale(v, factor), old(v, factor), "{v:e} x {factor:e}");
                }
            }
            x *= 3.7;
        }
        // Random values, arbitrary bit patterns and short decimals (what
        // Apple sends): the fast path gives what parsing the shifted
        // digits gives. (Not against `old`: for some 17-digit values ryu's
        // shortest digits and `{:e}`'s differ, both round-tripping.)
        let old = |value: f64, factor: f64| -> f64 {
            let shift = power_of_ten(factor).unwrap();
            let mut b = ryu::Buffer::new();
            let d = b.format_finite(value);
            let (m, e) = d.split_once('e').unwrap_or((d, "0"));
            format!("{m}e{}", e.parse::<i32>().unwrap() + shift)
                .parse()
                .unwrap()
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let bits = f64::from_bits(next());
            let decimal =
                (next() % 10_000_000) as f64 / [1.0, 10.0, 100.0, 1000.0][(next() % 4) as usize];
            for v in [bits, decimal] {
                if !v.is_finite() {
                    continue;
                }
                for factor in [1e-3, 1e-2, 1e-6, 1e3] {
                    assert_eq!(
                        scale(v, factor).to_bits(),
                        old(v, factor).to_bits(),
                        "{v:e} x {factor:e}"
                    );
                }
            }
        }
        assert_eq!(power_of_ten(60.0), None);
        assert_eq!(power_of_ten(1e-3), Some(-3));
        assert_eq!(scale(2.0, 1024.0), 2048.0);
    }
}
