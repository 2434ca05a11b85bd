//! The exporter-toolkit web configuration against the real server over
//! 127.0.0.1: TLS with a CA made at test time (rcgen) and a real TLS client
//! (reqwest on rustls), client certificates, basic auth with hashes made by
//! `htpasswd -B`, headers, reloads without a restart, several listen
//! addresses sharing the connection cap, the telemetry path and `/ready`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use asc_perf_exporter::asc::auth::generate_key_pair;
use asc_perf_exporter::service::{self, Running, ServeOptions};
use common::exporter::{Env, config, next_snapshot, sim_env, start};
use web_support::{Ca, htpasswd_hash, https_client, put};

mod common;
mod web_support;

/// Writes the web config `yaml` as `dir/web.yml`.
fn web_file(dir: &Path, yaml: &str) -> PathBuf {
    put(dir, "web.yml", yaml);
    dir.join("web.yml")
}

/// The exporter with `web.config_file` (and `tweak`) set.
async fn start_web(
    env: &Env,
    file: &Path,
    tweak: impl FnOnce(&mut asc_perf_exporter::config::Config),
) -> Running {
    start(
        env,
        config(env, |c| {
            c.web.config_file = Some(file.to_path_buf());
            tweak(c);
        }),
    )
    .await
}

/// A server certificate and key written as `server.crt` / `server.key`.
fn write_server_cert(dir: &Path, ca: &Ca) -> web_support::Leaf {
    let leaf = ca.server();
    put(dir, "server.crt", &leaf.cert_pem);
    put(dir, "server.key", &leaf.key_pem);
    leaf
}

fn url(r: &Running, path: &str) -> String {
    format!("https://{}{path}", r.addr)
}

/// The DER of the certificate the server presented.
fn peer_cert(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("TLS info")
        .to_vec()
}

