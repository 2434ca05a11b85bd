//! Static checks of the Grafana dashboards in `dashboards/*.json`: structure,
//! datasources, units, variables, links, uids, that every metric a query uses
//! is a family `docs/metrics.md` documents (named as the exporter names it),
//! that app-level panels filter `build`, and (with promtool) that every query
//! parses as PromQL once its variables are filled.

mod dashboards_support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use asc_perf_exporter::export::units::name_suffix;
use asc_perf_exporter::export::{metric_family_name, unit_mapping};
use asc_perf_exporter::sim::data::METRICS;
use dashboards_support::{
    BUILTIN_VARS, MetricRef, VarSource, all_panels, dashboard_files, dashboard_variables,
    dashboards_dir, file_name, fill_vars, load, metric_refs, panel_queries, split_matchers,
    var_refs, variables,
};
use serde_json::{Value, json};

const TAG: &str = "asc-perf-exporter";
const PANEL_TYPES: &[&str] = &["timeseries", "stat", "table", "bargauge", "row", "text"];

// ----- documented metric names ----------------------------------------------------

/// The metric names `docs/metrics.md` documents: the fixed families, and the
/// per-metric patterns (`asc_<m>_error_margin<unit>`) expanded for every
/// metric the simulator serves, named by the exporter's own naming function.
struct Docs {
    fixed: BTreeSet<String>,
    derived: BTreeSet<String>,
    /// Derived names that can carry a `build` label while also existing at
    /// app level (values, error margins, goals, recommended goals).
    app_or_build: BTreeSet<String>,
}

impl Docs {
    fn load() -> Docs {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
                .expect("docs/metrics.md");
        Docs::parse(&text)
    }

    fn parse(text: &str) -> Docs {
        let section = text
            .split("## Full list of fixed family names")
            .nth(1)
            .expect("docs/metrics.md has a 'Full list of fixed family names' section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let mut fixed = BTreeSet::new();
        let mut patterns = Vec::new();
        for (i, span) in section.split('`').enumerate() {
            if i % 2 == 0 || !span.starts_with("asc_") {
                continue;
            }
            if span.contains("<m>") {
                patterns.extend(expand_braces(span));
            } else if span.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                fixed.insert(span.to_string());
            }
        }
        assert!(
            fixed.len() >= 10,
            "too few fixed families parsed from docs/metrics.md: {fixed:?}"
        );
        assert!(
            patterns.iter().any(|p| p == "asc_<m><unit>"),
            "docs/metrics.md lists no asc_<m><unit> pattern: {patterns:?}"
        );
        let mut derived = BTreeSet::new();
        let mut app_or_build = BTreeSet::new();
        for spec in METRICS {
            let unit = unit_mapping(spec.unit, spec.unit_display);
            let family = metric_family_name(spec.identifier, &unit);
            // The suffix as names carry it (a unit that starts with the
            // metric's stem does not repeat it: `asc_terminations_per_day`).
            let suffix = match name_suffix(spec.identifier, &unit) {
                "" => String::new(),
                s => format!("_{s}"),
            };
            let stem = family
                .strip_prefix("asc_")
                .and_then(|s| s.strip_suffix(&suffix))
                .expect("family is asc_<stem><suffix>");
            for p in &patterns {
                let name = p.replace("<m>", stem).replace("<unit>", &suffix);
                if !p.starts_with("asc_insight_") {
                    app_or_build.insert(name.clone());
                }
                derived.insert(name);
            }
        }
        Docs {
            fixed,
            derived,
            app_or_build,
        }
    }

    fn knows(&self, name: &str) -> bool {
        self.fixed.contains(name) || self.derived.contains(name)
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.fixed.iter().chain(self.derived.iter())
    }
}

/// `a_{x,y}_b` -> `a_x_b`, `a_y_b`.
fn expand_braces(s: &str) -> Vec<String> {
    match (s.find('{'), s.find('}')) {
        (Some(open), Some(close)) if open < close => s[open + 1..close]
            .split(',')
            .flat_map(|alt| {
                expand_braces(&format!("{}{}{}", &s[..open], alt.trim(), &s[close + 1..]))
            })
            .collect(),
        _ => vec![s.to_string()],
    }
}

