//! The alert rules, their unit tests, the runbooks, the Alertmanager and
//! Prometheus configs of the docker-compose stack, and the compose file:
//! `promtool check rules`, `promtool test rules`, `amtool check-config`,
//! `promtool check config`, `docker-compose config -q`, plus structural checks
//! (every alert has a severity, summary, description and a runbook section,
//! and is unit-tested both firing and silent).
//!
//! A missing tool fails the test when `CI` is set and skips that check with a
//! loud warning otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The tool, or `None` (after a loud warning) when it is missing outside CI.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(name) {
        return Some(p);
    }
    let msg =
        format!("`{name}` not found on PATH; install Debian's `{package}` (bash .ci/run does)");
    if std::env::var_os("CI").is_some() {
        panic!("CI is set: {msg}");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! WARNING: check SKIPPED: {msg}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
    None
}

fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {}", dir.display());
    files
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

#[test]
fn promtool_check_rules_is_clean() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let text = run_ok(
        Command::new(promtool)
            .args(["check", "rules"])
            .args(yml_files(&repo().join("alerts"))),
    );
    assert!(
        !text.contains("FAILED") && !text.to_lowercase().contains("lint"),
        "{text}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    run_ok(
        Command::new(promtool)
            .args(["test", "rules"])
            .args(yml_files(&repo().join("alerts/tests"))),
    );
}

#[test]
fn alertmanager_and_prometheus_configs_are_valid() {
    if let Some(amtool) = tool("amtool", "prometheus-alertmanager") {
        run_ok(Command::new(amtool).args(["check-config", "deploy/alertmanager/alertmanager.yml"]));
    }
    if let Some(promtool) = tool("promtool", "prometheus") {
        run_ok(Command::new(promtool).args([
            "check",
            "config",
            "--syntax-only",
            "deploy/prometheus/prometheus.yml",
        ]));
    }
}

#[test]
fn docker_compose_config_is_valid_in_demo_and_with_credentials() {
    let Some(compose) = tool("docker-compose", "docker-compose") else {
        return;
    };
    // The default (no .env; a developer's own .env is ignored here).
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.env");
    std::fs::write(&empty, "").unwrap();
    let env_file_arg = |p: &Path| format!("--env-file={}", p.display());
    run_ok(
        Command::new(&compose)
            .arg(env_file_arg(&empty))
            .args(["config", "-q"]),
    );
    let demo = run_ok(
        Command::new(&compose)
            .arg(env_file_arg(&empty))
            .arg("config"),
    );
    assert!(
        demo.contains("serve --demo --demo-listen 0.0.0.0:9473"),
        "demo by default:\n{demo}"
    );
    // The simulator's admin API has no authentication: published on the
    // host's loopback only, never on every interface.
    assert!(
        demo.contains("127.0.0.1:9473:9473") && !demo.contains("published: 9473"),
        "the simulator admin port is bound to 127.0.0.1 only:\n{demo}"
    );
    for path in [
        "./deploy/grafana/provisioning:/etc/grafana/provisioning",
        "./dashboards:/var/lib/grafana/dashboards",
        "./alerts:/etc/prometheus/rules",
    ] {
        let abs = path.replacen("./", &format!("{}/", repo().display()), 1);
        assert!(demo.contains(&abs), "{path} mounted:\n{demo}");
    }

    // .env.example with every variable set: real credentials, no demo.
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    let filled: String = example
        .lines()
        .map(|l| l.strip_prefix('#').filter(|r| r.contains('=')).unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let real = dir.path().join("real.env");
    std::fs::write(&real, filled).unwrap();
    let out = run_ok(
        Command::new(&compose)
            .arg(env_file_arg(&real))
            .arg("config"),
    );
    let exporter = out.split("\n  grafana:").next().unwrap();
    assert!(exporter.contains("command: serve\n"), "{exporter}");
    assert!(!exporter.contains("--demo"), "{exporter}");
    assert!(exporter.contains("ASC_KEY_ID: 2X9R4HXF34"), "{exporter}");
    assert!(
        exporter.contains("ASC_PRIVATE_KEY_PATH: /run/secrets/asc/AuthKey_2X9R4HXF34.p8"),
        "{exporter}"
    );

    // The OpenTelemetry Collector only with the `otlp` profile, wired to the
    // exporter's OTLP endpoint and to the repo's collector config.
    // (Compose 1.29's `config --services` lists every service whatever the
    // profile, so the profile is read from the rendered file.)
    let otlp = run_ok(Command::new(&compose).arg(env_file_arg(&empty)).args([
        "--profile",
        "otlp",
        "config",
    ]));
    assert!(
        otlp.contains("ASC_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4317"),
        "{otlp}"
    );
    let collector_config = format!("{}/deploy/otel-collector/config.yaml", repo().display());
    assert!(otlp.contains(&collector_config), "{otlp}");
    let collector = otlp
        .split("\n  otel-collector:")
        .nth(1)
        .expect("otel-collector service");
    let collector = collector.split("\n  prometheus:").next().unwrap();
    assert!(collector.contains("profiles:\n    - otlp"), "{collector}");
}

fn alerts() -> Vec<Value> {
    let mut out = Vec::new();
    for file in yml_files(&repo().join("alerts")) {
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                if rule.get("alert").is_some() {
                    out.push(rule.clone());
                }
            }
        }
    }
    out
}

/// Where `runbook_url` points without a `runbook_base` external label: the
/// repository's runbooks (docs/runbooks.md, "Runbook links").
const RUNBOOK_BASE: &str =
    "https://github.com/asc-perf-exporter/asc-perf-exporter/blob/main/docs/runbooks.md";

