//! The OpenTelemetry output: the Prometheus families pushed as OTel metrics
//! over OTLP (gRPC or HTTP/protobuf), and diagnostic logs as OTLP log
//! records, each sent once.
//!
//! # Metrics
//! The data is exactly [`mapping::families`](crate::export::mapping::families):
//! the Prometheus mapping, not a second one. Each family becomes one OTLP
//! metric (gauges a `Gauge`, counters a cumulative monotonic `Sum`) named by
//! [`otel_name`]: the Prometheus name without the unit suffix (and without
//! `_total` for counters), the unit in the metric's unit field (UCUM `s`,
//! `By`, `1`, or a `{annotation}`), the labels as attributes. A Collector's
//! Prometheus exporter, or Prometheus's own OTLP receiver, adds the suffixes
//! back and yields the names a scrape shows.
//!
//! The request is encoded once per snapshot ([`wire`], off the async
//! workers) and sent every `otlp.interval` and right after each snapshot
//! with only its timestamps rewritten ([`push`]); a series that leaves the
//! snapshot is no longer in the next request. Why not the SDK's metrics
//! pipeline: see [`wire`].
//!
//! # Logs
//! Each diagnostic log of a build's `logs` becomes one log record (see
//! [`log_records`]). The OTLP log exporter is driven directly (not through a
//! batch processor) so the output knows which records were delivered: a
//! delivered record's key (signature id + a stable hash of the log) goes
//! into a bounded set persisted in the state directory, so each log is sent
//! once, across refreshes and restarts. Failed batches are retried with
//! exponential backoff.
//!
//! # Robustness
//! Metrics and logs run in their own tasks; exports have timeouts and the
//! SDK exporters' retry policy; outcomes are counted
//! in [`ExportStats`] (shown on `/metrics`); `/metrics` never waits for OTLP.
//! Headers (API keys) are never logged.
//!
//! # Layout
//! - [`config`]: protocol, endpoint, headers, timeout, compression and
//!   resource resolution (explicit config > `OTEL_*` > defaults);
//! - [`metrics`]: families to OTel names, units and attributes;
//! - [`wire`]: the encoded metrics request; [`push`]: sending it, over
//!   [`coalesce`]'s TCP stream for gRPC (h2's frames written in batches);
//! - [`logs`]: diagnostic logs as log records (through the SDK's log
//!   exporter), and the sent-log keys;
//! - this module: the tasks that tie them to the snapshot channel.

pub mod coalesce;
pub mod config;
pub mod logs;
pub mod metrics;
pub mod push;
pub mod wire;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry_sdk::logs::{LogExporter as _, SdkLoggerProvider};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::unix_nanos;
use crate::config::OtlpConfig;
use crate::export::Mapped;
use crate::export::mapping::BuildMeta;
use crate::export::stats::{ExportStats, Signal};
use crate::refresh::state::StateStore;

pub use self::config::{
    MetricsTarget, Proto, SERVICE_NAME, header_clashes, log_exporter, metric_exporter,
    metrics_target, new_instance_id, resolve_protocol, resource,
};
pub use self::logs::{
    MAX_SENT_KEYS, PendingLog, SENT_LOGS_FILE, SentLogs, log_key, log_records, severity,
};
pub use self::metrics::{OtelFamily, otel_families, otel_families_of, otel_name};
pub use self::wire::{MetricsRequest, Stamp};

use self::config::{DEFAULT_TIMEOUT, std_env, warn_header_clashes};
use self::logs::{LOG_BACKOFF_MIN, LogsState};
use self::push::MetricsClient;

/// Instrumentation scope of every metric and log record.
pub const SCOPE: &str = "asc-perf-exporter";
/// Bound of one metrics request: a Collector's gRPC receiver refuses
/// messages over 4 MiB by default (`max_recv_msg_size_mib`), its HTTP
/// receiver bodies over 20 MiB; the snapshot is sent as several requests.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// A running OTLP output.
pub struct OtlpOutput {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OtlpOutput {
    /// Waits for the task (it ends after the shutdown token, flushing with
    /// a bounded timeout).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the OTLP output: builds the exporters (errors in the configuration
/// are returned here), then exports from `rx` until `shutdown`.
pub fn start(
    config: &OtlpConfig,
    meta: BuildMeta,
    rx: watch::Receiver<Option<Arc<Mapped>>>,
    store: Option<StateStore>,
    stats: Arc<ExportStats>,
    shutdown: CancellationToken,
) -> anyhow::Result<OtlpOutput> {
    warn_header_clashes(config, &std_env);
    let instance_id = new_instance_id();
    let res = resource(config, &meta, &instance_id);
    let timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);

    let target = metrics_target(config, &std_env)?;
    let client = MetricsClient::new(target)?;
    let resource_attrs: Vec<(String, opentelemetry::Value)> = res
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(meta.version.clone())
        .build();

