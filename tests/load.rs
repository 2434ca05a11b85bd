//! Load: 32 concurrent scrapers (half plain, half `Accept-Encoding: gzip`)
//! while the exporter swaps its snapshot every refresh (150 ms apart) and
//! the simulator switches scenarios, so the exposition really changes under
//! the scrapers. Every body must be complete (gzip decodes to its trailer,
//! text ends with a newline, every line a comment or a sample) and a sample
//! of them must parse with the Prometheus Python client's parser.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use asc_perf_exporter::sim::Scenario;
use common::exporter::{config, next_snapshot, sim_env, start};

mod common;

const SCRAPERS: usize = 32;
/// Snapshots published while the scrapers run.
const SWAPS: usize = 8;
/// Between one scraper's scrapes.
const PAUSE: Duration = Duration::from_millis(100);
/// Bodies of each kind run through the Python parser.
const PARSED_SAMPLES: usize = 2;

/// Checks a text exposition line by line; returns the refresh timestamp it
/// carries (`none` before the first refresh is encoded). Panics naming the
/// first bad line.
fn check_complete(text: &str, what: &str) -> String {
    assert!(!text.is_empty(), "{what}: empty body");
    assert!(
        text.ends_with('\n'),
        "{what}: the body does not end with a newline (cut off?): ...{:?}",
        &text[text.len().saturating_sub(200)..]
    );
    let mut stamp = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| {
            panic!(
                "{what}: line {} is neither a comment nor a sample: {line:?}",
                i + 1
            )
        });
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && (name_end == series.len() || series.ends_with('}')),
            "{what}: line {} has a bad series {series:?}",
            i + 1
        );
        assert!(
            matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok(),
            "{what}: line {} has a bad value {value:?}",
            i + 1
        );
        if name == "asc_exporter_last_refresh_timestamp_seconds" {
            stamp = Some(value.to_string());
        }
    }
    stamp.unwrap_or_else(|| "none".into())
}

/// What one scraper saw: the refresh stamp of every body, and its last
/// body from a refresh (kept for the reference parser).
struct Scraped {
    gzip: bool,
    stamps: Vec<String>,
    last: Option<String>,
}

async fn scraper(id: usize, url: String, gzip: bool, stop: Arc<AtomicBool>) -> Scraped {
    // Decompression is done here, not by reqwest, to see the raw body.
    let client = reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut out = Scraped {
        gzip,
        stamps: Vec::new(),
        last: None,
    };
    // At least a few scrapes each, then until the swaps are done.
    while out.stamps.len() < 3 || !stop.load(Ordering::Relaxed) {
        let mut req = client.get(&url);
        if gzip {
            req = req.header("accept-encoding", "gzip");
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("scraper {id}: {e}"));
        assert_eq!(resp.status(), 200, "scraper {id}");
        let encoding = resp
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        let raw = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("scraper {id}: body: {e}"));
        let what = format!("scraper {id} scrape {} (gzip: {gzip})", out.stamps.len());
        let text = if gzip {
            assert_eq!(encoding.as_deref(), Some("gzip"), "{what}");
            // GzDecoder checks the trailer (CRC-32 and length): a cut-off
            // or corrupt stream is an error, not a short read.
            let mut text = String::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{what}: gzip does not decode to the end: {e}"));
            text
        } else {
            assert_eq!(encoding, None, "{what}");
            String::from_utf8(raw.to_vec()).unwrap_or_else(|e| panic!("{what}: {e}"))
        };
        let stamp = check_complete(&text, &what);
        if stamp != "none" {
            out.last = Some(text);
        }
        out.stamps.push(stamp);
        // Concurrent, not a busy loop: leave the two CPU cores some room
        // for the refreshes being scraped.
        tokio::time::sleep(PAUSE).await;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_scrapers_during_snapshot_swaps_get_complete_parseable_bodies() {
    let env = sim_env(Some(100_000_000)).await;
    let mut r = start(
        &env,
        config(&env, |c| {
            c.refresh.interval = Duration::from_millis(150);
            // A smaller exposition (a few hundred kB, not 3 MB) keeps the
            // checks of every body affordable on two slow cores.
            c.refresh.devices = vec!["all_iphones".into()];
            c.refresh.percentage_breakdowns = false;
            c.refresh.builds_per_app = 1;
        }),
    )
    .await;
    next_snapshot(&mut r).await;
    let url = format!("http://{}/metrics", r.addr);

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = std::time::Instant::now();
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|i| tokio::spawn(scraper(i, url.clone(), i % 2 == 1, stop.clone())))
        .collect();

    // Swap snapshots under the scrapers, alternating the scenario so the
    // exposition's series change, not only its timestamps.
    let control = env.sim.control.clone();
    for i in 0..SWAPS {
        control.set_scenario(if i % 2 == 0 {
            Scenario::Regression
        } else {
            Scenario::Baseline
        });
        next_snapshot(&mut r).await;
    }
    stop.store(true, Ordering::Relaxed);

    let mut seen = Vec::new();
    for s in scrapers {
        seen.push(s.await.expect("a scraper panicked"));
    }
    let bodies: usize = seen.iter().map(|s| s.stamps.len()).sum();
    eprintln!(
        "{bodies} bodies from {SCRAPERS} scrapers over {SWAPS} swaps in {:?}",
        t0.elapsed()
    );
    let stamps: BTreeSet<&str> = seen
        .iter()
        .flat_map(|s| s.stamps.iter().map(String::as_str))
        .collect();
    assert!(
        stamps.len() >= 3,
        "the scrapes did not overlap the swaps: {bodies} bodies, refresh stamps {stamps:?}"
    );
    assert!(bodies >= SCRAPERS * 3);
    let stats = r.server_stats.snapshot();
    assert!(stats.accepted >= SCRAPERS as u64, "{stats:?}");
    assert_eq!(stats.evicted, 0, "{stats:?}");

    // The last body of a few scrapers of each kind, through the reference parser.
    for gzip in [false, true] {
        let texts = seen
            .iter()
            .filter(|s| s.gzip == gzip)
            .filter_map(|s| s.last.as_deref())
            .take(PARSED_SAMPLES);
        let mut parsed = 0;
        for text in texts {
            let samples = common::prom::parse(text);
            assert!(
                samples
                    .iter()
                    .any(|s| s.name == "asc_exporter_last_refresh_timestamp_seconds"),
                "parsed, but without the exporter's own series"
            );
            parsed += 1;
        }
        assert_eq!(parsed, PARSED_SAMPLES, "gzip: {gzip}");
    }
    r.shutdown().await;
}