#[test]
fn runbook_base_default_is_an_absolute_link_to_the_runbooks() {
    // One home for the project: Cargo.toml's `repository`.
    assert_eq!(
        RUNBOOK_BASE,
        format!(
            "{}/blob/main/docs/runbooks.md",
            env!("CARGO_PKG_REPOSITORY")
        )
    );
    let url = url::Url::parse(RUNBOOK_BASE).expect("an absolute URL");
    assert_eq!(url.scheme(), "https");
    assert!(url.path().ends_with("/docs/runbooks.md"), "{url}");
    let runbooks = std::fs::read_to_string(repo().join("docs/runbooks.md")).unwrap();
    assert!(
        runbooks.contains(RUNBOOK_BASE) && runbooks.contains("runbook_base"),
        "docs/runbooks.md documents the default base and the external label"
    );
    // One unit test sets the external label and expects its base.
    let tests = std::fs::read_to_string(repo().join("alerts/tests/exporter.test.yml")).unwrap();
    assert!(tests.contains("runbook_base: https://wiki.example.com/ops/asc-runbooks"));
    assert!(tests.contains("\"https://wiki.example.com/ops/asc-runbooks#ascstatewritefailing\""));
}

#[test]
fn every_alert_is_documented_labelled_and_unit_tested_both_ways() {
    let runbooks = std::fs::read_to_string(repo().join("docs/runbooks.md")).unwrap();
    let anchors: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().trim_matches('`').to_lowercase())
        .collect();
    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    let mut expected_runbook_urls = BTreeSet::new();
    for file in yml_files(&repo().join("alerts/tests")) {
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for test in doc["tests"].as_sequence().unwrap() {
            for t in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = t["alertname"].as_str().unwrap().to_string();
                match t["exp_alerts"].as_sequence() {
                    Some(a) if !a.is_empty() => fires.insert(name),
                    _ => silent.insert(name),
                };
                for a in t["exp_alerts"].as_sequence().into_iter().flatten() {
                    if let Some(url) = a["exp_annotations"]["runbook_url"].as_str() {
                        expected_runbook_urls.insert(url.to_string());
                    }
                }
            }
        }
    }
    let names: BTreeSet<String> = alerts()
        .iter()
        .map(|a| a["alert"].as_str().unwrap().to_string())
        .collect();
    for required in [
        "AscHighImpactRegression",
        "AscRegression",
        "AscMetricTrendingUp",
        "AscLatestVersionPoorGoal",
        "AscLatestVersionWorse",
        "AscRefreshFailing",
        "AscDataStale",
        "AscAuthenticationFailing",
        "AscRateLimitBudgetLow",
        "AscApiResponseNotUnderstood",
        "AscStateWriteFailing",
        "AscExporterDown",
    ] {
        assert!(names.contains(required), "{required} is missing");
    }
    for alert in alerts() {
        let name = alert["alert"].as_str().unwrap();
        let severity = alert["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name}: severity label {severity:?}"
        );
        for key in ["summary", "description"] {
            let text = alert["annotations"][key].as_str().unwrap_or_default();
            assert!(
                text.contains("{{"),
                "{name}: {key} is built from labels/value: {text:?}"
            );
        }
        let anchor = name.to_lowercase();
        assert_eq!(
            alert["annotations"]["runbook_url"].as_str(),
            Some(
                format!("{{{{ or $externalLabels.runbook_base \"{RUNBOOK_BASE}\" }}}}#{anchor}")
                    .as_str()
            ),
            "{name}: runbook_url is the runbook base (the `runbook_base` external label, or the default) and the alert's anchor"
        );
        assert!(
            expected_runbook_urls.contains(&format!("{RUNBOOK_BASE}#{anchor}")),
            "{name}: no unit test expects its absolute runbook_url"
        );
        assert!(
            anchors.contains(&anchor),
            "{name}: no `## {name}` section in docs/runbooks.md"
        );
        assert!(fires.contains(name), "{name}: no unit test where it fires");
        assert!(
            silent.contains(name),
            "{name}: no unit test where it stays silent"
        );
    }
}

/// No Docker engine runs here, so `docker build` is never tried: check
/// statically that the Dockerfile's dependency layer stubs every target
/// Cargo.toml declares (a missing bench file fails the whole build) and that
/// the build script is copied.
#[test]
fn the_dockerfile_stubs_every_cargo_target() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let manifest: toml_bench::Manifest =
        toml_bench::parse(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap());
    let stub_line = dockerfile
        .lines()
        .find(|l| l.contains("benches/$b.rs"))
        .expect("the Dockerfile stubs the benches in a loop");
    for bench in manifest.benches {
        assert!(
            stub_line.contains(&format!(" {bench}")) || stub_line.contains(&format!("{bench};")),
            "bench {bench} has no stub in the Dockerfile: {stub_line}"
        );
    }
    assert!(
        dockerfile.contains("COPY build.rs ./"),
        "build.rs is copied"
    );
}

/// The `[[bench]]` names of Cargo.toml (a line-based read: the manifest's
/// bench tables are `name = "..."` right under `[[bench]]`).
mod toml_bench {
    pub struct Manifest {
        pub benches: Vec<String>,
    }
    pub fn parse(text: &str) -> Manifest {
        let mut benches = Vec::new();
        let mut in_bench = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bench = line == "[[bench]]";
            } else if in_bench && let Some(v) = line.strip_prefix("name = ") {
                benches.push(v.trim_matches('"').to_string());
            }
        }
        assert!(!benches.is_empty(), "Cargo.toml declares benches");
        Manifest { benches }
    }
}
