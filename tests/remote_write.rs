//! The distributed path of issue 15 with real components, all on 127.0.0.1:
//! two exporter shards (`serve --demo --shard 1/2`, `--shard 2/2`) ->
//! Debian's Prometheus in agent mode scraping both and remote-writing ->
//! a second Prometheus started with `--web.enable-remote-write-receiver`,
//! which evaluates the repo's `alerts/*.yml` (alerting rules run centrally).
//!
//! Checks:
//! - the shards split the account disjointly and completely: their apps,
//!   read from their own `/metrics`, are disjoint and together the apps of
//!   an unsharded exporter on the same simulated account;
//! - the central Prometheus answers for every app (`asc_app_refresh_failed` and the
//!   per-app metric families), with the agent's `cluster` external label;
//! - every rule of `alerts/*.yml` evaluates without error there;
//! - every PromQL expression of every dashboard returns data from the
//!   central Prometheus, template variables filled with real label values
//!   (in the simulator's `mixed` scenario, with one API error injected, as
//!   in `tests/e2e.rs`).
//!
//! Each shard runs its own embedded simulator (`--demo`), with the same seed,
//! so both see the same account; as each has the simulator's whole budget,
//! the shards run with `refresh.budget_share: 1` (a real key shared by two
//! shards keeps the default, half each).
//!
//! Missing `prometheus` fails the test when `CI` is set and skips it with a
//! loud warning otherwise.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod e2e_support;

use e2e_support::*;

/// `(account, app_id)` of every `asc_app_refresh_failed` line of an exposition.
fn apps_in(exposition: &str) -> BTreeSet<(String, String)> {
    let label = |line: &str, name: &str| -> Option<String> {
        let at = line.find(&format!("{name}=\""))? + name.len() + 2;
        Some(line[at..].split('"').next()?.to_string())
    };
    exposition
        .lines()
        .filter(|l| l.starts_with("asc_app_refresh_failed{"))
        .filter_map(|l| Some((label(l, "account")?, label(l, "app_id")?)))
        .collect()
}

