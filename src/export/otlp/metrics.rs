//! The family model as OTel metrics: each family one metric (a gauge, or a
//! monotonic cumulative Sum for counters) named without the unit suffix,
//! the unit in the unit field, the labels as attributes. [`otel_families`]
//! is that view as plain data (attributes sharing the model's interned
//! strings), for tools and tests; the output encodes the same view straight
//! into the request ([`wire`](super::wire)).

use std::collections::BTreeMap;

use opentelemetry::KeyValue;

use crate::export::mapping::{self, BuildMeta};
use crate::export::model::{Families, Kind};
use crate::export::units::UnitMapping;
use crate::refresh::Snapshot;

/// The OTel instrument name of a Prometheus family: without `_total` on
/// counters, and without the unit suffix when the unit is a UCUM unit the
/// Prometheus translation appends again (`s`, `By`, `1`). A unit kept from
/// Apple as an annotation (`{seconds_per_hour}`) keeps its suffix in the
/// name: translators drop annotations, so the name must carry it.
pub fn otel_name(prom_name: &str, counter: bool, unit: &UnitMapping) -> String {
    let mut n = prom_name;
    if counter {
        n = n.strip_suffix("_total").unwrap_or(n);
    }
    if !unit.suffix.is_empty() && !unit.ucum.is_empty() && !unit.ucum.starts_with('{') {
        let suffix = format!("_{}", unit.suffix);
        n = n.strip_suffix(suffix.as_str()).unwrap_or(n);
    }
    n.to_string()
}

/// One family as the OTLP output exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelFamily {
    pub name: String,
    /// UCUM unit (`s`, `By`, `1`, `{request}`) or empty.
    pub unit: String,
    pub description: String,
    /// A monotonic cumulative Sum (Prometheus counter) rather than a Gauge.
    pub monotonic: bool,
    pub points: Vec<(Vec<KeyValue>, f64)>,
}

/// The OTLP view of a snapshot: every Prometheus family, renamed and with
/// its unit. Keyed by instrument name (a pathological pair of families that
/// map to one name is kept apart by their unit: the key has both).
pub fn otel_families(snapshot: &Snapshot, meta: &BuildMeta) -> BTreeMap<String, OtelFamily> {
    otel_families_of(&mapping::families(snapshot, meta))
}

/// [`otel_families`] of an already mapped family set.
pub fn otel_families_of(set: &Families) -> BTreeMap<String, OtelFamily> {
    let mut out = BTreeMap::new();
    for f in &set.families {
        let monotonic = f.kind == Kind::Counter;
        let name = otel_name(&f.name, monotonic, &f.unit);
        let points = f
            .series
            .iter()
            .map(|s| {
                let attrs = f
                    .labels_of(s)
                    .iter()
                    .map(|&(n, v)| {
                        KeyValue::new(
                            opentelemetry::Key::from(set.strings.arc(n).clone()),
                            opentelemetry::StringValue::from(set.strings.arc(v).clone()),
                        )
                    })
                    .collect();
                (attrs, s.value)
            })
            .collect();
        let key = instrument_key(&name, &f.unit.ucum, monotonic);
        out.insert(
            key,
            OtelFamily {
                name,
                unit: f.unit.ucum.clone(),
                description: f.help.clone(),
                monotonic,
                points,
            },
        );
    }
    out
}

pub(super) fn instrument_key(name: &str, unit: &str, monotonic: bool) -> String {
    format!("{name}|{unit}|{}", if monotonic { "sum" } else { "gauge" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::units::unit_mapping;

    #[test]
    fn names_drop_the_unit_suffix_and_total() {
        let ms = unit_mapping("milliseconds", "ms");
        assert_eq!(
            otel_name("asc_launch_time_seconds", false, &ms),
            "asc_launch_time"
        );
        let pct = unit_mapping("", "%");
        assert_eq!(
            otel_name("asc_insight_regression_delta_ratio", false, &pct),
            "asc_insight_regression_delta"
        );
        let by = unit_mapping("megabytes", "MB");
        assert_eq!(
            otel_name("asc_peak_memory_bytes", false, &by),
            "asc_peak_memory"
        );
        let sph = unit_mapping("secondsPerHour", "");
        assert_eq!(
            otel_name("asc_hang_rate_seconds_per_hour", false, &sph),
            "asc_hang_rate_seconds_per_hour"
        );
        let req = UnitMapping {
            suffix: String::new(),
            factor: 1.0,
            ucum: "{request}".into(),
        };
        assert_eq!(
            otel_name("asc_api_requests_total", true, &req),
            "asc_api_requests"
        );
        assert_eq!(
            otel_name("asc_data_available", false, &UnitMapping::none()),
            "asc_data_available"
        );
    }
}
