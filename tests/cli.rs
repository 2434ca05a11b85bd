//! End-to-end tests of the CLI: the real binary, real HTTP on 127.0.0.1,
//! against the simulator started in-process.

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asc_perf_exporter::asc::auth::Claims;
use asc_perf_exporter::asc::client::AppsQuery;
use asc_perf_exporter::asc::model::{CallStackNode, DiagnosticLogs, XcodeMetrics};
use asc_perf_exporter::asc::{
    AuthConfig, KeySource, MetricsFilter, TokenProvider, auth::generate_key_pair,
};
use asc_perf_exporter::cli::render::{num, with_unit};
use asc_perf_exporter::sim::Scenario;
use cli_support::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn verify(token: &str, public_pem: &str, issuer: Option<&str>) -> jsonwebtoken::TokenData<Claims> {
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&["appstoreconnect-v1"]);
    if let Some(i) = issuer {
        v.set_issuer(&[i]);
    }
    let key = DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap();
    jsonwebtoken::decode::<Claims>(token.trim(), &key, &v).expect("token verifies")
}

#[test]
fn token_is_a_verifiable_es256_jwt_for_a_team_key() {
    let sim = Sim::start();
    let out = ok(&sim.run(&["token", "--lifetime", "600"]));
    let data = verify(&out, &sim.public_pem, Some(ISSUER));
    assert_eq!(data.header.alg, Algorithm::ES256);
    assert_eq!(data.header.kid.as_deref(), Some(KEY_ID));
    assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    let c = data.claims;
    assert_eq!(c.iss.as_deref(), Some(ISSUER));
    assert_eq!(c.sub, None);
    assert_eq!(c.aud, "appstoreconnect-v1");
    assert!(c.iat.abs_diff(now()) <= 5, "iat {} now {}", c.iat, now());
    assert_eq!(c.exp - c.iat, 600);

    // JSON mode, default lifetime (the maximum, 1200 s).
    let out = ok(&sim.run(&["token", "--output", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let token = v["token"].as_str().unwrap();
    let c = verify(token, &sim.public_pem, Some(ISSUER)).claims;
    assert_eq!(v["expires_at"].as_u64(), Some(c.exp));
    assert!(c.exp - c.iat <= 1200);
    assert!(v["expires_at_utc"].as_str().unwrap().contains('T'));
}

#[test]
fn token_for_an_individual_key_has_sub_user_and_no_iss() {
    let (private, public) = generate_key_pair();
    let out = bare()
        .env("ASC_KEY_ID", KEY_ID)
        .env("ASC_PRIVATE_KEY", &private)
        .arg("token")
        .output()
        .unwrap();
    let token = ok(&out);
    let c = verify(&token, &public, None).claims;
    assert_eq!(c.sub.as_deref(), Some("user"));
    assert_eq!(c.iss, None);
    assert!(c.exp - c.iat <= 1200);
    // The key never shows up in the output.
    assert!(!token.contains("PRIVATE"));
}

#[test]
fn token_lifetime_over_20_minutes_is_a_usage_error() {
    let sim = Sim::start();
    let out = sim.run(&["token", "--lifetime", "1201"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn apps_prints_what_the_api_served_in_text_and_json() {
    let sim = Sim::start();
    let apps = sim
        .block_on(sim.client().list_apps(&AppsQuery::default()))
        .unwrap();
    assert!(!apps.is_empty());
    let text = ok(&sim.run(&["apps"]));
    assert!(text.starts_with("ID"), "{text}");
    for a in &apps {
        let line = text
            .lines()
            .find(|l| l.starts_with(&a.id))
            .unwrap_or_else(|| panic!("no row for {} in {text}", a.id));
        assert!(line.contains(a.name()), "{line}");
        assert!(line.contains(a.bundle_id()), "{line}");
        assert!(
            line.contains(a.attributes.sku.as_deref().unwrap()),
            "{line}"
        );
    }
    let json: Value = serde_json::from_str(&ok(&sim.run(&["apps", "-o", "json"]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), apps.len());
    for (row, a) in rows.iter().zip(&apps) {
        assert_eq!(row["id"], a.id.as_str());
        assert_eq!(row["name"], a.name());
        assert_eq!(row["bundle_id"], a.bundle_id());
    }
    // --bundle-id filters server-side.
    let one = ok(&sim.run(&["apps", "--bundle-id", apps[0].bundle_id()]));
    assert!(one.contains(&apps[0].id));
    assert_eq!(one.lines().count(), 2, "{one}");
}

#[test]
fn builds_are_newest_first_with_marketing_versions() {
    let sim = Sim::start();
    let client = sim.client();
    let app = sim
        .block_on(client.list_apps(&AppsQuery::default()))
        .unwrap()
        .remove(0);
    let builds = sim.block_on(client.list_builds(&app.id, 6)).unwrap();
    assert_eq!(builds.len(), 6);
    let text = ok(&sim.run(&["builds", &app.id, "--limit", "6"]));
    let mut last = 0;
    for b in &builds {
        let (i, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(&b.id))
            .unwrap_or_else(|| panic!("build {} missing in {text}", b.id));
        assert!(i > last, "builds out of order:\n{text}");
        last = i;
        assert!(line.starts_with(&b.number), "{line}");
        assert!(line.contains(b.version.as_deref().unwrap()), "{line}");
    }
    let json: Value = serde_json::from_str(&ok(
        &sim.run(&["builds", &app.id, "--limit", "6", "-o", "json"])
    ))
    .unwrap();
    let rows = json.as_array().unwrap();
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["number"].as_str().unwrap(),
                r["version"].as_str().unwrap(),
            )
        })
        .collect();
    let want: Vec<(&str, &str)> = builds
        .iter()
        .map(|b| (b.number.as_str(), b.version.as_deref().unwrap()))
        .collect();
    assert_eq!(got, want);
}

/// The first app whose metrics carry a regression.
fn app_with_regression(sim: &Sim) -> (String, XcodeMetrics) {
    let client = sim.client();
    let apps = sim
        .block_on(client.list_apps(&AppsQuery::default()))
        .unwrap();
    for a in apps {
        let m = sim
            .block_on(client.app_metrics(&a.id, &MetricsFilter::default()))
            .unwrap()
            .value;
        if m.insights
            .as_ref()
            .is_some_and(|i| !i.regressions.is_empty())
        {
            return (a.id, m);
        }
    }
    panic!("the simulator has no app with a regression");
}

#[test]
fn insights_print_summary_and_population_values_and_save_round_trips() {
    let sim = Sim::start();
    // The baseline account is healthy; the mixed one carries insights.
    sim.handle
        .as_ref()
        .unwrap()
        .control
        .set_scenario(Scenario::Mixed);
    let (app_id, m) = app_with_regression(&sim);
    let reg = &m.insights.as_ref().unwrap().regressions[0];
    let metric = reg.metric.as_deref().unwrap();
    let (_, def) = m.find_metric(metric).unwrap();
    let unit = def.unit_display();
    let pop = &reg.populations[0];
    let latest = pop.latest_version_value.unwrap();
    let save = sim.dir.path().join("metrics.json");
    let text = ok(&sim.run(&["insights", &app_id, "--save", save.to_str().unwrap()]));
    assert!(text.contains("REGRESSION"), "{text}");
    assert!(
        text.contains(reg.summary_string.as_deref().unwrap()),
        "{text}"
    );
    let header = format!("{metric} ({unit}),");
    assert!(text.contains(&header), "{header} missing:\n{text}");
    assert!(text.contains(&with_unit(latest, unit)), "{text}");
    let latest_row = text.lines().find(|l| l.contains("◀ latest")).unwrap();
    assert!(
        latest_row.starts_with(reg.latest_version.as_deref().unwrap()),
        "{latest_row}"
    );

    // --save wrote the body the API served; parse reads it back.
    let saved: XcodeMetrics = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    assert_eq!(saved, m);
    let parsed = ok(&sim.run(&[
        "parse",
        "metrics",
        "--input",
        save.to_str().unwrap(),
        "--metric",
        metric,
        "--auto-insights",
    ]));
    assert!(parsed.contains(&with_unit(latest, unit)), "{parsed}");
    assert!(parsed.contains(reg.summary_string.as_deref().unwrap()));

    // JSON mode carries the decoded insight and the joined dataset.
    let json: Value =
        serde_json::from_str(&ok(&sim.run(&["insights", &app_id, "-o", "json"]))).unwrap();
    assert_eq!(json["app_id"], app_id.as_str());
    assert_eq!(json["has_data"], true);
    let first = &json["insights"][0];
    assert_eq!(first["kind"], "regression");
    assert_eq!(
        first["insight"]["summaryString"],
        reg.summary_string.as_deref().unwrap()
    );
    assert_eq!(
        first["populations"][0]["population"]["latestVersionValue"].as_f64(),
        Some(latest)
    );
    let ds = &first["populations"][0]["dataset"];
    assert_eq!(
        ds["filterCriteria"]["device"],
        pop.device.as_deref().unwrap()
    );

    // --percentile filters populations.
    let p90 = ok(&sim.run(&["insights", &app_id, "--percentile", "p90"]));
    assert!(!p90.contains(", p50\n"), "{p90}");
}

fn find_blame(nodes: &[CallStackNode]) -> Option<&CallStackNode> {
    for n in nodes {
        if n.is_blame() {
            return Some(n);
        }
        if let Some(b) = find_blame(&n.sub_frames) {
            return Some(b);
        }
    }
    None
}

#[test]
fn diagnostics_show_weights_blame_frames_and_save_round_trips() {
    let sim = Sim::start();
    let client = sim.client();
    let app = sim
        .block_on(client.list_apps(&AppsQuery::default()))
        .unwrap()
        .remove(0);
    let builds = sim.block_on(client.list_builds(&app.id, 5)).unwrap();
    let (build, sigs) = builds
        .iter()
        .find_map(|b| {
            let s = sim
                .block_on(client.diagnostic_signatures(&b.id, &[], None))
                .unwrap();
            (!s.is_empty()).then(|| (b.id.clone(), s))
        })
        .expect("a build with signatures");
    let logs = sim
        .block_on(client.diagnostic_logs(&sigs[0].id, Some(5)))
        .unwrap()
        .value;
    let log = &logs.product_data[0].diagnostic_logs[0];
    let blame = log
        .call_stack_tree
        .iter()
        .flat_map(|t| &t.call_stacks)
        .find_map(|s| find_blame(&s.call_stack_root_frames))
        .expect("a blame frame");
    let symbol = blame.symbol_name.as_deref().unwrap();

    let save = sim.dir.path().join("logs.json");
    let text = ok(&sim.run(&["diagnostics", &build, "--save", save.to_str().unwrap()]));
    for s in &sigs {
        assert!(
            text.contains(&format!("{}%", num(s.weight() * 100.0))),
            "{text}"
        );
        assert!(text.contains(s.signature()), "{text}");
    }
    assert!(text.contains(&sigs[0].id), "{text}");
    let blame_line = text.lines().find(|l| l.contains('▶')).expect("blame mark");
    assert!(blame_line.contains(symbol), "{blame_line}");
    assert!(blame_line.contains("[blame"), "{blame_line}");
    let md = &log.diagnostic_meta_data;
    for v in [
        &md.device_type,
        &md.os_version,
        &md.app_version,
        &md.event_detail,
    ]
    .into_iter()
    .flatten()
    {
        assert!(text.contains(v.as_str()), "{v} missing");
    }

    // --save: one diagnosticLogs document with the fetched productData.
    let saved: DiagnosticLogs = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    assert_eq!(saved.product_data, logs.product_data);
    let parsed = ok(&sim.run(&[
        "parse",
        "diagnostics",
        "--input",
        save.to_str().unwrap(),
        "--callstack",
    ]));
    assert!(
        parsed.contains(&format!("signatureId: {}", sigs[0].id)),
        "{parsed}"
    );
    assert!(parsed.contains(symbol), "{parsed}");

    // JSON mode: signatures in weight order plus the decoded logs.
    let json: Value = serde_json::from_str(&ok(&sim.run(&[
        "diagnostics",
        &build,
        "--limit",
        "2",
        "--logs",
        "1",
        "-o",
        "json",
    ])))
    .unwrap();
    let ids: Vec<&str> = json["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = sigs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, want);
    assert_eq!(json["logs"][0]["signature_id"], sigs[0].id.as_str());
    assert_eq!(json["logs"][0]["weight"].as_f64(), Some(sigs[0].weight()));
    assert_eq!(
        json["logs"].as_array().unwrap().len(),
        sigs.len().min(2),
        "--limit 2 fetches two signatures' logs"
    );
    assert!(
        json["logs"][0]["logs"]["productData"][0]["diagnosticLogs"]
            .as_array()
            .unwrap()
            .len()
            <= 1
    );
}

#[test]
fn insights_without_data_or_insights_say_so_and_succeed() {
    use asc_perf_exporter::sim::Fixture;
    let empty = example("real_perfPowerMetrics_app_empty_sbecker11.json");
    let launch = example("apple_doc_example_perfPowerMetrics_app_launch_all_iphones.json");
    let sim = Sim::start_with(|c| {
        c.fixtures.push(
            Fixture::parse_spec(&format!("app-metrics:777={}", empty.display()), None).unwrap(),
        );
        c.fixtures.push(
            Fixture::parse_spec(&format!("app-metrics:778={}", launch.display()), None).unwrap(),
        );
    });
    let text = ok(&sim.run(&["insights", "777"]));
    assert!(text.contains("not measured yet"), "{text}");
    let json: Value =
        serde_json::from_str(&ok(&sim.run(&["insights", "777", "-o", "json"]))).unwrap();
    assert_eq!(json["has_data"], false);
    assert_eq!(json["insights"].as_array().unwrap().len(), 0);
    // Apple's documented example served over HTTP: the regression and its
    // two datasets, latest version 2.0 marked.
    let text = ok(&sim.run(&["insights", "778"]));
    assert!(text.contains("launchTime (ms), All iPhones, p50"), "{text}");
    assert!(text.contains("launchTime (ms), All iPhones, p90"), "{text}");
    let latest: Vec<&str> = text.lines().filter(|l| l.contains("◀ latest")).collect();
    assert_eq!(latest.len(), 2, "{text}");
    assert!(
        latest[0].starts_with("2.0")
            && latest[0].contains("997.8 ms")
            && latest[0].contains("+10%")
    );
    assert!(latest[1].contains("2014.3 ms") && latest[1].contains("+13%"));
    // A device filter that matches nothing is not an error.
    let text = ok(&sim.run(&["insights", "778", "--device", "all_ipads"]));
    assert!(text.contains("match the filters"), "{text}");
}

#[test]
fn unknown_app_id_names_status_code_title_and_detail() {
    let sim = Sim::start();
    let line = one_error(&sim.run(&["insights", "999"]));
    for want in ["404", "PATH_ERROR", "The URL path is not valid", "999"] {
        assert!(line.contains(want), "{want} missing: {line}");
    }
    let line = one_error(&sim.run(&["builds", "999"]));
    assert!(line.contains("PATH_ERROR"), "{line}");
}

#[test]
fn credential_problems_are_one_line_errors_without_secrets() {
    let sim = Sim::start();
    // No key at all.
    let out = bare()
        .env("ASC_API_BASE_URL", &sim.base_url)
        .env("ASC_KEY_ID", KEY_ID)
        .arg("apps")
        .output()
        .unwrap();
    assert!(one_error(&out).contains("ASC_PRIVATE_KEY_PATH"));
    // An exported but empty path counts as no key, not as a usage error.
    let out = bare()
        .env("ASC_API_BASE_URL", &sim.base_url)
        .env("ASC_KEY_ID", KEY_ID)
        .env("ASC_PRIVATE_KEY_PATH", "")
        .arg("apps")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_error(&out).contains("no private key configured"));
    // No key id.
    let out = bare()
        .env("ASC_PRIVATE_KEY_PATH", &sim.key_path)
        .arg("token")
        .output()
        .unwrap();
    assert!(one_error(&out).contains("ASC_KEY_ID"));
    // Unreadable file.
    let missing = sim.dir.path().join("missing.p8");
    let out = sim
        .cmd()
        .env("ASC_PRIVATE_KEY_PATH", &missing)
        .arg("apps")
        .output()
        .unwrap();
    assert!(one_error(&out).contains("missing.p8"));
    // Wrong key types.
    for (file, what) in [
        ("rsa-2048-not-for-asc.p8", "RSA"),
        ("ec-p384-not-for-asc.p8", "P-384"),
    ] {
        let out = sim
            .cmd()
            .env("ASC_PRIVATE_KEY_PATH", fixture(file))
            .arg("token")
            .output()
            .unwrap();
        let line = one_error(&out);
        assert!(line.contains("P-256") && line.contains(what), "{line}");
        assert!(!line.contains("BEGIN"), "{line}");
    }
    // Inline key that is not PEM: the message never echoes it.
    let out = sim
        .cmd()
        .env_remove("ASC_PRIVATE_KEY_PATH")
        .env("ASC_PRIVATE_KEY", "s3cr3t-not-a-key")
        .arg("token")
        .output()
        .unwrap();
    let line = one_error(&out);
    assert!(
        line.contains("ASC_PRIVATE_KEY") && !line.contains("s3cr3t"),
        "{line}"
    );
}

/// Spawns `simulate --listen 127.0.0.1:0 --write-key KEY ARGS...` and
/// returns it with the `export K=V` lines of its banner.
fn spawn_simulate(
    key: &std::path::Path,
    args: &[&str],
) -> (std::process::Child, Vec<(String, String)>) {
    let mut child = bare()
        .args(["simulate", "--listen", "127.0.0.1:0", "--write-key"])
        .arg(key)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut exports = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("simulate printed its banner");
        if let Some(kv) = line.strip_prefix("export ") {
            let (k, v) = kv.split_once('=').unwrap();
            exports.push((k.to_string(), v.to_string()));
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    (child, exports)
}

#[test]
fn simulate_generates_a_key_and_prints_working_exports() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("sim-key.p8");
    let (mut child, exports) = spawn_simulate(&key, &["--apps", "2"]);
    let names: Vec<&str> = exports.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ASC_API_BASE_URL",
            "ASC_ISSUER_ID",
            "ASC_KEY_ID",
            "ASC_PRIVATE_KEY_PATH"
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut cmd = bare();
    cmd.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = cmd.args(["apps", "-o", "json"]).output().unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let apps: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 2);
}

/// `GET {base}/v1/apps?limit=1` `n` times with a token of the key `simulate`
/// generated; returns each response's status and `X-Rate-Limit`.
fn get_apps_n_times(exports: &[(String, String)], n: usize) -> Vec<(u16, String)> {
    let var = |k: &str| {
        exports
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} in the banner"))
    };
    let auth = TokenProvider::new(AuthConfig::new(
        Some(var("ASC_ISSUER_ID")),
        var("ASC_KEY_ID"),
        KeySource::Path(var("ASC_PRIVATE_KEY_PATH").into()),
    ))
    .unwrap();
    let token = auth.token().unwrap();
    let url = format!("{}/v1/apps?limit=1", var("ASC_API_BASE_URL"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
            let header = resp
                .headers()
                .get("x-rate-limit")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            out.push((resp.status().as_u16(), header));
        }
        out
    })
}

#[test]
fn simulate_minute_limit_sets_or_removes_the_minute_window() {
    let dir = tempfile::tempdir().unwrap();

    // 0: no minute window, so more than Apple's 150 a minute get through.
    let (mut child, exports) = spawn_simulate(
        &dir.path().join("a.p8"),
        &["--apps", "1", "--minute-limit", "0"],
    );
    let answers = get_apps_n_times(&exports, 160);
    child.kill().unwrap();
    let _ = child.wait();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    let (_, last) = answers.last().unwrap();
    assert!(
        last.contains("user-hour-lim:3600;user-hour-rem:3440;") && !last.contains("minute"),
        "{last}"
    );

    // 3: the fourth request of the minute is refused.
    let (mut child, exports) = spawn_simulate(
        &dir.path().join("b.p8"),
        &["--apps", "1", "--minute-limit", "3"],
    );
    let answers = get_apps_n_times(&exports, 4);
    child.kill().unwrap();
    let _ = child.wait();
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(
        answers[2]
            .1
            .contains("user-minute-lim:3;user-minute-rem:0;"),
        "{answers:?}"
    );
}

#[test]
fn the_inline_key_wins_over_the_path_and_an_exposed_key_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let (private, public) = generate_key_pair();
    let dir = tempfile::tempdir().unwrap();
    // Both set: ASC_PRIVATE_KEY wins (the path does not even exist), as in `serve`.
    let out = bare()
        .env("ASC_KEY_ID", KEY_ID)
        .env("ASC_PRIVATE_KEY", &private)
        .env("ASC_PRIVATE_KEY_PATH", dir.path().join("missing.p8"))
        .arg("token")
        .output()
        .unwrap();
    let token = ok(&out);
    verify(&token, &public, None);
    let err = stderr(&out);
    assert!(err.contains("using ASC_PRIVATE_KEY"), "{err}");

    // A key file others can read works, with a warning that says the fix.
    let path = dir.path().join("AuthKey.p8");
    std::fs::write(&path, &private).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bare()
        .env("ASC_KEY_ID", KEY_ID)
        .env("ASC_PRIVATE_KEY_PATH", &path)
        .arg("token")
        .output()
        .unwrap();
    verify(&ok(&out), &public, None);
    let err = stderr(&out);
    assert!(
        err.contains("readable by other users")
            && err.contains(&format!("chmod 600 {}", path.display())),
        "{err}"
    );
    assert!(
        !err.contains("PRIVATE KEY"),
        "no key material in the warning"
    );
    // Restricted: no warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = bare()
        .env("ASC_KEY_ID", KEY_ID)
        .env("ASC_PRIVATE_KEY_PATH", &path)
        .arg("token")
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stderr(&out), "");
}

