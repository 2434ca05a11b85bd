//! The App Store Connect client against a scripted local HTTP server (real
//! HTTP on 127.0.0.1): auth header and JWT, vendor Accept types, paging,
//! retries with backoff on 429/5xx honouring Retry-After, the 401 re-mint,
//! ErrorResponse messages, the size cap and the origin check.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asc_perf_exporter::asc::auth::{AUDIENCE, Claims, generate_key_pair};
use asc_perf_exporter::asc::client::{AppsQuery, MetricsFilter};
use asc_perf_exporter::asc::{
    AscClient, AscError, AuthConfig, ClientConfig, KeySource, TokenProvider,
};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use futures::StreamExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// One scripted reply.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// Send the first half of the body, wait this long, then the rest.
    trickle: Option<Duration>,
    /// Send the first half of the body, then abort the connection.
    cut: bool,
}

fn ok(body: impl Into<String>) -> Reply {
    Reply {
        status: 200,
        headers: vec![],
        body: body.into(),
        trickle: None,
        cut: false,
    }
}

fn err(status: u16, code: &str, title: &str, detail: &str) -> Reply {
    Reply {
        status,
        headers: vec![],
        body: serde_json::json!({"errors": [{"id": "x", "status": status.to_string(), "code": code, "title": title, "detail": detail}]})
            .to_string(),
        trickle: None,
        cut: false,
    }
}

