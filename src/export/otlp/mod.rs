//! The OpenTelemetry output: the Prometheus families pushed as OTel metrics
//! over OTLP (gRPC or HTTP/protobuf), and diagnostic logs as OTLP log
//! records, each sent once.
//!
//! # Metrics
//! The data is exactly [`mapping::families`](crate::export::mapping::families): the Prometheus mapping, not
//! a second one. Each family becomes an observable instrument (gauges:
//! `ObservableGauge<f64>`, counters: `ObservableCounter<f64>`, a cumulative
//! monotonic Sum) named by [`otel_name`]: the Prometheus name without the
//! unit suffix (and without `_total` for counters), the unit in the
//! instrument's unit field (UCUM `s`, `By`, `1`, or a `{annotation}`), the
//! labels as attributes. A Collector's Prometheus exporter, or Prometheus's
//! own OTLP receiver, adds the suffixes back and yields the names a scrape
//! shows.
//!
//! Why observable instruments reading an [`ArcSwap`] rather than a custom
//! `MetricProducer`: the SDK's metric producer and manual-reader APIs are
//! behind `experimental_*` features in 0.33, while observable instruments
//! are the stable API. Their callbacks are cheap (one `ArcSwap` load and a
//! loop over precomputed attribute sets: the families are computed once per
//! snapshot, off the async workers), an observable gauge is aggregated with
//! delta temporality by the SDK, so a series that leaves the snapshot stops
//! being exported, and the per-instrument cardinality limit is raised by a
//! view (the default 2,000 would fold real data into an overflow series).
//! Instruments are registered the first time a family name shows up; a
//! family that disappears simply observes nothing.
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
//! Everything runs in its own task (metrics on the SDK's reader thread);
//! exports have timeouts and the exporter's retry policy; outcomes are counted
//! in [`ExportStats`] (shown on `/metrics`); `/metrics` never waits for OTLP.
//! Headers (API keys) are never logged.
//!
//! # Layout
//! - [`config`]: protocol, endpoint, headers, timeout, compression and
//!   resource resolution (explicit config > `OTEL_*` > defaults), and the
//!   SDK exporters built from them;
//! - [`metrics`]: the family model as OTel instruments;
//! - [`logs`]: diagnostic logs as log records, and the sent-log keys;
//! - this module: the task that ties them to the snapshot channel.

pub mod config;
pub mod logs;
pub mod metrics;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use opentelemetry::InstrumentationScope;
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::logs::{LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::OtlpConfig;
use crate::export::Mapped;
use crate::export::mapping::BuildMeta;
use crate::export::stats::{ExportStats, Signal};
use crate::refresh::state::StateStore;

pub use self::config::{
    Proto, SERVICE_NAME, header_clashes, log_exporter, metric_exporter, new_instance_id,
    resolve_protocol, resource,
};
pub use self::logs::{
    MAX_SENT_KEYS, PendingLog, SENT_LOGS_FILE, SentLogs, log_key, log_records, severity,
};
pub use self::metrics::{OtelFamily, otel_families, otel_families_of, otel_name};

use self::config::{DEFAULT_TIMEOUT, std_env, warn_header_clashes};
use self::logs::{LOG_BACKOFF_MIN, LogsState};
use self::metrics::{CountingExporter, Current, Instruments};

/// Instrumentation scope of every metric and log record.
const SCOPE: &str = "asc-perf-exporter";
/// Per-instrument cardinality limit (the SDK's default is 2,000).
const CARDINALITY_LIMIT: usize = 1_000_000;

/// A running OTLP output.
pub struct OtlpOutput {
    task: tokio::task::JoinHandle<()>,
}

impl OtlpOutput {
    /// Waits for the task (it ends after the shutdown token, flushing with
    /// a bounded timeout).
    pub async fn join(self) {
        let _ = self.task.await;
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

    let exporter = metric_exporter(config)?;
    let reader = PeriodicReader::builder(CountingExporter {
        inner: exporter,
        stats: stats.clone(),
    })
    .with_interval(config.interval)
    .build();
    let provider = SdkMeterProvider::builder()
        .with_resource(res.clone())
        .with_reader(reader)
        .with_view(|_: &Instrument| {
            Stream::builder()
                .with_cardinality_limit(CARDINALITY_LIMIT)
                .build()
                .ok()
        })
        .build();
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(meta.version.clone())
        .build();
    let meter = provider.meter_with_scope(scope.clone());
    let current: Current = Arc::new(ArcSwap::from_pointee(BTreeMap::new()));
    let instruments = Instruments {
        meter,
        current: current.clone(),
        registered: HashSet::new(),
        gauges: Vec::new(),
        counters: Vec::new(),
    };

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
    let task = tokio::spawn(run(
        rx,
        meta,
        provider,
        instruments,
        current,
        logs,
        stats,
        timeout,
        shutdown,
    ));
    Ok(OtlpOutput { task })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    mut rx: watch::Receiver<Option<Arc<Mapped>>>,
    meta: BuildMeta,
    provider: SdkMeterProvider,
    mut instruments: Instruments,
    current: Current,
    mut logs: Option<LogsState>,
    stats: Arc<ExportStats>,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    let _ = meta;
    let mut snap = rx.borrow_and_update().clone();
    let mut fresh = snap.is_some();
    loop {
        if fresh {
            fresh = false;
            if let Some(mapped) = snap.clone() {
                let s = mapped.snapshot.clone();
                let set = mapped.families.clone();
                match tokio::task::spawn_blocking(move || otel_families_of(&set)).await {
                    Ok(fams) => {
                        instruments.register_new(&fams);
                        current.store(Arc::new(fams));
                        // Push the new data now rather than at the next tick.
                        let p = provider.clone();
                        tokio::task::spawn_blocking(move || {
                            if let Err(e) = p.force_flush() {
                                tracing::debug!(error = %e, "OTLP metrics flush failed");
                            }
                        });
                    }
                    Err(e) => tracing::error!(error = %e, "mapping the snapshot to OTLP failed"),
                }
                if let Some(l) = logs.as_mut() {
                    l.send(&s, &stats, timeout).await;
                }
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
    // Shutdown: one last export, bounded.
    let limit = timeout + Duration::from_secs(2);
    let p = provider.clone();
    let done = tokio::task::spawn_blocking(move || p.shutdown_with_timeout(limit));
    match tokio::time::timeout(limit + Duration::from_secs(1), done).await {
        Ok(Ok(Ok(()))) => tracing::debug!("OTLP metrics flushed at shutdown"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "OTLP metrics shutdown flush failed"),
        _ => tracing::warn!("OTLP metrics shutdown flush timed out"),
    }
    drop(instruments);
    if let Some(l) = logs {
        let exporter = l.exporter.clone();
        drop(l);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = exporter.shutdown_with_timeout(Duration::from_secs(2));
        })
        .await;
    }
}
