//! Memory over many refreshes (a benchmark, not a test): does the exporter's
//! memory stay flat over 200 refreshes?
//!
//! Runs the whole exporter in-process (`service::start`: client, refresh
//! loop, state writes, Prometheus encoding, the HTTP server) against the
//! simulator on a large account, refreshing back to back (100 ms interval),
//! with one plain and one gzip scrape of `/metrics` after every refresh.
//! After refresh 10, 50, 100, 150 and 200 it samples the process' resident
//! memory (`VmRSS` in `/proc/self/status`) and the bytes the allocator has
//! handed out and not got back (glibc `mallinfo2`: `uordblks + hblkhd`),
//! which shows growth without the noise of freed-but-kept pages.
//!
//! The simulator lives in the same process; its account is generated once
//! and does not change (the scenario stays put), so growth would be the
//! exporter's (or per-request garbage of the simulator that is never freed).
//!
//! Run: `cargo bench --bench memory` (or `bench/memory.sh`). Size with
//! `BENCH_APPS` (default 10) and `BENCH_REFRESHES` (default 200). Under
//! `cargo test` (no `--bench` argument) it runs a tiny smoke version.

use std::time::{Duration, Instant};

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::config::Config;
use asc_perf_exporter::service::{self, ServeOptions};
use asc_perf_exporter::sim::{self, SimConfig};

mod common;
use common::env_usize;

/// `VmRSS` of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Bytes allocated and not freed (glibc), `None` elsewhere.
fn malloc_in_use() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let mi = unsafe { libc::mallinfo2() };
        Some((mi.uordblks + mi.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let apps = if full { env_usize("BENCH_APPS", 10) } else { 2 };
    let refreshes = if full {
        env_usize("BENCH_REFRESHES", 200)
    } else {
        5
    };
    let checkpoints: Vec<usize> = [10, 50, 100, 150, 200]
        .iter()
        .map(|c| (c * refreshes / 200).max(1))
        .collect();

    let (private_pem, public_pem) = generate_key_pair();
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut sc = SimConfig::new(public_pem);
    sc.apps = apps;
    sc.hour_limit = 1_000_000_000;
    sc.minute_limit = 0;
    let handle = sim_rt
        .block_on(sim::start(sc, "127.0.0.1:0".parse().unwrap()))
        .unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    config.asc.base_url = handle.base_url();
    config.asc.key_id = Some("BENCHKEY01".into());
    config.asc.issuer_id = Some("bench".into());
    // Back to back (below the 1 s the config file allows; set directly).
    config.refresh.interval = Duration::from_millis(100);
    config.refresh.jitter = 0.0;
    config.diagnostics.logs = true;
    config.state_dir = Some(state.path().to_path_buf());

    let started = Instant::now();
    let mut samples = Vec::new();
    rt.block_on(async {
        let mut running = service::start(ServeOptions {
            config,
            private_key_inline: Some(private_pem),
            demo: None,
        })
        .await
        .expect("the exporter starts");
        let url = format!("http://{}/metrics", running.addr);
        let http = reqwest::Client::builder().no_gzip().build().unwrap();
        let mut series = 0usize;
        let mut failed = 0usize;
        for n in 1..=refreshes {
            // The next complete snapshot (a refresh publishes partial ones
            // on the way).
            let snap = loop {
                tokio::time::timeout(Duration::from_secs(300), running.snapshots.changed())
                    .await
                    .expect("a refresh finishes")
                    .expect("the refresh loop runs");
                let snap = running.snapshots.borrow_and_update().clone();
                if !snap.as_ref().is_some_and(|s| s.is_partial()) {
                    break snap;
                }
            };
            if snap.is_some_and(|s| !s.refresh.last_success) {
                failed += 1;
            }
            for gzip in [false, true] {
                let mut req = http.get(&url);
                if gzip {
                    req = req.header("accept-encoding", "gzip");
                }
                let body = req.send().await.unwrap().bytes().await.unwrap();
                if !gzip {
                    series = body
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty() && l[0] != b'#')
                        .count();
                }
            }
            if checkpoints.contains(&n) {
                samples.push((n, rss_kib(), malloc_in_use(), started.elapsed()));
            }
        }
        println!(
            "asc-perf-exporter memory benchmark ({} mode): {apps} apps, {series} series, {refreshes} refreshes ({failed} with failures), 2 scrapes each",
            if full { "full" } else { "smoke" }
        );
        running.shutdown().await;
    });

    let (_, base_rss, base_heap, _) = samples[0];
    println!("refresh | VmRSS MiB | vs first | heap in use MiB | vs first | elapsed");
    for (n, rss, heap, at) in &samples {
        let heap_cols = match (heap, base_heap) {
            (Some(h), Some(b)) => format!(
                "{:>15.1} | {:>+7.1}%",
                *h as f64 / 1048576.0,
                (*h as f64 / b as f64 - 1.0) * 100.0
            ),
            _ => format!("{:>15} | {:>8}", "-", "-"),
        };
        println!(
            "{n:>7} | {:>9.1} | {:>+7.1}% | {heap_cols} | {:>6.1} s",
            mib(*rss),
            (*rss as f64 / base_rss as f64 - 1.0) * 100.0,
            at.as_secs_f64()
        );
    }
    sim_rt.block_on(handle.shutdown());
}