// ----- a small fully anchored regex matcher (RE2 subset) -------------------------

#[derive(Debug, Clone)]
enum Re {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Group(Vec<Vec<Re>>),
    Repeat(Box<Re>, usize, Option<usize>),
}

fn re_parse(pattern: &str) -> Result<Vec<Vec<Re>>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let alts = re_alts(&chars, &mut i)?;
    if i != chars.len() {
        return Err(format!("unbalanced ) in {pattern}"));
    }
    Ok(alts)
}

fn re_alts(c: &[char], i: &mut usize) -> Result<Vec<Vec<Re>>, String> {
    let mut alts = vec![Vec::new()];
    while *i < c.len() {
        let atom = match c[*i] {
            '|' => {
                *i += 1;
                alts.push(Vec::new());
                continue;
            }
            ')' => break,
            '(' => {
                *i += 1;
                if c[*i..].starts_with(&['?', ':']) {
                    *i += 2;
                }
                let inner = re_alts(c, i)?;
                if *i >= c.len() || c[*i] != ')' {
                    return Err("unclosed (".into());
                }
                *i += 1;
                Re::Group(inner)
            }
            '.' => {
                *i += 1;
                Re::Any
            }
            '[' => {
                *i += 1;
                let neg = *i < c.len() && c[*i] == '^';
                if neg {
                    *i += 1;
                }
                let mut ranges = Vec::new();
                while *i < c.len() && c[*i] != ']' {
                    let mut a = c[*i];
                    if a == '\\' {
                        *i += 1;
                        a = c[*i];
                    }
                    if *i + 2 < c.len() && c[*i + 1] == '-' && c[*i + 2] != ']' {
                        ranges.push((a, c[*i + 2]));
                        *i += 3;
                    } else {
                        ranges.push((a, a));
                        *i += 1;
                    }
                }
                *i += 1;
                Re::Class(ranges, neg)
            }
            '\\' => {
                *i += 2;
                Re::Char(*c.get(*i - 1).ok_or("trailing \\")?)
            }
            ch => {
                *i += 1;
                Re::Char(ch)
            }
        };
        let atom = match c.get(*i) {
            Some('*') => {
                *i += 1;
                Re::Repeat(Box::new(atom), 0, None)
            }
            Some('+') => {
                *i += 1;
                Re::Repeat(Box::new(atom), 1, None)
            }
            Some('?') => {
                *i += 1;
                Re::Repeat(Box::new(atom), 0, Some(1))
            }
            _ => atom,
        };
        alts.last_mut().expect("one alternative").push(atom);
    }
    Ok(alts)
}

/// All end positions after matching `seq` from `pos`.
fn re_seq(seq: &[Re], s: &[char], pos: usize) -> Vec<usize> {
    let mut ends = vec![pos];
    for atom in seq {
        let mut next = BTreeSet::new();
        for p in ends {
            next.extend(re_atom(atom, s, p));
        }
        ends = next.into_iter().collect();
        if ends.is_empty() {
            break;
        }
    }
    ends
}

fn re_atom(atom: &Re, s: &[char], pos: usize) -> Vec<usize> {
    match atom {
        Re::Char(c) => (s.get(pos) == Some(c))
            .then_some(pos + 1)
            .into_iter()
            .collect(),
        Re::Any => (pos < s.len() && s[pos] != '\n')
            .then_some(pos + 1)
            .into_iter()
            .collect(),
        Re::Class(ranges, neg) => s
            .get(pos)
            .filter(|c| ranges.iter().any(|(a, b)| (a..=b).contains(c)) != *neg)
            .map(|_| pos + 1)
            .into_iter()
            .collect(),
        Re::Group(alts) => alts.iter().flat_map(|seq| re_seq(seq, s, pos)).collect(),
        Re::Repeat(inner, min, max) => {
            let mut out = BTreeSet::new();
            let mut frontier = BTreeSet::from([pos]);
            let mut n = 0;
            loop {
                if n >= *min {
                    out.extend(frontier.iter().copied());
                }
                if max.is_some_and(|m| n >= m) || frontier.is_empty() {
                    break;
                }
                let next: BTreeSet<usize> = frontier
                    .iter()
                    .flat_map(|p| re_atom(inner, s, *p))
                    .filter(|e| !out.contains(e) || n < *min)
                    .collect();
                if next.is_subset(&frontier) && n >= *min {
                    break;
                }
                frontier = next;
                n += 1;
            }
            out.into_iter().collect()
        }
    }
}

