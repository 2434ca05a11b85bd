//! Runs the exporter in-process against a simulator (with Apple's launch-time
//! example served for [`FIXTURE_APP`]) over HTTP on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::config::Config;
use asc_perf_exporter::refresh::Snapshot;
use asc_perf_exporter::service::{self, Running, ServeOptions};
use asc_perf_exporter::sim::{self, Fixture, SimConfig, SimHandle};

use super::prom::{Sample, parse};
use super::shared;

/// The app whose metrics are Apple's documentation example.
pub const FIXTURE_APP: &str = "1500000001";

pub struct Env {
    pub sim: SimHandle,
    pub private_pem: String,
    pub state: tempfile::TempDir,
}

/// A simulator with the fixture app, no minute window (a fixed 60 s window
/// would make 1 s refreshes wait, correctly, for its reset; pacing has its
/// own unit test) and, if given, a small hourly budget.
pub async fn sim_env(hour_limit: Option<u64>) -> Env {
    let (private_pem, public_pem) = generate_key_pair();
    let mut cfg = SimConfig::new(public_pem);
    cfg.fixtures.push(
        Fixture::parse_spec(
            &format!("app-metrics:{FIXTURE_APP}=apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json"),
            Some(&shared("asc/examples")),
        )
        .unwrap(),
    );
    cfg.minute_limit = 0;
    if let Some(h) = hour_limit {
        cfg.hour_limit = h;
    }
    let sim = sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Env {
        sim,
        private_pem,
        state: tempfile::tempdir().unwrap(),
    }
}

/// An exporter configuration pointing at the simulator: loopback listener,
/// no retries, hourly refreshes without jitter, state in a temp dir.
pub fn config(env: &Env, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    c.asc.base_url = env.sim.base_url();
    c.asc.issuer_id = Some("issuer".into());
    c.asc.key_id = Some("KEY0000001".into());
    c.asc.max_retries = 0;
    c.refresh.interval = Duration::from_secs(3600);
    c.refresh.jitter = 0.0;
    c.state_dir = Some(env.state.path().to_path_buf());
    tweak(&mut c);
    c
}

pub async fn start(env: &Env, config: Config) -> Running {
    service::start(ServeOptions {
        config,
        private_key_inline: Some(env.private_pem.clone()),
        demo: None,
    })
    .await
    .expect("exporter starts")
}

/// Waits for the next complete snapshot (a refresh in progress also
/// publishes partial ones: `Snapshot::is_partial`).
pub async fn next_snapshot(r: &mut Running) -> Arc<Snapshot> {
    loop {
        tokio::time::timeout(Duration::from_secs(30), r.snapshots.changed())
            .await
            .expect("a refresh finishes in time")
            .unwrap();
        let s = r.snapshots.borrow_and_update().clone().expect("a snapshot");
        if !s.is_partial() {
            return s;
        }
    }
}

/// Waits until a published snapshot satisfies `done`.
pub async fn snapshot_where(r: &mut Running, done: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
    for _ in 0..20 {
        let s = next_snapshot(r).await;
        if done(&s) {
            return s;
        }
    }
    panic!("no snapshot reached the expected state");
}

/// Scrapes `/metrics` once the exposition reflects the snapshot current at
/// the call, or a newer one (it is encoded right after a snapshot is published).
pub async fn scrape(r: &Running) -> Vec<Sample> {
    let want = r
        .snapshots
        .borrow()
        .as_ref()
        .map(|s| s.refresh.last_attempt_unix)
        .unwrap_or(0.0);
    for _ in 0..100 {
        let text = reqwest::get(format!("http://{}/metrics", r.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // One line per account (`{account="..."}`); the snapshot's is the
        // latest of them.
        let at = text
            .lines()
            .filter(|l| l.starts_with("asc_exporter_last_refresh_timestamp_seconds{"))
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .reduce(f64::max);
        if at.is_some_and(|at| at >= want) {
            return parse(&text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/metrics never showed the current snapshot");
}

/// One full refresh of a simulated account of `apps` apps (`builds` builds
/// each, diagnostic logs on) with the real client over HTTP: the snapshot
/// the exporter would publish.
pub async fn simulated_snapshot(apps: usize, builds: usize) -> Snapshot {
    let (private_pem, public_pem) = generate_key_pair();
    let mut sc = SimConfig::new(public_pem);
    sc.apps = apps;
    sc.hour_limit = 1_000_000;
    sc.minute_limit = 0;
    let handle = sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = Config::default();
    config.refresh.builds_per_app = builds;
    config.refresh.concurrency = 8;
    config.diagnostics.logs = true;
    let snap = refresher(&handle, &private_pem, &config)
        .refresh(&Snapshot::default())
        .await;
    assert!(snap.refresh.last_success, "the simulated refresh failed");
    snap
}

/// A refresher of `config`'s refresh settings, talking to `sim` with
/// `private_pem` (the simulator's key pair).
pub fn refresher(
    sim: &SimHandle,
    private_pem: &str,
    config: &Config,
) -> asc_perf_exporter::refresh::runner::Refresher {
    use asc_perf_exporter::asc::auth::{AuthConfig, KeySource, TokenProvider};
    use asc_perf_exporter::asc::client::{AscClient, ClientConfig};
    use asc_perf_exporter::refresh::runner::{RefreshOptions, Refresher};

    let auth = TokenProvider::new(AuthConfig::new(
        Some("issuer".into()),
        "SIMKEY0001",
        KeySource::Inline(private_pem.to_string()),
    ))
    .unwrap();
    let client = AscClient::new(
        ClientConfig {
            base_url: sim.base_url().parse().unwrap(),
            ..Default::default()
        },
        auth,
    )
    .unwrap();
    Refresher::new(client, RefreshOptions::from(config))
}
