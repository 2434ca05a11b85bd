//! Several App Store Connect accounts in one exporter (issue 15), over real
//! HTTP against two simulators (two teams, two keys), scraped from
//! `/metrics` and read with the Prometheus client's parser:
//!
//! - every per-app series carries its account's `account` label, and the
//!   per-account refresh and API families are one series per account;
//! - each account's requests go to its own simulator with its own key (a
//!   simulator checks the JWT against its public key: a mixed-up key would
//!   answer 401);
//! - an account that fails (its simulator gone) keeps its last data, shows
//!   `asc_exporter_last_refresh_success{account}` 0, and never touches the
//!   other account, whose data goes on refreshing;
//! - a cold start on a 40-app account publishes the first app before the
//!   rest: `/metrics` serves an app while `asc_exporter_refresh_progress_ratio`
//!   is still below 1 and few requests are spent (the time it takes at
//!   150 requests a minute is measured in `bench/`, not here).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::config::{AccountConfig, Config};
use asc_perf_exporter::service::{self, ServeOptions};
use asc_perf_exporter::sim::{self, SimConfig, SimHandle};

mod common;
use common::exporter::scrape;
use common::prom::{Sample, find, one, parse};

struct Team {
    sim: Option<SimHandle>,
    key: tempfile::NamedTempFile,
}

async fn team(apps: usize, seed: u64, minute_limit: u64) -> Team {
    let (private_pem, public_pem) = generate_key_pair();
    let mut sc = SimConfig::new(public_pem);
    sc.apps = apps;
    sc.seed = seed;
    sc.minute_limit = minute_limit;
    let sim = sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), private_pem).unwrap();
    Team {
        sim: Some(sim),
        key,
    }
}

fn account(name: &str, t: &Team) -> AccountConfig {
    AccountConfig {
        name: name.into(),
        issuer_id: Some("57246542-96fe-1a63-e053-0824d011072a".into()),
        key_id: format!("KEY{}", name.len()),
        private_key_path: Some(t.key.path().to_path_buf()),
        private_key_env: None,
        base_url: Some(t.sim.as_ref().unwrap().base_url()),
        apps: Vec::new(),
    }
}

fn config(state: &tempfile::TempDir, accounts: Vec<AccountConfig>, interval: Duration) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        accounts,
        ..Config::default()
    };
    c.asc.max_retries = 0;
    c.refresh.interval = interval;
    c.refresh.jitter = 0.0;
    c.refresh.builds_per_app = 1;
    c.state_dir = Some(state.path().to_path_buf());
    c
}

