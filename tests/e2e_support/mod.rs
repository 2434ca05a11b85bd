//! What the end-to-end tests share (`tests/e2e.rs`, `tests/remote_write.rs`):
//! finding Debian's Prometheus tools, child processes killed on drop, a
//! webhook receiver, the Prometheus HTTP API, and the dashboards' queries
//! with their template variables filled from real label values.
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
// ---------------------------------------------------------------- tools

pub fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

pub struct Tools {
    pub prometheus: PathBuf,
    pub alertmanager: PathBuf,
}

/// The tools, or `None` (after a loud warning) when one is missing outside CI.
pub fn tools() -> Option<Tools> {
    let prometheus = find_tool(&["prometheus"]);
    let promtool = find_tool(&["promtool"]);
    let alertmanager = find_tool(&["prometheus-alertmanager", "alertmanager"]);
    let mut missing = Vec::new();
    if prometheus.is_none() {
        missing.push("prometheus");
    }
    if promtool.is_none() {
        missing.push("promtool");
    }
    if alertmanager.is_none() {
        missing.push("prometheus-alertmanager (or alertmanager)");
    }
    if missing.is_empty() {
        return Some(Tools {
            prometheus: prometheus.unwrap(),
            alertmanager: alertmanager.unwrap(),
        });
    }
    let msg = format!(
        "{} not found on PATH; install Debian's `prometheus` and `prometheus-alertmanager` \
         packages (bash .ci/run does)",
        missing.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and the end-to-end test cannot run: {msg}");
    }
    eprintln!("\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! WARNING: end-to-end test SKIPPED: {msg}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n");
    None
}

// ---------------------------------------------------------------- processes

/// A child process killed (and reaped) on drop, its output in a log file.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc { name, child, log }
    }

    /// The end of the log, and whether the process has exited.
    pub fn report(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!("exited: {s}"),
            Ok(None) => "running".to_string(),
            Err(e) => format!("unknown: {e}"),
        };
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        format!("--- {} ({status}), last log lines:\n{tail}\n", self.name)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Stack {
    pub procs: Vec<Proc>,
    pub started: Instant,
}

impl Stack {
    pub fn diagnostics(&mut self) -> String {
        self.procs.iter_mut().map(Proc::report).collect()
    }

    /// Polls `probe` every 250 ms until it gives a value; panics with the
    /// processes' logs after `timeout`.
    pub async fn wait_for<T, F, Fut>(&mut self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe().await {
                eprintln!(
                    "[e2e +{:>5.1}s] {what}",
                    self.started.elapsed().as_secs_f64()
                );
                return v;
            }
            if Instant::now() >= deadline {
                let diag = self.diagnostics();
                panic!("timed out after {timeout:?} waiting for {what}\n{diag}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn rule_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("alerts"))
        .expect("alerts/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule files in alerts/");
    files
}

// ---------------------------------------------------------------- webhook

pub type Hooks = Arc<Mutex<Vec<Value>>>;

/// An Alertmanager webhook receiver recording every POSTed payload.
pub async fn start_webhook() -> (u16, Hooks) {
    let hooks = Hooks::default();
    let recorded = hooks.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(payload): axum::Json<Value>| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(payload);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hooks)
}

/// Alerts of payloads with the given top-level status, as (status, alert).
pub fn hook_alerts(hooks: &Hooks, payload_status: &str) -> Vec<Value> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == payload_status)
        .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

// ---------------------------------------------------------------- Prometheus API

pub struct Api {
    pub http: reqwest::Client,
    pub prom: String,
}

impl Api {
    pub async fn get_json(&self, url: &str, query: &[(&str, &str)]) -> Option<Value> {
        let resp = self.http.get(url).query(query).send().await.ok()?;
        let v: Value = resp.json().await.ok()?;
        (v["status"] == "success").then(|| v["data"].clone())
    }

    /// Instant query; `None` on any error (so callers can poll).
    pub async fn query(&self, expr: &str) -> Option<Vec<Value>> {
        let data = self
            .get_json(&format!("{}/api/v1/query", self.prom), &[("query", expr)])
            .await?;
        match data["resultType"].as_str()? {
            "vector" | "matrix" => data["result"].as_array().cloned(),
            "scalar" | "string" => Some(vec![data["result"].clone()]),
            _ => None,
        }
    }