/// Whether the fully anchored (Prometheus-style) regex matches `s`.
fn re_full_match(pattern: &str, s: &str) -> Result<bool, String> {
    let alts = re_parse(pattern)?;
    let chars: Vec<char> = s.chars().collect();
    Ok(alts
        .iter()
        .any(|seq| re_seq(seq, &chars, 0).contains(&chars.len())))
}

// ----- the checker ---------------------------------------------------------------

fn is_ds_ref(v: &Value) -> bool {
    let uid = v.get("uid").and_then(Value::as_str).unwrap_or_default();
    let ty = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("prometheus");
    matches!(uid, "${datasource}" | "$datasource" | "[[datasource]]") && ty == "prometheus"
}

/// Every text in a panel where variables are interpolated: title,
/// description, links (titles and urls), field-config links.
fn panel_texts(panel: &Value) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "title".into(),
            panel["title"].as_str().unwrap_or_default().to_string(),
        ),
        (
            "description".into(),
            panel["description"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
    ];
    let mut links: Vec<&Value> = panel["links"].as_array().into_iter().flatten().collect();
    links.extend(
        panel["fieldConfig"]["defaults"]["links"]
            .as_array()
            .into_iter()
            .flatten(),
    );
    for l in links {
        for k in ["title", "url"] {
            if let Some(s) = l[k].as_str() {
                out.push((format!("link {k}"), s.to_string()));
            }
        }
    }
    out
}