/// Terminal control sequences an attacker may put in any string of a
/// file or response: clear screen (CSI), set the window title (OSC), an
/// 8-bit CSI (U+009B), a right-to-left override, DEL and a carriage return.
const HOSTILE: &str = "ok\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}lived\u{7f}\r";

/// No raw control character in `out`, and the hostile ones shown visibly.
fn assert_escaped(out: &str, what: &str) {
    use asc_perf_exporter::cli::render::is_terminal_control;
    if let Some(c) = out.chars().find(|&c| is_terminal_control(c)) {
        panic!("{what}: raw {c:?} reaches the terminal:\n{out}");
    }
    for shown in [
        "\\x1b[2J",
        "\\x1b]0;pwned\\x07",
        "\\u{9b}31m",
        "\\u{202e}lived",
    ] {
        assert!(out.contains(shown), "{what}: {shown} not shown in:\n{out}");
    }
}

/// JSON output escapes them as `\uXXXX` and still means the same.
fn assert_json_escaped(out: &str, what: &str) -> Value {
    use asc_perf_exporter::cli::render::is_terminal_control;
    assert!(
        !out.contains(is_terminal_control),
        "{what}: raw controls in:\n{out}"
    );
    assert!(
        out.contains("\\u001b[2J") && out.contains("\\u202e"),
        "{what}: {out}"
    );
    let v: Value = serde_json::from_str(out).unwrap();
    assert!(v.to_string().contains("\\u001b[2J"), "{what}");
    v
}

