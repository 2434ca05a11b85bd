//! Parses a text exposition with the Prometheus project's own Python client
//! parser (`prometheus_client.parser`), the reference implementation of the
//! text format outside Go, and an OpenMetrics exposition with its
//! OpenMetrics parser (`prometheus_client.openmetrics.parser`, which checks
//! `# EOF`, units against names, info values and name clashes). `.ci/run`
//! installs it; a missing parser fails the test loudly instead of skipping.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

const SCRIPT: &str = r#"
import json, sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "help": fam.documentation,
                    "unit": fam.unit, "name": s.name, "labels": s.labels, "value": s.value})
json.dump(out, sys.stdout)
"#;

#[derive(Debug, Clone)]
pub struct Sample {
    /// The family's name (without `_total` for counters, as the parser reports it).
    pub family: String,
    pub kind: String,
    pub help: String,
    /// The family's unit (OpenMetrics `# UNIT`; always empty in the text format).
    pub unit: String,
    /// The sample's own name, as exposed.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of the exposition. Panics with the parser's message when the
/// exposition is malformed.
pub fn parse(text: &str) -> Vec<Sample> {
    run_parser("text", text)
}

/// Every sample of an OpenMetrics exposition (family names as OpenMetrics
/// has them: a counter's without `_total`, an info's without `_info`).
/// Panics with the parser's message when the exposition is malformed.
pub fn parse_openmetrics(text: &str) -> Vec<Sample> {
    run_parser("openmetrics", text)
}

fn run_parser(format: &str, text: &str) -> Vec<Sample> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT, format])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} for the Prometheus text parser: {e}; install Python 3")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client'"),
        "the Prometheus text parser is missing: run `python3 -m pip install prometheus-client` (.ci/run does)"
    );
    assert!(
        out.status.success(),
        "the exposition does not parse:\n{stderr}"
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| Sample {
            family: r["family"].as_str().unwrap().to_string(),
            kind: r["type"].as_str().unwrap().to_string(),
            help: r["help"].as_str().unwrap_or("").to_string(),
            unit: r["unit"].as_str().unwrap_or("").to_string(),
            name: r["name"].as_str().unwrap().to_string(),
            labels: r["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            value: r["value"].as_f64().unwrap_or(f64::NAN),
        })
        .collect()
}

/// Samples named `name` whose labels include every `(label, value)` given.
pub fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The value of the single sample matching; panics unless exactly one does.
pub fn one(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(samples, name, labels);
    assert_eq!(
        found.len(),
        1,
        "expected one {name}{labels:?}, found {}",
        found.len()
    );
    found[0].value
}

/// Asserts that `promtool check metrics` accepts `text` with no lint output.
/// Without promtool (`PROMTOOL` or on `PATH`): a panic when `CI` is set, a
/// loud warning and no check otherwise.
pub fn assert_promtool_accepts(text: &[u8]) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_string());
    let child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(err) => {
            let msg = format!(
                "promtool not runnable ({promtool}: {err}); install Debian's `prometheus` package (.ci/run does)"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("\n!!!!!!!!!! WARNING: {msg}; `promtool check metrics` SKIPPED !!!!!!!!!!\n");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}