/// Checks one dashboard; returns every problem found (empty: fine).
fn check_dashboard(name: &str, dash: &Value, docs: &Docs) -> Vec<String> {
    let mut errs = Vec::new();
    let mut err = |m: String| errs.push(format!("{name}: {m}"));

    if dash["uid"].as_str().is_none_or(str::is_empty) {
        err("no uid".into());
    }
    if dash["title"].as_str().is_none_or(str::is_empty) {
        err("no title".into());
    }
    if dash["schemaVersion"].as_u64().is_none_or(|v| v < 39) {
        err(format!("schemaVersion {} < 39", dash["schemaVersion"]));
    }
    let tags: Vec<&str> = dash["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !tags.contains(&TAG) {
        err(format!("not tagged {TAG}"));
    }

    // Links to the other dashboards (by tag).
    let links = dash["links"].as_array().cloned().unwrap_or_default();
    if !links.iter().any(|l| {
        l["type"] == "dashboards"
            && l["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == TAG))
    }) {
        err(format!("no dashboard link by tag {TAG}"));
    }

    // Variables.
    let vars = dashboard_variables(name, dash);
    let mut defined: HashSet<String> = HashSet::new();
    let ds = vars.iter().find(|v| v.name == "datasource");
    match ds {
        Some(v) if v.kind == "datasource" && v.query == "prometheus" => {}
        _ => err("no `datasource` variable of type datasource (query prometheus)".into()),
    }
    for v in &vars {
        if !defined.insert(v.name.clone()) {
            err(format!("variable {} defined twice", v.name));
        }
        if v.kind == "query" {
            let raw = &dash["templating"]["list"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["name"] == v.name.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            if !is_ds_ref(&raw["datasource"]) {
                err(format!("variable {} does not use ${{datasource}}", v.name));
            }
            // A variable query may only use variables defined before it.
            for r in var_refs(&v.query) {
                if !defined.contains(&r.name) || r.name == v.name {
                    err(format!(
                        "variable {} uses ${} before it is defined",
                        v.name, r.name
                    ));
                }
            }
            match v.source() {
                VarSource::LabelValues {
                    selector: Some(sel),
                    ..
                } => check_metrics(&sel, docs, &mut err, &format!("variable {}", v.name), false),
                VarSource::QueryResult { expr, .. } => check_metrics(
                    &expr,
                    docs,
                    &mut err,
                    &format!("variable {}", v.name),
                    false,
                ),
                other => err(format!(
                    "variable {}: query not understood: {other:?}",
                    v.name
                )),
            }
        }
    }
    let known = |n: &str| defined.contains(n) || BUILTIN_VARS.contains(&n);
    for l in &links {
        for k in ["title", "url", "tooltip"] {
            for r in var_refs(l[k].as_str().unwrap_or_default()) {
                if !known(&r.name) {
                    err(format!(
                        "dashboard link {k} uses undefined variable ${}",
                        r.name
                    ));
                }
            }
        }
    }

    // Panels.
    let mut ids = HashSet::new();
    for p in all_panels(dash) {
        let ty = p["type"].as_str().unwrap_or_default();
        let title = p["title"].as_str().unwrap_or_default();
        let what = format!("panel {} {title:?}", p["id"]);
        match p["id"].as_u64() {
            Some(id) if ids.insert(id) => {}
            Some(id) => err(format!("duplicate panel id {id} ({title:?})")),
            None => err(format!("panel {title:?} has no numeric id")),
        }
        if !PANEL_TYPES.contains(&ty) {
            err(format!("{what}: panel type {ty:?} not allowed"));
        }
        if title.is_empty() {
            err(format!("{what}: no title"));
        }
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
        if x + w > 24 || g["h"].as_u64().is_none() {
            err(format!("{what}: gridPos {g} outside the 24-column grid"));
        }
        for (k, text) in panel_texts(p) {
            for r in var_refs(&text) {
                if !known(&r.name) {
                    err(format!("{what}: {k} uses undefined variable ${}", r.name));
                }
            }
        }
        if let Some(rep) = p["repeat"].as_str()
            && !defined.contains(rep)
        {
            err(format!("{what}: repeats over undefined variable {rep}"));
        }
        if ty == "row" || ty == "text" {
            continue;
        }
        if !is_ds_ref(&p["datasource"]) {
            err(format!(
                "{what}: datasource is not ${{datasource}}: {}",
                p["datasource"]
            ));
        }
        if p["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .is_none_or(|u| u.trim().is_empty())
        {
            err(format!("{what}: no unit (fieldConfig.defaults.unit)"));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        let mut refs = HashSet::new();
        if !targets
            .iter()
            .any(|t| t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()))
        {
            err(format!("{what}: no target with an expr"));
        }
        for t in &targets {
            let r = t["refId"].as_str().unwrap_or_default();
            if r.is_empty() || !refs.insert(r.to_string()) {
                err(format!("{what}: missing or duplicate refId {r:?}"));
            }
            if !t["datasource"].is_null() && !is_ds_ref(&t["datasource"]) {
                err(format!(
                    "{what}: target {r} datasource is not ${{datasource}}"
                ));
            }
            let expr = t["expr"].as_str().unwrap_or_default();
            if expr.trim().is_empty() {
                err(format!("{what}: target {r} has an empty expr"));
                continue;
            }
            for v in var_refs(expr) {
                if !known(&v.name) {
                    err(format!(
                        "{what}: target {r} uses undefined variable ${}",
                        v.name
                    ));
                }
            }
            check_metrics(expr, docs, &mut err, &format!("{what} target {r}"), true);
        }
        // Overrides by query must name an existing query.
        for o in p["fieldConfig"]["overrides"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if o["matcher"]["id"] == "byFrameRefID" {
                let r = o["matcher"]["options"].as_str().unwrap_or_default();
                if !refs.contains(r) {
                    err(format!("{what}: override for unknown query {r}"));
                }
            }
        }
    }
    errs
}

/// Every metric an expression uses must be documented; with `panel`, every
/// family that exists both at app and build level must be filtered on `build`.
fn check_metrics(expr: &str, docs: &Docs, err: &mut impl FnMut(String), what: &str, panel: bool) {
    let refs: Vec<MetricRef> = metric_refs(expr);
    if !refs
        .iter()
        .any(|r| r.name.starts_with("asc_") || r.is_regex)
    {
        err(format!("{what}: uses no asc_ metric: {expr}"));
    }
    for r in refs {
        let has_build = split_matchers(&r.matchers)
            .iter()
            .any(|m| m.trim_start().starts_with("build"));
        if r.is_regex {
            let matched: Vec<&String> = match docs
                .all()
                .map(|n| re_full_match(&r.name, n).map(|ok| ok.then_some(n)))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(m) => m.into_iter().flatten().collect(),
                Err(e) => {
                    err(format!(
                        "{what}: cannot read __name__ regex {:?}: {e}",
                        r.name
                    ));
                    continue;
                }
            };
            if matched.is_empty() {
                err(format!(
                    "{what}: __name__ regex {:?} matches no documented family",
                    r.name
                ));
            }
            if panel && matched.iter().any(|n| docs.app_or_build.contains(*n)) && !has_build {
                err(format!(
                    "{what}: {{__name__=~{:?}}} spans app and build series but has no build matcher",
                    r.name
                ));
            }
            continue;
        }
        if !docs.knows(&r.name) {
            err(format!(
                "{what}: metric {} is not a family documented in docs/metrics.md",
                r.name
            ));
            continue;
        }
        let app_and_build = docs.app_or_build.contains(&r.name)
            || r.name == "asc_metric_goal_info"
            || r.name == "asc_metric_breakdown_ratio";
        if panel && app_and_build && !has_build {
            err(format!(
                "{what}: {} has app- and build-level series; filter build=\"\" (app) or on build",
                r.name
            ));
        }
    }
}

// ----- promtool --------------------------------------------------------------------

fn promtool() -> Option<&'static str> {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some("promtool")
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI (Debian package `prometheus`)"
        );
        eprintln!("promtool not found: skipping the PromQL syntax check");
        None
    }
}