    pub async fn label_values(&self, label: &str, matcher: Option<&str>) -> Option<Vec<String>> {
        let url = format!("{}/api/v1/label/{label}/values", self.prom);
        let mut q = Vec::new();
        if let Some(m) = matcher {
            q.push(("match[]", m));
        }
        let data = self.get_json(&url, &q).await?;
        Some(
            data.as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    }
}

// ---------------------------------------------------------------- dashboards

/// One PromQL expression of a dashboard panel.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    pub dashboard: String,
    pub panel: String,
    pub expr: String,
}

/// A dashboard template variable.
#[derive(Debug, Clone)]
pub struct TemplateVar {
    pub name: String,
    pub kind: String,
    pub query: String,
    /// Grafana's `regex` (JavaScript syntax, `/.../`): filters the values and
    /// extracts the named group `value` (or the first group).
    pub regex: Option<String>,
    pub current: Option<String>,
    /// `includeAll`: Grafana's default "All" option, whose value is
    /// `allValue` or every value joined with `|`.
    pub include_all: bool,
    pub all_value: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub file: String,
    pub queries: Vec<PanelQuery>,
    pub vars: Vec<TemplateVar>,
}

/// Every dashboard in `dashboards/` (once another branch adds them) and the
/// fixture dashboards in `tests/fixtures/dashboards/`. Integration point: the
/// dashboards branch ships `tests/dashboards_support` with
/// `panel_queries(dir)` / `fill_vars(expr, vars)`; switch this function (and
/// `fill_vars` below) to it once both branches are merged.
pub fn dashboard_queries() -> Vec<Dashboard> {
    let mut out = Vec::new();
    for dir in [
        repo().join("dashboards"),
        repo().join("tests/fixtures/dashboards"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
            out.push(parse_dashboard(
                &file
                    .strip_prefix(repo())
                    .unwrap_or(&file)
                    .display()
                    .to_string(),
                &json,
            ));
        }
    }
    out
}

pub fn parse_dashboard(file: &str, json: &Value) -> Dashboard {
    // Dashboards exported "for sharing externally" or wrapped by the HTTP API.
    let dash = if json.get("dashboard").is_some() {
        &json["dashboard"]
    } else {
        json
    };
    let mut queries = Vec::new();
    fn walk(file: &str, panels: &Value, out: &mut Vec<PanelQuery>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if target["hide"] == true {
                    continue;
                }
                if let Some(expr) = target["expr"].as_str().filter(|e| !e.trim().is_empty()) {
                    out.push(PanelQuery {
                        dashboard: file.to_string(),
                        panel: title.clone(),
                        expr: expr.to_string(),
                    });
                }
            }
            // Rows (collapsed rows keep their panels inside).
            walk(file, &panel["panels"], out);
        }
    }
    walk(file, &dash["panels"], &mut queries);
    // Old schema: rows[].panels[].
    for row in dash["rows"].as_array().into_iter().flatten() {
        walk(file, &row["panels"], &mut queries);
    }
    let vars = dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| TemplateVar {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            kind: v["type"].as_str().unwrap_or("query").to_string(),
            query: match &v["query"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("query")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            },
            regex: v["regex"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            include_all: v["includeAll"] == true,
            all_value: v["allValue"]
                .as_str()
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            current: match &v["current"]["value"] {
                Value::String(s) if s != "$__all" && !s.is_empty() => Some(s.clone()),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|s| *s != "$__all")
                    .map(str::to_string),
                _ => None,
            },
        })
        .collect();
    Dashboard {
        file: file.to_string(),
        queries,
        vars,
    }
}

