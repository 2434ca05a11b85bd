//! The exporter's live metrics: what changes between snapshots (OTLP export
//! outcomes, state-file writes, the HTTP server's connection counters, the
//! process metrics, the scrapes served), held in `prometheus` crate
//! [`Registry`]s and encoded at every scrape, after the cached Apple data.
//! A few kilobytes a scrape; an OTLP export or a request counter never
//! re-encodes the big exposition.
//!
//! Two registries, as the exporter-toolkit splits them: the self-metrics of
//! the data's path (OTLP exports, state writes), always shown, and the
//! exporter's own serving metrics (`process_*` from the crate's process
//! collector, `promhttp_metric_handler_requests_total`, the HTTP server's
//! `asc_exporter_http_*`), which `web.disable_exporter_metrics` leaves out:
//! with it, two scrapes of one snapshot are the same bytes.
//!
//! The self-metrics are read from their owners' counters when a scrape
//! gathers them ([`StatsCollector`]), so their owners keep plain atomics and
//! know nothing of Prometheus.

use std::sync::Arc;

use ::prometheus::core::{Collector, Desc};
use ::prometheus::proto::{self, LabelPair, Metric, MetricFamily, MetricType};
use ::prometheus::{IntCounterVec, Opts, Registry, TextEncoder};

use super::exposition::Format;
use super::model::{Families, Family, Kind, Strings};
use super::openmetrics;
use super::stats::ExportStats;
use super::text::Escaped;
use super::units::UnitMapping;
use crate::refresh::state::StateStats;

/// One family a [`StatsCollector`] reports.
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub help: &'static str,
    /// [`Kind::Counter`] or [`Kind::Gauge`].
    pub kind: Kind,
    pub labels: &'static [&'static str],
}

/// The samples of one gather, by the index of their [`Def`].
pub struct Samples {
    families: Vec<MetricFamily>,
}

impl Samples {
    /// Adds a sample to family `def` (label values in the def's order).
    pub fn add(&mut self, defs: &[Def], def: usize, values: &[&str], value: f64) {
        let d = &defs[def];
        let labels = d
            .labels
            .iter()
            .zip(values)
            .map(|(n, v)| {
                let mut lp = LabelPair::default();
                lp.set_name((*n).to_string());
                lp.set_value((*v).to_string());
                lp
            })
            .collect();
        let mut m = Metric::from_label(labels);
        if d.kind == Kind::Counter {
            let mut c = proto::Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = proto::Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        self.families[def].mut_metric().push(m);
    }
}

type Read = dyn Fn(&mut Samples) + Send + Sync;

/// A collector that reads its values from their owner at every gather.
pub struct StatsCollector {
    defs: &'static [Def],
    descs: Vec<Desc>,
    read: Box<Read>,
}

impl StatsCollector {
    /// A collector of `defs`, filled by `read` at every gather.
    pub fn new(
        defs: &'static [Def],
        read: impl Fn(&'static [Def], &mut Samples) + Send + Sync + 'static,
    ) -> Self {
        let descs = defs
            .iter()
            .filter_map(|d| {
                let labels = d.labels.iter().map(|l| l.to_string()).collect();
                Desc::new(d.name.into(), d.help.into(), labels, Default::default()).ok()
            })
            .collect();
        Self {
            defs,
            descs,
            read: Box::new(move |s| read(defs, s)),
        }
    }
}

impl Collector for StatsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut samples = Samples {
            families: self
                .defs
                .iter()
                .map(|d| {
                    let mut mf = MetricFamily::default();
                    mf.set_name(d.name.into());
                    mf.set_help(d.help.into());
                    mf.set_field_type(if d.kind == Kind::Counter {
                        MetricType::COUNTER
                    } else {
                        MetricType::GAUGE
                    });
                    mf
                })
                .collect(),
        };
        (self.read)(&mut samples);
        samples
            .families
            .into_iter()
            .filter(|f| !f.get_metric().is_empty())
            .collect()
    }
}

/// The exporter's live metrics, encoded at every scrape.
pub struct LiveMetrics {
    stats: Registry,
    toolkit: Option<Registry>,
    scrapes: Option<IntCounterVec>,
}

