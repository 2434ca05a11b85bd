//! End-to-end tests of the simulated App Store Connect over real HTTP on
//! 127.0.0.1, with raw requests and with the real `AscClient`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asc_perf_exporter::asc::MetricsFilter;
use asc_perf_exporter::asc::auth::{AUDIENCE, Claims, generate_key_pair};
use asc_perf_exporter::sim::data::{HIGH_IMPACT_PERCENT, REGRESSION_REFERENCE_VERSIONS};
use asc_perf_exporter::sim::{Fixture, FixtureRoute, Scenario, SimConfig, generate_account};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

const XCODE: &str = "application/vnd.apple.xcode-metrics+json";
const LOGS: &str = "application/vnd.apple.diagnostic-logs+json";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn versions_of(dataset: &Value) -> Vec<(String, f64)> {
    dataset["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["version"].as_str().unwrap().to_string(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_route_answers_with_its_content_type_and_data() {
    let env = start(|_| {}).await;
    let r = env.get("/v1/apps").await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json")
    );
    let apps = r.json();
    assert_eq!(apps["data"].as_array().unwrap().len(), 3);
    assert_eq!(apps["meta"]["paging"]["total"], 3);
    assert_eq!(
        apps["meta"]["paging"]["limit"], 50,
        "Apple's default page size"
    );
    let mut bundles = BTreeSet::new();
    for a in apps["data"].as_array().unwrap() {
        assert_eq!(a["type"], "apps");
        assert!(
            a["id"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        );
        let b = a["attributes"]["bundleId"].as_str().unwrap();
        assert!(b.starts_with("com.example."), "{b}");
        bundles.insert(b.to_string());
        assert!(!a["attributes"]["name"].as_str().unwrap().is_empty());
    }
    assert_eq!(bundles.len(), 3);
    assert!(
        apps["links"]["self"]
            .as_str()
            .unwrap()
            .starts_with(&env.base())
    );

    let (app, build) = env.first_app_and_build().await;
    let one = env.get(&format!("/v1/apps/{app}")).await;
    assert_eq!(
        (one.status, one.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(one.json()["data"]["id"], app.as_str());

    let builds = env.ok(&format!("/v1/apps/{app}/builds")).await;
    let n = builds["data"].as_array().unwrap().len();
    assert!(n >= 8, "at least one build per version, got {n}");
    assert!(builds.get("included").is_none());

    let b = env
        .get(&format!("/v1/builds/{build}?include=preReleaseVersion"))
        .await;
    assert_eq!(
        (b.status, b.content_type.as_str()),
        (200, "application/json")
    );
    let b = b.json();
    assert_eq!(b["data"]["attributes"]["processingState"], "VALID");
    let prv = b["data"]["relationships"]["preReleaseVersion"]["data"]["id"].clone();
    assert_eq!(b["included"][0]["id"], prv);
    assert_eq!(b["included"][0]["type"], "preReleaseVersions");

    let m = env.get(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
    assert_eq!((m.status, m.content_type.as_str()), (200, XCODE));
    assert_eq!(m.json()["productData"][0]["platform"], "iOS");
    assert!(m.json()["insights"].is_object());

    let bm = env
        .get(&format!("/v1/builds/{build}/perfPowerMetrics"))
        .await;
    assert_eq!((bm.status, bm.content_type.as_str()), (200, XCODE));
    let bm = bm.json();
    assert!(bm.get("insights").is_none(), "no insights on build level");
    let (_, launch) = metrics(&bm)
        .into_iter()
        .find(|(_, m)| m["identifier"] == "launchTime")
        .unwrap();
    let prv_version = b["included"][0]["attributes"]["version"].as_str().unwrap();
    for ds in launch["datasets"].as_array().unwrap() {
        let pts = versions_of(ds);
        assert_eq!(pts.len(), 1);
        assert_eq!(
            pts[0].0, prv_version,
            "build metrics carry the build's version"
        );
    }

    let s = env
        .get(&format!("/v1/builds/{build}/diagnosticSignatures"))
        .await;
    assert_eq!(
        (s.status, s.content_type.as_str()),
        (200, "application/json")
    );
    let s = s.json();
    let sig = &s["data"][0];
    let related = sig["relationships"]["logs"]["links"]["related"]
        .as_str()
        .unwrap();
    assert_eq!(
        related,
        format!(
            "{}/v1/diagnosticSignatures/{}/logs",
            env.base(),
            sig["id"].as_str().unwrap()
        )
    );
    let l = env.get(&format!("{related}?limit=2")).await;
    assert_eq!((l.status, l.content_type.as_str()), (200, LOGS));
    let l = l.json();
    assert_eq!(l["productData"][0]["signatureId"], sig["id"]);
    assert_eq!(
        l["productData"][0]["diagnosticLogs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(r.header("x-rate-limit").is_some());
}

#[tokio::test]
async fn the_real_client_reads_the_whole_account() {
    let env = start(|_| {}).await;
    let client = env.client();
    let apps = client.list_apps(&Default::default()).await.unwrap();
    assert_eq!(apps.len(), 3);
    let app = client.get_app(&apps[0].id).await.unwrap();
    assert_eq!(app.name(), apps[0].name());
    let builds = client.list_builds(&app.id, 200).await.unwrap();
    assert!(
        builds.iter().all(|b| b.version.is_some()),
        "versions joined"
    );
    assert!(
        builds
            .windows(2)
            .all(|w| w[0].uploaded_date >= w[1].uploaded_date),
        "newest first"
    );
    let metrics = client
        .app_metrics(&app.id, &MetricsFilter::default())
        .await
        .unwrap();
    assert!(metrics.value.has_data());
    // The latest metric version is the latest build's marketing version.
    let (_, launch) = metrics.value.find_metric("launchTime").unwrap();
    let latest_point = launch.datasets[0].points.last().unwrap();
    assert_eq!(
        latest_point.version.as_deref(),
        builds[0].version.as_deref()
    );
    let valid = builds
        .iter()
        .find(|b| b.processing_state.as_deref() == Some("VALID"))
        .unwrap();
    let bm = client
        .build_metrics(&valid.id, &MetricsFilter::default())
        .await
        .unwrap();
    assert!(bm.value.has_data());
    let sigs = client
        .diagnostic_signatures(&valid.id, &[], None)
        .await
        .unwrap();
    assert!(!sigs.is_empty());
    let logs = client.diagnostic_logs(&sigs[0].id, Some(3)).await.unwrap();
    assert_eq!(logs.value.product_data[0].diagnostic_logs.len(), 3);
}

#[tokio::test]
async fn paging_returns_every_item_exactly_once() {
    let env = start(|c| c.apps = 7).await;
    let (app, build) = env.first_app_and_build().await;
    for (paged, whole, expect_pages) in [
        (
            "/v1/apps?limit=2".to_string(),
            "/v1/apps?limit=200".to_string(),
            4,
        ),
        (
            format!("/v1/apps/{app}/builds?limit=3"),
            format!("/v1/apps/{app}/builds?limit=200"),
            0,
        ),
        (
            format!(
                "/v1/builds?filter[app]={app}&sort=-uploadedDate&include=preReleaseVersion&limit=4"
            ),
            format!("/v1/builds?filter[app]={app}&sort=-uploadedDate&limit=200"),
            0,
        ),
        (
            format!("/v1/builds/{build}/diagnosticSignatures?limit=2"),
            format!("/v1/builds/{build}/diagnosticSignatures?limit=200"),
            0,
        ),
    ] {
        let (items, pages) = env.all_pages(&paged).await;
        let whole = env.ok(&whole).await;
        let all = ids(whole["data"].as_array().unwrap());
        assert!(whole["links"].get("next").is_none());
        let got = ids(&items);
        assert_eq!(got, all, "{paged}: same items in the same order");
        let unique: BTreeSet<_> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "{paged}: duplicates");
        assert!(pages > 1, "{paged}: expected several pages");
        if expect_pages > 0 {
            assert_eq!(pages, expect_pages, "{paged}");
        }
        assert_eq!(
            whole["meta"]["paging"]["total"].as_u64().unwrap() as usize,
            all.len()
        );
    }
    // The builds endpoint of an app has no order (like the live API), but
    // it is stable between calls.
    let a = env.ok(&format!("/v1/apps/{app}/builds")).await;
    let b = env.ok(&format!("/v1/apps/{app}/builds")).await;
    assert_eq!(a, b);
    let numbers: Vec<u64> = a["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["attributes"]["version"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_ne!(numbers, sorted, "unordered");
    // A forged cursor is a parameter error.
    let r = env.get("/v1/apps?cursor=nonsense").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["code"], "PARAMETER_ERROR.INVALID");
}

#[tokio::test]
async fn filters_and_sorting() {
    let env = start(|c| c.apps = 5).await;
    let all = env.ok("/v1/apps").await;
    let apps = all["data"].as_array().unwrap().clone();
    let first = &apps[1];
    let id = first["id"].as_str().unwrap();
    let bundle = first["attributes"]["bundleId"].as_str().unwrap();
    let name = first["attributes"]["name"].as_str().unwrap();
    for q in [
        format!("filter[id]={id}"),
        format!("filter[bundleId]={bundle}"),
        format!("filter[name]={}", name.replace(' ', "%20")),
    ] {
        let r = env.ok(&format!("/v1/apps?{q}")).await;
        assert_eq!(
            ids(r["data"].as_array().unwrap()),
            vec![id.to_string()],
            "{q}"
        );
    }
    let two = env
        .ok(&format!(
            "/v1/apps?filter[id]={id},{}",
            apps[3]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(two["data"].as_array().unwrap().len(), 2);
    for (sort, desc, field) in [
        ("name", false, "name"),
        ("-name", true, "name"),
        ("bundleId", false, "bundleId"),
        ("-bundleId", true, "bundleId"),
    ] {
        let r = env.ok(&format!("/v1/apps?sort={sort}")).await;
        let vals: Vec<String> = r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["attributes"][field].as_str().unwrap().to_string())
            .collect();
        let mut expect = vals.clone();
        expect.sort();
        if desc {
            expect.reverse();
        }
        assert_eq!(vals, expect, "{sort}");
    }
    for bad in [
        "/v1/apps?limit=201",
        "/v1/apps?limit=0",
        "/v1/apps?limit=x",
        "/v1/apps?sort=age",
    ] {
        let r = env.get(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error()["code"], "PARAMETER_ERROR.INVALID", "{bad}");
    }
    let r = env.get("/v1/apps?filter[color]=red").await;
    assert_eq!(r.status, 400);
    assert!(
        r.error()["code"]
            .as_str()
            .unwrap()
            .starts_with("PARAMETER_ERROR")
    );

    // Builds: filters and sort.
    let all_builds = env
        .ok(&format!("/v1/builds?filter[app]={id}&limit=200"))
        .await;
    let all_builds = all_builds["data"].as_array().unwrap().clone();
    assert!(all_builds.len() >= 8);
    let valid = env
        .ok(&format!(
            "/v1/builds?filter[app]={id}&filter[processingState]=VALID&limit=200"
        ))
        .await;
    let valid = valid["data"].as_array().unwrap();
    assert!(
        valid
            .iter()
            .all(|b| b["attributes"]["processingState"] == "VALID")
    );
    let n_valid = all_builds
        .iter()
        .filter(|b| b["attributes"]["processingState"] == "VALID")
        .count();
    assert_eq!(valid.len(), n_valid);
    assert!(n_valid * 10 >= all_builds.len() * 7, "mostly VALID");
    let number = all_builds[2]["attributes"]["version"].as_str().unwrap();
    let one = env
        .ok(&format!(
            "/v1/builds?filter[app]={id}&filter[version]={number}"
        ))
        .await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    for (sort, key) in [("uploadedDate", "uploadedDate"), ("version", "version")] {
        for desc in [false, true] {
            let s = if desc {
                format!("-{sort}")
            } else {
                sort.to_string()
            };
            let r = env
                .ok(&format!("/v1/builds?filter[app]={id}&sort={s}&limit=200"))
                .await;
            let vals: Vec<String> = r["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["attributes"][key].as_str().unwrap().to_string())
                .collect();
            let mut expect = vals.clone();
            if key == "version" {
                expect.sort_by_key(|v| v.parse::<u64>().unwrap());
            } else {
                expect.sort_by_key(|v| chrono::DateTime::parse_from_rfc3339(v).unwrap());
            }
            if desc {
                expect.reverse();
            }
            assert_eq!(vals, expect, "sort={s}");
        }
    }
    // include=preReleaseVersion joins every build to an included version.
    let r = env
        .ok(&format!(
            "/v1/builds?filter[app]={id}&include=preReleaseVersion&limit=200"
        ))
        .await;
    let included: BTreeMap<String, String> = r["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["type"], "preReleaseVersions");
            (
                p["id"].as_str().unwrap().to_string(),
                p["attributes"]["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        included.len() >= 8,
        "one preReleaseVersion per marketing version"
    );
    for b in r["data"].as_array().unwrap() {
        let pid = b["relationships"]["preReleaseVersion"]["data"]["id"]
            .as_str()
            .unwrap();
        assert!(included.contains_key(pid));
    }
    let r = env.get("/v1/builds?filter[processingState]=DONE").await;
    assert_eq!(r.status, 400);
    let r = env.get("/v1/builds?include=betaGroups").await;
    assert_eq!(r.status, 400);

    // Metrics filters.
    let m = env
        .ok(&format!(
            "/v1/apps/{id}/perfPowerMetrics?filter[platform]=IOS&filter[metricType]=LAUNCH,HANG"
        ))
        .await;
    assert_eq!(categories(&m), vec!["LAUNCH", "HANG"]);
    let m = env
        .ok(&format!("/v1/apps/{id}/perfPowerMetrics?filter[platform]=iOS&filter[deviceType]=all_ipads,iPhone15,2"))
        .await;
    let devices: BTreeSet<String> = metrics(&m)
        .iter()
        .flat_map(|(_, m)| m["datasets"].as_array().unwrap().clone())
        .map(|d| d["filterCriteria"]["device"].as_str().unwrap().to_string())
        .collect();
    // "iPhone15,2" is split at the comma like every list filter: "iPhone15" and "2" match nothing.
    assert_eq!(devices, BTreeSet::from(["all_ipads".to_string()]));
    for p in m["insights"]["regressions"].as_array().unwrap() {
        for pop in p["populations"].as_array().unwrap() {
            assert_eq!(pop["device"], "all_ipads");
        }
    }
    for bad in [
        "filter[platform]=ANDROID",
        "filter[metricType]=NETWORK",
        "limit=5",
    ] {
        let r = env
            .get(&format!("/v1/apps/{id}/perfPowerMetrics?{bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.content_type, "application/json");
    }
    // Signature type filter.
    let (_, build) = env.first_app_and_build().await;
    let s = env
        .ok(&format!(
            "/v1/builds/{build}/diagnosticSignatures?filter[diagnosticType]=HANGS&limit=200"
        ))
        .await;
    assert!(!s["data"].as_array().unwrap().is_empty());
    assert!(
        s["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["attributes"]["diagnosticType"] == "HANGS")
    );
    let r = env
        .get(&format!(
            "/v1/builds/{build}/diagnosticSignatures?limit=201"
        ))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404_path_errors() {
    let env = start(|_| {}).await;
    for path in [
        "/v1/apps/999",
        "/v1/apps/999/builds",
        "/v1/apps/999/perfPowerMetrics",
        "/v1/builds/00000000-0000-4000-8000-000000000000",
        "/v1/builds/nope/perfPowerMetrics",
        "/v1/builds/nope/diagnosticSignatures",
        "/v1/diagnosticSignatures/abc/logs",
        "/v1/nothing",
        "/v2/apps",
        "/",
    ] {
        let r = env.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        let e = r.error();
        assert_eq!(e["code"], "PATH_ERROR", "{path}");
        assert_eq!(e["title"], "The URL path is not valid");
        assert!(e["id"].as_str().unwrap().len() >= 32);
        assert!(!e["detail"].as_str().unwrap().is_empty());
    }
}

fn sign(claims: &Claims, pem: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_are_401_not_authorized() {
    let env = start(|_| {}).await;
    let t = now();
    let good = Claims {
        iss: Some(ISSUER.into()),
        sub: None,
        iat: t,
        exp: t + 600,
        aud: AUDIENCE.into(),
        scope: vec![],
    };
    // Sanity: a hand-minted good token works.
    let ok = env
        .get_with("/v1/apps", Some(&sign(&good, &env.private_pem, KID)))
        .await;
    assert_eq!(ok.status, 200);

    let (other_private, _) = generate_key_pair();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        (
            "expired",
            Some(sign(
                &Claims {
                    iat: t - 1500,
                    exp: t - 300,
                    ..good.clone()
                },
                &env.private_pem,
                KID,
            )),
            "expired",
        ),
        (
            "other key",
            Some(sign(&good, &other_private, KID)),
            "signature",
        ),
        (
            "wrong aud",
            Some(sign(
                &Claims {
                    aud: "appstoreconnect-v2".into(),
                    ..good.clone()
                },
                &env.private_pem,
                KID,
            )),
            "aud",
        ),
        (
            "too long",
            Some(sign(
                &Claims {
                    exp: t + 3600,
                    ..good.clone()
                },
                &env.private_pem,
                KID,
            )),
            "20 minutes",
        ),
        (
            "wrong kid",
            Some(sign(&good, &env.private_pem, "OTHERKEY00")),
            "kid",
        ),
        (
            "wrong issuer",
            Some(sign(
                &Claims {
                    iss: Some("someone-else".into()),
                    ..good.clone()
                },
                &env.private_pem,
                KID,
            )),
            "iss",
        ),
        ("garbage", Some("not.a.jwt".into()), "JWT"),
        ("missing", None, "Authorization"),
    ];
    for (name, token, reason) in cases {
        let r = env.get_with("/v1/apps", token.as_deref()).await;
        assert_eq!(r.status, 401, "{name}");
        let e = r.error();
        assert_eq!(e["code"], "NOT_AUTHORIZED", "{name}");
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{name}: {detail}");
        if let Some(t) = &token {
            let body = String::from_utf8_lossy(&r.bytes);
            assert!(!body.contains(t.as_str()), "{name}: token echoed");
            let sig_part = t.rsplit('.').next().unwrap();
            assert!(sig_part.len() < 8 || !body.contains(sig_part));
        }
    }
    // Nothing was spent by rejected requests: only the sanity request counted.
    let r = env.get("/v1/apps").await;
    let rem = r.header("x-rate-limit").unwrap();
    assert!(rem.contains("user-hour-rem:3598;"), "{rem}");
}

#[tokio::test]
async fn individual_keys_use_sub_user() {
    let env = start(|c| c.issuer_id = None).await;
    let t = now();
    let claims = Claims {
        iss: None,
        sub: Some("user".into()),
        iat: t,
        exp: t + 300,
        aud: AUDIENCE.into(),
        scope: vec![],
    };
    let r = env
        .get_with("/v1/apps", Some(&sign(&claims, &env.private_pem, KID)))
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .get_with(
            "/v1/apps",
            Some(&sign(
                &Claims {
                    sub: None,
                    ..claims
                },
                &env.private_pem,
                KID,
            )),
        )
        .await;
    assert_eq!(r.status, 401);
}

fn rate(r: &Resp) -> BTreeMap<String, u64> {
    r.header("x-rate-limit")
        .unwrap()
        .split(';')
        .filter_map(|kv| kv.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn rate_limit_header_counts_down_then_429() {
    let env = start(|c| {
        c.hour_limit = 5;
        c.minute_limit = 0;
    })
    .await;
    for expect in (0..5).rev() {
        let r = env.get("/v1/apps").await;
        assert_eq!(r.status, 200);
        let rl = rate(&r);
        assert_eq!(rl["user-hour-lim"], 5);
        assert_eq!(rl["user-hour-rem"], expect);
        assert!(!rl.contains_key("user-minute-lim"));
    }
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error()["code"], "RATE_LIMIT_EXCEEDED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(rate(&r)["user-hour-rem"], 0);

    let env = start(|c| {
        c.hour_limit = 100;
        c.minute_limit = 2;
    })
    .await;
    let a = env.get("/v1/apps").await;
    assert_eq!(
        (rate(&a)["user-hour-rem"], rate(&a)["user-minute-rem"]),
        (99, 1)
    );
    env.get("/v1/apps").await;
    let c = env.get("/v1/apps").await;
    assert_eq!(c.status, 429);
    let retry: u64 = c.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "minute window: {retry}");
    assert_eq!(rate(&c)["user-hour-rem"], 98);
}

/// The bodies of a few routes, with the origin replaced (ports differ).
async fn snapshot(env: &Env) -> Vec<String> {
    let (app, build) = env.first_app_and_build().await;
    let sigs = env
        .ok(&format!("/v1/builds/{build}/diagnosticSignatures"))
        .await;
    let sig = sigs["data"][0]["id"].as_str().unwrap().to_string();
    let mut out = Vec::new();
    for path in [
        "/v1/apps".to_string(),
        format!("/v1/builds?filter[app]={app}&include=preReleaseVersion"),
        format!("/v1/apps/{app}/perfPowerMetrics"),
        format!("/v1/builds/{build}/perfPowerMetrics"),
        format!("/v1/builds/{build}/diagnosticSignatures"),
        format!("/v1/diagnosticSignatures/{sig}/logs"),
    ] {
        let r = env.get(&path).await;
        assert_eq!(r.status, 200);
        out.push(
            String::from_utf8(r.bytes)
                .unwrap()
                .replace(&env.base(), "BASE"),
        );
    }
    out
}

#[tokio::test]
async fn same_seed_same_bodies_other_seed_other_bodies() {
    let a = start(|_| {}).await;
    let b = start(|_| {}).await;
    let c = start(|c| c.seed = 7).await;
    let (sa, sb, sc) = (snapshot(&a).await, snapshot(&b).await, snapshot(&c).await);
    assert_eq!(sa, sb);
    for (x, y) in sa.iter().zip(&sc) {
        assert_ne!(x, y);
    }
    // More apps do not change the first ones.
    let d = start(|c| c.apps = 6).await;
    let apps_a = a.ok("/v1/apps").await["data"].as_array().unwrap().clone();
    let apps_d = d.ok("/v1/apps").await["data"].as_array().unwrap().clone();
    assert_eq!(ids(&apps_a), ids(&apps_d[..3]));
}

/// Checks every insight of `doc` against its points; returns
/// (regressions, trending up) counts.
fn check_insights(doc: &Value) -> (usize, usize) {
    let ms = metrics(doc);
    let find = |metric: &str, device: &str, pct: &str| -> Vec<(String, f64)> {
        let (_, m) = ms.iter().find(|(_, m)| m["identifier"] == metric).unwrap();
        let ds = m["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| {
                d["filterCriteria"]["device"] == device && d["filterCriteria"]["percentile"] == pct
            })
            .unwrap();
        versions_of(ds)
    };
    let mut counts = (0, 0);
    for (kind, list) in ["regressions", "trendingUp"]
        .iter()
        .zip([&mut counts.0, &mut counts.1])
    {
        for ins in doc["insights"][kind].as_array().unwrap() {
            *list += 1;
            let metric = ins["metric"].as_str().unwrap();
            let (cat, _) = ms.iter().find(|(_, m)| m["identifier"] == metric).unwrap();
            assert_eq!(ins["metricCategory"], cat.as_str());
            let refs: Vec<String> = ins["referenceVersions"]
                .as_array()
                .expect("referenceVersions is an array (live API)")
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert!(!refs.is_empty());
            let mut max_delta: f64 = 0.0;
            let mut max_latest: f64 = 0.0;
            for pop in ins["populations"].as_array().unwrap() {
                let pts = find(
                    metric,
                    pop["device"].as_str().unwrap(),
                    pop["percentile"].as_str().unwrap(),
                );
                let (latest_v, latest) = pts.last().unwrap().clone();
                assert_eq!(ins["latestVersion"], latest_v.as_str());
                assert!(!refs.contains(&latest_v));
                let ref_vals: Vec<f64> = pts
                    .iter()
                    .filter(|p| refs.contains(&p.0))
                    .map(|p| p.1)
                    .collect();
                assert_eq!(
                    ref_vals.len(),
                    refs.len(),
                    "every reference version has a point"
                );
                let avg = ref_vals.iter().sum::<f64>() / ref_vals.len() as f64;
                let delta = (latest - avg) / avg * 100.0;
                assert_eq!(pop["latestVersionValue"].as_f64().unwrap(), latest);
                assert!(
                    (pop["referenceAverageValue"].as_f64().unwrap() - avg).abs() <= 0.006,
                    "{metric}"
                );
                let served = pop["deltaPercentage"].as_f64().unwrap();
                assert!(
                    (served - delta).abs() <= 0.051,
                    "{metric}: {served} vs {delta}"
                );
                assert!(delta > 5.0, "{kind} {metric}: only {delta}%");
                if *kind == "trendingUp" {
                    // Rising over the reference versions and the latest.
                    let tail: Vec<f64> = pts
                        .iter()
                        .filter(|p| refs.contains(&p.0) || p.0 == latest_v)
                        .map(|p| p.1)
                        .collect();
                    assert!(tail.windows(2).all(|w| w[1] > w[0]), "{metric}: {tail:?}");
                }
                max_delta = max_delta.max(delta);
                max_latest = max_latest.max(latest);
            }
            assert_eq!(ins["maxLatestVersionValue"].as_f64().unwrap(), max_latest);
            assert_eq!(
                ins["highImpact"].as_bool().unwrap(),
                max_delta >= HIGH_IMPACT_PERCENT - 0.05
            );
            assert!(!ins["summaryString"].as_str().unwrap().is_empty());
        }
    }
    // Completeness: every population above 5% over the previous versions is reported.
    for (_, m) in &ms {
        let metric = m["identifier"].as_str().unwrap();
        for ds in m["datasets"].as_array().unwrap() {
            let pts = versions_of(ds);
            let n = pts.len();
            let prev = &pts[n.saturating_sub(1 + REGRESSION_REFERENCE_VERSIONS)..n - 1];
            let avg = prev.iter().map(|p| p.1).sum::<f64>() / prev.len() as f64;
            if (pts[n - 1].1 - avg) / avg * 100.0 > 5.5 {
                let reported = doc["insights"]["regressions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| {
                        i["metric"] == metric
                            && i["populations"].as_array().unwrap().iter().any(|p| {
                                p["device"] == ds["filterCriteria"]["device"]
                                    && p["percentile"] == ds["filterCriteria"]["percentile"]
                            })
                    });
                assert!(reported, "{metric} {} not reported", ds["filterCriteria"]);
            }
        }
    }
    counts
}

#[tokio::test]
async fn insights_are_consistent_with_the_points() {
    let env = start(|_| {}).await;
    // The baseline is healthy: steady points, no insight, nothing poor.
    for app in env.handle.control.app_ids() {
        let doc = env.ok(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
        assert_eq!(check_insights(&doc), (0, 0), "baseline app {app}");
        for c in doc["productData"][0]["metricCategories"]
            .as_array()
            .unwrap()
        {
            for m in c["metrics"].as_array().unwrap() {
                for d in m["datasets"].as_array().unwrap() {
                    for p in d["points"].as_array().unwrap() {
                        assert_ne!(p["goal"], "poor", "baseline {app} {}: {p}", m["identifier"]);
                    }
                }
            }
        }
    }
    // The lived-in account carries the standing stories.
    env.handle.control.set_scenario(Scenario::Mixed);
    let mut regressions = 0;
    let mut trends = 0;
    let mut per_app = Vec::new();
    for app in env.handle.control.app_ids() {
        let doc = env.ok(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
        let (r, t) = check_insights(&doc);
        regressions += r;
        trends += t;
        per_app.push((r, t));
    }
    assert!(regressions >= 1 && trends >= 1, "{per_app:?}");
    assert!(per_app.iter().filter(|(r, _)| *r > 0).count() >= 2);
    // Apple's own example has consistent insights too (sanity of the check).
    let apple: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "asc/examples/apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        apple["insights"]["regressions"][0]["referenceVersions"][0],
        "1.0"
    );
}

#[tokio::test]
async fn all_categories_units_goals_and_breakdowns_are_plausible() {
    let env = start(|_| {}).await;
    let app = &env.handle.control.app_ids()[0];
    let doc = env.ok(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
    let cats: BTreeSet<String> = categories(&doc).into_iter().collect();
    let expected: BTreeSet<String> = [
        "LAUNCH",
        "HANG",
        "MEMORY",
        "DISK",
        "BATTERY",
        "TERMINATION",
        "ANIMATION",
        "STORAGE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(cats, expected);
    let mut with_goals = 0;
    let mut breakdowns = 0;
    for (cat, m) in metrics(&doc) {
        let id = m["identifier"].as_str().unwrap();
        let unit = (
            m["unit"]["identifier"].as_str().unwrap(),
            m["unit"]["displayName"].as_str().unwrap(),
        );
        match id {
            "launchTime" => assert_eq!(unit, ("milliseconds", "ms")),
            "scrollHitchRate" => assert_eq!(unit, ("scrollHitchRate", "%")),
            "peakMemory" | "memoryAtSuspension" => assert_eq!(unit.1, "MB"),
            _ => assert!(!unit.0.is_empty() && !unit.1.is_empty()),
        }
        let datasets = m["datasets"].as_array().unwrap();
        let devices: BTreeSet<&str> = datasets
            .iter()
            .map(|d| d["filterCriteria"]["device"].as_str().unwrap())
            .collect();
        assert!(
            devices.contains("all_iphones") && devices.contains("all_ipads") && devices.len() >= 4
        );
        for d in datasets {
            let name = d["filterCriteria"]["deviceMarketingName"].as_str().unwrap();
            match d["filterCriteria"]["device"].as_str().unwrap() {
                "all_iphones" => assert_eq!(name, "All iPhones"),
                "all_ipads" => assert_eq!(name, "All iPads"),
                "iPhone15,2" => assert_eq!(name, "iPhone 14 Pro"),
                _ => assert!(!name.is_empty()),
            }
            let pts = d["points"].as_array().unwrap();
            assert_eq!(pts.len(), 8, "{cat}/{id}");
        }
        // p90 is above p50 for each device and version.
        for dev in &devices {
            let get = |pct: &str| {
                datasets
                    .iter()
                    .find(|d| {
                        d["filterCriteria"]["device"] == *dev
                            && d["filterCriteria"]["percentile"] == pct
                    })
                    .map(versions_of)
                    .unwrap()
            };
            for (p50, p90) in get("percentile.fifty").iter().zip(get("percentile.ninety")) {
                assert_eq!(p50.0, p90.0);
                assert!(p90.1 > p50.1, "{id} {dev}");
            }
        }
        let goals = m["goalKeys"].as_array().cloned().unwrap_or_default();
        if !goals.is_empty() {
            with_goals += 1;
            let names: Vec<&str> = goals
                .iter()
                .map(|g| g["goalKey"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["good", "fair", "poor"]);
            for d in datasets {
                assert!(d["recommendedMetricGoal"]["value"].is_number());
                for p in d["points"].as_array().unwrap() {
                    let v = p["value"].as_f64().unwrap();
                    let band = goals
                        .iter()
                        .find(|g| {
                            v >= g["lowerBound"].as_f64().unwrap()
                                && g.get("upperBound")
                                    .and_then(Value::as_f64)
                                    .is_none_or(|u| v < u)
                        })
                        .unwrap();
                    assert_eq!(p["goal"], band["goalKey"], "{id} value {v}");
                }
            }
        }
        for d in datasets {
            for p in d["points"].as_array().unwrap() {
                if let Some(b) = p.get("percentageBreakdown") {
                    breakdowns += 1;
                    assert_eq!(cat, "BATTERY");
                    let parts = b.as_array().expect("array, like the live API");
                    let sum: f64 = parts.iter().map(|x| x["value"].as_f64().unwrap()).sum();
                    assert!((sum - 100.0).abs() < 0.01, "{sum}");
                    assert!(parts.iter().any(|x| x["subSystemLabel"] == "CPU"));
                    assert!(parts.iter().all(|x| x["value"].as_f64().unwrap() > 0.0));
                }
                if d["filterCriteria"]["device"]
                    .as_str()
                    .unwrap()
                    .starts_with("all_")
                {
                    assert!(p["errorMargin"].as_f64().unwrap() > 0.0);
                }
            }
        }
    }
    assert!(with_goals >= 6);
    assert!(breakdowns > 0);
}

#[tokio::test]
async fn regression_scenario_adds_a_high_impact_launch_regression_and_baseline_removes_it() {
    let env = start(|_| {}).await;
    let apps = env.handle.control.app_ids();
    let mut before = Vec::new();
    for app in &apps {
        let r = env.get(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
        let doc = r.json();
        assert!(
            !doc["insights"]["regressions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metric"] == "launchTime"),
            "no launch regression in the baseline"
        );
        before.push(r.bytes);
    }
    env.handle.control.set_scenario(Scenario::Regression);
    assert_eq!(env.handle.control.scenario(), Scenario::Regression);
    let client = env.client();
    for app in &apps {
        let doc = env.ok(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
        check_insights(&doc);
        let launch = doc["insights"]["regressions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metric"] == "launchTime")
            .expect("launch regression")
            .clone();
        assert_eq!(launch["highImpact"], true);
        assert_eq!(launch["metricCategory"], "LAUNCH");
        let pops = launch["populations"].as_array().unwrap();
        assert!(
            pops.iter()
                .any(|p| p["device"] == "all_iphones" && p["percentile"] == "percentile.fifty")
        );
        assert!(
            pops.iter()
                .all(|p| p["deltaPercentage"].as_f64().unwrap() >= 20.0)
        );
        assert!(
            doc["insights"]["regressions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metric"] == "hangRate")
        );
        // The regressed version is a new release with a build.
        let builds = client.list_builds(app, 5).await.unwrap();
        assert_eq!(
            builds[0].version.as_deref(),
            launch["latestVersion"].as_str()
        );
    }
    env.handle.control.set_scenario(Scenario::Baseline);
    for (app, b) in apps.iter().zip(before) {
        let r = env.get(&format!("/v1/apps/{app}/perfPowerMetrics")).await;
        assert_eq!(r.bytes, b, "baseline restored exactly");
    }
}

#[tokio::test]
async fn fault_injection() {
    let env = start(|_| {}).await;
    let app = env.handle.control.app_ids()[0].clone();
    let prefix = format!("/v1/apps/{app}");
    env.handle.control.fail(&prefix, 500, Some(2));
    for _ in 0..2 {
        let r = env.get(&format!("{prefix}/perfPowerMetrics")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.error()["code"], "UNEXPECTED_ERROR");
        assert!(r.header("x-rate-limit").is_some());
    }
    assert_eq!(
        env.get(&format!("{prefix}/perfPowerMetrics")).await.status,
        200
    );
    // Other paths are unaffected.
    env.handle.control.fail("/v1/builds", 503, None);
    assert_eq!(env.get("/v1/apps").await.status, 200);
    for _ in 0..3 {
        assert_eq!(env.get("/v1/builds").await.status, 503);
    }
    env.handle.control.clear_faults();
    assert_eq!(env.get("/v1/builds").await.status, 200);
    // 429s carry Retry-After: 1.
    env.handle.control.fail("/v1/apps", 429, Some(1));
    let r = env.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.error()["code"], "RATE_LIMIT_EXCEEDED");
    // The client retries through transient faults.
    env.handle.control.fail("/v1/apps", 503, Some(2));
    let apps = env.client().list_apps(&Default::default()).await.unwrap();
    assert_eq!(apps.len(), 3);
    let by_route = env.handle.control.requests_by_route();
    assert!(by_route["/v1/apps"] >= 4);
    assert_eq!(
        by_route.values().sum::<u64>(),
        env.handle.control.request_count()
    );
}

#[tokio::test]
async fn release_version_ages_out_the_oldest_version() {
    let env = start(|_| {}).await;
    let control = &env.handle.control;
    let app = control.app_ids()[1].clone();
    let path = format!(
        "/v1/apps/{app}/perfPowerMetrics?filter[metricType]=LAUNCH&filter[deviceType]=all_iphones"
    );
    let before = env.ok(&path).await;
    let ds_before = versions_of(&metrics(&before)[0].1["datasets"][0]);
    let new = control.release_version(&app);
    assert!(!new.is_empty());
    let after = env.ok(&path).await;
    let ds_after = versions_of(&metrics(&after)[0].1["datasets"][0]);
    assert_eq!(ds_after.len(), 8);
    assert_eq!(ds_after.last().unwrap().0, new);
    assert!(
        !ds_after.iter().any(|p| p.0 == ds_before[0].0),
        "oldest aged out"
    );
    assert_eq!(&ds_after[..7], &ds_before[1..], "history does not change");
    let builds = env.client().list_builds(&app, 3).await.unwrap();
    assert_eq!(builds[0].version.as_deref(), Some(new.as_str()));
    assert_eq!(control.release_version("no-such-app"), "");

    control.remove_app(&app);
    assert!(!control.app_ids().contains(&app));
    assert_eq!(env.get(&format!("/v1/apps/{app}")).await.status, 404);
    assert_eq!(
        env.get(&format!("/v1/apps/{app}/perfPowerMetrics"))
            .await
            .status,
        404
    );
    let list = env.ok("/v1/apps").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let builds = env.ok(&format!("/v1/builds?filter[app]={app}")).await;
    assert!(builds["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn fixtures_serve_saved_bodies() {
    let apple =
        shared("asc/examples/apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json");
    let builds_file = shared("asc/examples/real_list_builds_v1_apps_id_builds_sbecker11.json");
    let sigs_file =
        shared("asc/examples/apple_doc_example_diagnosticSignatures_build_disk_writes.json");
    let examples = shared("asc/examples");
    let synthetic = generate_account(&SimConfig::new(String::new())).apps[0]
        .id
        .clone();
    let specs = [
        format!("app-metrics:{synthetic}={}", apple.display()),
        "app-metrics:1583111882=real_perfPowerMetrics_app_empty_sbecker11.json".to_string(),
        format!("app-builds:1583111882={}", builds_file.display()),
        "signatures:1a254ec1-8e3d-48e7-bbd6-6b9a30072b29=apple_doc_example_diagnosticSignatures_build_disk_writes.json".to_string(),
        "app:1583111882=real_get_app_v1_apps_id_sbecker11.json".to_string(),
        "app-metrics:777=real_perfPowerMetrics_app_empty_sbecker11.json".to_string(),
    ];
    let fixtures: Vec<Fixture> = specs
        .iter()
        .map(|s| Fixture::parse_spec(s, Some(&examples)).unwrap())
        .collect();
    assert_eq!(fixtures[0].route, FixtureRoute::AppMetrics);
    let env = start(|c| c.fixtures = fixtures).await;

    let r = env
        .get(&format!("/v1/apps/{synthetic}/perfPowerMetrics"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, XCODE);
    assert_eq!(r.bytes, std::fs::read(&apple).unwrap(), "byte for byte");

    let r = env.get("/v1/apps/1583111882/builds").await;
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.bytes, std::fs::read(&builds_file).unwrap());
    let r = env
        .get("/v1/builds/1a254ec1-8e3d-48e7-bbd6-6b9a30072b29/diagnosticSignatures")
        .await;
    assert_eq!(r.bytes, std::fs::read(&sigs_file).unwrap());

    // Fixture-only apps join the account.
    let ids = env.handle.control.app_ids();
    assert!(ids.contains(&"1583111882".to_string()) && ids.contains(&"777".to_string()));
    let list = env.ok("/v1/apps?limit=200").await;
    let by_id = |id: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("777")["attributes"]["name"], "Fixture app 777");
    assert_eq!(by_id("777")["attributes"]["bundleId"], "fixture.777");
    assert_eq!(by_id("1583111882")["attributes"]["name"], "Angel Studios");
    let one = env.ok("/v1/apps/777").await;
    assert_eq!(one["data"]["attributes"]["bundleId"], "fixture.777");
    assert_eq!(
        env.ok("/v1/apps/777/builds").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // The client lists the saved builds through /v1/builds too.
    let client = env.client();
    let builds = client.list_builds("1583111882", 200).await.unwrap();
    assert_eq!(builds.len(), 33);
    assert!(
        builds
            .windows(2)
            .all(|w| w[0].uploaded_date >= w[1].uploaded_date)
    );
    let empty = client
        .app_metrics("1583111882", &MetricsFilter::default())
        .await
        .unwrap();
    assert!(!empty.value.has_data());
    let m = client
        .app_metrics(&synthetic, &MetricsFilter::default())
        .await
        .unwrap();
    assert_eq!(
        m.value.insights.unwrap().regressions[0]
            .reference_versions
            .len(),
        4
    );

    for bad in [
        "nonsense",
        "app-metrics:1=",
        "planets:1=x.json",
        "app-metrics:1=/no/such/file.json",
        "app-metrics:=x.json",
    ] {
        assert!(Fixture::parse_spec(bad, None).is_err(), "{bad}");
    }
    let not_json = env!("CARGO_MANIFEST_DIR").to_string() + "/Cargo.toml";
    let e = Fixture::parse_spec(&format!("app:1={not_json}"), None).unwrap_err();
    assert!(e.contains("not JSON"), "{e}");
}

#[tokio::test]
async fn admin_api_controls_the_simulator() {
    let env = start(|_| {}).await;
    let http = &env.http;
    let base = env.base();
    let app = env.handle.control.app_ids()[0].clone();
    env.get("/v1/apps").await;
    let state: Value = http
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["scenario"], "baseline");
    assert_eq!(state["apps"].as_array().unwrap().len(), 3);
    assert_eq!(state["requests"], 1);
    assert_eq!(state["requests_by_route"]["/v1/apps"], 1);

    let r = http
        .put(format!("{base}/_sim/scenario"))
        .body(r#"{"scenario":"regression"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.handle.control.scenario(), Scenario::Regression);
    let r = http
        .put(format!("{base}/_sim/scenario"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = http
        .post(format!("{base}/_sim/faults"))
        .body(format!(
            r#"{{"path_prefix":"/v1/apps/{app}","status":500,"times":null}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(env.get(&format!("/v1/apps/{app}")).await.status, 500);
    assert_eq!(env.get(&format!("/v1/apps/{app}")).await.status, 500);
    let r = http
        .delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.get(&format!("/v1/apps/{app}")).await.status, 200);

    let r: Value = http
        .post(format!("{base}/_sim/apps/{app}/release"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version = r["version"].as_str().unwrap();
    let builds = env.client().list_builds(&app, 1).await.unwrap();
    assert_eq!(builds[0].version.as_deref(), Some(version));
    let r = http
        .post(format!("{base}/_sim/apps/42/release"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Admin calls are not API requests.
    let before = env.handle.control.request_count();
    http.get(format!("{base}/_sim/state")).send().await.unwrap();
    assert_eq!(env.handle.control.request_count(), before);
}

#[tokio::test]
async fn signatures_and_logs_look_like_apple_s() {
    let env = start(|_| {}).await;
    let (app, _) = env.first_app_and_build().await;
    let builds = env
        .ok(&format!("/v1/builds?filter[app]={app}&filter[processingState]=VALID&include=preReleaseVersion&limit=200"))
        .await;
    let mut with_insight = 0;
    let bundle = env.ok(&format!("/v1/apps/{app}")).await["data"]["attributes"]["bundleId"].clone();
    for b in builds["data"].as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let number = b["attributes"]["version"].as_str().unwrap();
        let sigs = env
            .ok(&format!("/v1/builds/{id}/diagnosticSignatures?limit=200"))
            .await;
        let mut per_type: BTreeMap<String, f64> = BTreeMap::new();
        for s in sigs["data"].as_array().unwrap() {
            let a = &s["attributes"];
            *per_type
                .entry(a["diagnosticType"].as_str().unwrap().into())
                .or_default() += a["weight"].as_f64().unwrap();
            assert!(a["weight"].as_f64().unwrap() > 0.0);
            let sig = a["signature"].as_str().unwrap();
            assert!(sig.contains(": ") && sig.contains(" + "), "{sig}");
            assert!(
                s["id"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .all(|c| c.is_ascii_hexdigit())
            );
            if let Some(i) = a.get("insight") {
                with_insight += 1;
                assert_eq!(i["insightType"], "TREND");
                assert!(matches!(i["direction"].as_str().unwrap(), "UP" | "DOWN"));
                let refs = i["referenceVersions"].as_array().unwrap();
                assert!(
                    !refs.is_empty()
                        && refs[0]["version"].is_string()
                        && refs[0]["value"].is_number()
                );
            }
        }
        assert_eq!(
            per_type.len(),
            3,
            "DISK_WRITES, HANGS and LAUNCHES for build {number}"
        );
        for (t, w) in &per_type {
            assert!(*w <= 1.0 + 1e-9 && *w > 0.5, "{t}: {w}");
        }
    }
    assert!(with_insight > 0);

    // Logs of a disk-writes signature.
    let (_, build) = env.first_app_and_build().await;
    let sigs = env
        .ok(&format!(
            "/v1/builds/{build}/diagnosticSignatures?filter[diagnosticType]=DISK_WRITES"
        ))
        .await;
    let sig = &sigs["data"][0];
    let logs = env
        .ok(&format!(
            "/v1/diagnosticSignatures/{}/logs",
            sig["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(logs["version"], "1.0.0");
    let pd = &logs["productData"][0];
    let insight = &pd["diagnosticInsights"][0];
    assert!(insight["insightsCategory"].is_string());
    assert!(
        insight["insightsURL"]
            .as_str()
            .unwrap()
            .starts_with("doc://")
    );
    let list = pd["diagnosticLogs"].as_array().unwrap();
    assert!(list.len() >= 3);
    for log in list {
        let md = &log["diagnosticMetaData"];
        assert_eq!(md["bundleId"], bundle);
        assert_eq!(md["event"], "disk writes");
        assert_eq!(md["platformArchitecture"], "arm64");
        assert!(md["osVersion"].as_str().unwrap().starts_with("iPhone OS "));
        let writes = md["writesCaused"].as_str().unwrap();
        let mb: f64 = writes.strip_suffix(" MB").unwrap().parse().unwrap();
        assert!(mb > 0.0);
        assert!(md["eventDetail"].as_str().unwrap().contains(writes));
        assert!(md["deviceType"].as_str().unwrap().contains('_'));
        assert!(md["appVersion"].is_string() && md["buildVersion"].is_string());
        let tree = &log["callStackTree"][0];
        assert_eq!(tree["callStackPerThread"], true);
        let root = &tree["callStacks"][0]["callStackRootFrames"][0];
        // Walk down the chain.
        let mut depth = 0;
        let mut blame = 0;
        let mut node = root.clone();
        loop {
            depth += 1;
            for k in [
                "rawFrame",
                "binaryName",
                "symbolName",
                "offsetIntoSymbol",
                "address",
            ] {
                assert!(node[k].is_string(), "{k}");
            }
            assert!(node["sampleCount"].is_i64());
            if node["isBlameFrame"] == true {
                blame += 1;
                let sig_text = sig["attributes"]["signature"].as_str().unwrap();
                assert!(sig_text.starts_with(node["binaryName"].as_str().unwrap()));
                assert!(sig_text.contains(node["symbolName"].as_str().unwrap()));
            }
            let subs = node["subFrames"]
                .as_array()
                .expect("subFrames always present")
                .clone();
            if subs.is_empty() {
                break;
            }
            node = subs[0].clone();
        }
        assert!(depth >= 3, "{depth}");
        assert_eq!(blame, 1);
    }
    let two = env
        .ok(&format!(
            "/v1/diagnosticSignatures/{}/logs?limit=1",
            sig["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        two["productData"][0]["diagnosticLogs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        env.get(&format!(
            "/v1/diagnosticSignatures/{}/logs?limit=500",
            sig["id"].as_str().unwrap()
        ))
        .await
        .status,
        400
    );
}

#[test]
fn a_large_account_is_cheap_to_generate() {
    let (_, public) = generate_key_pair();
    let mut config = SimConfig::new(public);
    config.apps = 50;
    let t = std::time::Instant::now();
    let account = generate_account(&config);
    let took = t.elapsed();
    assert_eq!(account.apps.len(), 50);
    let ids: BTreeSet<_> = account.apps.iter().map(|a| a.id.clone()).collect();
    let names: BTreeSet<_> = account.apps.iter().map(|a| a.name.clone()).collect();
    let bundles: BTreeSet<_> = account.apps.iter().map(|a| a.bundle_id.clone()).collect();
    assert_eq!((ids.len(), names.len(), bundles.len()), (50, 50, 50));
    assert!(took < Duration::from_secs(3), "{took:?}");
    for app in &account.apps {
        assert!(app.versions.len() >= 8);
        for v in &app.versions {
            assert!((1..=3).contains(&v.builds.len()));
        }
    }
}
