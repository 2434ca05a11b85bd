//! Wires the exporter together: client → refresh loop → snapshot channel →
//! outputs (Prometheus exposition, OTLP push) → HTTP server, plus the embedded
//! simulator in demo mode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
use crate::export::{BuildMeta, Exposition, Mapped, Sizes, mapping};
use crate::refresh::Snapshot;
use crate::refresh::merge::merge;
use crate::refresh::runner::{self, RefreshOptions, Refresher};
use crate::refresh::shard::Shard;
use crate::refresh::snapshot::DEFAULT_ACCOUNT;
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
    /// Simulated accounts (one simulator each, seeds `seed`, `seed + 1`,
    /// …, named `demo-1`, `demo-2`, …; one is the `default` account).
    pub accounts: usize,
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
    /// The embedded simulator in demo mode (the first account's).
    pub sim: Option<sim::SimHandle>,
    /// The other demo accounts' simulators.
    pub other_sims: Vec<sim::SimHandle>,
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
        for sim in self.other_sims {
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
    let config = opts.config;
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
    let mut sims = Vec::new();
    let mut demo_accounts = Vec::new();
    if let Some(demo) = &opts.demo {
        // Each demo account is a simulator of its own with a fresh key,
        // as separate App Store Connect teams are.
        let n = demo.accounts.max(1);
        for i in 0..n {
            let (private_pem, public_pem) = generate_key_pair();
            let mut sc = sim::SimConfig::new(public_pem);
            sc.seed = demo.seed + i as u64;
            sc.apps = demo.apps;
            let listen = if i == 0 {
                demo.listen
            } else {
                SocketAddr::new(demo.listen.ip(), 0)
            };
            let handle = sim::start(sc, listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the demo simulator on {listen}: {e}"))?;
            tracing::info!(base_url = %handle.base_url(), "demo mode: simulated App Store Connect started");
            demo_accounts.push(AccountSetup {
                name: if n == 1 {
                    DEFAULT_ACCOUNT.to_string()
                } else {
                    format!("demo-{}", i + 1)
                },
                auth: AuthConfig::new(
                    Some("00000000-demo-4000-8000-000000000000".into()),
                    format!("DEMOKEY{:03}", i + 1),
                    KeySource::Inline(private_pem),
                ),
                base_url: handle.base_url(),
                apps: None,
            });
            sims.push(handle);
        }
    }
    let shard: Shard = config.shard.parse().map_err(anyhow::Error::msg)?;
    let share = if config.refresh.budget_share > 0.0 {
        config.refresh.budget_share
    } else {
        1.0 / f64::from(shard.count.max(1))
    };
    let accounts = if opts.demo.is_some() {
        demo_accounts
    } else {
        resolve_accounts(&config, opts.private_key_inline.as_deref())?
    };
    if !shard.is_whole() {
        tracing::info!(shard = %shard, budget_share = share, "sharded: this replica refreshes the apps of its shard and spends its share of each key's budget");
    }

    let store = match &config.state_dir {
        Some(dir) if !dir.as_os_str().is_empty() => Some(StateStore::open(dir)?),
        _ => None,
    };
    // One refresh loop per account, each with its client, token, budget,
    // snapshot and state file; [`merge`] makes the snapshot the outputs read.
    let mut loops = Vec::new();
    for account in accounts {
        let auth = TokenProvider::new(account.auth)?;
        let client = AscClient::new(
            ClientConfig {
                base_url: parse_base_url(&account.base_url)?,
                request_timeout: config.asc.timeout,
                max_retries: config.asc.max_retries,
                max_response_bytes: usize::try_from(config.asc.max_response_bytes)
                    .unwrap_or(usize::MAX),
                budget_share: share,
                ..ClientConfig::default()
            },
            auth,
        )?;
        let store = store.as_ref().map(|s| s.for_account(&account.name));
        let loaded = store.as_ref().and_then(|s| s.load()).map(|mut s| {
            // Request counters count this process's requests only.
            s.api.requests.clear();
            s.api.retries = 0;
            s
        });
        if let Some(s) = &loaded {
            tracing::info!(
                account = %account.name,
                apps = s.apps.len(),
                "loaded saved data from the state directory"
            );
        }
        let mut opts = RefreshOptions::from(&config);
        opts.account = account.name.clone();
        if let Some(apps) = account.apps {
            opts.refresh.apps = apps;
        }
        let (tx, rx) = watch::channel(loaded.map(Arc::new));
        loops.push(AccountLoop {
            name: account.name,
            refresher: Refresher::new(client, opts),
            store,
            tx,
            rx,
        });
    }
    let names: Vec<String> = loops.iter().map(|l| l.name.clone()).collect();
    let receivers: Vec<watch::Receiver<Option<Arc<Snapshot>>>> =
        loops.iter().map(|l| l.rx.clone()).collect();
    let initial = merged(&names, &receivers);
    let (tx, rx) = watch::channel(initial);

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
        // Each mapping reserves its families at the sizes of the one before.
        let (exp, mapped, mut sizes) = map_snapshot(
            rx.borrow_and_update().clone(),
            &meta,
            None,
            &Sizes::default(),
            prometheus,
            keep,
        );
        publish((exp, mapped));
        tasks.push(tokio::spawn(async move {
            let mut last_cost = std::time::Duration::ZERO;
            let mut last_mapped = std::time::Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = rx.changed() => if changed.is_err() { break },
                }
                let mut snap = rx.borrow_and_update().clone();
                // A refresh in progress publishes each app as it is done
                // (every app whole, old or new): mapped too, so a cold start
                // serves its first app within seconds, but at most at the
                // pace partial_map_delay allows, so a long refresh does not
                // keep a core busy re-mapping.
                if snap.as_ref().is_some_and(|s| s.is_partial()) {
                    let wait = partial_map_delay(last_cost, last_mapped.elapsed());
                    if !wait.is_zero() {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(wait) => {}
                        }
                        snap = rx.borrow_and_update().clone();
                    }
                }
                let meta = meta.clone();
                let previous = current.load_full();
                let started = std::time::Instant::now();
                // Moved in and handed back: only this task holds them.
                let last_sizes = std::mem::take(&mut sizes);
                match tokio::task::spawn_blocking(move || {
                    // The refresh has let go of the data it replaced: its
                    // pages go back before the mapping's peak comes on top.
                    crate::heap::release_free();
                    map_snapshot(
                        snap,
                        &meta,
                        previous.as_deref(),
                        &last_sizes,
                        prometheus,
                        keep,
                    )
                })
                .await
                {
                    Ok((exp, mapped, new_sizes)) => {
                        sizes = new_sizes;
                        let out = (exp, mapped);
                        last_cost = started.elapsed();
                        last_mapped = std::time::Instant::now();
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

    tasks.push(tokio::spawn(merge_accounts(
        names,
        receivers,
        tx,
        shutdown.clone(),
    )));
    for l in loops {
        drop(l.rx);
        tasks.push(tokio::spawn(runner::run(
            l.refresher,
            l.store,
            l.tx,
            shutdown.clone(),
        )));
    }
    let scheme = if tls { "https" } else { "http" };
    let mut sims = sims.into_iter();
    tracing::info!(
        url = %format!("{scheme}://{}{}", addrs[0], telemetry_path.as_str()),
        "serving metrics"
    );

    Ok(Running {
        addr: addrs[0],
        addrs,
        scheme,
        telemetry_path: telemetry_path.as_str().to_string(),
        sim: sims.next(),
        other_sims: sims.collect(),
        snapshots: rx,
        otlp_stats,
        server_stats,
        shutdown,
        tasks,
        outputs,
    })
}

/// The least time between two mappings of partial snapshots: a second,
/// or four times what the latest mapping took (so mapping takes at most a
/// fifth of a core while a refresh is under way); `since` has passed already.
pub fn partial_map_delay(last_cost: Duration, since: Duration) -> Duration {
    Duration::from_secs(1)
        .max(last_cost * 4)
        .saturating_sub(since)
}

/// One account to refresh, resolved from the configuration.
struct AccountSetup {
    name: String,
    auth: AuthConfig,
    base_url: String,
    /// The account's own allow-list (else `refresh.apps`).
    apps: Option<Vec<String>>,
}

/// An account's refresh loop, before it starts.
struct AccountLoop {
    name: String,
    refresher: Refresher,
    store: Option<StateStore>,
    tx: watch::Sender<Option<Arc<Snapshot>>>,
    rx: watch::Receiver<Option<Arc<Snapshot>>>,
}

/// The accounts of the configuration: `accounts`, or the `asc.*` key as
/// the one account `default` (its key from `ASC_PRIVATE_KEY`, given as
/// `inline`, or `asc.private_key_path`).
fn resolve_accounts(config: &Config, inline: Option<&str>) -> anyhow::Result<Vec<AccountSetup>> {
    if config.accounts.is_empty() {
        let key = crate::asc::auth::choose_key(inline, config.asc.private_key_path.as_deref())
            .ok_or(crate::asc::AuthError::MissingKey)?;
        return Ok(vec![AccountSetup {
            name: DEFAULT_ACCOUNT.to_string(),
            auth: AuthConfig::new(
                config.asc.issuer_id.clone(),
                config.asc.key_id.clone().unwrap_or_default(),
                key,
            ),
            base_url: config.asc.base_url.clone(),
            apps: None,
        }]);
    }
    config
        .accounts
        .iter()
        .map(|a| {
            let key = match (&a.private_key_env, &a.private_key_path) {
                (Some(var), _) => match std::env::var_os(var).map(|v| v.into_string()) {
                    Some(Ok(pem)) if !pem.trim().is_empty() => KeySource::Inline(pem),
                    Some(Err(_)) => anyhow::bail!(
                        "account '{}': environment variable {var} (private_key_env) is not valid UTF-8; it must hold the .p8 file's PEM text",
                        a.name
                    ),
                    _ => anyhow::bail!(
                        "account '{}': environment variable {var} (private_key_env) is not set or empty; set it to the .p8 file's contents, or use private_key_path",
                        a.name
                    ),
                },
                (None, Some(path)) => KeySource::Path(path.clone()),
                (None, None) => anyhow::bail!(
                    "account '{}' has no key: set private_key_path or private_key_env",
                    a.name
                ),
            };
            Ok(AccountSetup {
                name: a.name.clone(),
                auth: AuthConfig::new(a.issuer_id.clone(), a.key_id.clone(), key),
                base_url: a.base_url.clone().unwrap_or_else(|| config.asc.base_url.clone()),
                apps: (!a.apps.is_empty()).then(|| a.apps.clone()),
            })
        })
        .collect()
}

/// The accounts' latest snapshots merged (none before any account has one).
fn merged(
    names: &[String],
    receivers: &[watch::Receiver<Option<Arc<Snapshot>>>],
) -> Option<Arc<Snapshot>> {
    let latest: Vec<Option<Arc<Snapshot>>> = receivers.iter().map(|r| r.borrow().clone()).collect();
    if latest.iter().all(Option::is_none) {
        return None;
    }
    let parts: Vec<(&str, Option<&Arc<Snapshot>>)> = names
        .iter()
        .map(String::as_str)
        .zip(latest.iter().map(Option::as_ref))
        .collect();
    Some(Arc::new(merge(&parts)))
}

/// Publishes the merged snapshot whenever an account publishes one.
async fn merge_accounts(
    names: Vec<String>,
    mut receivers: Vec<watch::Receiver<Option<Arc<Snapshot>>>>,
    publish: watch::Sender<Option<Arc<Snapshot>>>,
    shutdown: CancellationToken,
) {
    loop {
        let changed =
            futures::future::select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
        tokio::select! {
            _ = shutdown.cancelled() => break,
            (r, _, _) = changed => if r.is_err() { break },
        }
        for r in &mut receivers {
            r.mark_unchanged();
        }
        publish.send_replace(merged(&names, &receivers));
    }
}

/// Maps a snapshot (none yet: the empty one) to its families (reserved at
/// `sizes`, the last mapping's), writes the exposition from them
/// (`prometheus`; reusing what `previous` holds of unchanged families) and
/// keeps them for OTLP (`keep`). Also gives the families' sizes, for the
/// next mapping.
fn map_snapshot(
    s: Option<Arc<Snapshot>>,
    meta: &BuildMeta,
    previous: Option<&Exposition>,
    sizes: &Sizes,
    prometheus: bool,
    keep: bool,
) -> (Option<Exposition>, Option<Arc<Mapped>>, Sizes) {
    let had = s.is_some();
    let snapshot = s.unwrap_or_default();
    let set = mapping::families_sized(&snapshot, meta, sizes);
    let sizes = set.sizes();
    let exposition = prometheus.then(|| Exposition::encode_after(&set, previous));
    let mapped = (keep && had).then(|| {
        Arc::new(Mapped {
            snapshot,
            families: Arc::new(set),
        })
    });
    (exposition, mapped, sizes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_snapshots_are_mapped_at_a_bounded_pace() {
        let ms = Duration::from_millis;
        // Cheap mappings: at most one a second.
        assert_eq!(partial_map_delay(ms(10), ms(0)), ms(1000));
        assert_eq!(partial_map_delay(ms(10), ms(400)), ms(600));
        assert_eq!(partial_map_delay(ms(10), ms(1500)), Duration::ZERO);
        // A mapping of 500 ms: the next one 2 s later, a fifth of a core.
        assert_eq!(partial_map_delay(ms(500), ms(0)), ms(2000));
        assert_eq!(partial_map_delay(ms(500), ms(2500)), Duration::ZERO);
    }
}
