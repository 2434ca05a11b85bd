//! Wires the exporter together: client → refresh loop → snapshot channel →
//! outputs (Prometheus exposition, OTLP push) → HTTP server, plus the embedded
//! simulator in demo mode.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::asc::auth::{AuthConfig, KeySource, TokenProvider, generate_key_pair};
use crate::asc::client::{AscClient, ClientConfig, parse_base_url};
use crate::config::Config;
use crate::export::live::{self, LiveMetrics};
use crate::export::otlp;
use crate::export::stats::ExportStats;
use crate::export::{BuildMeta, Exposition, Mapped, mapping};
use crate::refresh::Snapshot;
use crate::refresh::runner::{self, RefreshOptions, Refresher};
use crate::refresh::state::StateStore;
use crate::server::{self, ServerState};
use crate::sim;

/// Demo mode: an in-process simulated App Store Connect on loopback with a
/// freshly generated key.
#[derive(Debug, Clone)]
pub struct Demo {
    pub seed: u64,
    pub apps: usize,
    /// Address of the simulator (loopback; port 0 picks one).
    pub listen: SocketAddr,
}

/// Everything `serve` needs beyond the config file.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: Config,
    /// The private key's PEM from `ASC_PRIVATE_KEY` (takes precedence over
    /// the path, as in every command: [`crate::asc::auth::choose_key`]).
    pub private_key_inline: Option<String>,
    pub demo: Option<Demo>,
}

/// A running exporter.
pub struct Running {
    /// The first address the server listens on.
    pub addr: SocketAddr,
    /// Every address it listens on (`--web.listen-address`, in order).
    pub addrs: Vec<SocketAddr>,
    /// `https` when the web configuration file enables TLS, else `http`.
    pub scheme: &'static str,
    /// `web.telemetry_path`.
    pub telemetry_path: String,
    /// The embedded simulator in demo mode.
    pub sim: Option<sim::SimHandle>,
    pub snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    /// The OTLP output's self-metrics (present when `otlp.enabled`).
    pub otlp_stats: Option<Arc<ExportStats>>,
    /// What the HTTP server did (connections accepted, evicted, timed out).
    pub server_stats: Arc<server::ServerStats>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// Outputs stopped after the refresh loop and the server (they flush).
    outputs: Vec<JoinHandle<()>>,
}

impl Running {
    /// The metrics URL on each address, e.g. `https://127.0.0.1:9472/metrics`.
    pub fn metrics_urls(&self) -> Vec<String> {
        self.addrs
            .iter()
            .map(|a| format!("{}://{a}{}", self.scheme, self.telemetry_path))
            .collect()
    }

    /// Stops the refresh loop (finishing a state write in progress), the
    /// outputs and the server, and waits for them.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        for t in self.outputs {
            let _ = t.await;
        }
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

pub fn build_meta() -> BuildMeta {
    BuildMeta {
        version: env!("CARGO_PKG_VERSION").to_string(),
        revision: option_env!("ASC_EXPORTER_REVISION")
            .unwrap_or("unknown")
            .to_string(),
    }
}

