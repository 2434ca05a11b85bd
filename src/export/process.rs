//! The exporter's own process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`,
//! `process_threads`), read from `/proc` by the `prometheus` crate's process
//! collector at every scrape and encoded on their own (a few hundred bytes),
//! so they are current on every scrape while the big exposition stays
//! encoded once per refresh. `web.disable_exporter_metrics` leaves them out,
//! as the exporter-toolkit's `--web.disable-exporter-metrics` does.
//!
//! The collector exists on Linux only; elsewhere the part is empty. It
//! reports CPU time in whole seconds (the crate's counter is an integer).

use std::sync::OnceLock;

use ::prometheus::{Registry, TextEncoder};

use super::exposition::Format;
use super::openmetrics::{self, Kind};

/// A registry holding the process collector, encoded per scrape.
pub struct ProcessMetrics {
    registry: Registry,
}

impl ProcessMetrics {
    /// The process's collector (its start time is read once, here).
    pub fn new() -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let collector = ::prometheus::process_collector::ProcessCollector::for_self();
            if let Err(e) = registry.register(Box::new(collector)) {
                tracing::warn!(error = %e, "the process metrics collector did not register");
            }
        }
        Self { registry }
    }

    /// The one collector of this process, made on first use.
    pub fn global() -> &'static ProcessMetrics {
        static GLOBAL: OnceLock<ProcessMetrics> = OnceLock::new();
        GLOBAL.get_or_init(ProcessMetrics::new)
    }

    /// Reads the process's current values and encodes them in `format`
    /// (OpenMetrics without `# EOF`: the caller ends the exposition).
    pub fn encode(&self, format: Format) -> Vec<u8> {
        let families = self.registry.gather();
        let mut out = String::with_capacity(1024);
        match format {
            Format::Text => {
                if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
                    tracing::warn!(error = %e, "encoding the process metrics failed");
                    out.clear();
                }
            }
            Format::OpenMetrics => {
                for mf in &families {
                    let Some(kind) = Kind::of(mf) else { continue };
                    let family = openmetrics::family_name(mf.name(), kind);
                    openmetrics::write_family(&mut out, mf, kind, unit_of(family));
                }
            }
        }
        out.into_bytes()
    }
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The unit a process family's name ends with.
fn unit_of(family: &str) -> &'static str {
    if family.ends_with("_seconds") {
        "seconds"
    } else if family.ends_with("_bytes") {
        "bytes"
    } else {
        ""
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn both_formats_have_the_standard_families() {
        let p = ProcessMetrics::new();
        let text = String::from_utf8(p.encode(Format::Text)).unwrap();
        let om = String::from_utf8(p.encode(Format::OpenMetrics)).unwrap();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{name} in\n{text}"
            );
            assert!(om.lines().any(|l| l.starts_with(name)), "{name} in\n{om}");
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
        assert!(
            om.contains("# UNIT process_start_time_seconds seconds\n"),
            "{om}"
        );
        assert!(!om.contains("# UNIT process_open_fds"), "{om}");
        assert!(!om.contains("# EOF"), "{om}");
    }
}