fn hostile_metrics() -> Value {
    serde_json::json!({
        "version": "1.0.0",
        "insights": {"trendingUp": [], "regressions": [{
            "metricCategory": HOSTILE, "latestVersion": "2.0", "metric": "launchTime",
            "summaryString": format!("Launch time {HOSTILE}"), "referenceVersions": ["1.0"],
            "populations": [{"device": "all_iphones", "percentile": "percentile.fifty",
                "summaryString": HOSTILE, "deltaPercentage": 10, "latestVersionValue": 997.8}]
        }]},
        "productData": [{"platform": "iOS", "metricCategories": [{"identifier": "LAUNCH", "metrics": [{
            "identifier": "launchTime", "unit": {"identifier": "ms", "displayName": HOSTILE},
            "datasets": [{"filterCriteria": {"device": "all_iphones", "percentile": "percentile.fifty",
                "deviceMarketingName": HOSTILE},
                "points": [{"version": "2.0", "value": 997.8, "goal": HOSTILE}]}]
        }]}]}]
    })
}

#[test]
fn hostile_text_in_files_never_reaches_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    // The file name itself is hostile, and shows in messages.
    let metrics = dir.path().join(format!("metrics{HOSTILE}.json"));
    std::fs::write(&metrics, serde_json::to_vec(&hostile_metrics()).unwrap()).unwrap();
    let m = metrics.to_str().unwrap();
    let parse = |args: &[&str]| bare().arg("parse").args(args).output().unwrap();
    let text = ok(&parse(&["metrics", "-i", m, "--auto_insights"]));
    assert_escaped(&text, "parse metrics --auto_insights");
    let text = ok(&parse(&["metrics", "-i", m, "--metric", "launchTime"]));
    assert_escaped(&text, "parse metrics --metric");
    let text = ok(&parse(&["metrics", "-i", m, "--device", "none"]));
    assert_escaped(&text, "parse metrics: file name and available devices");
    let json = assert_json_escaped(
        &ok(&parse(&[
            "metrics",
            "-i",
            m,
            "--auto_insights",
            "-o",
            "json",
        ])),
        "parse metrics -o json",
    );
    assert_eq!(json["file"], m, "the JSON holds the exact file name");
    assert_eq!(
        json["insights"][0]["insight"]["populations"][0]["summaryString"],
        HOSTILE
    );

    let logs = serde_json::json!({"version": "1.0.0", "productData": [{
        "signatureId": HOSTILE,
        "diagnosticInsights": [{"insightsCategory": HOSTILE, "insightsString": HOSTILE}],
        "diagnosticLogs": [{
            "diagnosticMetaData": {"bundleId": HOSTILE, "appVersion": "1.0", "eventDetail": HOSTILE},
            "callStackTree": [{"callStackPerThread": true, "callStacks": [{"callStackRootFrames": [{
                "rawFrame": HOSTILE,
                "subFrames": [{"binaryName": HOSTILE, "symbolName": HOSTILE, "fileName": HOSTILE,
                    "lineNumber": "1", "isBlameFrame": true, "insightsCategory": HOSTILE}]
            }]}]}]
        }]
    }]});
    let f = dir.path().join("logs.json");
    std::fs::write(&f, serde_json::to_vec(&logs).unwrap()).unwrap();
    let f = f.to_str().unwrap();
    let text = ok(&parse(&["diagnostics", "-i", f, "--callstack"]));
    assert_escaped(&text, "parse diagnostics --callstack");
    assert!(text.contains("▶"), "blame marks stay: {text}");
    let json = assert_json_escaped(
        &ok(&parse(&[
            "diagnostics",
            "-i",
            f,
            "--callstack",
            "-o",
            "json",
        ])),
        "parse diagnostics -o json",
    );
    assert_eq!(json["productData"][0]["signatureId"], HOSTILE);

    // Error lines on stderr too (a hostile file name, a hostile key).
    let missing = dir.path().join(format!("gone{HOSTILE}.json"));
    let line = one_error(&parse(&["metrics", "-i", missing.to_str().unwrap()]));
    assert_escaped(&line, "error line");
    let bad_key = dir.path().join("key.json");
    std::fs::write(
        &bad_key,
        format!(r#"{{"productData": [{{"{HOSTILE}": 1, "metricCategories": 3}}]}}"#),
    )
    .unwrap();
    let line = one_error(&parse(&["metrics", "-i", bad_key.to_str().unwrap()]));
    assert!(
        !line.contains(asc_perf_exporter::cli::render::is_terminal_control),
        "{line}"
    );
}

