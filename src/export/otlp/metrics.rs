//! The family model as OTel metrics: each family one observable
//! instrument (gauge, or a monotonic cumulative Sum for counters) named
//! without the unit suffix, the unit in the unit field, the labels as
//! attributes sharing the model's interned strings; and the exporter
//! wrapper that counts export outcomes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use opentelemetry_otlp::MetricExporter;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use crate::export::mapping::{self, BuildMeta};
use crate::export::model::{Families, Kind};
use crate::export::stats::{ExportStats, Signal};
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
                let attrs = s
                    .labels
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

fn instrument_key(name: &str, unit: &str, monotonic: bool) -> String {
    format!("{name}|{unit}|{}", if monotonic { "sum" } else { "gauge" })
}

/// Wraps the OTLP metric exporter to count outcomes in [`ExportStats`].
#[derive(Debug)]
pub(super) struct CountingExporter {
    pub(super) inner: MetricExporter,
    pub(super) stats: Arc<ExportStats>,
}

impl PushMetricExporter for CountingExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let r = self.inner.export(metrics).await;
        match &r {
            Ok(()) => self.stats.record(Signal::Metrics, Ok(())),
            Err(e) => {
                tracing::warn!(error = %e, "OTLP metrics export failed; the next export retries");
                self.stats.record(Signal::Metrics, Err(e.to_string()));
            }
        }
        r
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

pub(super) type Current = Arc<ArcSwap<BTreeMap<String, OtelFamily>>>;

/// Registers an observable instrument per family, reading `current`.
pub(super) struct Instruments {
    pub(super) meter: Meter,
    pub(super) current: Current,
    pub(super) registered: HashSet<String>,
    // Kept alive for the provider's lifetime.
    pub(super) gauges: Vec<opentelemetry::metrics::ObservableGauge<f64>>,
    pub(super) counters: Vec<opentelemetry::metrics::ObservableCounter<f64>>,
}

impl Instruments {
    pub(super) fn register_new(&mut self, families: &BTreeMap<String, OtelFamily>) {
        for (key, f) in families {
            if self.registered.contains(key) {
                continue;
            }
            self.registered.insert(key.clone());
            let current = self.current.clone();
            let k = key.clone();
            let observe = move |o: &dyn opentelemetry::metrics::AsyncInstrument<f64>| {
                if let Some(f) = current.load().get(&k) {
                    for (attrs, v) in &f.points {
                        o.observe(*v, attrs);
                    }
                }
            };
            if f.monotonic {
                self.counters.push(
                    self.meter
                        .f64_observable_counter(f.name.clone())
                        .with_unit(f.unit.clone())
                        .with_description(f.description.clone())
                        .with_callback(observe)
                        .build(),
                );
            } else {
                self.gauges.push(
                    self.meter
                        .f64_observable_gauge(f.name.clone())
                        .with_unit(f.unit.clone())
                        .with_description(f.description.clone())
                        .with_callback(observe)
                        .build(),
                );
            }
        }
    }
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
