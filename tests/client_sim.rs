//! The real client against the simulated App Store Connect over HTTP on
//! 127.0.0.1: paging, retries with backoff on 5xx and 429 (honouring the
//! simulator's `Retry-After`), the 401 path and ErrorResponse messages.

use std::time::{Duration, Instant};

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::asc::client::{AppsQuery, MetricsFilter};
use asc_perf_exporter::asc::{
    AscClient, AscError, AuthConfig, ClientConfig, KeySource, TokenProvider,
};

mod common;

fn client_with_key(
    env: &common::Env,
    private_pem: &str,
    tweak: impl FnOnce(&mut ClientConfig),
) -> AscClient {
    let mut cfg = ClientConfig {
        base_url: env.handle.base_url().parse().unwrap(),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..ClientConfig::default()
    };
    tweak(&mut cfg);
    let auth = TokenProvider::new(AuthConfig::new(
        Some(common::ISSUER.into()),
        common::KID,
        KeySource::Inline(private_pem.into()),
    ))
    .unwrap();
    AscClient::new(cfg, auth).unwrap()
}

#[tokio::test]
async fn paging_through_the_simulator_returns_every_build_once() {
    let env = common::start(|c| c.page_size = 3).await;
    let c = client_with_key(&env, &env.private_pem, |_| {});
    let app = env.handle.control.app_ids()[0].clone();
    let builds = c.list_builds(&app, 200).await.unwrap();
    assert!(builds.len() > 3, "more than one page: {}", builds.len());
    let mut ids: Vec<_> = builds.iter().map(|b| b.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), builds.len(), "no duplicates across pages");
    assert!(
        builds
            .windows(2)
            .all(|w| w[0].uploaded_date >= w[1].uploaded_date),
        "newest first"
    );
    assert!(
        builds.iter().all(|b| b.version.is_some()),
        "marketing versions joined from included preReleaseVersions"
    );
    let pages = env.handle.control.requests_by_route()["/v1/builds"];
    assert_eq!(
        pages as usize,
        builds.len().div_ceil(200).max(1),
        "limit=200 asks for one page of up to 200"
    );

    let apps = c
        .list_apps(&AppsQuery {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(apps.len(), env.handle.control.app_ids().len());
    assert_eq!(
        env.handle.control.requests_by_route()["/v1/apps"] as usize,
        apps.len(),
        "one app per page"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_success() {
    let env = common::start(|_| {}).await;
    let c = client_with_key(&env, &env.private_pem, |_| {});
    let app = env.handle.control.app_ids()[0].clone();
    env.handle
        .control
        .fail(&format!("/v1/apps/{app}/perfPowerMetrics"), 503, Some(2));
    let before = env.handle.control.request_count();
    let t = Instant::now();
    let m = c
        .app_metrics(&app, &MetricsFilter::default())
        .await
        .unwrap();
    assert!(m.value.has_data());
    assert_eq!(
        env.handle.control.request_count() - before,
        3,
        "two 503s, then success"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(25 + 50),
        "backed off between attempts: {:?}",
        t.elapsed()
    );
    assert_eq!(c.stats().retries(), 2);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let env = common::start(|_| {}).await;
    let c = client_with_key(&env, &env.private_pem, |_| {});
    let app = env.handle.control.app_ids()[0].clone();
    env.handle.control.fail("/v1/builds", 429, Some(1));
    let t = Instant::now();
    let builds = c.list_builds(&app, 5).await.unwrap();
    assert!(!builds.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "the simulator's Retry-After: 1 was honoured ({:?})",
        t.elapsed()
    );
    let counts = c.stats().requests();
    assert!(
        counts
            .iter()
            .any(|((e, s), n)| e == "/v1/builds" && s == "429" && *n == 1),
        "{counts:?}"
    );
}

#[tokio::test]
async fn a_spent_budget_gives_a_clear_rate_limit_error_without_a_429() {
    let env = common::start(|c| c.hour_limit = 2).await;
    let c = client_with_key(&env, &env.private_pem, |cfg| {
        cfg.max_retries = 1;
        cfg.max_retry_after = Duration::from_secs(5);
    });
    c.list_apps(&AppsQuery::default()).await.unwrap();
    c.list_apps(&AppsQuery::default()).await.unwrap();
    let rl = c.stats().rate_limit().unwrap().limit;
    assert_eq!((rl.hour.limit, rl.hour.remaining), (Some(2), Some(0)));
    // The simulator said the budget is spent: the client does not ask again
    // (which could only earn a 429) until the hour window can have reset.
    let e = c.list_apps(&AppsQuery::default()).await.unwrap_err();
    assert!(matches!(e, AscError::RateLimited { .. }), "{e}");
    assert!(e.to_string().contains("user-hour-rem:0"), "{e}");
    assert_eq!(env.handle.control.request_count(), 2);
    assert!(
        !c.stats().requests().iter().any(|((_, s), _)| s == "429"),
        "{:?}",
        c.stats().requests()
    );
}

#[tokio::test]
async fn a_key_the_simulator_does_not_know_gets_one_re_mint_then_a_clear_401() {
    let env = common::start(|_| {}).await;
    let (other_key, _) = generate_key_pair();
    let c = client_with_key(&env, &other_key, |_| {});
    let before = env.handle.control.request_count();
    let e = c.list_apps(&AppsQuery::default()).await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.status(), Some(401));
    assert!(
        msg.contains("NOT_AUTHORIZED")
            && msg.contains("ASC_ISSUER_ID")
            && msg.contains("ASC_KEY_ID"),
        "{msg}"
    );
    let counts = c.stats().requests();
    assert_eq!(
        counts,
        vec![(("/v1/apps".to_string(), "401".to_string()), 2)],
        "the first attempt plus exactly one after re-minting"
    );
    assert_eq!(
        env.handle.control.request_count() - before,
        2,
        "the simulator saw both attempts"
    );
}

#[tokio::test]
async fn unknown_ids_give_the_simulator_s_error_response() {
    let env = common::start(|_| {}).await;
    let c = client_with_key(&env, &env.private_pem, |_| {});
    let e = c.get_app("999999999").await.unwrap_err();
    let msg = e.to_string();
    assert!(e.is_not_found());
    assert!(msg.starts_with("App Store Connect returned HTTP 404 for /v1/apps/{id}: PATH_ERROR \"The URL path is not valid\" - "), "{msg}");
    assert!(msg.contains("999999999"), "the detail names the id: {msg}");
    let e = c.diagnostic_logs("nope", Some(5)).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("PATH_ERROR")));
}