/// Starts everything; returns once the server is listening.
pub async fn start(opts: ServeOptions) -> anyhow::Result<Running> {
    let mut config = opts.config;
    // The web configuration file first: a bad one stops the start before
    // anything runs.
    let web = match &config.web.config_file {
        Some(path) if !path.as_os_str().is_empty() => {
            Some(server::webconfig::WebConfigSource::load(path)?)
        }
        _ => None,
    };
    let tls = web.as_ref().is_some_and(|w| w.tls_enabled());
    let telemetry_path =
        server::TelemetryPath::new(&config.web.telemetry_path).map_err(anyhow::Error::msg)?;
    let mut key = match &opts.demo {
        Some(_) => None,
        None => crate::asc::auth::choose_key(
            opts.private_key_inline.as_deref(),
            config.asc.private_key_path.as_deref(),
        ),
    };

    let sim = match &opts.demo {
        Some(demo) => {
            let (private_pem, public_pem) = generate_key_pair();
            let mut sc = sim::SimConfig::new(public_pem);
            sc.seed = demo.seed;
            sc.apps = demo.apps;
            let handle = sim::start(sc, demo.listen).await.map_err(|e| {
                anyhow::anyhow!("cannot start the demo simulator on {}: {e}", demo.listen)
            })?;
            tracing::info!(base_url = %handle.base_url(), "demo mode: simulated App Store Connect started");
            config.asc.base_url = handle.base_url();
            config.asc.issuer_id = Some("00000000-demo-4000-8000-000000000000".into());
            config.asc.key_id = Some("DEMOKEY001".into());
            key = Some(KeySource::Inline(private_pem));
            Some(handle)
        }
        None => None,
    };

    let key = key.ok_or(crate::asc::AuthError::MissingKey)?;
    let key_id = config.asc.key_id.clone().unwrap_or_default();
    let auth = TokenProvider::new(AuthConfig::new(config.asc.issuer_id.clone(), key_id, key))?;
    let client = AscClient::new(
        ClientConfig {
            base_url: parse_base_url(&config.asc.base_url)?,
            request_timeout: config.asc.timeout,
            max_retries: config.asc.max_retries,
            max_response_bytes: usize::try_from(config.asc.max_response_bytes)
                .unwrap_or(usize::MAX),
            ..ClientConfig::default()
        },
        auth,
    )?;

    let store = match &config.state_dir {
        Some(dir) if !dir.as_os_str().is_empty() => Some(StateStore::open(dir)?),
        _ => None,
    };
    let loaded = store.as_ref().and_then(|s| s.load()).map(|mut s| {
        // Request counters count this process's requests only.
        s.api.requests.clear();
        s.api.retries = 0;
        s
    });
    if let Some(s) = &loaded {
        tracing::info!(
            apps = s.apps.len(),
            "loaded saved data from the state directory"
        );
    }
    let (tx, rx) = watch::channel(loaded.map(Arc::new));

    let shutdown = CancellationToken::new();
    let exposition: Arc<ArcSwapOption<Exposition>> = Arc::new(ArcSwapOption::empty());
    let mut tasks = Vec::new();
    let mut outputs = Vec::new();

    // The outputs are fed once per snapshot by one mapping task (below):
    // the exposition for the Prometheus output, the snapshot with its
    // families for OTLP. The OTLP output's export outcomes are the only
    // other thing the outputs share (see export::stats), shown as live
    // metrics.
    let otlp_stats = config.otlp.enabled.then(|| Arc::new(ExportStats::new()));
    if config.otlp.enabled && config.otlp.logs && !config.diagnostics.logs {
        tracing::info!(
            "otlp.logs is on but diagnostics.logs is off: no diagnostic logs are fetched, so none are sent over OTLP"
        );
    }
    let (mapped_tx, mapped_rx) = watch::channel::<Option<Arc<Mapped>>>(None);
    if let Some(stats) = &otlp_stats {
        let out = otlp::start(
            &config.otlp,
            build_meta(),
            mapped_rx.clone(),
            store.clone(),
            stats.clone(),
            shutdown.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the OTLP output: {e}"))?;
        outputs.push(tokio::spawn(out.join()));
    }

    // The exporter's live metrics, encoded by every scrape after the cached
    // exposition: OTLP export outcomes and state writes here, the server's
    // counters below.
    let live_metrics = Arc::new(LiveMetrics::new(!config.web.disable_exporter_metrics));
    if let Some(stats) = &otlp_stats {
        live_metrics.register(Box::new(live::otlp_collector(stats.clone())));
    }
    if let Some(store) = &store {
        live_metrics.register(Box::new(live::state_collector(store.stats().clone())));
    }

    // The mapping: once per snapshot, off the async workers; the Prometheus
    // output's exposition is written from the same families. Nothing else
    // re-encodes it: what changes between snapshots is in the live metrics.
    // Without OTLP the families are dropped once written.
    {
        let mut rx = rx.clone();
        let target = exposition.clone();
        let current = exposition.clone();
        let meta = Arc::new(build_meta());
        let shutdown = shutdown.clone();
        let prometheus = config.prometheus.enabled;
        let keep = otlp_stats.is_some();
        let publish = move |out: (Option<Exposition>, Option<Arc<Mapped>>)| {
            if let Some(exp) = out.0 {
                target.store(Some(Arc::new(exp)));
            }
            if let Some(m) = out.1 {
                mapped_tx.send_replace(Some(m));
            }
        };
        publish(map_snapshot(
            rx.borrow_and_update().clone(),
            &meta,
            None,
            prometheus,
            keep,
        ));
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = rx.changed() => if changed.is_err() { break },
                }
                let snap = rx.borrow_and_update().clone();
                // A refresh in progress publishes the apps it has replaced
                // so far (for /ready and the landing page, and so the old
                // data is freed as it goes); the outputs map complete
                // snapshots only.
                if snap.as_ref().is_some_and(|s| s.is_partial()) {
                    continue;
                }
                let meta = meta.clone();
                let previous = current.load_full();
                let started = std::time::Instant::now();
                match tokio::task::spawn_blocking(move || {
                    // The refresh has let go of the data it replaced: its
                    // pages go back before the mapping's peak comes on top.
                    crate::heap::release_free();
                    map_snapshot(snap, &meta, previous.as_deref(), prometheus, keep)
                })
                .await
                {
                    Ok(out) => {
                        if let Some(e) = &out.0 {
                            tracing::debug!(
                                elapsed = ?started.elapsed(),
                                series = e.series,
                                families = e.families,
                                reused = e.reused,
                                "snapshot mapped and encoded"
                            );
                        }
                        publish(out);
                        // The families (without OTLP) and the previous
                        // exposition's changed parts are gone.
                        tokio::task::spawn_blocking(crate::heap::release_free);
                    }
                    Err(e) => tracing::error!(error = %e, "mapping the snapshot failed"),
                }
            }
        }));
    }

    // As Go programs do: the soft open-file limit up to the hard one, so the
    // connection cap (bounded by it) is as large as the system allows.
    server::fdlimit::raise_nofile();
    let limits = server::Limits::from_config(&config.web);
    let server_stats = Arc::new(server::ServerStats::default());
    let wanted = config.listen_addrs();
    if wanted.is_empty() {
        anyhow::bail!(
            "no address to listen on: set --web.listen-address (e.g. :9472 or 127.0.0.1:9472)"
        );
    }
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for want in wanted {
        let listener = server::bind(want).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {want}: {e}; choose another address with --web.listen-address"
            )
        })?;
        let addr = listener.local_addr()?;
        tracing::info!(address = %addr, tls, "listening");
        addrs.push(addr);
        listeners.push(listener);
    }
    {
        live_metrics.register_exporter(Box::new(server::listener::stats_collector(
            server_stats.clone(),
        )));
        let state = ServerState {
            exposition: exposition.clone(),
            live: live_metrics.clone(),
            snapshots: rx.clone(),
            metrics_enabled: config.prometheus.enabled,
            telemetry_path: telemetry_path.clone(),
            max_requests: config.web.max_requests,
            apps: config.refresh.apps.clone(),
        };
        let app = server::secure(server::router(state), web.clone());
        let shutdown = shutdown.clone();
        let stats = server_stats.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server::serve(listeners, app, web, limits, stats, shutdown).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }));
    }

    let refresher = Refresher::new(client, RefreshOptions::from(&config));
    tasks.push(tokio::spawn(runner::run(
        refresher,
        store,
        tx,
        shutdown.clone(),
    )));
    let scheme = if tls { "https" } else { "http" };
    tracing::info!(
        url = %format!("{scheme}://{}{}", addrs[0], telemetry_path.as_str()),
        "serving metrics"
    );

    Ok(Running {
        addr: addrs[0],
        addrs,
        scheme,
        telemetry_path: telemetry_path.as_str().to_string(),
        sim,
        snapshots: rx,
        otlp_stats,
        server_stats,
        shutdown,
        tasks,
        outputs,
    })
}

/// Maps a snapshot (none yet: the empty one) to its families, writes the
/// exposition from them (`prometheus`; reusing what `previous` holds of
/// unchanged families) and keeps them for OTLP (`keep`).
fn map_snapshot(
    s: Option<Arc<Snapshot>>,
    meta: &BuildMeta,
    previous: Option<&Exposition>,
    prometheus: bool,
    keep: bool,
) -> (Option<Exposition>, Option<Arc<Mapped>>) {
    let had = s.is_some();
    let snapshot = s.unwrap_or_default();
    let set = mapping::families(&snapshot, meta);
    let exposition = prometheus.then(|| Exposition::encode_after(&set, previous));
    let mapped = (keep && had).then(|| {
        Arc::new(Mapped {
            snapshot,
            families: Arc::new(set),
        })
    });
    (exposition, mapped)
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