#[test]
fn hostile_text_from_the_api_never_reaches_the_terminal_raw() {
    use asc_perf_exporter::sim::Fixture;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("metrics.json");
    std::fs::write(&f, serde_json::to_vec(&hostile_metrics()).unwrap()).unwrap();
    // The fixture's id becomes an app name and bundle id in `/v1/apps`.
    let id = "9\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}lived";
    let sim = Sim::start_with(|c| {
        for spec in [
            format!("app-metrics:779={}", f.display()),
            format!("app-metrics:{id}={}", f.display()),
        ] {
            c.fixtures.push(Fixture::parse_spec(&spec, None).unwrap());
        }
    });
    let text = ok(&sim.run(&["insights", "779"]));
    assert_escaped(&text, "insights");
    assert_json_escaped(
        &ok(&sim.run(&["insights", "779", "-o", "json"])),
        "insights -o json",
    );
    let text = ok(&sim.run(&["apps"]));
    assert_escaped(&text, "apps");
    let json = assert_json_escaped(&ok(&sim.run(&["apps", "-o", "json"])), "apps -o json");
    assert!(
        json.as_array().unwrap().iter().any(|a| a["id"] == id),
        "{json}"
    );
}

#[test]
fn the_build_revision_comes_from_git_when_the_tree_is_a_checkout() {
    let revision = asc_perf_exporter::service::build_meta().revision;
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match git {
        Ok(out) if out.status.success() => {
            let head = String::from_utf8_lossy(&out.stdout).trim().to_string();
            // Built from this checkout, possibly a commit or two before a
            // test-only change: a 12-digit hex commit, never "unknown".
            assert_eq!(revision.len(), 12, "{revision}");
            assert!(
                revision.chars().all(|c| c.is_ascii_hexdigit()),
                "{revision}"
            );
            let known = std::process::Command::new("git")
                .args(["cat-file", "-e", &format!("{revision}^{{commit}}")])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(
                known.success(),
                "{revision} is a commit of this repository (HEAD {head})"
            );
        }
        // Not a git checkout (a source tarball): "unknown" is the honest answer.
        _ => assert_eq!(revision, "unknown"),
    }
}