#[derive(Clone, Debug)]
struct Seen {
    path_and_query: String,
    headers: HeaderMap,
    at: Instant,
}

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    fn push(&self, r: Reply) {
        self.replies.lock().unwrap().push_back(r);
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

struct Server {
    script: Script,
    base: String,
    public_pem: String,
    private_pem: String,
}

async fn server() -> Server {
    let script = Script::default();
    let s = script.clone();
    let app = Router::new().fallback(move |req: Request<Body>| {
        let s = s.clone();
        async move {
            s.seen.lock().unwrap().push(Seen {
                path_and_query: req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                headers: req.headers().clone(),
                at: Instant::now(),
            });
            let reply = s
                .replies
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| err(599, "UNSCRIPTED", "no reply scripted", ""));
            let mut b = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
            for (k, v) in &reply.headers {
                b = b.header(*k, v);
            }
            if reply.cut {
                let first = reply.body[..reply.body.len() / 2].to_string();
                let chunks = futures::stream::iter([
                    Ok(first),
                    Err(std::io::Error::other("cut off by the test server")),
                ]);
                return b.body(Body::from_stream(chunks)).unwrap();
            }
            match reply.trickle {
                None => b.body(Body::from(reply.body)).unwrap(),
                Some(pause) => {
                    let (first, rest) = reply.body.split_at(reply.body.len() / 2);
                    let (first, rest) = (first.to_string(), rest.to_string());
                    let chunks = futures::stream::iter([first, rest]).enumerate().then(
                        move |(i, chunk)| async move {
                            if i == 1 {
                                tokio::time::sleep(pause).await;
                            }
                            Ok::<_, std::convert::Infallible>(chunk)
                        },
                    );
                    b.body(Body::from_stream(chunks)).unwrap()
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (private_pem, public_pem) = generate_key_pair();
    Server {
        script,
        base: format!("http://{addr}"),
        public_pem,
        private_pem,
    }
}

fn client(s: &Server, tweak: impl FnOnce(&mut ClientConfig)) -> AscClient {
    let mut cfg = ClientConfig {
        base_url: s.base.parse().unwrap(),
        backoff_base: Duration::from_millis(40),
        backoff_max: Duration::from_millis(400),
        ..ClientConfig::default()
    };
    tweak(&mut cfg);
    let auth = TokenProvider::new(AuthConfig::new(
        Some("69a6de70-0000-47e3-e053-5b8c7c11a4d1".into()),
        "2X9R4HXF34",
        KeySource::Inline(s.private_pem.clone()),
    ))
    .unwrap();
    AscClient::new(cfg, auth).unwrap()
}

fn verify(token: &str, public_pem: &str) -> (jsonwebtoken::Header, Claims) {
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud", "iat"]);
    let key = DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap();
    let data = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .expect("token verifies with the public key");
    (data.header, data.claims)
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string()
}

const EMPTY_METRICS: &str =
    r#"{"productData":[],"insights":{"trendingUp":[],"regressions":[]},"version":"1.0.0"}"#;

#[tokio::test]
async fn sends_a_verifiable_jwt_and_vendor_accept_types() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(ok(EMPTY_METRICS));
    s.script.push(ok(r#"{"productData":[],"version":"1.0.0"}"#));
    let m = c
        .app_metrics(
            "123",
            &MetricsFilter {
                platforms: vec!["IOS".into()],
                metric_types: vec!["LAUNCH".into(), "HANG".into()],
                device_types: vec![],
            },
        )
        .await
        .unwrap();
    assert!(!m.value.has_data());
    c.diagnostic_logs("abc", Some(5)).await.unwrap();
    let seen = s.script.seen();
    assert_eq!(
        seen[0].path_and_query,
        "/v1/apps/123/perfPowerMetrics?filter%5Bplatform%5D=IOS&filter%5BmetricType%5D=LAUNCH%2CHANG"
    );
    assert_eq!(
        seen[0].headers["accept"],
        "application/vnd.apple.xcode-metrics+json"
    );
    assert_eq!(
        seen[1].path_and_query,
        "/v1/diagnosticSignatures/abc/logs?limit=5"
    );
    assert_eq!(
        seen[1].headers["accept"],
        "application/vnd.apple.diagnostic-logs+json"
    );

    let (header, claims) = verify(&bearer(&seen[0].headers), &s.public_pem);
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("2X9R4HXF34"));
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(
        claims.iss.as_deref(),
        Some("69a6de70-0000-47e3-e053-5b8c7c11a4d1")
    );
    assert_eq!(claims.sub, None);
    assert_eq!(claims.aud, "appstoreconnect-v1");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        claims.iat <= now && claims.iat + 5 >= now,
        "iat {} now {now}",
        claims.iat
    );
    assert!(claims.exp > now && claims.exp - claims.iat <= 20 * 60);
    // The token is cached: the second request reuses it.
    assert_eq!(bearer(&seen[0].headers), bearer(&seen[1].headers));
}

#[tokio::test]
async fn a_token_signed_with_another_key_does_not_verify() {
    let s = server().await;
    let c = client(&s, |_| {});
    let (_, other_public) = generate_key_pair();
    let token = c.auth().mint().unwrap();
    let key = DecodingKey::from_ec_pem(other_public.as_bytes()).unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[AUDIENCE]);
    assert!(jsonwebtoken::decode::<Claims>(&token, &key, &v).is_err());
}

#[tokio::test]
async fn paging_follows_links_next_until_absent() {
    let s = server().await;
    let c = client(&s, |_| {});
    let page = |ids: &[&str], next: Option<String>| {
        let data: Vec<_> = ids.iter().map(|id| serde_json::json!({"type":"apps","id":id,"attributes":{"name":format!("App {id}"),"bundleId":format!("com.x.{id}")}})).collect();
        let mut links = serde_json::json!({"self": format!("{}/v1/apps", s.base)});
        if let Some(n) = next {
            links["next"] = n.into();
        }
        ok(serde_json::json!({"data": data, "links": links, "meta": {"paging": {"total": 5, "limit": 2}}}).to_string())
    };
    s.script.push(page(
        &["1", "2"],
        Some(format!("{}/v1/apps?cursor=Ag&limit=2", s.base)),
    ));
    s.script.push(page(
        &["3", "4"],
        Some(format!("{}/v1/apps?cursor=BA&limit=2", s.base)),
    ));
    s.script.push(page(&["5"], None));
    let apps = c
        .list_apps(&AppsQuery {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = apps.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(apps[4].name(), "App 5");
    let seen = s.script.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].path_and_query, "/v1/apps?cursor=Ag&limit=2");
    assert_eq!(seen[2].path_and_query, "/v1/apps?cursor=BA&limit=2");
}

#[tokio::test]
async fn paging_refuses_to_leave_the_origin() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(ok(serde_json::json!({"data": [], "links": {"self": "x", "next": "http://127.0.0.2:9/v1/apps?cursor=x"}}).to_string()));
    let e = c.list_apps(&AppsQuery::default()).await.unwrap_err();
    assert!(matches!(e, AscError::InvalidUrl { .. }), "{e}");
    assert!(
        e.to_string().contains("refusing to send credentials"),
        "{e}"
    );
    assert_eq!(
        s.script.seen().len(),
        1,
        "no request went to the other origin"
    );
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let s = server().await;
    let c = client(&s, |_| {});
    let mut r = err(
        429,
        "RATE_LIMIT_EXCEEDED",
        "The request rate limit has been reached.",
        "",
    );
    r.headers.push(("retry-after", "1".into()));
    // A 429 while the hour budget still has room (API-NOTES §6: a hidden
    // per-minute or concurrency limit).
    r.headers.push((
        "x-rate-limit",
        "user-hour-lim:3600;user-hour-rem:12;".into(),
    ));
    s.script.push(r);
    let mut good = ok(EMPTY_METRICS);
    good.headers.push((
        "x-rate-limit",
        "user-hour-lim:3600;user-hour-rem:3599;, user-minute-lim:150;user-minute-rem:149;".into(),
    ));
    s.script.push(good);
    c.app_metrics("1", &MetricsFilter::default()).await.unwrap();
    let seen = s.script.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 was honoured, waited {gap:?}"
    );
    let rl = c.stats().rate_limit().unwrap().limit;
    assert_eq!(
        (rl.hour.limit, rl.hour.remaining, rl.minute.remaining),
        (Some(3600), Some(3599), Some(149))
    );
    assert_eq!(c.stats().retries(), 1);
    let counts = c.stats().requests();
    assert!(
        counts.contains(&(("/v1/apps/{id}/perfPowerMetrics".into(), "429".into()), 1)),
        "{counts:?}"
    );
    assert!(
        counts.contains(&(("/v1/apps/{id}/perfPowerMetrics".into(), "200".into()), 1)),
        "{counts:?}"
    );
}

#[tokio::test]
async fn retries_5xx_with_growing_backoff_then_gives_up_with_the_error() {
    let s = server().await;
    let c = client(&s, |cfg| cfg.max_retries = 3);
    for _ in 0..4 {
        s.script.push(err(
            503,
            "SERVICE_UNAVAILABLE",
            "Service Unavailable",
            "try later",
        ));
    }
    let e = c
        .build_metrics("b-1", &MetricsFilter::default())
        .await
        .unwrap_err();
    let seen = s.script.seen();
    assert_eq!(seen.len(), 4, "first attempt + 3 retries");
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Equal jitter: each delay is within [cap/2, cap] with cap = 40ms * 2^n.
    for (n, g) in gaps.iter().enumerate() {
        let cap = Duration::from_millis(40 * (1 << n));
        assert!(
            *g >= cap / 2,
            "retry {n} waited {g:?}, less than {:?}",
            cap / 2
        );
    }
    assert!(gaps[2] > gaps[0], "backoff grows: {gaps:?}");
    assert_eq!(e.status(), Some(503));
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 503")
            && msg.contains("SERVICE_UNAVAILABLE")
            && msg.contains("/v1/builds/{id}/perfPowerMetrics"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_is_not_waited_for() {
    let s = server().await;
    let c = client(&s, |cfg| cfg.max_retry_after = Duration::from_secs(5));
    let mut r = err(
        429,
        "RATE_LIMIT_EXCEEDED",
        "The request rate limit has been reached.",
        "",
    );
    r.headers.push(("retry-after", "3600".into()));
    s.script.push(r);
    let t = Instant::now();
    let e = c.get_app("1").await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(e.code(), Some("RATE_LIMIT_EXCEEDED"));
    assert!(e.to_string().contains("rate limit"), "{e}");
}

#[tokio::test]
async fn a_401_re_mints_the_token_once_then_fails_clearly() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(err(
        401,
        "NOT_AUTHORIZED",
        "Authentication credentials are missing or invalid.",
        "Provide a properly configured and signed bearer token",
    ));
    s.script.push(ok(
        r#"{"data":{"type":"apps","id":"1","attributes":{"name":"A"}},"links":{"self":"x"}}"#,
    ));
    assert_eq!(c.get_app("1").await.unwrap().name(), "A");
    assert_eq!(s.script.seen().len(), 2);

    s.script.push(err(
        401,
        "NOT_AUTHORIZED",
        "Authentication credentials are missing or invalid.",
        "Provide a properly configured and signed bearer token",
    ));
    s.script.push(err(
        401,
        "NOT_AUTHORIZED",
        "Authentication credentials are missing or invalid.",
        "Provide a properly configured and signed bearer token",
    ));
    let e = c.get_app("1").await.unwrap_err();
    assert_eq!(s.script.seen().len(), 4, "exactly one retry after a 401");
    // The first 401 was cured by the fresh token, the second persisted.
    let route = |v: Vec<(String, u64)>| {
        v.into_iter()
            .find(|(e, _)| e == "/v1/apps/{id}")
            .map(|(_, n)| n)
    };
    assert_eq!(route(c.stats().auth_recovered()), Some(1));
    assert_eq!(route(c.stats().auth_failures()), Some(1));
    assert_eq!(
        c.stats()
            .requests()
            .into_iter()
            .filter(|((_, st), _)| st == "401")
            .map(|(_, n)| n)
            .sum::<u64>(),
        3,
        "every 401 response is still a request with status 401"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 401") && msg.contains("NOT_AUTHORIZED") && msg.contains("ASC_KEY_ID"),
        "{msg}"
    );
    for seen in s.script.seen() {
        assert!(
            !msg.contains(&bearer(&seen.headers)),
            "the token never appears in errors"
        );
    }
}

#[tokio::test]
async fn error_response_is_decoded_into_the_message() {
    let s = server().await;
    let c = client(&s, |_| {});
    let mut r = err(
        404,
        "PATH_ERROR",
        "The URL path is not valid",
        "The resource 'apps' with id '999' was not found.",
    );
    r.headers.push(("x-request-id", "REQ-42".into()));
    s.script.push(r);
    let e = c.get_app("999").await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(
        e.to_string(),
        "App Store Connect returned HTTP 404 for /v1/apps/{id}: PATH_ERROR \"The URL path is not valid\" - The resource 'apps' with id '999' was not found. (check the id: list apps with `apps` and builds with `builds APP_ID`) [x-request-id REQ-42]"
    );
    // A non-JSON error body still gives a clear message.
    s.script.push(Reply {
        status: 403,
        headers: vec![("content-type", "text/html".into())],
        body: "<html>denied</html>".into(),
        trickle: None,
        cut: false,
    });
    let e = c.get_app("1").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "App Store Connect returned HTTP 403 for /v1/apps/{id}: the body is not an App Store Connect ErrorResponse (text/html, 19 bytes): a proxy or load balancer may have answered (the key's role may lack access, or an agreement must be accepted in App Store Connect)"
    );
}

#[tokio::test]
async fn ids_cannot_change_the_path() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script
        .push(err(404, "PATH_ERROR", "The URL path is not valid", ""));
    let _ = c.get_app("../builds/x?y=1").await;
    assert_eq!(
        s.script.seen()[0].path_and_query,
        "/v1/apps/..%2Fbuilds%2Fx%3Fy=1"
    );
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let s = server().await;
    let c = client(&s, |cfg| cfg.max_response_bytes = 1000);
    s.script.push(ok(format!(
        r#"{{"productData":[],"version":"{}"}}"#,
        "x".repeat(5000)
    )));
    let e = c
        .app_metrics("1", &MetricsFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(e, AscError::TooLarge { limit: 1000, .. }), "{e}");
}

