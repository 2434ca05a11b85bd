//! The alert rules, their unit tests, the runbooks, the Alertmanager and
//! Prometheus configs of the docker-compose stack (the default one and the
//! agent and central Prometheus of the `scale` profile), and the compose
//! file: `promtool check rules`, `promtool test rules`, `amtool check-config`,
//! `promtool check config` (`--agent` for the agent), `docker-compose config
//! -q` with and without `--profile scale`, plus structural checks (every
//! alert has a severity, summary, description and a runbook section, and is
//! unit-tested both firing and silent; the `scale` profile is two shards
//! scraped by an agent that remote-writes to a central Prometheus).
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

/// As [`run_ok`], but only the standard output: what is parsed as YAML
/// (compose writes its warnings to stderr).
fn run_ok_stdout(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
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
        run_ok(Command::new(&promtool).args([
            "check",
            "config",
            "--syntax-only",
            "deploy/prometheus/prometheus.yml",
        ]));
        // The `scale` profile: the central Prometheus (a full check; its
        // rule glob is a container path, matching nothing here) ...
        run_ok(Command::new(&promtool).args(["check", "config", "deploy/prometheus/central.yml"]));
        // ... and once more with the glob pointed at the repository's
        // alerts/, so promtool loads the rules through this config.
        let central =
            std::fs::read_to_string(repo().join("deploy/prometheus/central.yml")).unwrap();
        assert!(central.contains(CONTAINER_RULES), "{central}");
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("central.yml");
        let rules = format!("{}/alerts/*.yml", repo().display());
        std::fs::write(&local, central.replace(CONTAINER_RULES, &rules)).unwrap();
        let text = run_ok(
            Command::new(&promtool)
                .arg("check")
                .arg("config")
                .arg(&local),
        );
        assert!(text.contains("asc-perf-exporter.rules.yml"), "{text}");
        // The agent, checked as an agent: no rule_files, no alerting.
        run_ok(Command::new(&promtool).args([
            "check",
            "config",
            "--agent",
            "deploy/prometheus/agent.yml",
        ]));
    }
}

/// Where the compose stack mounts alerts/ in a Prometheus container.
const CONTAINER_RULES: &str = "/etc/prometheus/rules/*.yml";

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
    let exporter = service_block(&out, "exporter");
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
    let collector = service_block(&otlp, "otel-collector");
    assert!(collector.contains("profiles:\n    - otlp"), "{collector}");

    // The `scale` profile's shards use the same key as the exporter when
    // the demo is off.
    let scale = run_ok_stdout(Command::new(&compose).arg(env_file_arg(&real)).args([
        "--profile",
        "scale",
        "config",
    ]));
    let rendered: Value = serde_norway::from_str(&scale).unwrap();
    for shard in ["exporter-shard-1", "exporter-shard-2"] {
        let s = &rendered["services"][shard];
        assert_eq!(command_of(s), "serve", "{shard}: {s:?}");
        assert_eq!(
            s["environment"]["ASC_PRIVATE_KEY_PATH"].as_str(),
            Some("/run/secrets/asc/AuthKey_2X9R4HXF34.p8"),
            "{shard}"
        );
    }
}

/// One service of `docker-compose config` output: from its `  name:` line
/// to the next service (or top-level key).
fn service_block<'a>(rendered: &'a str, name: &str) -> &'a str {
    let head = format!("\n  {name}:\n");
    let start = rendered
        .find(&head)
        .unwrap_or_else(|| panic!("no service {name}:\n{rendered}"))
        + 1;
    let body = &rendered[start + head.len() - 1..];
    let end = body
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let rest = &body[i..];
            !rest.starts_with("   ") && !rest.is_empty()
        })
        .unwrap_or(body.len());
    &rendered[start..start + head.len() - 1 + end]
}

/// A service's command as one string (compose renders a string or a list).
fn command_of(service: &Value) -> String {
    match &service["command"] {
        Value::String(s) => s.clone(),
        Value::Sequence(args) => args
            .iter()
            .map(|a| a.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" "),
        other => panic!("command {other:?}"),
    }
}

