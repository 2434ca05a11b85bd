//! Exporter benchmark on a large simulated account (not a test).
//!
//! Reports, from one run:
//! - the CPU time one full refresh costs the exporter (client, decoding,
//!   snapshot), measured with `CLOCK_THREAD_CPUTIME_ID` on a single-thread
//!   runtime so the in-process simulator (on its own threads) is not counted;
//! - the CPU time of encoding the exposition (once per refresh, both
//!   formats, all threads) and the bytes it holds;
//! - `/metrics` scrape latency (p50/p90/p99) with and without gzip, and the
//!   ratio of a scrape to an encode, which shows a scrape copies a buffer.
//!
//! Run: `cargo bench --bench exporter` (or `bench/run.sh`). Size with
//! `BENCH_APPS` (default 50), `BENCH_BUILDS` (default 3), `BENCH_SCRAPES` (default 200),
//! `BENCH_PASSES` (passes over the pipeline's steps, default 3).
//! `BENCH_PROFILE=map` (or `encode`, `text`, `decode`) only repeats that step 40 times and exits: for
//! `perf record` (see bench/RESULTS.md).
//! Under `cargo test` (no `--bench` argument) it runs a tiny smoke version.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::time::{Duration, Instant};

use asc_perf_exporter::asc::auth::{AuthConfig, KeySource, TokenProvider, generate_key_pair};
use asc_perf_exporter::asc::client::{AscClient, ClientConfig};
use asc_perf_exporter::config::Config;
use asc_perf_exporter::export::{self, Exposition};
use asc_perf_exporter::refresh::Snapshot;
use asc_perf_exporter::refresh::runner::{RefreshOptions, Refresher};
use asc_perf_exporter::service;
use asc_perf_exporter::sim::{self, SimConfig};

mod common;
use common::{env_usize, process_cpu, thread_cpu};

/// The system allocator, counting the bytes in use and their high-water
/// mark while [`heap_of`] runs (and only then, so the timed steps run on the
/// plain allocator), so the bench can say what each step holds and what it
/// needs at its peak (the RSS of `bench/rss.sh` is the sum of such peaks).
/// Signed: a step frees memory allocated before counting started.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static IN_USE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