#[tokio::test]
async fn malformed_json_names_the_endpoint_and_path() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(ok(r#"{"productData":[{"metricCategories":[{"metrics":[{"datasets":[{"points":[{"value":"fast"}]}]}]}]}]}"#));
    let e = c
        .app_metrics("1", &MetricsFilter::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/v1/apps/{id}/perfPowerMetrics")
            && e.contains(
                "productData[0].metricCategories[0].metrics[0].datasets[0].points[0].value"
            ),
        "{e}"
    );
}

#[tokio::test]
async fn builds_are_joined_with_marketing_versions_newest_first() {
    let s = server().await;
    let c = client(&s, |_| {});
    let body = serde_json::json!({
        "data": [
            {"type":"builds","id":"b1","attributes":{"version":"9","uploadedDate":"2024-01-01T10:00:00-08:00","processingState":"VALID"},
             "relationships":{"preReleaseVersion":{"data":{"type":"preReleaseVersions","id":"p1"}}}},
            {"type":"builds","id":"b2","attributes":{"version":"12","uploadedDate":"2024-03-01T10:00:00-08:00","processingState":"PROCESSING"},
             "relationships":{"preReleaseVersion":{"data":{"type":"preReleaseVersions","id":"p2"}}}}
        ],
        "included": [
            {"type":"preReleaseVersions","id":"p1","attributes":{"version":"1.0","platform":"IOS"}},
            {"type":"preReleaseVersions","id":"p2","attributes":{"version":"1.1","platform":"IOS"}},
            {"type":"apps","id":"7","attributes":{"name":"ignored"}}
        ],
        "links": {"self": "x"}
    });
    s.script.push(ok(body.to_string()));
    let builds = c.list_builds("7", 10).await.unwrap();
    assert_eq!(
        s.script.seen()[0].path_and_query,
        "/v1/builds?filter%5Bapp%5D=7&sort=-uploadedDate&include=preReleaseVersion&limit=10"
    );
    let v: Vec<_> = builds
        .iter()
        .map(|b| {
            (
                b.number.as_str(),
                b.version.as_deref(),
                b.processing_state.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        v,
        [
            ("12", Some("1.1"), Some("PROCESSING")),
            ("9", Some("1.0"), Some("VALID"))
        ]
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (private_pem, public_pem) = generate_key_pair();
    let s = Server {
        script: Script::default(),
        base: format!("http://{addr}"),
        public_pem,
        private_pem,
    };
    let c = client(&s, |cfg| cfg.max_retries = 1);
    let e = c.get_app("1").await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, AscError::Transport { .. }), "{msg}");
    assert!(
        msg.contains("could not reach App Store Connect") && msg.contains("ASC_API_BASE_URL"),
        "{msg}"
    );
    let counts = c.stats().requests();
    assert_eq!(
        counts,
        vec![(("/v1/apps/{id}".to_string(), "error".to_string()), 2)]
    );
}

fn route_count(v: Vec<(String, u64)>, route: &str) -> u64 {
    v.into_iter()
        .find(|(e, _)| e == route)
        .map(|(_, n)| n)
        .expect("every route has a counter")
}

#[tokio::test]
async fn a_transient_401_is_a_recovery_not_an_auth_failure() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(err(401, "NOT_AUTHORIZED", "expired", ""));
    s.script.push(ok(EMPTY_METRICS));
    c.app_metrics("1", &MetricsFilter::default()).await.unwrap();
    let route = "/v1/apps/{id}/perfPowerMetrics";
    assert_eq!(route_count(c.stats().auth_recovered(), route), 1);
    assert_eq!(route_count(c.stats().auth_failures(), route), 0);
    // Counters exist for every route before anything failed there.
    assert_eq!(route_count(c.stats().auth_failures(), "/v1/apps"), 0);
    assert_eq!(route_count(c.stats().decode_errors(), "/v1/apps"), 0);
}

#[tokio::test]
async fn a_spent_hour_budget_sends_nothing_until_the_window_can_have_reset() {
    let s = server().await;
    let c = client(&s, |_| {});
    let mut last = ok(EMPTY_METRICS);
    last.headers
        .push(("x-rate-limit", "user-hour-lim:3600;user-hour-rem:0;".into()));
    s.script.push(last);
    c.app_metrics("1", &MetricsFilter::default()).await.unwrap();
    for _ in 0..3 {
        let e = c
            .app_metrics("1", &MetricsFilter::default())
            .await
            .unwrap_err();
        assert!(matches!(e, AscError::RateLimited { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("user-hour-rem:0")
                && msg.contains("resume in 59m")
                && msg.contains("refresh.interval"),
            "{msg}"
        );
    }
    assert_eq!(
        s.script.seen().len(),
        1,
        "no request after the budget was spent"
    );
    let hold = c.stats().hold().expect("a hold");
    let left = hold.until - Instant::now();
    assert!(
        left > Duration::from_secs(3590) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_long_retry_after_ends_the_retries_and_holds_every_later_request() {
    let s = server().await;
    let c = client(&s, |cfg| cfg.max_retries = 4);
    let mut r = err(
        429,
        "RATE_LIMIT_EXCEEDED",
        "The request rate limit has been reached.",
        "",
    );
    r.headers.push(("retry-after", "3600".into()));
    s.script.push(r);
    let e = c.get_app("1").await.unwrap_err();
    assert_eq!(e.status(), Some(429), "{e}");
    assert_eq!(s.script.seen().len(), 1, "not retried within the hour");
    let e = c.list_apps(&AppsQuery::default()).await.unwrap_err();
    assert!(matches!(e, AscError::RateLimited { .. }), "{e}");
    assert!(e.to_string().contains("Retry-After"), "{e}");
    assert_eq!(
        s.script.seen().len(),
        1,
        "nothing sent while the Retry-After runs"
    );
    assert!(c.stats().hold().unwrap().until > Instant::now() + Duration::from_secs(3590));
}

#[tokio::test]
async fn retry_after_zero_still_waits_the_backoff_floor() {
    let s = server().await;
    // backoff_base 40 ms: attempt n waits between 20·2ⁿ and 40·2ⁿ ms.
    let c = client(&s, |cfg| cfg.max_retries = 3);
    for _ in 0..4 {
        let mut r = err(503, "SERVICE_UNAVAILABLE", "unavailable", "");
        r.headers.push(("retry-after", "0".into()));
        s.script.push(r);
    }
    let e = c.get_app("1").await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    let seen = s.script.seen();
    assert_eq!(seen.len(), 4, "max_retries bounds the attempts");
    for (i, w) in seen.windows(2).enumerate() {
        let gap = w[1].at - w[0].at;
        let floor = Duration::from_millis(20 << i);
        assert!(
            gap >= floor,
            "retry {i} waited {gap:?}, less than the {floor:?} floor"
        );
    }
}

#[tokio::test]
async fn a_cut_off_or_stalled_body_is_retried_and_not_counted_as_200() {
    let s = server().await;
    let c = client(&s, |cfg| {
        cfg.max_retries = 2;
        cfg.request_timeout = Duration::from_millis(500);
    });
    // The body stops halfway and the connection is aborted.
    let mut cut = ok(EMPTY_METRICS);
    cut.cut = true;
    s.script.push(cut);
    // A body that stalls past the request timeout.
    let mut slow = ok(EMPTY_METRICS);
    slow.trickle = Some(Duration::from_secs(3));
    s.script.push(slow);
    s.script.push(ok(EMPTY_METRICS));
    c.app_metrics("1", &MetricsFilter::default()).await.unwrap();
    assert_eq!(s.script.seen().len(), 3);
    let mut counts = c.stats().requests();
    counts.sort();
    let route = "/v1/apps/{id}/perfPowerMetrics".to_string();
    assert_eq!(
        counts,
        vec![
            ((route.clone(), "200".to_string()), 1),
            ((route.clone(), "error".to_string()), 1),
            ((route, "timeout".to_string()), 1),
        ]
    );
    assert_eq!(c.stats().retries(), 2);
}

#[tokio::test]
async fn empty_and_malformed_bodies_are_decode_errors_with_the_path() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(ok(""));
    let e = c
        .app_metrics("1", &MetricsFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(e, AscError::Decode { .. }), "{e}");
    assert!(e.to_string().contains("the body is empty"), "{e}");
    s.script.push(ok(r#"{"productData": [{"platform": "iOS", "metricCategories": [{"identifier": "LAUNCH", "metrics": [{"identifier": "launchTime", "datasets": [{"points": [{"version": "1.0", "value": NaN}]}]}]}]}]}"#));
    let e = c
        .app_metrics("1", &MetricsFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(e, AscError::Decode { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("productData[0].metricCategories[0].metrics[0].datasets[0].points[0].value")
            || e.to_string().contains("line 1"),
        "{e}"
    );
    assert_eq!(
        route_count(c.stats().decode_errors(), "/v1/apps/{id}/perfPowerMetrics"),
        2
    );
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_says_where_it_pointed() {
    let s = server().await;
    let c = client(&s, |_| {});
    s.script.push(Reply {
        status: 307,
        headers: vec![("location", "http://evil.example:8080/v1/apps/1".into())],
        body: String::new(),
        trickle: None,
        cut: false,
    });
    let e = c.get_app("1").await.unwrap_err();
    assert_eq!(s.script.seen().len(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 307")
            && msg.contains("http://evil.example:8080")
            && msg.contains("not followed"),
        "{msg}"
    );
}