impl LiveMetrics {
    /// The registries; `exporter_metrics: false` (`web.disable_exporter_metrics`)
    /// leaves out the process metrics and the scrape counter.
    pub fn new(exporter_metrics: bool) -> Self {
        let (toolkit, scrapes) = if exporter_metrics {
            let registry = Registry::new();
            #[cfg(target_os = "linux")]
            {
                let collector = ::prometheus::process_collector::ProcessCollector::for_self();
                if let Err(e) = registry.register(Box::new(collector)) {
                    tracing::warn!(error = %e, "the process metrics collector did not register");
                }
            }
            let scrapes = IntCounterVec::new(
                Opts::new(
                    "promhttp_metric_handler_requests_total",
                    "Total number of scrapes by HTTP status code.",
                ),
                &["code"],
            )
            .ok()
            .filter(|c| registry.register(Box::new(c.clone())).is_ok());
            if let Some(c) = &scrapes {
                // As promhttp does: the codes a scrape can end with, from 0.
                for code in ["200", "500", "503"] {
                    c.with_label_values(&[code]);
                }
            }
            (Some(registry), scrapes)
        } else {
            (None, None)
        };
        Self {
            stats: Registry::new(),
            toolkit,
            scrapes,
        }
    }

    /// Adds a collector of `asc_*` self-metrics (a family name may be
    /// registered once).
    pub fn register(&self, collector: Box<dyn Collector>) {
        if let Err(e) = self.stats.register(collector) {
            tracing::warn!(error = %e, "a self-metrics collector did not register");
        }
    }

    /// Adds a collector of the exporter's own serving metrics (the HTTP
    /// server's connections): with the process metrics, left out by
    /// `web.disable_exporter_metrics`.
    pub fn register_exporter(&self, collector: Box<dyn Collector>) {
        if let Some(t) = &self.toolkit
            && let Err(e) = t.register(collector)
        {
            tracing::warn!(error = %e, "an exporter metrics collector did not register");
        }
    }

    /// Counts a scrape answered with `code`.
    pub fn scrape_served(&self, code: u16) {
        if let Some(c) = &self.scrapes {
            c.with_label_values(&[&code.to_string()]).inc();
        }
    }

    /// Everything gathered now, sorted by name.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut all = self.stats.gather();
        if let Some(t) = &self.toolkit {
            all.extend(t.gather());
        }
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Reads the current values and encodes them in `format` (OpenMetrics
    /// without `# EOF`: the caller ends the exposition).
    pub fn encode(&self, format: Format) -> Vec<u8> {
        let families = self.gather();
        match format {
            Format::Text => {
                let mut out = String::with_capacity(2048);
                if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
                    tracing::warn!(error = %e, "encoding the live metrics failed");
                    out.clear();
                }
                out.into_bytes()
            }
            Format::OpenMetrics => {
                let set = from_protos(&families);
                let escaped = Escaped::new(&set);
                let mut out = Vec::with_capacity(2048);
                for f in &set.families {
                    openmetrics::write_family(&mut out, &escaped, f);
                }
                out
            }
        }
    }
}

/// The unit a family's name ends with (without a counter's `_total`).
fn unit_of(name: &str) -> UnitMapping {
    let family = name.strip_suffix("_total").unwrap_or(name);
    if family.ends_with("_seconds") {
        UnitMapping::known("seconds", 1.0, "s")
    } else if family.ends_with("_bytes") {
        UnitMapping::known("bytes", 1.0, "By")
    } else if family.ends_with("_ratio") {
        UnitMapping::known("ratio", 1.0, "1")
    } else {
        UnitMapping::none()
    }
}

/// Proto families (of a registry) in the family model. Histograms and
/// summaries are left out with a warning (no live metric is one).
pub fn from_protos(protos: &[MetricFamily]) -> Families {
    let mut strings = Strings::default();
    let mut families = Vec::with_capacity(protos.len());
    for mf in protos {
        let t = mf.get_field_type();
        let kind = match t {
            MetricType::COUNTER => Kind::Counter,
            MetricType::GAUGE => Kind::Gauge,
            MetricType::UNTYPED => Kind::Unknown,
            MetricType::HISTOGRAM | MetricType::SUMMARY => {
                tracing::warn!(
                    family = mf.name(),
                    "histograms and summaries are not written"
                );
                continue;
            }
        };
        let mut f = Family::new(mf.name(), mf.help(), kind, unit_of(mf.name()));
        for m in mf.get_metric() {
            let labels: Vec<_> = m
                .get_label()
                .iter()
                .map(|lp| (strings.intern(lp.name()), strings.intern(lp.value())))
                .collect();
            let value = match t {
                MetricType::COUNTER => m.get_counter().value(),
                MetricType::GAUGE => m.get_gauge().value(),
                _ => m.untyped.value(),
            };
            f.push(&labels, value);
        }
        families.push(f);
    }
    let mut set = Families::with_strings(strings);
    set.families = families;
    set
}

