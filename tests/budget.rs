//! The exporter and App Store Connect's rate limits, end to end against the
//! simulator: a refresh costs the minimum number of requests, a spent hourly
//! budget stops every request (no 429s) and defers the next refresh, and a
//! failed state write shows in the exporter's own metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use asc_perf_exporter::asc::api::routes;
use asc_perf_exporter::clock::unix_now;
use common::exporter::{config, next_snapshot, scrape, sim_env, snapshot_where, start};
use common::prom::{find, one};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_costs_exactly_the_minimum_number_of_requests() {
    let env = sim_env(None).await;
    let mut r = start(
        &env,
        config(&env, |c| {
            c.diagnostics.logs = true;
            c.diagnostics.logs_top = 3;
        }),
    )
    .await;
    let snap = next_snapshot(&mut r).await;
    r.shutdown().await;
    assert!(snap.refresh.last_success);

    // From the simulator's account: one page of apps; per app its metrics
    // and one page of builds; per fetched build its metrics, the fewest
    // pages of signatures (200 a page) and the logs of the top signatures;
    // per app its performance overview.
    let account = env.sim.control.account();
    let top = 10; // diagnostics.top
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |route: &str, n: u64| *want.entry(route.to_string()).or_default() += n;
    add(routes::APPS, 1);
    for app in &snap.apps {
        add(routes::APP_METRICS, 1);
        add(routes::APP_OVERVIEW, 1);
        add(routes::BUILDS, 1);
        let builds_in_account = account
            .app(&app.app.id)
            .map(|a| a.versions.iter().map(|v| v.builds.len()).sum::<usize>())
            .unwrap_or(0);
        assert_eq!(app.builds.len(), builds_in_account.min(3), "{}", app.app.id);
        for b in &app.builds {
            let sigs = account
                .build(&b.build.id)
                .map(|r| r.build.signatures.len())
                .unwrap_or(0);
            add(routes::BUILD_METRICS, 1);
            add(routes::BUILD_SIGNATURES, sigs.div_ceil(200).max(1) as u64);
            add(routes::SIGNATURE_LOGS, sigs.min(top).min(3) as u64);
        }
    }
    assert!(
        snap.apps.iter().flat_map(|a| &a.builds).any(|b| account
            .build(&b.build.id)
            .is_some_and(|r| r.build.signatures.len() > top)),
        "some build has more signatures than diagnostics.top, so page sizes matter"
    );
    assert_eq!(env.sim.control.requests_by_route(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_hour_budget_stops_every_request_and_defers_the_next_refresh() {
    for concurrency in [1, 4] {
        // 12 requests an hour: the first refresh (about 30) spends them all.
        let env = sim_env(Some(12)).await;
        let mut r = start(
            &env,
            config(&env, |c| {
                c.refresh.interval = Duration::from_secs(1);
                c.refresh.concurrency = concurrency;
                c.refresh.rate_limit_reserve = 0.0;
                c.asc.max_retries = 4;
            }),
        )
        .await;
        let snap = next_snapshot(&mut r).await;
        let samples = scrape(&r).await;
        r.shutdown().await;
        // Every unit of the budget went to a request that got an answer;
        // none to a 429, and nothing was sent after the budget was spent.
        assert_eq!(
            env.sim.control.request_count(),
            12,
            "concurrency {concurrency}"
        );
        assert!(
            find(&samples, "asc_api_requests_total", &[("status", "429")]).is_empty(),
            "no 429 at concurrency {concurrency}"
        );
        assert!(!snap.refresh.last_success);
        let failed: Vec<_> = snap.apps.iter().filter(|a| a.last_attempt_failed).collect();
        assert!(!failed.is_empty());
        for a in failed {
            let e = a.last_error.as_deref().unwrap();
            assert!(
                e.contains("user-hour-rem:0") && e.contains("resume in"),
                "{e}"
            );
        }
        // The next refresh waits for the window: about an hour, not the
        // 1 s interval or the 5 minutes after a failure.
        let now = unix_now();
        let next = one(&samples, "asc_exporter_next_refresh_timestamp_seconds", &[]);
        assert!(
            next > now + 3500.0 && next <= now + 3601.0,
            "next refresh at {next}, now {now}"
        );
        let resume = one(&samples, "asc_api_rate_limit_resume_timestamp_seconds", &[]);
        assert!(resume > now + 3500.0, "{resume}");
        assert_eq!(snap.refresh.next_attempt_unix, Some(next));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_state_write_is_counted_and_the_data_is_still_served() {
    let env = sim_env(None).await;
    // The state file's name is taken by a non-empty directory: every write
    // fails at the rename, after the temp file was written in full.
    let blocker = env.state.path().join("snapshot.json");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("x"), b"x").unwrap();
    let mut r = start(
        &env,
        config(&env, |c| c.refresh.interval = Duration::from_secs(1)),
    )
    .await;
    let first = next_snapshot(&mut r).await;
    let failed = loop {
        let s = scrape(&r).await;
        if !find(&s, "asc_exporter_state_write_failures_total", &[]).is_empty()
            && one(&s, "asc_exporter_state_write_failures_total", &[]) >= 1.0
        {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        find(
            &failed,
            "asc_exporter_state_last_write_success_timestamp_seconds",
            &[]
        )
        .is_empty()
    );
    assert!(
        !find(&failed, "asc_launch_time_seconds", &[]).is_empty(),
        "data is served"
    );
    let tmp: Vec<_> = std::fs::read_dir(env.state.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "temp files left behind: {tmp:?}");

    // The disk is fixed: the next write succeeds and says when.
    std::fs::remove_dir_all(&blocker).unwrap();
    snapshot_where(&mut r, |s| {
        s.refresh.last_attempt_unix > first.refresh.last_attempt_unix
    })
    .await;
    let ok = loop {
        let s = scrape(&r).await;
        if !find(
            &s,
            "asc_exporter_state_last_write_success_timestamp_seconds",
            &[],
        )
        .is_empty()
        {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    r.shutdown().await;
    assert!(one(&ok, "asc_exporter_state_write_failures_total", &[]) >= 1.0);
    assert!(blocker.is_file(), "the state file was written");
}