/// Runs `promtool check rules` on a rule file recording each expr; returns
/// promtool's complaint on failure.
fn promtool_check(tool: &str, exprs: &[(String, String)]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboards.rules.yml");
    let mut yaml = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, (_, e)) in exprs.iter().enumerate() {
        yaml.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {}\n",
            serde_json::to_string(e).expect("string")
        ));
    }
    std::fs::write(&path, &yaml).expect("write rules");
    let out = Command::new(tool)
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("run promtool");
    if out.status.success() {
        return Ok(());
    }
    let stderr =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // Name the failing queries.
    let mut bad = Vec::new();
    for (i, (what, e)) in exprs.iter().enumerate() {
        if stderr.contains(&format!("dashboard_query_{i}\""))
            || stderr.contains(&format!("dashboard_query_{i}:"))
        {
            bad.push(format!("{what}: {e}"));
        }
    }
    Err(format!("{stderr}\n{}", bad.join("\n")))
}

/// Dummy values for every variable of a dashboard: a custom variable's
/// current value, `dummy` for the others.
fn dummy_vars(dash: &Value) -> HashMap<String, String> {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            let value = if v["type"] == "custom" {
                v["current"]["value"].as_str().unwrap_or("1").to_string()
            } else {
                "dummy".to_string()
            };
            (name, value)
        })
        .collect()
}

// ----- tests -------------------------------------------------------------------------

#[test]
fn every_dashboard_passes_the_checks() {
    let docs = Docs::load();
    let files = dashboard_files(&dashboards_dir());
    let names: BTreeSet<String> = files.iter().map(|p| file_name(p)).collect();
    for want in [
        "overview.json",
        "versions.json",
        "regressions.json",
        "diagnostics.json",
        "exporter-health.json",
    ] {
        assert!(
            names.contains(want),
            "dashboards/{want} is missing (have {names:?})"
        );
    }
    let mut errs = Vec::new();
    let mut uids = HashMap::new();
    for path in &files {
        let name = file_name(path);
        let dash = match load(path) {
            Ok(d) => d,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        errs.extend(check_dashboard(&name, &dash, &docs));
        let uid = dash["uid"].as_str().unwrap_or_default().to_string();
        if let Some(other) = uids.insert(uid.clone(), name.clone()) {
            errs.push(format!("uid {uid:?} used by {other} and {name}"));
        }
    }
    assert!(errs.is_empty(), "dashboard problems:\n{}", errs.join("\n"));
}

#[test]
fn every_query_is_valid_promql() {
    let Some(tool) = promtool() else { return };
    let mut exprs = Vec::new();
    for path in dashboard_files(&dashboards_dir()) {
        let dash = load(&path).expect("valid dashboard");
        let vars = dummy_vars(&dash);
        let name = file_name(&path);
        for p in all_panels(&dash) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    exprs.push((
                        format!("{name} {:?} {}", p["title"], t["refId"]),
                        fill_vars(e, &vars),
                    ));
                }
            }
        }
        for v in dashboard_variables(&name, &dash) {
            let e = match v.source() {
                VarSource::LabelValues {
                    selector: Some(s), ..
                } => s,
                VarSource::QueryResult { expr, .. } => expr,
                _ => continue,
            };
            exprs.push((format!("{name} variable {}", v.name), fill_vars(&e, &vars)));
        }
    }
    assert!(exprs.len() > 50, "too few queries found: {}", exprs.len());
    if let Err(e) = promtool_check(tool, &exprs) {
        panic!("promtool rejects dashboard queries:\n{e}");
    }
}