// ---------------------------------------------------------------------------
// The self-metrics of the OTLP output and the state writes.

const OTLP_DEFS: &[Def] = &[
    Def {
        name: super::names::OTLP_EXPORTS,
        help: "OTLP export requests since the exporter started, by signal (metrics, logs) and result (success, failure; a failure counts once per export after the exporter's own retries).",
        kind: Kind::Counter,
        labels: &["signal", "result"],
    },
    Def {
        name: super::names::OTLP_LAST_SUCCESS_TS,
        help: "Unix time of the latest successful OTLP export, by signal.",
        kind: Kind::Gauge,
        labels: &["signal"],
    },
    Def {
        name: super::names::OTLP_LOG_RECORDS,
        help: "Diagnostic logs delivered as OTLP log records since the exporter started (each log is sent once, across restarts with a state directory).",
        kind: Kind::Counter,
        labels: &[],
    },
];

/// The OTLP output's export outcomes.
pub fn otlp_collector(stats: Arc<ExportStats>) -> StatsCollector {
    StatsCollector::new(OTLP_DEFS, move |defs, out| {
        let st = stats.snapshot();
        for (signal, ok, err) in &st.exports {
            out.add(defs, 0, &[signal, "success"], *ok as f64);
            out.add(defs, 0, &[signal, "failure"], *err as f64);
        }
        for (signal, ts) in &st.last_success_unix {
            out.add(defs, 1, &[signal], *ts);
        }
        out.add(defs, 2, &[], st.log_records_sent as f64);
    })
}

const STATE_DEFS: &[Def] = &[
    Def {
        name: super::names::STATE_WRITE_FAILURES,
        help: "Writes of the state file (state_dir) that failed since the exporter started; the data is still served from memory.",
        kind: Kind::Counter,
        labels: &[],
    },
    Def {
        name: super::names::STATE_LAST_WRITE_TS,
        help: "Unix time of the latest successful write of the state file.",
        kind: Kind::Gauge,
        labels: &[],
    },
];

/// The state-file writes.
pub fn state_collector(stats: Arc<StateStats>) -> StatsCollector {
    StatsCollector::new(STATE_DEFS, move |defs, out| {
        let st = stats.snapshot();
        out.add(defs, 0, &[], st.write_failures as f64);
        if let Some(ts) = st.last_write_success_unix {
            out.add(defs, 1, &[], ts);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::stats::Signal;

    #[test]
    fn stats_are_read_at_every_gather() {
        let live = LiveMetrics::new(false);
        let stats = Arc::new(ExportStats::new());
        live.register(Box::new(otlp_collector(stats.clone())));
        let text = |live: &LiveMetrics| String::from_utf8(live.encode(Format::Text)).unwrap();
        let before = text(&live);
        assert!(
            !before.contains("signal=\"metrics\",result=\"success\"} 1"),
            "{before}"
        );
        stats.record(Signal::Metrics, Ok(()));
        let after = text(&live);
        assert!(
            after.contains("asc_otlp_exports_total{signal=\"metrics\",result=\"success\"} 1\n"),
            "{after}"
        );
        assert!(
            after.contains("asc_otlp_log_records_sent_total 0\n"),
            "{after}"
        );
        assert!(!after.contains("process_"), "exporter metrics are off");
        let om = String::from_utf8(live.encode(Format::OpenMetrics)).unwrap();
        assert!(om.contains("# TYPE asc_otlp_exports counter\n"), "{om}");
        assert!(
            om.contains("# TYPE asc_otlp_last_export_success_timestamp_seconds gauge\n# UNIT asc_otlp_last_export_success_timestamp_seconds seconds\n"),
            "{om}"
        );
        assert!(!om.contains("# EOF"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn toolkit_metrics_in_both_formats() {
        let live = LiveMetrics::new(true);
        live.scrape_served(200);
        let text = String::from_utf8(live.encode(Format::Text)).unwrap();
        let om = String::from_utf8(live.encode(Format::OpenMetrics)).unwrap();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
            "promhttp_metric_handler_requests_total{code=\"200\"} 1",
            "promhttp_metric_handler_requests_total{code=\"503\"} 0",
        ] {
            assert!(text.contains(name), "{name} in\n{text}");
            assert!(om.contains(name), "{name} in\n{om}");
        }
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
        assert!(
            om.contains("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n"),
            "{om}"
        );
        assert!(
            om.contains("# UNIT process_resident_memory_bytes bytes\n"),
            "{om}"
        );
        assert!(!om.contains("# UNIT process_open_fds"), "{om}");
    }
}