/// The host ports a rendered service publishes (`published:` of the long
/// syntax, or the middle part of `[ip:]host:container[/proto]`).
fn published_ports(service: &Value) -> Vec<u64> {
    let mut out = Vec::new();
    for p in service["ports"].as_sequence().into_iter().flatten() {
        match p {
            Value::Mapping(_) => {
                let published = &p["published"];
                let port = published
                    .as_u64()
                    .or_else(|| published.as_str().and_then(|s| s.parse().ok()));
                out.extend(port);
            }
            Value::String(s) => {
                let spec = s.split('/').next().unwrap();
                let parts: Vec<&str> = spec.split(':').collect();
                if parts.len() >= 2 {
                    out.push(parts[parts.len() - 2].parse().expect(s));
                }
            }
            other => panic!("port {other:?}"),
        }
    }
    out
}

/// The source of each volume of a rendered service (`source:target[:mode]`).
fn volume_sources(service: &Value) -> Vec<String> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::String(s) => s.split(':').next().unwrap().to_string(),
            Value::Mapping(_) => v["source"].as_str().unwrap_or_default().to_string(),
            other => panic!("volume {other:?}"),
        })
        .collect()
}

fn profiles_of(service: &Value) -> Vec<&str> {
    service["profiles"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The `scale` profile (docs/scaling.md): two exporter shards of one
/// configuration, a Prometheus agent scraping both and remote-writing to a
/// central Prometheus that accepts remote write and evaluates the alert
/// rules; none of it in the default stack, no host port used twice.
#[test]
fn docker_compose_scale_profile_is_shards_an_agent_and_a_central_prometheus() {
    let Some(compose) = tool("docker-compose", "docker-compose") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.env");
    std::fs::write(&empty, "").unwrap();
    let env_file_arg = format!("--env-file={}", empty.display());
    run_ok(
        Command::new(&compose)
            .arg(&env_file_arg)
            .args(["--profile", "scale", "config", "-q"]),
    );
    let rendered = run_ok_stdout(Command::new(&compose).arg(&env_file_arg).args([
        "--profile",
        "scale",
        "config",
    ]));
    let doc: Value = serde_norway::from_str(&rendered).unwrap();
    let services = doc["services"].as_mapping().expect("services");
    let service = |name: &str| -> &Value {
        services
            .get(name)
            .unwrap_or_else(|| panic!("no service {name}:\n{rendered}"))
    };
    let scale: BTreeSet<&str> = services
        .iter()
        .filter(|(_, s)| profiles_of(s).contains(&"scale"))
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(
        scale,
        BTreeSet::from([
            "exporter-shard-1",
            "exporter-shard-2",
            "prometheus-agent",
            "prometheus-central"
        ]),
        "the scale profile's services"
    );
    // Not in the default stack: each is in the `scale` profile only, and
    // the default exporter is not sharded.
    for name in &scale {
        assert_eq!(profiles_of(service(name)), ["scale"], "{name}");
    }
    let exporter = service("exporter");
    assert!(profiles_of(exporter).is_empty());
    assert!(exporter["environment"]["ASC_EXPORTER_SHARD"].is_null());

    // Two shards of one configuration: the exporter's image, demo by
    // default, distinct shards 1/2 and 2/2, a state volume each.
    let mut shards = BTreeSet::new();
    let mut state_volumes = BTreeSet::new();
    for name in ["exporter-shard-1", "exporter-shard-2"] {
        let s = service(name);
        assert_eq!(s["image"], exporter["image"], "{name}");
        let command = command_of(s);
        assert!(
            command.starts_with("serve --demo"),
            "{name}: demo by default: {command}"
        );
        let shard = s["environment"]["ASC_EXPORTER_SHARD"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: ASC_EXPORTER_SHARD"));
        shards.insert(shard.to_string());
        assert_eq!(
            s["environment"]["ASC_EXPORTER_STATE_DIR"].as_str(),
            Some("/var/lib/asc-perf-exporter/state")
        );
        let state: Vec<String> = volume_sources(s)
            .into_iter()
            .filter(|v| v.ends_with("-state"))
            .collect();
        assert_eq!(state.len(), 1, "{name}: one state volume: {state:?}");
        assert!(
            state_volumes.insert(state[0].clone()),
            "{name}: own state volume"
        );
        assert!(
            doc["volumes"].get(state[0].as_str()).is_some(),
            "{} declared",
            state[0]
        );
    }
    assert!(
        !state_volumes.contains("exporter-state"),
        "{state_volumes:?}"
    );
    assert_eq!(
        shards,
        BTreeSet::from(["1/2".to_string(), "2/2".to_string()])
    );

    // No host port published twice across the whole stack.
    let mut seen = std::collections::BTreeMap::new();
    for (name, s) in services {
        for port in published_ports(s) {
            if let Some(other) = seen.insert(port, name.as_str().unwrap()) {
                panic!("host port {port} published by {other} and {name:?}");
            }
        }
    }

    // The agent: agent mode (2.x's feature flag or 3.x's --agent), its
    // config from deploy/prometheus/agent.yml.
    let agent = service("prometheus-agent");
    let agent_command = command_of(agent);
    assert!(
        agent_command.contains("--enable-feature=agent")
            || agent_command.split(' ').any(|a| a == "--agent"),
        "{agent_command}"
    );
    assert!(
        agent_command.contains("--config.file=/etc/prometheus/prometheus.yml"),
        "{agent_command}"
    );
    let agent_yml = format!(
        "{}/deploy/prometheus/agent.yml:/etc/prometheus/prometheus.yml",
        repo().display()
    );
    assert!(
        agent["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|v| v.as_str().is_some_and(|v| v.starts_with(&agent_yml))),
        "{agent:?}"
    );

    // The central Prometheus: remote-write receiver on, the rules of
    // alerts/ mounted where central.yml loads them, central.yml as config.
    let central = service("prometheus-central");
    let central_command = command_of(central);
    assert!(
        central_command
            .split(' ')
            .any(|a| a == "--web.enable-remote-write-receiver"),
        "{central_command}"
    );
    assert!(
        !central_command.contains("agent"),
        "the central Prometheus is a server: {central_command}"
    );
    for mount in [
        "/deploy/prometheus/central.yml:/etc/prometheus/prometheus.yml",
        "/alerts:/etc/prometheus/rules",
    ] {
        let mount = format!("{}{mount}", repo().display());
        assert!(
            central["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|v| v.as_str().is_some_and(|v| v.starts_with(&mount))),
            "{mount}: {central:?}"
        );
    }

    // agent.yml: scrapes exactly the shards (job asc-perf-exporter, which
    // the alert rules name), labels its samples with `cluster` and
    // `__replica__`, and remote-writes to the central service's
    // /api/v1/write on Prometheus's port.
    let agent_cfg: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("deploy/prometheus/agent.yml")).unwrap(),
    )
    .unwrap();
    for label in ["cluster", "__replica__"] {
        assert!(
            agent_cfg["global"]["external_labels"][label]
                .as_str()
                .is_some(),
            "agent external label {label}"
        );
    }
    let job = agent_cfg["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"].as_str() == Some("asc-perf-exporter"))
        .expect("agent job asc-perf-exporter");
    let targets: BTreeSet<&str> = job["static_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|c| c["targets"].as_sequence().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from(["exporter-shard-1:9472", "exporter-shard-2:9472"])
    );
    let urls: Vec<url::Url> = agent_cfg["remote_write"]
        .as_sequence()
        .expect("agent remote_write")
        .iter()
        .map(|w| url::Url::parse(w["url"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(urls.len(), 1, "{urls:?}");
    assert_eq!(urls[0].host_str(), Some("prometheus-central"));
    assert_eq!(urls[0].port_or_known_default(), Some(9090));
    assert_eq!(urls[0].path(), "/api/v1/write");
    assert!(
        !central_command.contains("--web.listen-address"),
        "the central Prometheus listens on its default :9090"
    );

    // central.yml: the rules of alerts/ and the stack's Alertmanager.
    let central_cfg: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("deploy/prometheus/central.yml")).unwrap(),
    )
    .unwrap();
    assert!(
        central_cfg["rule_files"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|r| r.as_str() == Some(CONTAINER_RULES)),
        "central.yml loads the rules"
    );
    let alertmanagers = serde_norway::to_string(&central_cfg["alerting"]).unwrap();
    assert!(
        alertmanagers.contains("alertmanager:9093"),
        "{alertmanagers}"
    );
    assert!(services.get("alertmanager").is_some());
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
