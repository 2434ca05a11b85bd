//! Diagnostic logs as OTLP log records: one record per log of a build's
//! `logs` ([`log_records`]), each sent once. The log exporter is driven
//! directly (not through a batch processor) so the output knows which
//! records were delivered; a delivered record's key ([`log_key`]) goes into
//! a bounded set ([`SentLogs`]) persisted in the state directory. Failed
//! batches are retried with exponential backoff.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{LogRecord as _, Logger as _, Severity};
use opentelemetry_otlp::LogExporter;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLoggerProvider};
use serde::{Deserialize, Serialize};

use crate::asc::model::{DiagnosticLog, DiagnosticLogs};
use crate::export::stats::{ExportStats, Signal};
use crate::refresh::Snapshot;
use crate::refresh::state::StateStore;

/// Bound of the persisted set of sent log keys (oldest dropped first).
pub const MAX_SENT_KEYS: usize = 20_000;
/// File in the state directory holding the sent log keys.
pub const SENT_LOGS_FILE: &str = "otlp-sent-logs.json";
/// Log records per export request.
const LOG_BATCH: usize = 200;
/// Backoff of failed log exports.
pub(super) const LOG_BACKOFF_MIN: Duration = Duration::from_secs(1);
const LOG_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The set of delivered log keys, bounded (oldest first out), persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SentLogs {
    pub format: u32,
    /// Keys in the order they were sent.
    pub keys: VecDeque<String>,
    #[serde(skip)]
    set: HashSet<String>,
}

impl SentLogs {
    pub fn from_keys(keys: impl IntoIterator<Item = String>) -> Self {
        let mut s = Self {
            format: 1,
            ..Default::default()
        };
        for k in keys {
            s.insert(k);
        }
        s
    }