/// `app_id`s of `asc_app_refresh_failed` (every app has one) by account.
fn apps_by_account(s: &[Sample]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for x in find(s, "asc_app_refresh_failed", &[]) {
        out.entry(x.labels["account"].clone())
            .or_default()
            .insert(x.labels["app_id"].clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_has_its_key_its_label_and_its_own_failures() {
    let mut a = team(2, 11, 0).await;
    let mut b = team(3, 12, 0).await;
    let state = tempfile::tempdir().unwrap();
    let c = config(
        &state,
        vec![account("studio-a", &a), account("studio-b", &b)],
        Duration::from_secs(1),
    );
    let mut running = service::start(ServeOptions {
        config: c,
        private_key_inline: None,
        demo: None,
    })
    .await
    .expect("the exporter starts with two accounts");

    let first = common::exporter::snapshot_where(&mut running, |s| {
        s.apps.len() == 5 && s.refresh.last_success
    })
    .await;
    let s = scrape(&running).await;
    let apps = apps_by_account(&s);
    assert_eq!(
        apps.iter()
            .map(|(k, v)| (k.as_str(), v.len()))
            .collect::<Vec<_>>(),
        [("studio-a", 2), ("studio-b", 3)],
        "each account's apps under its label"
    );
    assert!(
        apps["studio-a"].is_disjoint(&apps["studio-b"]),
        "two teams, two sets of apps"
    );
    // Every per-app series has the label of the account its app is in.
    let account_of: BTreeMap<&String, &String> = apps
        .iter()
        .flat_map(|(acc, ids)| ids.iter().map(move |id| (id, acc)))
        .collect();
    let per_app: Vec<&Sample> = s
        .iter()
        .filter(|x| x.labels.contains_key("app_id"))
        .collect();
    assert!(per_app.len() > 50, "{} per-app series", per_app.len());
    for x in &per_app {
        assert_eq!(
            x.labels.get("account"),
            account_of.get(&x.labels["app_id"]).copied(),
            "{} {:?}",
            x.name,
            x.labels
        );
    }
    // Per-account families: one series per account; requests went to each
    // account's own simulator with its own key (no 401 anywhere).
    for acc in ["studio-a", "studio-b"] {
        assert_eq!(
            one(&s, "asc_exporter_last_refresh_success", &[("account", acc)]),
            1.0
        );
        assert_eq!(
            one(
                &s,
                "asc_exporter_refresh_progress_ratio",
                &[("account", acc)]
            ),
            1.0
        );
        let ok: f64 = find(
            &s,
            "asc_api_requests_total",
            &[("account", acc), ("status", "200")],
        )
        .iter()
        .map(|x| x.value)
        .sum();
        assert!(ok > 0.0, "{acc}: no successful request");
    }
    assert!(
        find(&s, "asc_api_requests_total", &[("status", "401")]).is_empty(),
        "a key went to the wrong account's simulator"
    );
    // One state file per account.
    for f in ["snapshot-studio-a.json", "snapshot-studio-b.json"] {
        assert!(state.path().join(f).is_file(), "{f}");
    }

    // Account b's App Store Connect goes away.
    b.sim.take().unwrap().shutdown().await;
    let a_first = |snap: &asc_perf_exporter::refresh::Snapshot| -> f64 {
        snap.apps
            .iter()
            .filter(|x| x.app.account == "studio-a")
            .filter_map(|x| x.last_success_unix)
            .fold(f64::INFINITY, f64::min)
    };
    let before = a_first(&first);
    // A refresh of b that was under way at the shutdown fails as a whole
    // but keeps what it finished before it (those apps succeeded); the
    // next one fails every app. Wait for that, not for the first failure.
    let after = common::exporter::snapshot_where(&mut running, |snap| {
        snap.accounts
            .iter()
            .any(|x| x.name == "studio-b" && !x.refresh.last_success)
            && snap
                .apps
                .iter()
                .filter(|x| x.app.account == "studio-b")
                .all(|x| x.last_attempt_failed)
            && a_first(snap) > before
    })
    .await;
    assert_eq!(after.apps.len(), 5, "b's apps keep their last data");
    let s = scrape(&running).await;
    assert_eq!(
        apps_by_account(&s),
        apps,
        "both accounts' apps still served"
    );
    assert_eq!(
        one(
            &s,
            "asc_exporter_last_refresh_success",
            &[("account", "studio-b")]
        ),
        0.0
    );
    assert_eq!(
        one(
            &s,
            "asc_exporter_last_refresh_success",
            &[("account", "studio-a")]
        ),
        1.0,
        "a's refreshes go on, untouched"
    );
    for id in &apps["studio-b"] {
        assert_eq!(
            one(&s, "asc_app_refresh_failed", &[("app_id", id)]),
            1.0,
            "b's app {id} is marked failed"
        );
        assert!(
            !find(&s, "asc_launch_time_seconds", &[("app_id", id)]).is_empty(),
            "b's app {id} keeps its data"
        );
    }
    for id in &apps["studio-a"] {
        assert_eq!(one(&s, "asc_app_refresh_failed", &[("app_id", id)]), 0.0);
    }
    running.shutdown().await;
    a.sim.take().unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_serves_its_first_app_before_the_rest() {
    // The acceptance account: 40 apps behind a 150-a-minute window.
    let t = team(40, 7, 150).await;
    let state = tempfile::tempdir().unwrap();
    let mut c = config(&state, Vec::new(), Duration::from_secs(3600));
    c.asc.base_url = t.sim.as_ref().unwrap().base_url();
    c.asc.issuer_id = Some("issuer".into());
    c.asc.key_id = Some("KEY0000001".into());
    c.asc.private_key_path = Some(t.key.path().to_path_buf());
    let mut running = service::start(ServeOptions {
        config: c,
        private_key_inline: None,
        demo: None,
    })
    .await
    .expect("exporter starts");
    let started = std::time::Instant::now();
    let url = format!("http://{}/metrics", running.addr);
    let first = loop {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let s = parse(&text);
        if !find(&s, "asc_launch_time_seconds", &[]).is_empty() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no app's data on /metrics after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "first app's data after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let served = apps_by_account(&first)["default"].len();
    let progress = one(&first, "asc_exporter_refresh_progress_ratio", &[]);
    let requests: f64 = find(&first, "asc_api_requests_total", &[])
        .iter()
        .map(|x| x.value)
        .sum();
    assert!(
        requests > 0.0,
        "a partial exposition counts the requests spent so far"
    );
    assert!(
        served < 40 && progress < 1.0,
        "the first data came before the refresh finished ({served} apps, progress {progress})"
    );
    assert!(
        (progress - served as f64 / 40.0).abs() < 1e-9,
        "progress is the apps done of 40: {progress} with {served} apps"
    );
    let ready = reqwest::get(format!("http://{}/ready", running.addr))
        .await
        .unwrap();
    let status = ready.status();
    let body = ready.text().await.unwrap();
    assert!(
        status == reqwest::StatusCode::SERVICE_UNAVAILABLE && body.contains("of 40 apps done"),
        "/ready waits for the whole first refresh and says how far it is: {status} {body}"
    );
    // The refresh still completes with every app: at 150 requests a minute
    // that is over a minute, so wait on the snapshots without the helper's
    // 30-second bound per snapshot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let done = loop {
        tokio::time::timeout_at(deadline, running.snapshots.changed())
            .await
            .expect("the first refresh completes within 300 s")
            .unwrap();
        let s = running
            .snapshots
            .borrow_and_update()
            .clone()
            .expect("a snapshot");
        if !s.is_partial() {
            break s;
        }
    };
    assert_eq!(done.apps.len(), 40);
    let total: f64 = find(&scrape(&running).await, "asc_api_requests_total", &[])
        .iter()
        .map(|x| x.value)
        .sum();
    assert!(
        requests < total,
        "published before the account's requests were spent: {requests} of {total}"
    );
    running.shutdown().await;
}

/// One shard of `n` on the team's simulator (the default account), with an
/// allow-list.
async fn shard(
    t: &Team,
    state: &tempfile::TempDir,
    spec: &str,
    apps: &[String],
) -> service::Running {
    let mut c = config(state, Vec::new(), Duration::from_secs(3600));
    c.asc.base_url = t.sim.as_ref().unwrap().base_url();
    c.asc.issuer_id = Some("issuer".into());
    c.asc.key_id = Some("KEY0000001".into());
    c.asc.private_key_path = Some(t.key.path().to_path_buf());
    c.shard = spec.into();
    c.refresh.budget_share = 1.0;
    c.refresh.apps = apps.to_vec();
    service::start(ServeOptions {
        config: c,
        private_key_inline: None,
        demo: None,
    })
    .await
    .expect("the shard starts")
}

async fn ready(r: &service::Running) -> (reqwest::StatusCode, String) {
    let resp = reqwest::get(format!("http://{}/ready", r.addr))
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_with_an_allow_list_are_ready_for_their_own_apps() {
    let t = team(8, 21, 0).await;
    // Every app the key sees, from an unsharded exporter.
    let whole_state = tempfile::tempdir().unwrap();
    let mut whole = shard(&t, &whole_state, "1/1", &[]).await;
    let all = common::exporter::snapshot_where(&mut whole, |s| s.refresh.last_success).await;
    whole.shutdown().await;
    let ids: Vec<String> = all.apps.iter().map(|a| a.app.id.clone()).collect();
    assert_eq!(ids.len(), 8);
    // The allow-list: six of the eight, by id and by bundle id.
    let mut wanted: Vec<String> = ids[..3].to_vec();
    wanted.extend(all.apps[3..6].iter().map(|a| a.app.bundle_id.clone()));

    let mut served = Vec::new();
    for spec in ["1/2", "2/2"] {
        let state = tempfile::tempdir().unwrap();
        let mut r = shard(&t, &state, spec, &wanted).await;
        let s = common::exporter::snapshot_where(&mut r, |s| s.refresh.last_success).await;
        let (status, body) = ready(&r).await;
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "shard {spec} is ready for its own {} apps although other shards own the rest of refresh.apps: {body}",
            s.apps.len()
        );
        served.push(
            s.apps
                .iter()
                .map(|a| a.app.id.clone())
                .collect::<BTreeSet<_>>(),
        );
        r.shutdown().await;
    }
    assert!(served[0].is_disjoint(&served[1]), "{served:?}");
    let union: BTreeSet<String> = served[0].union(&served[1]).cloned().collect();
    assert_eq!(
        union,
        ids[..6].iter().cloned().collect::<BTreeSet<_>>(),
        "the shards together refresh the allow-list"
    );

    // An entry the key does not see makes every shard unready, named.
    wanted.push("com.example.gone".into());
    let state = tempfile::tempdir().unwrap();
    let mut r = shard(&t, &state, "1/2", &wanted).await;
    common::exporter::snapshot_where(&mut r, |s| s.refresh.last_attempt_unix > 0.0).await;
    let (status, body) = ready(&r).await;
    assert!(
        status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            && body
                .contains("refresh.apps lists com.example.gone, which this API key does not see"),
        "{status} {body}"
    );
    r.shutdown().await;
}