#[test]
fn provisioning_files_are_in_place() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ds = std::fs::read_to_string(
        root.join("deploy/grafana/provisioning/datasources/prometheus.yaml"),
    )
    .expect("datasource provisioning");
    let ds: serde_norway::Value = serde_norway::from_str(&ds).expect("datasource YAML");
    let d = &ds["datasources"][0];
    assert_eq!(d["name"].as_str(), Some("Prometheus"));
    assert_eq!(d["uid"].as_str(), Some("prometheus"));
    assert_eq!(d["type"].as_str(), Some("prometheus"));
    assert_eq!(d["url"].as_str(), Some("http://prometheus:9090"));
    let db = std::fs::read_to_string(root.join("deploy/grafana/provisioning/dashboards/asc.yaml"))
        .expect("dashboard provisioning");
    let db: serde_norway::Value = serde_norway::from_str(&db).expect("dashboard YAML");
    let p = &db["providers"][0];
    assert_eq!(p["type"].as_str(), Some("file"));
    assert_eq!(
        p["options"]["path"].as_str(),
        Some("/var/lib/grafana/dashboards")
    );
}

/// A dashboard with one of each mistake: the checker must report them all.
#[test]
fn the_checker_rejects_a_broken_dashboard() {
    let docs = Docs::load();
    let broken = json!({
        "uid": "broken",
        "title": "Broken",
        "schemaVersion": 39,
        "tags": [TAG],
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "app_id", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(asc_app_refresh_failed{job=\"$job\"}, app_id)"}, "regex": ""}
        ]},
        "panels": [
            {"id": 1, "type": "row", "title": "Row", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}, "panels": [
                {"id": 2, "type": "stat", "title": "Nested duplicate", "gridPos": {"x": 0, "y": 1, "w": 6, "h": 4},
                 "datasource": {"type": "prometheus", "uid": "${datasource}"},
                 "fieldConfig": {"defaults": {"unit": "s"}, "overrides": []},
                 "targets": [{"refId": "A", "expr": "asc_exporter_refresh_duration_seconds"}]}
            ]},
            {"id": 2, "type": "timeseries", "title": "No unit, undefined variable, renamed family",
             "gridPos": {"x": 0, "y": 2, "w": 12, "h": 4},
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "fieldConfig": {"defaults": {}, "overrides": []},
             "targets": [{"refId": "A", "expr": "asc_launch_duration_seconds{app_id=\"$app_id\", device=\"$device\", build=\"\"}"}]},
            {"id": 3, "type": "stat", "title": "Hard-coded datasource, empty expr",
             "gridPos": {"x": 12, "y": 2, "w": 12, "h": 4},
             "datasource": {"type": "prometheus", "uid": "prometheus"},
             "fieldConfig": {"defaults": {"unit": "none"}, "overrides": []},
             "targets": [{"refId": "A", "expr": ""}]},
            {"id": 4, "type": "table", "title": "App-level values without a build filter in $version",
             "gridPos": {"x": 0, "y": 6, "w": 24, "h": 4},
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "fieldConfig": {"defaults": {"unit": "s"}, "overrides": []},
             "targets": [{"refId": "A", "expr": "asc_launch_time_seconds{app_id=\"$app_id\"} * on(app_id, platform, version) group_left() asc_app_latest_version_info"}]}
        ]
    });
    let errs = check_dashboard("broken.json", &broken, &docs).join("\n");
    for want in [
        "no dashboard link by tag",
        "duplicate panel id 2",
        "no unit",
        "undefined variable $device",
        "asc_launch_duration_seconds is not a family documented",
        "datasource is not ${datasource}",
        "no target with an expr",
        "filter build=\"\"",
        "title uses undefined variable $version",
        "variable app_id uses $job before it is defined",
    ] {
        assert!(
            errs.contains(want),
            "checker missed {want:?}; it reported:\n{errs}"
        );
    }
    // And the real dashboards' names are what the exporter serves.
    assert!(docs.knows("asc_launch_time_seconds"));
    assert!(docs.knows("asc_insight_regression_latest_peak_memory_bytes"));
    assert!(docs.knows("asc_hang_rate_goal_lower_bound_seconds_per_hour"));
    assert!(!docs.knows("asc_launch_time_ms"));
}