/// Grafana's built-in variables, with values that suit a 1 s scrape interval.
pub const BUILTINS: &[(&str, &str)] = &[
    ("__rate_interval", "1m"),
    ("__interval_ms", "15000"),
    ("__interval", "15s"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
    ("__range", "1h"),
];

/// Replaces `$var`, `${var}`, `${var:format}` and `[[var]]` (longest names
/// first, so `$app_id` is not read as `$app` + `_id`).
pub fn fill_vars(expr: &str, vars: &[(String, String)]) -> String {
    let mut all: Vec<(String, String)> = vars.to_vec();
    all.extend(BUILTINS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut out = expr.to_string();
    for (name, value) in &all {
        // ${name:format}
        while let Some(start) = out.find(&format!("${{{name}:")) {
            let end = out[start..].find('}').map(|e| start + e + 1).unwrap();
            out.replace_range(start..end, value);
        }
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value);
        // $name not followed by an identifier character.
        let pat = format!("${name}");
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&pat) {
            let after = &rest[i + pat.len()..];
            let boundary = !after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            result.push_str(&rest[..i]);
            result.push_str(if boundary { value } else { &pat });
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// The values a variable can take given the earlier ones (up to `limit`).
pub async fn var_values(
    api: &Api,
    var: &TemplateVar,
    earlier: &[(String, String)],
    limit: usize,
) -> Vec<String> {
    let query = fill_vars(&var.query, earlier);
    let mut values: Vec<String> = match var.kind.as_str() {
        "datasource" | "adhoc" => return vec![],
        "custom" | "interval" => query
            .split(',')
            .map(|s| s.split(" : ").last().unwrap_or(s).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        "constant" | "textbox" => vec![query.trim().to_string()],
        _ => {
            let q = query.trim();
            if let Some(args) = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
            {
                // label_values(label) or label_values(selector, label)
                match args.rfind(',') {
                    Some(i) => {
                        let (sel, label) = (args[..i].trim(), args[i + 1..].trim());
                        api.label_values(label, Some(sel)).await.unwrap_or_default()
                    }
                    None => api
                        .label_values(args.trim(), None)
                        .await
                        .unwrap_or_default(),
                }
            } else if let Some(args) = q
                .strip_prefix("query_result(")
                .and_then(|r| r.strip_suffix(')'))
            {
                // Grafana renders each sample as `name{l="v", ...} value timestamp`.
                api.query(args)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|s| {
                        let metric = s["metric"].as_object().cloned().unwrap_or_default();
                        let name = metric
                            .get("__name__")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let labels: Vec<String> = metric
                            .iter()
                            .filter(|(k, _)| *k != "__name__")
                            .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
                            .collect();
                        format!(
                            "{name}{{{}}} {} {}",
                            labels.join(", "),
                            s["value"][1].as_str().unwrap_or_default(),
                            s["value"][0]
                        )
                    })
                    .collect()
            } else {
                panic!(
                    "template variable ${} has a query this test cannot resolve: {q}",
                    var.name
                );
            }
        }
    };
    if let Some(re) = &var.regex {
        values = apply_regex(re, &values);
    }
    if let Some(cur) = &var.current
        && let Some(i) = values.iter().position(|v| v == cur)
    {
        let cur = values.remove(i);
        values.insert(0, cur);
    }
    let all = var.all_value.clone().unwrap_or_else(|| values.join("|"));
    values.truncate(limit);
    if var.include_all && !all.is_empty() {
        values.insert(0, all);
    }
    values
}

/// Grafana's variable regex: `/pattern/flags`, JavaScript named groups
/// `(?<value>...)` (Rust's regex accepts that syntax); values that do not
/// match are dropped, duplicates removed.
pub fn apply_regex(re: &str, values: &[String]) -> Vec<String> {
    let body = re
        .strip_prefix('/')
        .map_or(re, |r| r.rsplit_once('/').map_or(r, |(b, _)| b));
    let re = regex::Regex::new(body)
        .unwrap_or_else(|e| panic!("template variable regex {re:?} does not compile: {e}"));
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if let Some(c) = re.captures(v) {
            let m = c.name("value").or_else(|| c.get(1)).or_else(|| c.get(0));
            let value = m.map(|m| m.as_str().to_string()).unwrap_or_default();
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    out
}

/// Every assignment of real values to the dashboard's variables, each
/// variable resolved with the earlier ones filled in (at most 3 values per
/// variable plus "All" where the variable has it, 64 assignments).
pub async fn assignments(api: &Api, vars: &[TemplateVar]) -> Vec<Vec<(String, String)>> {
    let mut acc: Vec<Vec<(String, String)>> = vec![vec![]];
    for var in vars {
        let mut next = Vec::new();
        for partial in &acc {
            let values = var_values(api, var, partial, 3).await;
            if values.is_empty() {
                if matches!(var.kind.as_str(), "datasource" | "adhoc") {
                    next.push(partial.clone());
                }
                continue;
            }
            for v in values {
                let mut a = partial.clone();
                a.push((var.name.clone(), v));
                next.push(a);
            }
        }
        next.truncate(64);
        acc = next;
    }
    acc
}

/// Panel expressions that returned no data for any assignment, with why.
pub async fn empty_panels(api: &Api, dashboards: &[Dashboard]) -> Vec<String> {
    let mut failures = Vec::new();
    for d in dashboards {
        let assigns = assignments(api, &d.vars).await;
        if assigns.is_empty() {
            failures.push(format!(
                "{}: no real values for the template variables",
                d.file
            ));
            continue;
        }
        for q in &d.queries {
            let mut ok = false;
            let mut tried = Vec::new();
            for a in &assigns {
                let expr = fill_vars(&q.expr, a);
                match api.query(&expr).await {
                    Some(r) if !r.is_empty() => {
                        ok = true;
                        break;
                    }
                    Some(_) => tried.push(format!("{expr}  -> no data")),
                    None => tried.push(format!("{expr}  -> query error")),
                }
            }
            if !ok {
                failures.push(format!(
                    "{} / panel {:?}: {}\n    {}",
                    q.dashboard,
                    q.panel,
                    q.expr,
                    tried.join("\n    ")
                ));
            }
        }
    }
    failures
}