/// Polls `f` until it returns `Some` (the file's mtime may not move within
/// one tick; a reload is always seen by a later request).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_every_route_over_https_only_with_http2() {
    let env = sim_env(None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let leaf = write_server_cert(dir.path(), &ca);
    // Relative paths: joined with the file's directory, as in the toolkit.
    let file = web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let mut r = start_web(&env, &file, |_| {}).await;
    assert_eq!(r.scheme, "https");
    assert_eq!(r.metrics_urls(), [format!("https://{}/metrics", r.addr)]);
    next_snapshot(&mut r).await;

    let client = https_client(&ca, None);
    let resp = client.get(url(&r, "/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.version(),
        reqwest::Version::HTTP_2,
        "ALPN h2 by default"
    );
    assert_eq!(peer_cert(&resp), leaf.der);
    let text = resp.text().await.unwrap();
    assert!(text.contains("asc_exporter_build_info"), "{text}");
    for (path, status) in [
        ("/healthz", 200),
        ("/ready", 200),
        ("/", 200),
        ("/nope", 404),
    ] {
        let s = client.get(url(&r, path)).send().await.unwrap().status();
        assert_eq!(s, status, "{path}");
    }

    // Plain HTTP to the HTTPS port, and a client that does not trust the CA.
    let before = r.server_stats.snapshot().tls_handshake_failures;
    assert!(
        reqwest::get(format!("http://{}/healthz", r.addr))
            .await
            .is_err()
    );
    let stranger = https_client(&Ca::new("another CA"), None);
    assert!(stranger.get(url(&r, "/healthz")).send().await.is_err());
    eventually("both failed handshakes counted", || async {
        (r.server_stats.snapshot().tls_handshake_failures >= before + 2).then_some(())
    })
    .await;
    r.shutdown().await;

    // http2: false: HTTP/1.1 only.
    let file = web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nhttp_server_config:\n  http2: false\n",
    );
    let r = start_web(&env, &file, |_| {}).await;
    let resp = client.get(url(&r, "/healthz")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_certificate_of_the_client_ca_with_an_allowed_san() {
    let env = sim_env(None).await;
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    write_server_cert(dir.path(), &server_ca);
    let client_ca = Ca::new("client CA");
    put(dir.path(), "clients.pem", &client_ca.pem());
    let file = web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n",
    );
    let r = start_web(&env, &file, |_| {}).await;
    let get = |id: Option<&web_support::Leaf>| {
        let client = https_client(&server_ca, id);
        let u = url(&r, "/healthz");
        async move { client.get(u).send().await.map(|r| r.status().as_u16()) }
    };

    let scraper = client_ca.client(&["scraper"]);
    let intruder = client_ca.client(&["intruder"]);
    let foreign = Ca::new("other CA").client(&["scraper"]);
    assert!(get(None).await.is_err(), "no client certificate");
    assert!(
        get(Some(&foreign)).await.is_err(),
        "a certificate of another CA"
    );
    assert_eq!(get(Some(&scraper)).await.unwrap(), 200);
    assert_eq!(get(Some(&intruder)).await.unwrap(), 200);
    let failed = r.server_stats.snapshot().tls_handshake_failures;
    assert!(failed >= 2, "{failed}");

    // client_allowed_sans, added without a restart: read on the next handshake.
    web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n  client_allowed_sans: [scraper]\n",
    );
    eventually("the SAN list applies", || async {
        get(Some(&intruder)).await.is_err().then_some(())
    })
    .await;
    assert_eq!(get(Some(&scraper)).await.unwrap(), 200);
    assert!(get(None).await.is_err());

    // VerifyClientCertIfGiven: no certificate is fine, a foreign one is not.
    web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: clients.pem\n",
    );
    eventually("VerifyClientCertIfGiven applies", || async {
        get(None).await.ok().filter(|s| *s == 200)
    })
    .await;
    assert!(get(Some(&foreign)).await.is_err());
    assert_eq!(get(Some(&scraper)).await.unwrap(), 200);

    // RequireAnyClientCert: any certificate (its chain is not checked, as
    // in Go), but one is needed.
    web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
    );
    eventually("RequireAnyClientCert applies", || async {
        get(Some(&foreign)).await.ok().filter(|s| *s == 200)
    })
    .await;
    assert!(get(None).await.is_err());
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart_and_bad_material_keeps_the_last_good_one()
 {
    let env = sim_env(None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let first = write_server_cert(dir.path(), &ca);
    let file = web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let r = start_web(&env, &file, |_| {}).await;
    let client = https_client(&ca, None);
    let served = || {
        let (client, u) = (client.clone(), url(&r, "/healthz"));
        async move {
            let resp = client.get(u).send().await.expect("served");
            assert_eq!(resp.status(), 200);
            peer_cert(&resp)
        }
    };
    assert_eq!(served().await, first.der);

    // A key that does not match the certificate (half a renewal): the last
    // good pair is kept.
    put(dir.path(), "server.key", &ca.server().key_pem);
    assert_eq!(served().await, first.der);
    std::fs::remove_file(dir.path().join("server.key")).unwrap();
    assert_eq!(served().await, first.der);

    // The renewal completes: the next handshake presents the new certificate.
    let second = write_server_cert(dir.path(), &ca);
    let got = eventually("the new certificate is served", || async {
        let der = served().await;
        (der == second.der).then_some(der)
    })
    .await;
    assert_ne!(got, first.der);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_route_and_follows_the_file() {
    let Some(hash) = htpasswd_hash("correct horse") else {
        return;
    };
    let env = sim_env(None).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = |hash: &str| {
        format!(
            "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\n"
        )
    };
    let file = web_file(dir.path(), &yaml(&hash));
    let mut r = start_web(&env, &file, |_| {}).await;
    assert_eq!(r.scheme, "http");
    next_snapshot(&mut r).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", r.addr);
    let get = |path: &str, user: Option<(&str, &str)>| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        async move { req.send().await.unwrap() }
    };

    for path in ["/", "/metrics", "/ready", "/healthz", "/nope"] {
        let resp = get(path, None).await;
        assert_eq!(resp.status(), 401, "{path} without credentials");
        assert_eq!(resp.headers()["www-authenticate"], "Basic");
        assert_eq!(
            resp.headers()["x-frame-options"],
            "deny",
            "headers on a 401 too"
        );
    }
    assert_eq!(
        get("/metrics", Some(("alice", "wrong"))).await.status(),
        401
    );
    assert_eq!(
        get("/metrics", Some(("bob", "correct horse")))
            .await
            .status(),
        401
    );
    let ok = get("/metrics", Some(("alice", "correct horse"))).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-frame-options"], "deny");
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        ok.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    for (path, status) in [
        ("/", 200),
        ("/ready", 200),
        ("/healthz", 200),
        ("/nope", 404),
    ] {
        let s = get(path, Some(("alice", "correct horse"))).await.status();
        assert_eq!(s, status, "{path}");
    }

    // A new password in the file: no restart.
    let Some(new_hash) = htpasswd_hash("battery staple") else {
        return;
    };
    web_file(dir.path(), &yaml(&new_hash));
    eventually("the new password works", || async {
        (get("/metrics", Some(("alice", "battery staple")))
            .await
            .status()
            == 200)
            .then_some(())
    })
    .await;
    assert_eq!(
        get("/metrics", Some(("alice", "correct horse")))
            .await
            .status(),
        401
    );

    // An invalid file: 500 for every request, as the toolkit answers; the
    // fixed file is used again at once.
    web_file(dir.path(), "basic_auth_users:\n  alice: not-a-hash\n");
    let resp = get("/metrics", Some(("alice", "battery staple"))).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().await.unwrap(), "Internal Server Error\n");
    web_file(dir.path(), "tls_server_config: [\n");
    assert_eq!(get("/healthz", None).await.status(), 500);
    web_file(dir.path(), &yaml(&new_hash));
    assert_eq!(
        get("/metrics", Some(("alice", "battery staple")))
            .await
            .status(),
        200
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_basic_auth_keeps_tls_while_the_file_is_invalid() {
    let Some(hash) = htpasswd_hash("s3cret") else {
        return;
    };
    let env = sim_env(None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    write_server_cert(dir.path(), &ca);
    let good = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: {hash}\n"
    );
    let file = web_file(dir.path(), &good);
    let r = start_web(&env, &file, |_| {}).await;
    let client = https_client(&ca, None);
    let get = |user: Option<&str>| {
        let mut req = client.get(url(&r, "/metrics"));
        if let Some(p) = user {
            req = req.basic_auth("prometheus", Some(p));
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some("s3cret")).await, 200);
    // Invalid: handshakes still succeed (the last good certificate), and
    // the request is refused with the toolkit's 500.
    web_file(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  nonsense: 1\n",
    );
    assert_eq!(get(Some("s3cret")).await, 500);
    // Turning TLS off in the file needs a restart: the file is invalid until then.
    web_file(
        dir.path(),
        &format!("basic_auth_users:\n  prometheus: {hash}\n"),
    );
    assert_eq!(get(Some("s3cret")).await, 500);
    web_file(dir.path(), &good);
    assert_eq!(get(Some("s3cret")).await, 200);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_web_config_stops_the_start_with_one_line() {
    let env = sim_env(None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    write_server_cert(dir.path(), &ca);
    let cert = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let cases: Vec<(String, &str)> = vec![
        (
            "tls_server_config:\n  cert_filse: server.crt\n".into(),
            "cert_filse",
        ),
        (format!("{cert}  min_version: TLS10\n"), "TLS10"),
        (
            format!("{cert}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"),
            "CBC",
        ),
        (
            format!("{cert}  curve_preferences: [CurveP521]\n"),
            "CurveP521",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n".into(),
            "missing.crt",
        ),
        (
            "http_server_config:\n  headers:\n    Server: x\n".into(),
            "Server",
        ),
        ("basic_auth_users:\n  alice: hunter2\n".into(), "alice"),
    ];
    for (yaml, expect) in &cases {
        let file = web_file(dir.path(), yaml);
        let err = service::start(ServeOptions {
            config: config(&env, |c| c.web.config_file = Some(file.clone())),
            private_key_inline: Some(env.private_pem.clone()),
            demo: None,
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("{yaml:?} must not start"))
        .to_string();
        assert!(
            err.contains(expect) && err.contains("web.yml"),
            "{yaml:?}: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(!err.contains("hunter2"), "no secret in errors: {err}");
    }
    let err = service::start(ServeOptions {
        config: config(&env, |c| c.web.telemetry_path = "metrics".into()),
        private_key_inline: Some(env.private_pem.clone()),
        demo: None,
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("web.telemetry_path"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listen_address_is_served_and_they_share_the_connection_cap() {
    let env = sim_env(None).await;
    let r = start(
        &env,
        config(&env, |c| {
            c.web.listen_addresses = vec!["127.0.0.1:0".into(), "127.0.0.1:0".into()];
            c.web.max_connections = 1;
        }),
    )
    .await;
    assert_eq!(r.addrs.len(), 2);
    assert_ne!(r.addrs[0], r.addrs[1]);
    for a in &r.addrs {
        let body = reqwest::get(format!("http://{a}/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "ok\n");
    }
    // An idle connection on the first address holds the only slot; a
    // request on the second evicts it: one cap for both.
    eventually("the earlier connections are closed", || async {
        (r.server_stats.snapshot().open == 0).then_some(())
    })
    .await;
    let before = r.server_stats.snapshot();
    let _idle = std::net::TcpStream::connect(r.addrs[0]).unwrap();
    eventually("the idle connection is accepted", || async {
        let s = r.server_stats.snapshot();
        (s.accepted > before.accepted && s.open == 1).then_some(())
    })
    .await;
    let resp = reqwest::get(format!("http://{}/healthz", r.addrs[1]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(r.server_stats.snapshot().evicted, before.evicted + 1);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telemetry_path_moves_the_metrics_and_the_landing_page_links_it() {
    let env = sim_env(None).await;
    let mut r = start(
        &env,
        config(&env, |c| c.web.telemetry_path = "/custom/metrics".into()),
    )
    .await;
    next_snapshot(&mut r).await;
    let base = format!("http://{}", r.addr);
    let resp = reqwest::get(format!("{base}/custom/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("asc_exporter_"));
    assert_eq!(
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .status(),
        404
    );
    let page = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<a href="/custom/metrics">Metrics</a>"#),
        "{page}"
    );
    assert!(
        page.contains("<h1>asc-perf-exporter</h1>") && page.contains(env!("CARGO_PKG_VERSION"))
    );
    assert!(page.contains("ready: data for"), "{page}");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_with_the_reason_after_a_first_refresh_that_failed_with_401() {
    let env = sim_env(None).await;
    // A key the simulator does not know: every request answers 401.
    let (wrong_key, _) = generate_key_pair();
    let mut r = service::start(ServeOptions {
        config: config(&env, |_| {}),
        private_key_inline: Some(wrong_key),
        demo: None,
    })
    .await
    .unwrap();
    let snap = next_snapshot(&mut r).await;
    assert!(snap.apps.is_empty() && !snap.refresh.last_success);
    let resp = reqwest::get(format!("http://{}/ready", r.addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(
        body.starts_with("no data yet: the latest refresh failed"),
        "{body}"
    );
    assert!(body.contains("401"), "{body}");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_waits_for_every_app_of_the_allow_list() {
    let env = sim_env(None).await;
    let mut r = start(
        &env,
        config(&env, |c| {
            c.refresh.apps = vec![
                common::exporter::FIXTURE_APP.into(),
                "com.example.gone".into(),
            ]
        }),
    )
    .await;
    let ready = format!("http://{}/ready", r.addr);
    // Before and after the first refresh (which may already be done: the
    // simulator is fast) the exporter is not ready, for one reason or the other.
    let before = reqwest::get(&ready).await.unwrap();
    assert_eq!(before.status(), 503);
    let reason = before.text().await.unwrap();
    assert!(
        reason.contains("waiting for the first refresh") || reason.contains("com.example.gone"),
        "{reason}"
    );
    next_snapshot(&mut r).await;
    let resp = reqwest::get(&ready).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("com.example.gone") && body.contains("does not see"),
        "{body}"
    );
    r.shutdown().await;
}