    let logs = if config.logs {
        let mut exporter = log_exporter(config)?;
        exporter.set_resource(&res);
        let lp = SdkLoggerProvider::builder()
            .with_resource(res.clone())
            .build();
        let logger = lp.logger_with_scope(scope.clone());
        Some(LogsState {
            exporter: Arc::new(exporter),
            logger: Arc::new(logger),
            _provider: lp,
            scope: scope.clone(),
            sent: Arc::new(Mutex::new(SentLogs::load(store.as_ref()))),
            store,
            backoff: LOG_BACKOFF_MIN,
            retry_at: None,
        })
    } else {
        None
    };
    tracing::info!(
        protocol = ?resolve_protocol(config, Signal::Metrics, &std_env).ok(),
        endpoint = config.endpoint.as_deref().unwrap_or("(OTEL_EXPORTER_OTLP_* or default)"),
        interval = %humantime::format_duration(config.interval),
        logs = config.logs,
        instance_id = %instance_id,
        "OTLP output started"
    );
    let metrics = MetricsTask {
        client,
        resource: resource_attrs,
        scope_version: meta.version.clone(),
        requests: Vec::new(),
        output_start: unix_nanos(),
        previous: unix_nanos(),
        stats: stats.clone(),
    };
    let metrics = tokio::spawn(metrics.run(rx.clone(), config.interval, timeout, shutdown.clone()));
    let logs = tokio::spawn(run_logs(rx, logs, stats, timeout, shutdown));
    Ok(OtlpOutput {
        tasks: vec![metrics, logs],
    })
}

/// The metrics side: the current snapshot's encoded request, re-sent.
struct MetricsTask {
    client: MetricsClient,
    resource: Vec<(String, opentelemetry::Value)>,
    scope_version: String,
    /// The current snapshot's requests (several when it is large).
    requests: Vec<MetricsRequest>,
    output_start: u64,
    previous: u64,
    stats: Arc<ExportStats>,
}

impl MetricsTask {
    async fn run(
        mut self,
        mut rx: watch::Receiver<Option<Arc<Mapped>>>,
        interval: Duration,
        timeout: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut fresh = rx.borrow_and_update().clone();
        loop {
            if let Some(mapped) = fresh.take() {
                self.encode(mapped).await;
                // Push the new data now rather than at the next tick.
                self.export().await;
                tick.reset();
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = rx.changed() => {
                    if changed.is_err() { break }
                    fresh = rx.borrow_and_update().clone();
                }
                _ = tick.tick() => self.export().await,
            }
        }
        // Shutdown: one last export, bounded.
        let limit = timeout + Duration::from_secs(2);
        if tokio::time::timeout(limit, self.export()).await.is_err() {
            tracing::warn!("OTLP metrics shutdown export timed out");
        }
    }

    /// Encodes the snapshot's request, off the async workers.
    async fn encode(&mut self, mapped: Arc<Mapped>) {
        let resource = self.resource.clone();
        let version = self.scope_version.clone();
        let job = tokio::task::spawn_blocking(move || {
            let attrs: Vec<(&str, &opentelemetry::Value)> =
                resource.iter().map(|(k, v)| (k.as_str(), v)).collect();
            MetricsRequest::encode_split(
                &mapped.families,
                &attrs,
                SCOPE,
                &version,
                MAX_REQUEST_BYTES,
            )
        });
        match job.await {
            Ok(r) => {
                tracing::debug!(
                    requests = r.len(),
                    points = r.iter().map(|r| r.points).sum::<usize>(),
                    bytes = r.iter().map(|r| r.bytes().len()).sum::<usize>(),
                    "OTLP metrics requests encoded"
                );
                self.requests = r;
            }
            Err(e) => tracing::error!(error = %e, "encoding the OTLP metrics request failed"),
        }
    }

    /// Stamps and sends the current requests; counts the outcome (one per
    /// export: a failure when a request failed after its retries, which
    /// ends the export).
    async fn export(&mut self) {
        if self.requests.is_empty() {
            return;
        }
        let now = unix_nanos();
        let stamp = Stamp {
            previous_export: self.previous,
            output_start: self.output_start,
            now,
        };
        self.previous = now;
        let mut r = Ok(());
        for req in &mut self.requests {
            // Lent to the transport without a copy, taken back at the next export.
            let one = self.client.export(req.stamped(stamp)).await;
            if one.is_err() {
                // The collector is down or refusing: the rest would only
                // wait for the same failure.
                r = one;
                break;
            }
        }
        match r {
            Ok(()) => self.stats.record(Signal::Metrics, Ok(())),
            Err(e) => {
                tracing::warn!(error = %e, "OTLP metrics export failed; the next export retries");
                self.stats.record(Signal::Metrics, Err(e));
            }
        }
    }
}

/// The logs side: each snapshot's unsent logs, retried on failure.
async fn run_logs(
    mut rx: watch::Receiver<Option<Arc<Mapped>>>,
    mut logs: Option<LogsState>,
    stats: Arc<ExportStats>,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut snap = rx.borrow_and_update().clone();
    let mut fresh = snap.is_some();
    loop {
        if fresh {
            fresh = false;
            if let (Some(l), Some(m)) = (logs.as_mut(), snap.as_ref()) {
                l.send(&m.snapshot, &stats, timeout).await;
            }
        }
        let retry_at = logs.as_ref().and_then(|l| l.retry_at);
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = rx.changed() => {
                if changed.is_err() { break }
                snap = rx.borrow_and_update().clone();
                fresh = true;
            }
            _ = retry => {
                if let (Some(l), Some(m)) = (logs.as_mut(), snap.as_ref()) {
                    l.send(&m.snapshot, &stats, timeout).await;
                }
            }
        }
    }
    if let Some(l) = logs {
        let exporter = l.exporter.clone();
        drop(l);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = exporter.shutdown_with_timeout(Duration::from_secs(2));
        })
        .await;
    }
}