fn count(delta: i64) {
    if COUNTING.load(Relaxed) {
        let now = IN_USE.fetch_add(delta, Relaxed) + delta;
        PEAK.fetch_max(now, Relaxed);
    }
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        count(l.size() as i64);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        count(-(l.size() as i64));
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        count(new as i64 - l.size() as i64);
        unsafe { std::alloc::System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `make` counting allocations: the heap bytes it leaves allocated
/// (what it returns, alive), and the most it had allocated at once.
fn heap_of<T>(make: impl FnOnce() -> T) -> (T, u64, u64) {
    IN_USE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let v = make();
    COUNTING.store(false, Relaxed);
    let held = IN_USE.load(Relaxed).max(0) as u64;
    (v, held, PEAK.load(Relaxed).max(0) as u64)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// This thread's CPU time to make what `f` returns; dropping it comes after
/// (and is not counted).
fn cpu_of<T>(f: impl FnOnce() -> T) -> Duration {
    let t = thread_cpu();
    let made = f();
    let d = thread_cpu() - t;
    drop(made);
    d
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let apps = if full { env_usize("BENCH_APPS", 50) } else { 3 };
    let builds = if full {
        env_usize("BENCH_BUILDS", 3)
    } else {
        1
    };
    let scrapes = if full {
        env_usize("BENCH_SCRAPES", 200)
    } else {
        5
    };

    // The simulator runs on its own runtime and threads.
    let (private_pem, public_pem) = generate_key_pair();
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut sc = SimConfig::new(public_pem);
    sc.apps = apps;
    sc.hour_limit = 1_000_000;
    sc.minute_limit = 0;
    let handle = sim_rt
        .block_on(sim::start(sc, "127.0.0.1:0".parse().unwrap()))
        .unwrap();

    // The exporter's refresh runs on this thread only.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let auth = TokenProvider::new(AuthConfig::new(
        Some("bench".into()),
        "BENCHKEY01",
        KeySource::Inline(private_pem.clone()),
    ))
    .unwrap();
    let client = AscClient::new(
        ClientConfig {
            base_url: handle.base_url().parse().unwrap(),
            ..Default::default()
        },
        auth,
    )
    .unwrap();
    let mut config = Config::default();
    config.refresh.builds_per_app = builds;
    config.refresh.concurrency = 8;
    config.diagnostics.logs = true;
    let refresher = Refresher::new(client.clone(), RefreshOptions::from(&config));

    let cpu0 = thread_cpu();
    let wall0 = Instant::now();
    let snap: Snapshot = rt.block_on(refresher.refresh(&Snapshot::default()));
    let refresh_wall = wall0.elapsed();
    let refresh_cpu = thread_cpu() - cpu0;
    assert!(
        snap.refresh.last_success,
        "refresh failed: {:?}",
        snap.apps
            .iter()
            .filter_map(|a| a.last_error.clone())
            .collect::<Vec<_>>()
    );
    let requests = client.stats().total_requests();

    let meta = service::build_meta();
    let cpu1 = process_cpu();
    let encoded = export::encode(&snap, &meta);
    let encode_cpu = process_cpu() - cpu1;

    // The pipeline from the state file's bytes, step by step, against
    // serde_json parsing the same bytes into a `Value` (the yardstick):
    // typed decode, map to the family model, write the text format, gzip.
    // Thread CPU of this thread (the gzip step also uses a second thread:
    // process CPU there).
    let state_json = serde_json::to_vec(&snap).unwrap();
    if let Ok(step) = std::env::var("BENCH_PROFILE") {
        let set = export::families(&snap, &meta);
        let sizes = set.sizes();
        for _ in 0..40 {
            if step == "encode" {
                drop(Exposition::encode(&set));
            } else if step == "text" {
                drop(export::text::write(&set));
            } else if step == "decode" {
                drop(serde_json::from_slice::<Snapshot>(&state_json).unwrap());
            } else {
                // As the service maps from its second snapshot on.
                drop(export::families_sized(&snap, &meta, &sizes));
            }
        }
        std::process::exit(0);
    }
    let set = export::families(&snap, &meta);
    // What the service does from the second mapping on: each family
    // reserved at its size in the mapping before (`Families::sizes`).
    let sizes = set.sizes();
    // Each step runs `rounds` times in a row (so a step's allocator state
    // is its own: glibc consolidating what the step before freed lands in
    // its first round, not in every round), and the whole sequence runs
    // `passes` times; a step's figure is its best round of all passes. The
    // passes spread every step over the run's whole length, so a stretch
    // in which this virtual machine's CPU runs slower (host contention: a
    // step's CPU time then grows by up to a third for seconds, page faults
    // or not; see bench/RESULTS.md, session 9) does not fall on one step
    // only and skew its ratio to the yardstick, measured at another time.
    let rounds = if full { 5 } else { 1 };
    let passes = if full {
        env_usize("BENCH_PASSES", 3)
    } else {
        1
    };
    let best = |f: &mut dyn FnMut() -> Duration| (0..rounds).map(|_| f()).min().unwrap();
    let [
        mut value_cpu,
        mut decode_cpu,
        mut map_cpu,
        mut map_sized_cpu,
        mut text_cpu,
        mut full_cpu,
        mut full_wall,
    ] = [Duration::MAX; 7];
    for _ in 0..passes.max(1) {
        value_cpu = value_cpu.min(best(&mut || {
            cpu_of(|| serde_json::from_slice::<serde_json::Value>(&state_json).unwrap())
        }));
        decode_cpu = decode_cpu.min(best(&mut || {
            cpu_of(|| serde_json::from_slice::<Snapshot>(&state_json).unwrap())
        }));
        map_cpu = map_cpu.min(best(&mut || cpu_of(|| export::families(&snap, &meta))));
        map_sized_cpu = map_sized_cpu.min(best(&mut || {
            cpu_of(|| export::families_sized(&snap, &meta, &sizes))
        }));
        text_cpu = text_cpu.min(best(&mut || cpu_of(|| export::text::write(&set))));
        for _ in 0..rounds {
            let (c, w) = (process_cpu(), Instant::now());
            let e = Exposition::encode(&set);
            full_cpu = full_cpu.min(process_cpu() - c);
            full_wall = full_wall.min(w.elapsed());
            drop(e);
        }
    }
    // After the timed steps (so they run on an undisturbed heap): what the
    // decoded snapshot holds (heap bytes), as a whole and by part
    // (the parts as clones: exact capacities).
    let (decoded, decoded_heap, decode_peak) =
        heap_of(|| serde_json::from_slice::<Snapshot>(&state_json).unwrap());
    drop(decoded);
    // What mapping and encoding hold and need at their peak: the families,
    // a first encode, and the encode of an unchanged snapshot after it
    // (what a refresh does when Apple's data did not change).
    let (fam, fam_heap, fam_peak) = heap_of(|| export::families(&snap, &meta));
    let (sized, sized_heap, sized_peak) = heap_of(|| export::families_sized(&snap, &meta, &sizes));
    drop(sized);
    let (first, first_heap, first_peak) = heap_of(|| Exposition::encode(&fam));
    let (again, _, again_peak) = heap_of(|| Exposition::encode_after(&fam, Some(&first)));
    drop((fam, first, again));
    let steps: Vec<(&str, u64, u64)> = vec![
        ("decode", decoded_heap, decode_peak),
        ("map", fam_heap, fam_peak),
        ("map (sized)", sized_heap, sized_peak),
        ("encode", first_heap, first_peak),
        ("encode again", 0, again_peak),
    ];
    let builds_of = || snap.apps.iter().flat_map(|a| a.builds.iter());
    let parts: Vec<(&str, u64)> = vec![
        (
            "app metrics",
            heap_of(|| {
                snap.apps
                    .iter()
                    .map(|a| a.metrics.clone())
                    .collect::<Vec<_>>()
            })
            .1,
        ),
        (
            "build metrics",
            heap_of(|| builds_of().map(|b| b.metrics.clone()).collect::<Vec<_>>()).1,
        ),
        (
            "signatures",
            heap_of(|| {
                builds_of()
                    .map(|b| b.signatures.clone())
                    .collect::<Vec<_>>()
            })
            .1,
        ),
        (
            "logs",
            heap_of(|| builds_of().map(|b| b.logs.clone()).collect::<Vec<_>>()).1,
        ),
        (
            "whole (clone)",
            heap_of(|| snap.apps.iter().map(|a| (**a).clone()).collect::<Vec<_>>()).1,
        ),
    ];
    // The compressor, by measurement: zlib-rs (flate2's backend here) at
    // each level on the text format, one thread.
    let text_bytes = Exposition::encode(&set).text_bytes();
    let levels: Vec<(u32, Duration, usize)> = [1, 2, 3, 4, 5, 6, 9]
        .into_iter()
        .map(|level| {
            let mut size = 0;
            let d = best(&mut || {
                let t = thread_cpu();
                let (m, _) =
                    export::gzip::member(&[&text_bytes[..]], b"", flate2::Compression::new(level))
                        .unwrap();
                size = m.len();
                thread_cpu() - t
            });
            (level, d, size)
        })
        .collect();
    drop(text_bytes);
    let per_100k = |d: Duration| d.as_secs_f64() * 1e3 * 100_000.0 / encoded.series.max(1) as f64;
    let ratio = |d: Duration| d.as_secs_f64() / value_cpu.as_secs_f64().max(1e-9);

    // Scrape latency through the real server (exporter started from saved state, no refresh).
    let state = tempfile::tempdir().unwrap();
    asc_perf_exporter::refresh::state::StateStore::open(state.path())
        .unwrap()
        .save(&snap)
        .unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut sconfig = config.clone();
    sconfig.listen = "127.0.0.1:0".into();
    sconfig.asc.base_url = handle.base_url();
    sconfig.asc.key_id = Some("BENCHKEY01".into());
    sconfig.refresh.interval = Duration::from_secs(86_400);
    sconfig.state_dir = Some(state.path().to_path_buf());
    let running = server_rt
        .block_on(service::start(service::ServeOptions {
            config: sconfig,
            private_key_inline: Some(private_pem),
            demo: None,
        }))
        .unwrap();
    let url = format!("http://{}/metrics", running.addr);
    let measure = |gzip: bool, openmetrics: bool| -> (Vec<Duration>, usize) {
        let c = reqwest::Client::builder().no_gzip().build().unwrap();
        rt.block_on(async {
            let mut lat = Vec::with_capacity(scrapes);
            let mut size = 0;
            for _ in 0..scrapes {
                let t = Instant::now();
                let mut req = c.get(&url);
                if gzip {
                    req = req.header("accept-encoding", "gzip");
                }
                if openmetrics {
                    req = req.header("accept", "application/openmetrics-text;version=1.0.0");
                }
                let body = req.send().await.unwrap().bytes().await.unwrap();
                lat.push(t.elapsed());
                size = body.len();
            }
            lat.sort();
            (lat, size)
        })
    };
    let (plain, plain_size) = measure(false, false);
    let (gz, gz_size) = measure(true, false);
    let (om, om_size) = measure(false, true);
    let (om_gz, om_gz_size) = measure(true, true);

    println!(
        "asc-perf-exporter benchmark ({} mode)",
        if full { "full" } else { "smoke" }
    );
    println!(
        "account: {apps} apps, {builds} builds/app, {} series in {} families",
        encoded.series, encoded.families
    );
    println!(
        "refresh: {requests} API requests, wall {:.1} ms, exporter CPU {:.1} ms ({:.3} ms CPU/request)",
        refresh_wall.as_secs_f64() * 1e3,
        refresh_cpu.as_secs_f64() * 1e3,
        refresh_cpu.as_secs_f64() * 1e3 / requests.max(1) as f64
    );
    println!(
        "pipeline on the state file ({} bytes), best of {rounds} rounds in each of {passes} passes, thread CPU ms (ratio to serde_json::Value of the same bytes = {:.1} ms):",
        state_json.len(),
        value_cpu.as_secs_f64() * 1e3
    );
    for (step, d) in [
        ("typed decode", decode_cpu),
        ("map to families", map_cpu),
        ("map (sized)", map_sized_cpu),
        ("write text", text_cpu),
        ("decode + map + text", decode_cpu + map_cpu + text_cpu),
    ] {
        println!(
            "  {step:22} {:8.1} ms  {:5.2}x  {:6.1} ms per 100k series",
            d.as_secs_f64() * 1e3,
            ratio(d),
            per_100k(d)
        );
    }
    println!(
        "  {:22} {:8.1} ms CPU ({:.1} ms wall)  {:5.2}x  {:6.1} ms CPU per 100k series (both formats, gzip on 2 threads)",
        "encode (text+OM+gzip)",
        full_cpu.as_secs_f64() * 1e3,
        full_wall.as_secs_f64() * 1e3,
        ratio(full_cpu),
        per_100k(full_cpu)
    );
    println!(
        "  {:22} {:8.1} ms  {:5.2}x",
        "decode + map + encode",
        (decode_cpu + map_cpu + full_cpu).as_secs_f64() * 1e3,
        ratio(decode_cpu + map_cpu + full_cpu)
    );
    println!(
        "  {:22} {:8.1} ms  {:5.2}x  (the map sized by the one before, as from a service's second mapping on)",
        "decode + map + encode",
        (decode_cpu + map_sized_cpu + full_cpu).as_secs_f64() * 1e3,
        ratio(decode_cpu + map_sized_cpu + full_cpu)
    );
    println!(
        "  bytes per series: {:.1} text, {:.2} gzip; family model {:.1} bytes per series",
        encoded.text_len() as f64 / encoded.series.max(1) as f64,
        encoded.gzip.len() as f64 / encoded.series.max(1) as f64,
        set.heap_bytes() as f64 / encoded.series.max(1) as f64
    );
    let mib_100k = |b: u64| b as f64 / 1048576.0 * 100_000.0 / encoded.series.max(1) as f64;
    println!(
        "  decoded snapshot: {:.1} MiB heap ({:.1} MiB per 100k series) from {} bytes of JSON",
        decoded_heap as f64 / 1048576.0,
        mib_100k(decoded_heap),
        state_json.len()
    );
    for (step, held, peak) in &steps {
        println!(
            "    {step:14} holds {:6.1} MiB, peak {:6.1} MiB above what was there ({:5.1} MiB per 100k series)",
            *held as f64 / 1048576.0,
            *peak as f64 / 1048576.0,
            mib_100k(*peak)
        );
    }
    for (part, b) in &parts {
        println!(
            "    {part:14} {:7.1} MiB  {:5.1} MiB per 100k series",
            *b as f64 / 1048576.0,
            mib_100k(*b)
        );
    }
    println!("gzip level (zlib-rs, one thread, the text format): CPU ms, bytes, ratio");
    for (level, d, size) in &levels {
        println!(
            "  level {level}: {:7.1} ms  {:9} bytes  {:5.1}:1",
            d.as_secs_f64() * 1e3,
            size,
            encoded.text_len() as f64 / *size as f64
        );
    }
    println!(
        "encode (once per refresh, both formats): CPU {:.2} ms, {} bytes text, {} bytes gzip; {} bytes OpenMetrics, {} bytes gzip; {} bytes held",
        encode_cpu.as_secs_f64() * 1e3,
        encoded.text_len(),
        encoded.gzip.len(),
        encoded.openmetrics_len(),
        encoded.openmetrics_gzip.len(),
        encoded.heap_bytes()
    );
    for (name, lat, size) in [
        ("plain", &plain, plain_size),
        ("gzip", &gz, gz_size),
        ("om", &om, om_size),
        ("om gz", &om_gz, om_gz_size),
    ] {
        println!(
            "scrape {name:5}: {scrapes} scrapes, {size} bytes, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms",
            pct(lat, 0.5).as_secs_f64() * 1e3,
            pct(lat, 0.9).as_secs_f64() * 1e3,
            pct(lat, 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "ratio: p50 plain scrape / encode CPU = {:.3}; refresh CPU / encode CPU = {:.1}",
        pct(&plain, 0.5).as_secs_f64() / encode_cpu.as_secs_f64().max(1e-9),
        refresh_cpu.as_secs_f64() / encode_cpu.as_secs_f64().max(1e-9)
    );
    server_rt.block_on(running.shutdown());
    sim_rt.block_on(handle.shutdown());
}
