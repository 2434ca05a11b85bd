//! Self-metrics of the push outputs (OTLP): export outcomes, counted by the
//! OTLP output and shown on `/metrics` by the Prometheus output.
//!
//! This is the one thing besides the [`Snapshot`](crate::refresh::Snapshot)
//! that the outputs share, on purpose: export outcomes happen between
//! refreshes (every export interval) and are not refresh data, so they
//! cannot live in the snapshot without the OTLP output writing into what the
//! refresh loop owns. The handle is write-only for the OTLP output and
//! read-only for the Prometheus output, which reads it at scrape time (a
//! live collector in [`live`](crate::export::live)), so an export never
//! re-encodes the exposition.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    Metrics,
    Logs,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// A plain copy of the counters, for encoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportStatsSnapshot {
    /// `(signal, success, failure)`.
    pub exports: Vec<(&'static str, u64, u64)>,
    /// Unix seconds of the latest successful export, per signal.
    pub last_success_unix: Vec<(&'static str, f64)>,
    /// Diagnostic log records delivered.
    pub log_records_sent: u64,
    /// The latest export error per signal (not exported as a label; for logs).
    pub last_error: Vec<(&'static str, String)>,
}

/// The counters, shared by the OTLP output (writes) and `/metrics` (reads).
#[derive(Debug, Default)]
pub struct ExportStats {
    metrics_ok: AtomicU64,
    metrics_err: AtomicU64,
    logs_ok: AtomicU64,
    logs_err: AtomicU64,
    records_sent: AtomicU64,
    last: Mutex<LastOutcome>,
}

#[derive(Debug, Default)]
struct LastOutcome {
    metrics_success_unix: Option<f64>,
    logs_success_unix: Option<f64>,
    metrics_error: Option<String>,
    logs_error: Option<String>,
}

impl ExportStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one export attempt's outcome. `error` must not contain
    /// secrets (exporter errors name the endpoint, never the headers).
    pub fn record(&self, signal: Signal, result: Result<(), String>) {
        let (ok, err) = match signal {
            Signal::Metrics => (&self.metrics_ok, &self.metrics_err),
            Signal::Logs => (&self.logs_ok, &self.logs_err),
        };
        {
            let mut guard = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let last = &mut *guard;
            let (ts, e) = match signal {
                Signal::Metrics => (&mut last.metrics_success_unix, &mut last.metrics_error),
                Signal::Logs => (&mut last.logs_success_unix, &mut last.logs_error),
            };
            match result {
                Ok(()) => {
                    ok.fetch_add(1, Ordering::Relaxed);
                    *ts = Some(crate::clock::unix_now());
                    *e = None;
                }
                Err(msg) => {
                    err.fetch_add(1, Ordering::Relaxed);
                    *e = Some(msg);
                }
            }
        }
    }

    /// Counts delivered log records.
    pub fn add_log_records(&self, n: u64) {
        self.records_sent.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ExportStatsSnapshot {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = ExportStatsSnapshot {
            exports: vec![
                (
                    Signal::Logs.as_str(),
                    self.logs_ok.load(Ordering::Relaxed),
                    self.logs_err.load(Ordering::Relaxed),
                ),
                (
                    Signal::Metrics.as_str(),
                    self.metrics_ok.load(Ordering::Relaxed),
                    self.metrics_err.load(Ordering::Relaxed),
                ),
            ],
            log_records_sent: self.records_sent.load(Ordering::Relaxed),
            ..Default::default()
        };
        for (signal, ts, err) in [
            (Signal::Logs, last.logs_success_unix, &last.logs_error),
            (
                Signal::Metrics,
                last.metrics_success_unix,
                &last.metrics_error,
            ),
        ] {
            if let Some(ts) = ts {
                s.last_success_unix.push((signal.as_str(), ts));
            }
            if let Some(e) = err {
                s.last_error.push((signal.as_str(), e.clone()));
            }
        }
        s
    }
}