#[test]
fn promtool_rejects_broken_promql() {
    let Some(tool) = promtool() else { return };
    let bad = vec![(
        "broken".to_string(),
        "sum(rate(asc_api_requests_total[5m])".to_string(),
    )];
    assert!(promtool_check(tool, &bad).is_err());
    let good = vec![(
        "good".to_string(),
        "sum(rate(asc_api_requests_total[5m]))".to_string(),
    )];
    assert!(promtool_check(tool, &good).is_ok());
}

#[test]
fn helpers_parse_variables_and_metrics() {
    let vars: HashMap<String, String> = [
        ("app_id", "123"),
        ("device", "iPhone15,2"),
        ("version", "2.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        fill_vars(
            r#"rate(x{a="$app_id", d="${device}", v=~"${version:regex}", w="[[app_id]]"}[$__rate_interval]) $1 $unknown"#,
            &vars
        ),
        r#"rate(x{a="123", d="iPhone15,2", v=~"2\.0", w="123"}[5m]) $1 $unknown"#
    );
    assert_eq!(
        fill_vars("[$__interval] [$__range]", &HashMap::new()),
        "[1m] [1h]"
    );
    assert_eq!(
        fill_vars("/d/x?${app_id:queryparam}", &vars),
        "/d/x?var-app_id=123"
    );

    let refs = metric_refs(
        r#"topk by (app_id) (1, max by (app, version) (asc_a{x="asc_b"} * on(app_id) group_left(asc_c) asc_d)) or vector(0) + {__name__=~"asc_e_.+", y!=""}[5m:1m]"#,
    );
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["asc_a", "asc_d", "asc_e_.+"]);
    assert_eq!(refs[0].matchers, r#"x="asc_b""#);

    assert!(
        re_full_match(
            "asc_insight_regression_latest_.+_seconds",
            "asc_insight_regression_latest_launch_time_seconds"
        )
        .unwrap()
    );
    assert!(!re_full_match("asc_.+_seconds", "asc_peak_memory_bytes").unwrap());
    assert!(
        re_full_match(
            "asc_(metric|insight)_.+|.+_error_margin",
            "asc_x_error_margin"
        )
        .unwrap()
    );
    assert!(re_full_match("a[0-9]?b", "a1b").unwrap() && re_full_match("a[0-9]?b", "ab").unwrap());

    // Every query variable of the dashboards resolves to a label of a query.
    let all = variables(&dashboards_dir());
    assert!(all.iter().any(|v| v.name == "app_id"
        && v.source()
            == VarSource::QueryResult {
                expr:
                    r#"max by (app_id, app) (asc_app_refresh_failed{account=~"$account"})"#.into(),
                value_label: "app_id".into()
            }));
    for v in all.iter().filter(|v| v.kind == "query") {
        assert!(
            matches!(
                v.source(),
                VarSource::LabelValues { .. } | VarSource::QueryResult { .. }
            ),
            "{} {}: {:?}",
            v.dashboard,
            v.name,
            v.source()
        );
    }
    assert!(
        panel_queries(&dashboards_dir())
            .iter()
            .all(|(_, t, e)| !t.is_empty() && !e.is_empty())
    );
}
