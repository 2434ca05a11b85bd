//! The performance overview (API 4.5) through the exporter: fetched once
//! per app and refresh from the simulator over HTTP, exported as the
//! CONTRACT.md "Performance overview" families (parsed from `/metrics`),
//! "not measured" on a 404, last good data kept on a failure, and nothing
//! fetched with `refresh.overview: false`.

use std::time::Duration;

use asc_perf_exporter::asc::api::routes;
use asc_perf_exporter::asc::model::weight_as_fraction;
use common::exporter::{
    FIXTURE_APP, config, next_snapshot, scrape, sim_env, snapshot_where, start,
};
use common::prom::{find, one};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_apps_top_call_sites_are_exported_and_a_404_is_not_measured() {
    let env = sim_env(None).await;
    let mut r = start(
        &env,
        config(&env, |c| c.refresh.interval = Duration::from_secs(1)),
    )
    .await;
    let snap = next_snapshot(&mut r).await;
    let samples = scrape(&r).await;
    let mut checked = 0;
    for app in &snap.apps {
        let Some(o) = &app.overview else { continue };
        let id = app.app.id.as_str();
        for (kind, sig) in o.signatures.iter() {
            let labels = [
                ("app_id", id),
                ("diagnostic_type", kind.diagnostic_type()),
                ("signature_id", sig.id()),
            ];
            assert_eq!(
                Some(one(&samples, "asc_top_signature_weight_ratio", &labels)),
                sig.weight_fraction(),
                "{id} {}",
                sig.id()
            );
            assert_eq!(
                find(&samples, "asc_top_signature_occurrences", &labels)
                    .first()
                    .map(|s| s.value),
                sig.count.map(|c| c as f64)
            );
            let info = find(&samples, "asc_top_signature_info", &labels);
            assert_eq!(info.len(), 1);
            let l = &info[0].labels;
            assert_eq!(l["signature"], sig.signature());
            assert_eq!(
                l["source_file"],
                sig.source_file.clone().unwrap_or_default()
            );
            assert_eq!(
                l["line"],
                sig.line_number.map(|n| n.to_string()).unwrap_or_default(),
                "an empty line when Apple gives none"
            );
            assert_eq!(l["trend"], sig.trend());
            assert_eq!(info[0].value, 1.0);
            for rv in sig.reference_versions() {
                let version = rv.version.as_deref().unwrap();
                let mut with_version = labels.to_vec();
                with_version.push(("version", version));
                assert_eq!(
                    Some(one(
                        &samples,
                        "asc_top_signature_version_weight_ratio",
                        &with_version
                    )),
                    weight_as_fraction(rv.value.unwrap())
                );
            }
            checked += 1;
        }
        for (c, s) in o.sections() {
            let labels = [("app_id", id), ("category", c.id()), ("metric", s.id())];
            assert_eq!(
                Some(one(&samples, "asc_overview_relevance_score", &labels)),
                s.relevance_score
            );
        }
    }
    let without: Vec<&str> = snap
        .apps
        .iter()
        .filter(|a| a.overview.is_none())
        .map(|a| a.app.id.as_str())
        .collect();
    assert_eq!(
        without,
        [FIXTURE_APP],
        "the simulator serves an overview with data for every synthetic app"
    );
    assert!(checked >= snap.apps.len(), "{checked} call sites checked");

    // A failure keeps the app's last good data, overview included.
    let app = snap.apps.iter().find(|a| a.overview.is_some()).unwrap();
    let app_id = app.app.id.clone();
    let path = format!("/v1/apps/{app_id}/performanceOverviews");
    env.sim.control.fail(&path, 500, None);
    snapshot_where(&mut r, |s| {
        s.app(&app_id).is_some_and(|a| a.last_attempt_failed)
    })
    .await;
    let failed = scrape(&r).await;
    assert_eq!(
        one(&failed, "asc_app_refresh_failed", &[("app_id", &app_id)]),
        1.0
    );
    assert!(
        !find(
            &failed,
            "asc_top_signature_weight_ratio",
            &[("app_id", &app_id)]
        )
        .is_empty()
    );

    // Apple's 404: not measured (no series, never zeros), not a failure.
    env.sim.control.clear_faults();
    env.sim.control.fail(&path, 404, None);
    snapshot_where(&mut r, |s| {
        s.app(&app_id)
            .is_some_and(|a| !a.last_attempt_failed && a.overview.is_none())
    })
    .await;
    let gone = scrape(&r).await;
    assert_eq!(
        one(&gone, "asc_app_refresh_failed", &[("app_id", &app_id)]),
        0.0
    );
    for family in [
        "asc_top_signature_weight_ratio",
        "asc_top_signature_occurrences",
        "asc_top_signature_info",
        "asc_top_signature_version_weight_ratio",
        "asc_overview_relevance_score",
    ] {
        assert!(
            find(&gone, family, &[("app_id", &app_id)]).is_empty(),
            "{family}"
        );
    }
    assert!(
        !find(&gone, "asc_launch_time_seconds", &[("app_id", &app_id)]).is_empty(),
        "perfPowerMetrics' series stay"
    );
    let other = snap
        .apps
        .iter()
        .find(|a| a.app.id != app_id && a.overview.is_some())
        .unwrap();
    assert!(
        !find(
            &gone,
            "asc_top_signature_info",
            &[("app_id", &other.app.id)]
        )
        .is_empty()
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_overview_off_fetches_and_exports_no_overview() {
    let env = sim_env(None).await;
    let mut r = start(&env, config(&env, |c| c.refresh.overview = false)).await;
    let snap = next_snapshot(&mut r).await;
    assert!(snap.apps.iter().all(|a| a.overview.is_none()));
    assert!(
        !env.sim
            .control
            .requests_by_route()
            .contains_key(routes::APP_OVERVIEW)
    );
    let samples = scrape(&r).await;
    assert!(find(&samples, "asc_top_signature_info", &[]).is_empty());
    assert!(!find(&samples, "asc_launch_time_seconds", &[]).is_empty());
    r.shutdown().await;
}