/// An exporter in demo mode with the given extra arguments.
fn exporter(name: &'static str, dir: &Path, sim_port: u16, port: u16, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asc-perf-exporter"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ASC_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args([
        "serve",
        "--demo",
        "--demo-apps",
        "6",
        "--builds-per-app",
        "1",
    ])
    .arg("--demo-listen")
    .arg(format!("127.0.0.1:{sim_port}"))
    .arg("--listen")
    .arg(format!("127.0.0.1:{port}"))
    // Six apps cost ~25 requests a refresh, about 13 a shard: every 8 s
    // stays inside each simulator's 150-a-minute window.
    .args(["--refresh-interval", "8s"])
    .args(extra)
    .env("ASC_EXPORTER_BUDGET_SHARE", "1");
    let mut cmd_dir = dir.to_path_buf();
    cmd_dir.push(name);
    std::fs::create_dir_all(&cmd_dir).unwrap();
    cmd.env("ASC_EXPORTER_STATE_DIR", &cmd_dir);
    Proc::spawn(name, &mut cmd, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_through_an_agent_to_a_central_prometheus() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack {
        procs: Vec::new(),
        started: Instant::now(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // The shards, and an unsharded exporter on the same account for the
    // expected set of apps.
    let sims = [free_port(), free_port(), free_port()];
    let ports = [free_port(), free_port(), free_port()];
    stack.procs.push(exporter(
        "shard-1",
        dir.path(),
        sims[0],
        ports[0],
        &["--shard", "1/2"],
    ));
    stack.procs.push(exporter(
        "shard-2",
        dir.path(),
        sims[1],
        ports[1],
        &["--shard", "2/2"],
    ));
    stack
        .procs
        .push(exporter("whole", dir.path(), sims[2], ports[2], &[]));

    // The central Prometheus: no scrape configs, the remote-write receiver,
    // the repo's rules.
    let central_port = free_port();
    let central_config = dir.path().join("central.yml");
    let rules: Vec<String> = rule_files()
        .iter()
        .map(|p| format!("  - {:?}", p.display().to_string()))
        .collect();
    std::fs::write(
        &central_config,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n{}\n",
            rules.join("\n")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&tools.prometheus);
    cmd.arg(format!("--config.file={}", central_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("central-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{central_port}"))
        .arg("--web.enable-remote-write-receiver");
    stack
        .procs
        .push(Proc::spawn("central", &mut cmd, dir.path()));

    // The agent: scrapes both shards (one job, as the alert rules expect),
    // remote-writes everything with a `cluster` label.
    let agent_port = free_port();
    let agent_config = dir.path().join("agent.yml");
    std::fs::write(
        &agent_config,
        format!(
            r#"global:
  scrape_interval: 1s
  external_labels:
    cluster: ci
scrape_configs:
  - job_name: asc-perf-exporter
    static_configs:
      - targets: ["127.0.0.1:{}", "127.0.0.1:{}"]
remote_write:
  - url: http://127.0.0.1:{central_port}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
"#,
            ports[0], ports[1]
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&tools.prometheus);
    cmd.arg("--enable-feature=agent")
        .arg(format!("--config.file={}", agent_config.display()))
        .arg(format!(
            "--storage.agent.path={}",
            dir.path().join("agent-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{agent_port}"));
    stack.procs.push(Proc::spawn("agent", &mut cmd, dir.path()));

    let get = |url: String| {
        let http = http.clone();
        move || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http.get(&url).send().await.ok()?;
                if !r.status().is_success() {
                    return None;
                }
                r.text().await.ok()
            }
        }
    };
    // The exposition is encoded just after a snapshot is published, so
    // `/ready` can answer 200 a moment before `/metrics` has the apps: wait
    // for an exposition of a finished refresh.
    let refreshed = |url: String| {
        let probe = get(url);
        move || {
            let fut = probe();
            async move {
                fut.await.filter(|text| {
                    text.contains("asc_exporter_last_refresh_success{account=\"default\"} 1")
                })
            }
        }
    };
    let t = Duration::from_secs(60);
    let mut exposition = Vec::new();
    for (name, port) in ["shard-1", "shard-2", "whole"].iter().zip(ports) {
        stack
            .wait_for(
                &format!("{name} ready"),
                t,
                get(format!("http://127.0.0.1:{port}/ready")),
            )
            .await;
        exposition.push(
            stack
                .wait_for(
                    &format!("{name} serves its metrics"),
                    t,
                    refreshed(format!("http://127.0.0.1:{port}/metrics")),
                )
                .await,
        );
    }
    let [one, two, whole] = [0, 1, 2].map(|i| apps_in(&exposition[i]));
    assert_eq!(whole.len(), 6, "the unsharded exporter serves six apps");
    assert!(
        one.is_disjoint(&two),
        "the shards are disjoint: {one:?} / {two:?}"
    );
    let union: BTreeSet<_> = one.union(&two).cloned().collect();
    assert_eq!(union, whole, "the shards together are the account");
    assert!(
        whole.iter().all(|(account, _)| account == "default"),
        "the single-key demo is the account `default`: {whole:?}"
    );
    for (name, port) in [("agent", agent_port), ("central", central_port)] {
        stack
            .wait_for(
                &format!("{name} ready"),
                t,
                get(format!("http://127.0.0.1:{port}/-/ready")),
            )
            .await;
    }

    let api = Api {
        http: http.clone(),
        prom: format!("http://127.0.0.1:{central_port}"),
    };
    let expected: BTreeSet<String> = whole.iter().map(|(_, id)| id.clone()).collect();
    // Waits until the central Prometheus answers `query` for exactly the
    // expected apps.
    let every_app = |query: &'static str| {
        let (api, expected) = (&api, &expected);
        move || async move {
            let r = api.query(query).await?;
            let ids: BTreeSet<String> = r
                .iter()
                .filter_map(|s| s["metric"]["app_id"].as_str().map(str::to_string))
                .collect();
            (ids == *expected).then_some(())
        }
    };
    stack
        .wait_for(
            "every app in the central Prometheus",
            t,
            every_app(r#"asc_app_refresh_failed{cluster="ci"}"#),
        )
        .await;
    // Per-app data, not only the per-app status series: every app has
    // launch times.
    stack
        .wait_for(
            "every app's metric data centrally",
            t,
            every_app("count by (app_id) (asc_launch_time_seconds)"),
        )
        .await;
    // `up` is written by the agent itself, in its own batches: wait for it.
    stack
        .wait_for(
            "both shards up, as the agent saw them",
            Duration::from_secs(20),
            || async {
                let r = api.query(r#"up{job="asc-perf-exporter"} == 1"#).await?;
                (r.len() == 2).then_some(())
            },
        )
        .await;

    // Every rule evaluates without error on the remote-written data.
    let rules_url = format!("{}/api/v1/rules", api.prom);
    stack
        .wait_for(
            "every rule evaluated without error centrally",
            Duration::from_secs(20),
            || async {
                let data = api.get_json(&rules_url, &[]).await?;
                let mut n = 0;
                for g in data["groups"].as_array()? {
                    for r in g["rules"].as_array()? {
                        match r["health"].as_str() {
                            Some("ok") => n += 1,
                            Some("err") => panic!(
                                "rule {} fails on remote-written data: {}",
                                r["name"], r["lastError"]
                            ),
                            _ => return None,
                        }
                    }
                }
                (n > 0).then_some(())
            },
        )
        .await;

    // The dashboards against the central Prometheus: the mixed scenario on
    // both shards' simulators (insight panels need its standing
    // regressions and trend) and one API error (panels about errors).
    for sim in &sims[..2] {
        let url = format!("http://127.0.0.1:{sim}/_sim/scenario");
        let r = http
            .put(&url)
            .json(&serde_json::json!({ "scenario": "mixed" }))
            .send()
            .await
            .expect("simulator admin API answers");
        assert!(r.status().is_success(), "PUT {url}: {}", r.status());
    }
    let r = http
        .post(format!("http://127.0.0.1:{}/_sim/faults", sims[0]))
        .json(&serde_json::json!({ "path_prefix": "/v1/apps", "status": 500, "times": 1 }))
        .send()
        .await
        .expect("simulator admin API answers");
    assert!(r.status().is_success(), "POST /_sim/faults: {}", r.status());
    stack
        .wait_for(
            "the mixed scenario and the API error centrally",
            t,
            || async {
                let trend = api.query("asc_insight_trending_up_delta_ratio").await?;
                let errors = api.query(r#"asc_api_requests_total{status="500"}"#).await?;
                (!trend.is_empty() && !errors.is_empty()).then_some(())
            },
        )
        .await;
    let dashboards = dashboard_queries();
    let n_queries: usize = dashboards.iter().map(|d| d.queries.len()).sum();
    assert!(n_queries > 0, "no dashboard queries found");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failures = empty_panels(&api, &dashboards).await;
        if failures.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let diag = stack.diagnostics();
            panic!(
                "dashboard panels without data from the central Prometheus after 30 s:\n{}\n{diag}",
                failures.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The series arrived through the agent: each carries its label.
    let series: Option<Vec<Value>> = api
        .query(r#"count by (cluster) (asc_app_refresh_failed)"#)
        .await;
    let clusters: Vec<String> = series
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["metric"]["cluster"].as_str().map(str::to_string))
        .collect();
    assert_eq!(clusters, ["ci"], "every app series came through the agent");
    eprintln!(
        "[remote_write] {n_queries} dashboard expressions answered centrally in {:.1}s",
        stack.started.elapsed().as_secs_f64()
    );
}