#[test]
fn serve_without_credentials_says_what_is_missing_and_that_the_demo_needs_none() {
    let out = bare().arg("serve").output().unwrap();
    let line = one_error(&out);
    assert!(
        line.contains("ASC_KEY_ID") && line.contains("serve --demo"),
        "{line}"
    );
    let out = bare()
        .env("ASC_KEY_ID", KEY_ID)
        .arg("serve")
        .output()
        .unwrap();
    let line = one_error(&out);
    assert!(
        line.contains("ASC_PRIVATE_KEY_PATH") && line.contains("serve --demo"),
        "{line}"
    );
    // The toolkit's listen-address forms are accepted (node_exporter's syntax).
    for listen in [":0", "localhost:0", "127.0.0.1:0", "[::1]:0"] {
        let out = bare()
            .args([
                "serve",
                "--demo",
                "--web.listen-address",
                listen,
                "--print-config",
            ])
            .output()
            .unwrap();
        ok(&out);
    }
}

/// The cells of a table row (columns are separated by two spaces or more).
fn cells(row: &str) -> Vec<String> {
    row.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn overview_prints_sections_insights_and_call_sites_and_save_round_trips() {
    use asc_perf_exporter::asc::client::OverviewFilter;
    use asc_perf_exporter::asc::model::XcodeOverview;
    let sim = Sim::start();
    let control = &sim.handle.as_ref().unwrap().control;
    control.set_scenario(Scenario::Mixed);
    let (app_id, _) = app_with_regression(&sim);
    let filter = OverviewFilter {
        device_types: vec!["all_iphones".into()],
    };
    let o = sim
        .block_on(sim.client().app_overview(&app_id, &filter))
        .unwrap()
        .value;
    assert!(o.has_data());
    let save = sim.dir.path().join("overview.json");
    let text = ok(&sim.run(&[
        "overview",
        &app_id,
        "--device",
        "all_iphones",
        "--save",
        save.to_str().unwrap(),
    ]));
    let meta = o.app_metadata.as_ref().unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        format!(
            "Performance overview of app {app_id} ({}, iOS), latest version {}",
            meta.bundle_id.as_deref().unwrap(),
            o.latest_version().unwrap()
        )
    );
    // Every section's latest value per dataset, in sortOrder, with its
    // recommended goal.
    for c in &o.categories {
        let rows: Vec<Vec<String>> = text
            .lines()
            .skip_while(|l| !l.starts_with(&format!("{} (", c.id())))
            .skip(2)
            .take_while(|l| !l.is_empty() && !l.starts_with("recommended "))
            .map(cells)
            .collect();
        let mut want = Vec::new();
        for s in c.sections_sorted() {
            for d in &s.datasets {
                assert_eq!(d.filter_criteria.device(), "all_iphones");
                let p = d.points.last().unwrap();
                let goal = d.recommended_metric_goal.as_ref().and_then(|g| g.value);
                want.push(vec![
                    s.sort_order.unwrap().to_string(),
                    s.id().to_string(),
                    num(s.relevance_score.unwrap()),
                    "All iPhones".to_string(),
                    if d.filter_criteria.percentile() == "percentile.fifty" {
                        "p50"
                    } else {
                        "p90"
                    }
                    .to_string(),
                    format!(
                        "{} = {}",
                        p.version.as_deref().unwrap(),
                        with_unit(p.value.unwrap(), s.unit_display())
                    ),
                    goal.map(|g| with_unit(g, s.unit_display()))
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
        }
        let got: Vec<Vec<String>> = rows.iter().map(|r| r[..7].to_vec()).collect();
        assert_eq!(got, want, "{}:\n{text}", c.id());
    }
    // The insights, and the call sites as file:line with count, weight, trend.
    for i in o.all_insights() {
        assert!(
            text.contains(&format!("  {}", i.summary_string.as_deref().unwrap())),
            "{text}"
        );
    }
    assert!(text.contains("REGRESSION  "), "{text}");
    let sites: Vec<Vec<String>> = text
        .lines()
        .skip_while(|l| !l.starts_with("TYPE "))
        .skip(1)
        .map(cells)
        .collect();
    let want: Vec<_> = o.signatures.iter().collect();
    assert_eq!(sites.len(), want.len(), "{text}");
    for (row, (kind, s)) in sites.iter().zip(&want) {
        assert_eq!(row[0], kind.diagnostic_type());
        assert_eq!(row[1], s.location().unwrap());
        assert_eq!(row[2], s.count.unwrap().to_string());
        assert_eq!(row[3], format!("{}%", num(s.weight.unwrap() * 100.0)));
        assert!(row[4].starts_with(s.trend()), "{row:?}");
        assert_eq!(row.last().unwrap(), s.signature());
    }

    // --save wrote what the API served; parse overview reads it back.
    let saved: XcodeOverview = serde_json::from_slice(&std::fs::read(&save).unwrap()).unwrap();
    assert_eq!(saved, o);
    let parsed = ok(&sim.run(&["parse", "overview", "--input", save.to_str().unwrap()]));
    let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&parsed), body(&text));

    // JSON.
    let v: Value = serde_json::from_str(&ok(&sim.run(&[
        "overview",
        &app_id,
        "--device",
        "all_iphones",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(v["app_id"], app_id.as_str());
    assert_eq!(v["has_data"], true);
    assert_eq!(
        v["top_call_sites"].as_array().unwrap().len(),
        o.signatures.len()
    );
    assert_eq!(
        v["top_call_sites"][0]["call_site"]["signatureId"],
        o.signatures.iter().next().unwrap().1.id()
    );
    assert_eq!(
        v["insights"].as_array().unwrap().len(),
        o.all_insights().count()
    );
}

#[test]
fn overview_without_data_is_not_measured_and_an_unknown_id_is_apple_s_404() {
    use asc_perf_exporter::sim::Fixture;
    let empty = example("real_perfPowerMetrics_app_empty_sbecker11.json");
    let sim = Sim::start_with(|c| {
        c.fixtures.push(
            Fixture::parse_spec(&format!("app-metrics:777={}", empty.display()), None).unwrap(),
        );
    });
    // An app with no overview data yet.
    let text = ok(&sim.run(&["overview", "777"]));
    assert!(
        text.contains("No overview data for app 777 (not measured yet)"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&ok(&sim.run(&["overview", "777", "-o", "json"]))).unwrap();
    assert_eq!(v["has_data"], false);
    // Apple's 404 for an app that exists is "not measured" too, not zeros.
    let control = &sim.handle.as_ref().unwrap().control;
    let app = control.app_ids()[0].clone();
    control.fail(&format!("/v1/apps/{app}/performanceOverviews"), 404, None);
    let save = sim.dir.path().join("none.json");
    let out = sim.run(&["overview", &app, "--save", save.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("(not measured yet)"),
        "{}",
        stdout(&out)
    );
    assert!(out.status.success() && !save.exists());
    control.clear_faults();
    // An id the account does not have: Apple's error, one line.
    let line = one_error(&sim.run(&["overview", "999"]));
    for want in [
        "404",
        "/v1/apps/{id}/performanceOverviews",
        "PATH_ERROR",
        "999",
    ] {
        assert!(line.contains(want), "{want} missing: {line}");
    }
    // A device Apple has no data for.
    let text = ok(&sim.run(&["overview", &app, "--device", "all_watches"]));
    assert!(
        text.contains("No datasets for --device all_watches: Apple sent none"),
        "{text}"
    );
    assert!(text.contains("Top call sites ("), "{text}");
}

#[test]
fn hostile_text_in_an_overview_never_reaches_the_terminal_raw() {
    use asc_perf_exporter::sim::Fixture;
    let site = serde_json::json!({"signatureId": HOSTILE, "signature": HOSTILE, "sourceFile": HOSTILE,
        "lineNumber": 3, "count": 1, "weight": 0.5, "trendInfo": HOSTILE,
        "metricsSummary": {"referenceVersions": [{"version": HOSTILE, "value": 0.4}]}});
    let doc = serde_json::json!({
        "appMetadata": {"bundleId": HOSTILE, "platform": HOSTILE, "latestVersion": HOSTILE},
        "insights": hostile_metrics()["insights"].clone(),
        "categories": [{"identifier": HOSTILE, "displayName": HOSTILE, "sections": [{
            "identifier": "launchTime", "relevanceScore": 0.5, "sortOrder": 1,
            "unit": {"identifier": "ms", "displayName": HOSTILE},
            "datasets": [{"filterCriteria": {"device": "all_iphones", "percentile": "percentile.fifty",
                "deviceMarketingName": HOSTILE},
                "points": [{"version": HOSTILE, "value": 997.8}],
                "recommendedMetricGoal": {"value": 900, "detail": HOSTILE}}]
        }]}],
        "signatures": {"topHangPoint": [site], "topLaunchPoint": [], "topDiskWritePoint": []}
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(format!("overview{HOSTILE}.json"));
    std::fs::write(&f, serde_json::to_vec(&doc).unwrap()).unwrap();
    let parse = |args: &[&str]| bare().arg("parse").args(args).output().unwrap();
    let file = f.to_str().unwrap();
    assert_escaped(&ok(&parse(&["overview", "-i", file])), "parse overview");
    assert_escaped(
        &ok(&parse(&["overview", "-i", file, "--device", "none"])),
        "parse overview: no matching device",
    );
    let json = assert_json_escaped(
        &ok(&parse(&["overview", "-i", file, "-o", "json"])),
        "parse overview -o json",
    );
    assert_eq!(
        json["top_call_sites"][0]["call_site"]["sourceFile"],
        HOSTILE
    );
    // Served by the API.
    let sim = Sim::start_with(|c| {
        c.fixtures
            .push(Fixture::parse_spec(&format!("app-overview:780={}", f.display()), None).unwrap());
    });
    assert_escaped(&ok(&sim.run(&["overview", "780"])), "overview");
    assert_json_escaped(
        &ok(&sim.run(&["overview", "780", "-o", "json"])),
        "overview -o json",
    );
}