    pub fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    pub fn insert(&mut self, key: String) {
        if self.set.insert(key.clone()) {
            self.keys.push_back(key);
        }
        while self.keys.len() > MAX_SENT_KEYS {
            if let Some(old) = self.keys.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(super) fn load(store: Option<&StateStore>) -> Self {
        let loaded: Option<SentLogs> = store.and_then(|s| s.load_aux(SENT_LOGS_FILE));
        match loaded {
            Some(l) => Self::from_keys(l.keys),
            None => Self::from_keys([]),
        }
    }
}

/// FNV-1a 64: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The dedup key of a log: `<signature id>:<hash of the log's JSON>`.
pub fn log_key(signature_id: &str, log: &DiagnosticLog) -> String {
    let json = serde_json::to_vec(log).unwrap_or_default();
    format!("{signature_id}:{:016x}", fnv1a(&json))
}

/// Severity by diagnostic type: hangs and slow launches are user-visible
/// (WARN), disk writes wear storage (INFO); anything else INFO.
pub fn severity(diagnostic_type: &str) -> (Severity, &'static str) {
    match diagnostic_type {
        "HANGS" | "LAUNCHES" => (Severity::Warn, "WARN"),
        _ => (Severity::Info, "INFO"),
    }
}

/// A log record before it becomes an SDK record: plain data, testable.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLog {
    pub key: String,
    pub body: String,
    pub severity: Severity,
    pub severity_text: &'static str,
    pub attributes: Vec<(&'static str, String)>,
}

/// Every diagnostic log of the snapshot as a record (sent or not).
pub fn log_records(snapshot: &Snapshot) -> Vec<PendingLog> {
    let mut out = Vec::new();
    for app in &snapshot.apps {
        for bs in &app.builds {
            for (sig_id, logs) in &bs.logs {
                let sig = bs.signatures.iter().find(|s| &s.id == sig_id);
                let diagnostic_type = sig
                    .map(|s| s.diagnostic_type().to_string())
                    .unwrap_or_default();
                let signature = sig.map(|s| s.signature().to_string()).unwrap_or_default();
                push_logs(
                    &mut out,
                    app,
                    bs,
                    sig_id,
                    &diagnostic_type,
                    &signature,
                    logs,
                );
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn push_logs(
    out: &mut Vec<PendingLog>,
    app: &crate::refresh::snapshot::AppSnapshot,
    bs: &crate::refresh::snapshot::BuildSnapshot,
    sig_id: &str,
    diagnostic_type: &str,
    signature: &str,
    logs: &DiagnosticLogs,
) {
    for pd in &logs.product_data {
        let insights: Vec<&str> = pd
            .diagnostic_insights
            .iter()
            .filter_map(|i| i.insights_category.as_deref())
            .filter(|c| !c.is_empty())
            .collect();
        for log in &pd.diagnostic_logs {
            let m = &log.diagnostic_meta_data;
            let key = log_key(sig_id, log);
            let tree = crate::asc::model::callstack::call_stack_trees(&log.call_stack_tree, "");
            let body = format!("{diagnostic_type} {signature}\n{tree}");
            let (sev, sev_text) = severity(diagnostic_type);
            let version = m
                .app_version
                .clone()
                .or_else(|| bs.build.version.clone())
                .unwrap_or_default();
            let mut attributes: Vec<(&'static str, String)> = vec![
                ("app_id", app.app.id.clone()),
                ("app", app.app.name.clone()),
                (
                    "bundle_id",
                    m.bundle_id
                        .clone()
                        .filter(|b| !b.is_empty())
                        .unwrap_or_else(|| app.app.bundle_id.clone()),
                ),
                ("version", version),
                ("build", bs.build.number.clone()),
                ("diagnostic_type", diagnostic_type.to_string()),
                ("signature_id", sig_id.to_string()),
                ("signature", signature.to_string()),
            ];
            let optional = [
                ("device_type", &m.device_type),
                ("os_version", &m.os_version),
                ("event", &m.event),
                ("event_detail", &m.event_detail),
                ("writes_caused", &m.writes_caused),
                ("platform_architecture", &m.platform_architecture),
                ("build_version", &m.build_version),
            ];
            for (k, v) in optional {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    attributes.push((k, v.to_string()));
                }
            }
            if !insights.is_empty() {
                attributes.push(("insights_category", insights.join(",")));
            }
            attributes.push(("log_key", key.clone()));
            out.push(PendingLog {
                key,
                body,
                severity: sev,
                severity_text: sev_text,
                attributes,
            });
        }
    }
}

/// Exports `pending` in one request; `Ok` when the collector accepted it.
fn export_logs_blocking(
    exporter: &LogExporter,
    logger: &opentelemetry_sdk::logs::SdkLogger,
    scope: &InstrumentationScope,
    pending: &[PendingLog],
) -> OTelSdkResult {
    let now = SystemTime::now();
    let records: Vec<_> = pending
        .iter()
        .map(|p| {
            let mut r = logger.create_log_record();
            r.set_event_name("asc.diagnostic_log");
            r.set_observed_timestamp(now);
            r.set_severity_number(p.severity);
            r.set_severity_text(p.severity_text);
            r.set_body(p.body.clone().into());
            for (k, v) in &p.attributes {
                r.add_attribute(*k, v.clone());
            }
            r
        })
        .collect();
    let refs: Vec<_> = records.iter().map(|r| (r, scope)).collect();
    futures::executor::block_on(exporter.export(LogBatch::new(&refs)))
}

/// The log side of the output task: exporter, delivered keys, retry state.
pub(super) struct LogsState {
    pub(super) exporter: Arc<LogExporter>,
    pub(super) logger: Arc<opentelemetry_sdk::logs::SdkLogger>,
    pub(super) _provider: SdkLoggerProvider,
    pub(super) scope: InstrumentationScope,
    pub(super) sent: Arc<Mutex<SentLogs>>,
    pub(super) store: Option<StateStore>,
    pub(super) backoff: Duration,
    pub(super) retry_at: Option<Instant>,
}

impl LogsState {
    /// Sends the snapshot's unsent logs; on failure schedules a retry.
    pub(super) async fn send(&mut self, snap: &Snapshot, stats: &ExportStats, timeout: Duration) {
        let pending: Vec<PendingLog> = {
            let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = HashSet::new();
            log_records(snap)
                .into_iter()
                .filter(|p| !sent.contains(&p.key) && seen.insert(p.key.clone()))
                .collect()
        };
        if pending.is_empty() {
            self.retry_at = None;
            return;
        }
        let mut delivered = 0usize;
        for chunk in pending.chunks(LOG_BATCH) {
            let chunk = chunk.to_vec();
            let (exporter, logger, scope) = (
                self.exporter.clone(),
                self.logger.clone(),
                self.scope.clone(),
            );
            let job = tokio::task::spawn_blocking(move || {
                let r = export_logs_blocking(&exporter, &logger, &scope, &chunk);
                (r, chunk)
            });
            // The exporter's own timeout and retries bound the request; this
            // bounds the wait even if they do not.
            let limit = timeout * 5 + Duration::from_secs(10);
            let outcome = match tokio::time::timeout(limit, job).await {
                Ok(Ok((r, chunk))) => r.map(|()| chunk).map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(format!("log export task failed: {e}")),
                Err(_) => Err(format!("log export did not finish within {limit:?}")),
            };
            match outcome {
                Ok(chunk) => {
                    stats.record(Signal::Logs, Ok(()));
                    stats.add_log_records(chunk.len() as u64);
                    delivered += chunk.len();
                    let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                    for p in chunk {
                        sent.insert(p.key);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?self.backoff, "OTLP logs export failed");
                    stats.record(Signal::Logs, Err(e));
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(LOG_BACKOFF_MAX);
                    break;
                }
            }
        }
        if delivered > 0 {
            tracing::info!(records = delivered, "diagnostic logs sent over OTLP");
            self.persist().await;
        }
        if delivered == pending.len() {
            self.retry_at = None;
            self.backoff = LOG_BACKOFF_MIN;
        }
    }

    async fn persist(&self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let r = tokio::task::spawn_blocking(move || store.save_aux(SENT_LOGS_FILE, &sent)).await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot persist the sent OTLP log keys"),
            Err(e) => tracing::warn!(error = %e, "cannot persist the sent OTLP log keys"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_logs_are_bounded_and_ordered() {
        let mut s = SentLogs::from_keys([]);
        for i in 0..(MAX_SENT_KEYS + 5) {
            s.insert(format!("k{i}"));
        }
        assert_eq!(s.len(), MAX_SENT_KEYS);
        assert!(!s.contains("k0") && !s.contains("k4"));
        assert!(s.contains("k5") && s.contains(&format!("k{}", MAX_SENT_KEYS + 4)));
        s.insert("k5".into());
        assert_eq!(s.len(), MAX_SENT_KEYS);
        let json = serde_json::to_string(&s).unwrap();
        let back: SentLogs = serde_json::from_str(&json).unwrap();
        let back = SentLogs::from_keys(back.keys);
        assert!(back.contains("k5"));
    }

    #[test]
    fn log_keys_are_stable() {
        let log = DiagnosticLog::default();
        assert_eq!(log_key("sig", &log), log_key("sig", &log));
        assert_ne!(log_key("sig", &log), log_key("other", &log));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn severities() {
        assert_eq!(severity("HANGS").1, "WARN");
        assert_eq!(severity("LAUNCHES").1, "WARN");
        assert_eq!(severity("DISK_WRITES").1, "INFO");
        assert_eq!(severity("NEW").1, "INFO");
    }
}
