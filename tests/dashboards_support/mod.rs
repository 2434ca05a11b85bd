//! Reading the Grafana dashboards in `dashboards/*.json`: their panel queries,
//! their template variables, and filling variables into a query.
//!
//! Used by the static checks in `tests/dashboards.rs` and by end-to-end tests
//! that run every panel query against a real Prometheus.
//!
//! # Running the panel queries end to end
//!
//! 1. [`panel_queries`] lists every `(dashboard file, panel title, expr)`; the
//!    expr still holds Grafana variables (`$app_id`, `${device}`,
//!    `$__rate_interval`, ...).
//! 2. Resolve the dashboard's variables **in the order of
//!    [`variables`]** (the dashboard's `templating.list` order: a variable's
//!    query only uses variables defined before it, which the static test
//!    checks). For each [`Variable`], [`Variable::source`] says where its values
//!    come from:
//!    - [`VarSource::Datasource`] (`datasource`): not used in exprs; ignore.
//!    - [`VarSource::LabelValues`] `{ selector, label }`: Grafana's
//!      `label_values(selector, label)`. Fill the variables already resolved
//!      into `selector` with [`fill_vars`], then take the values of `label`
//!      from `GET /api/v1/series?match[]=<selector>` (or
//!      `/api/v1/label/<label>/values?match[]=<selector>`).
//!    - [`VarSource::QueryResult`] `{ expr, value_label }`: Grafana's
//!      `query_result(expr)` with a regex whose `value` group captures the
//!      label `value_label` (the `text` group is only the display name, e.g.
//!      `app_id` shown as the `app` name). Fill `expr`, run it as an instant
//!      query (`/api/v1/query`) and take `value_label` of each result series.
//!    - [`VarSource::Custom`]: the fixed values listed (e.g. `top`: 5, 10, 20).
//!
//!    Pick one value per variable (for multi-value variables one value is a
//!    valid selection too; `Variable::all_value` is what "All" sends, a regex
//!    such as `.+`, and is also a valid value). Exprs use `=~` wherever a
//!    variable may be multi-valued.
//! 3. [`fill_vars`] the expr with those values; Grafana's built-ins get fixed
//!    stand-ins (`$__rate_interval` → `5m`, `$__interval` → `1m`, `$__range` →
//!    `1h`, ...) unless the map gives them.
//!
//! Variables per dashboard (all dashboards have `datasource`):
//! - overview: `app_id` (query_result, multi), `device`, `percentile` (label_values, single),
//!   `category` (label_values, multi);
//! - versions: `app_id` (single), `version` (multi), `device` (multi);
//! - regressions: `app_id`, `category`, `device`, `percentile` (all multi);
//! - diagnostics: `app_id` (single), `version` (multi), `build` (single), `diagnostic_type` (multi),
//!   `signature_id` (query_result, multi), `top` (custom);
//! - exporter-health: `job` (label_values of `asc_exporter_build_info`, multi), `app_id` (multi).
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Grafana's built-in variables a dashboard may use without defining them.
pub const BUILTIN_VARS: &[&str] = &[
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__rate_interval_ms",
    "__range",
    "__range_s",
    "__range_ms",
    "__from",
    "__to",
    "__dashboard",
    "__org",
    "__user",
    "__timeFilter",
    "__url_time_range",
    "__all_variables",
    "__data",
    "__value",
    "__field",
    "__series",
];

/// Stand-ins [`fill_vars`] uses for built-ins the caller does not give.
pub const BUILTIN_DEFAULTS: &[(&str, &str)] = &[
    ("__rate_interval", "5m"),
    ("__interval", "1m"),
    ("__interval_ms", "60000"),
    ("__rate_interval_ms", "300000"),
    ("__range", "1h"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
    ("__url_time_range", "from=now-1h&to=now"),
];

/// The repository's `dashboards/` directory.
pub fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Every `*.json` file in `dir`, sorted by name.
pub fn dashboard_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// The file name of a dashboard path (`overview.json`).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses one dashboard file.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: invalid JSON: {e}", path.display()))
}

/// Every panel of a dashboard, rows and the panels nested in (collapsed)
/// rows included, in document order.
pub fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for p in panels.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(inner) = p.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(p) = dashboard.get("panels") {
        walk(p, &mut out);
    }
    out
}

/// `(dashboard file name, panel title, expr)` of every query target of every
/// panel in `dir/*.json` (nested panels included), with the variables still in
/// the expr. Targets without an `expr` are skipped; a target Grafana would not
/// run (`"hide": true`) is kept.
pub fn panel_queries(dir: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for path in dashboard_files(dir) {
        let dash = load(&path).unwrap_or_else(|e| panic!("{e}"));
        for panel in all_panels(&dash) {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            for t in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((file_name(&path), title.clone(), expr.to_string()));
                }
            }
        }
    }
    out
}

/// Where a template variable's values come from; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    /// A datasource picker.
    Datasource,
    /// `label_values(selector, label)`; `selector` is `None` for
    /// `label_values(label)`.
    LabelValues {
        selector: Option<String>,
        label: String,
    },
    /// `query_result(expr)`; the variable's value is the `value_label` label of
    /// each result series.
    QueryResult { expr: String, value_label: String },
    /// Fixed values.
    Custom(Vec<String>),
    /// Anything else (kept as the raw query).
    Other(String),
}

/// One template variable of one dashboard.
#[derive(Debug, Clone)]
pub struct Variable {
    pub dashboard: String,
    pub name: String,
    /// Grafana's variable type: `datasource`, `query`, `custom`, ...
    pub kind: String,
    /// The raw query (`label_values(...)`, `query_result(...)`, the custom list).
    pub query: String,
    /// Grafana's regex on the results (`/.../`), empty when none.
    pub regex: String,
    pub multi: bool,
    pub include_all: bool,
    /// The value "All" sends, when the variable has an "All" option with a
    /// custom value.
    pub all_value: Option<String>,
}

impl Variable {
    /// Where the values come from.
    pub fn source(&self) -> VarSource {
        match self.kind.as_str() {
            "datasource" => VarSource::Datasource,
            "custom" => VarSource::Custom(
                self.query
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            _ => parse_var_query(&self.query, &self.regex),
        }
    }
}

fn call_args<'a>(query: &'a str, func: &str) -> Option<&'a str> {
    let q = query.trim();
    let rest = q.strip_prefix(func)?.trim_start();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.trim())
}

fn parse_var_query(query: &str, regex: &str) -> VarSource {
    if let Some(args) = call_args(query, "label_values") {
        // The label is after the last top-level comma.
        let mut depth = 0i32;
        let mut in_str = false;
        let mut split = None;
        let mut prev = ' ';
        for (i, c) in args.char_indices() {
            match c {
                '"' if prev != '\\' => in_str = !in_str,
                '(' | '{' | '[' if !in_str => depth += 1,
                ')' | '}' | ']' if !in_str => depth -= 1,
                ',' if !in_str && depth == 0 => split = Some(i),
                _ => {}
            }
            prev = c;
        }
        return match split {
            Some(i) => VarSource::LabelValues {
                selector: Some(args[..i].trim().to_string()),
                label: args[i + 1..].trim().to_string(),
            },
            None => VarSource::LabelValues {
                selector: None,
                label: args.to_string(),
            },
        };
    }
    if let Some(expr) = call_args(query, "query_result") {
        // The regex's value group follows `<label>="`.
        if let Some(pos) = regex.find("=\"(?<value>") {
            let before = &regex[..pos];
            let label: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !label.is_empty() {
                return VarSource::QueryResult {
                    expr: expr.to_string(),
                    value_label: label,
                };
            }
        }
    }
    VarSource::Other(query.to_string())
}

/// The query string of a variable (`query` may be a string or Grafana's
/// `{ "query": ... }` object).
pub fn var_query(v: &Value) -> String {
    match &v["query"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// The template variables of one parsed dashboard, in `templating.list` order.
pub fn dashboard_variables(dashboard_name: &str, dash: &Value) -> Vec<Variable> {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| Variable {
            dashboard: dashboard_name.to_string(),
            name: v["name"].as_str().unwrap_or_default().to_string(),
            kind: v["type"].as_str().unwrap_or_default().to_string(),
            query: var_query(v),
            regex: v["regex"].as_str().unwrap_or_default().to_string(),
            multi: v["multi"].as_bool().unwrap_or(false),
            include_all: v["includeAll"].as_bool().unwrap_or(false),
            all_value: v["allValue"].as_str().map(str::to_string),
        })
        .collect()
}

/// The template variables of every dashboard in `dir`, per dashboard in
/// `templating.list` order (resolve them in this order).
pub fn variables(dir: &Path) -> Vec<Variable> {
    let mut out = Vec::new();
    for path in dashboard_files(dir) {
        let dash = load(&path).unwrap_or_else(|e| panic!("{e}"));
        out.extend(dashboard_variables(&file_name(&path), &dash));
    }
    out
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// One variable reference in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// Byte range of the whole reference (`${app_id:regex}`).
    pub start: usize,
    pub end: usize,
    /// The variable name (`app_id`; `__data` for `${__data.fields.x}`).
    pub name: String,
    /// The format after `:` (`regex`, `queryparam`, ...), if any.
    pub format: Option<String>,
    /// Anything after the name in `${name.path}` (`.fields.x`).
    pub path: Option<String>,
}

/// Every Grafana variable reference in `text`: `$var`, `${var}`,
/// `${var:format}`, `${var.path}` and `[[var]]` / `[[var:format]]`. `$1`-style
/// regex back-references (PromQL `label_replace`) are not variables.
pub fn var_refs(text: &str) -> Vec<VarRef> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == '$' && i + 1 < b.len() {
            let n = b[i + 1] as char;
            if n == '{' {
                if let Some(close) = text[i + 2..].find('}') {
                    let inner = &text[i + 2..i + 2 + close];
                    let name_end = inner.find([':', '.']).unwrap_or(inner.len());
                    let name = &inner[..name_end];
                    let (format, path) = match inner[name_end..].chars().next() {
                        Some(':') => (Some(inner[name_end + 1..].to_string()), None),
                        Some('.') => (None, Some(inner[name_end..].to_string())),
                        _ => (None, None),
                    };
                    if name.starts_with(is_ident_start) && name.chars().all(is_ident) {
                        out.push(VarRef {
                            start: i,
                            end: i + 3 + close,
                            name: name.to_string(),
                            format,
                            path,
                        });
                    }
                    i += 3 + close;
                    continue;
                }
            } else if is_ident_start(n) {
                let len = text[i + 1..]
                    .find(|c: char| !is_ident(c))
                    .unwrap_or(text.len() - i - 1);
                out.push(VarRef {
                    start: i,
                    end: i + 1 + len,
                    name: text[i + 1..i + 1 + len].to_string(),
                    format: None,
                    path: None,
                });
                i += 1 + len;
                continue;
            }
        } else if c == '['
            && text[i..].starts_with("[[")
            && let Some(close) = text[i + 2..].find("]]")
        {
            let inner = &text[i + 2..i + 2 + close];
            let (name, format) = match inner.split_once(':') {
                Some((n, f)) => (n, Some(f.to_string())),
                None => (inner, None),
            };
            if name.starts_with(is_ident_start) && name.chars().all(is_ident) {
                out.push(VarRef {
                    start: i,
                    end: i + 4 + close,
                    name: name.to_string(),
                    format,
                    path: None,
                });
                i += 4 + close;
                continue;
            }
        }
        i += c.len_utf8().max(1);
        while i < b.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    out
}

/// Escapes regex metacharacters the way Grafana's `${var:regex}` does.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\^$.|?*+()[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Replaces Grafana variables in `expr` with values from `vars` (variable
/// name without `$` → value): `$var`, `${var}`, `${var:format}` (`regex`
/// escapes regex metacharacters, `queryparam` gives `var-<name>=<value>`, any
/// other format inserts the value as-is), and `[[var]]`. Built-ins not in
/// `vars` get the stand-ins of [`BUILTIN_DEFAULTS`] (`$__rate_interval` →
/// `5m`, `$__interval` → `1m`, `$__range` → `1h`). References to variables
/// neither given nor built in, and `$1` back-references, are left as they are.
pub fn fill_vars(expr: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut last = 0;
    for r in var_refs(expr) {
        let value = vars.get(&r.name).cloned().or_else(|| {
            BUILTIN_DEFAULTS
                .iter()
                .find(|(n, _)| *n == r.name)
                .map(|(_, v)| v.to_string())
        });
        let Some(value) = value else { continue };
        if r.path.is_some() {
            continue;
        }
        out.push_str(&expr[last..r.start]);
        match r.format.as_deref() {
            Some("regex") => out.push_str(&regex_escape(&value)),
            Some("queryparam") => {
                out.push_str(&format!("var-{}={}", r.name, value));
            }
            _ => out.push_str(&value),
        }
        last = r.end;
    }
    out.push_str(&expr[last..]);
    out
}

/// A metric name referenced in a PromQL expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    /// The literal metric name (`asc_launch_time_seconds`), or the regex of a
    /// `{__name__=~"..."}` matcher.
    pub name: String,
    /// True for a `__name__=~` regex.
    pub is_regex: bool,
    /// The label matchers in braces after the name (or the braces holding the
    /// `__name__` matcher), without the braces; empty when none.
    pub matchers: String,
}

const PROMQL_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
];

/// Every metric name in a PromQL expression (after [`fill_vars`] or not):
/// identifiers outside strings, label matchers, durations and grouping label
/// lists that are not function calls or keywords, plus the regexes of
/// `__name__=~` matchers. Variables (`$x`) are skipped.
pub fn metric_refs(expr: &str) -> Vec<MetricRef> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut skip_next_paren = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
            continue;
        }
        if c == '$' {
            // A variable: skip `$name`, `${...}`.
            i += 1;
            if i < chars.len() && chars[i] == '{' {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
            continue;
        }
        if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '{' {
            let (body, end) = braces(&chars, i);
            if let Some(re) = name_matcher(&body) {
                out.push(MetricRef {
                    name: re,
                    is_regex: true,
                    matchers: body.clone(),
                });
            }
            i = end;
            continue;
        }
        if c == '(' && skip_next_paren {
            skip_next_paren = false;
            let mut depth = 0;
            while i < chars.len() {
                match chars[i] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            // Numbers and durations (`0.05`, `1e3`, `90d`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if is_ident_start(c) || c == ':' {
            let start = i;
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let lower = word.to_ascii_lowercase();
            if PROMQL_KEYWORDS.contains(&lower.as_str()) {
                if matches!(
                    lower.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    skip_next_paren = j < chars.len() && chars[j] == '(';
                }
                continue;
            }
            if j < chars.len() && chars[j] == '(' {
                // A function or aggregation.
                continue;
            }
            let next_word: String = chars[j..].iter().take_while(|c| is_ident(**c)).collect();
            if matches!(next_word.as_str(), "by" | "without") {
                // An aggregation with its grouping first: `topk by (x) (...)`.
                continue;
            }
            let matchers = if j < chars.len() && chars[j] == '{' {
                let (body, end) = braces(&chars, j);
                i = end;
                body
            } else {
                String::new()
            };
            out.push(MetricRef {
                name: word,
                is_regex: false,
                matchers,
            });
            continue;
        }
        i += 1;
    }
    out
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let q = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '\\' && q != '`' {
            i += 2;
            continue;
        }
        if chars[i] == q {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// The text inside `{...}` starting at `start`, and the index after `}`.
fn braces(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start + 1;
    while i < chars.len() && chars[i] != '}' {
        if chars[i] == '"' || chars[i] == '\'' || chars[i] == '`' {
            i = skip_string(chars, i);
            continue;
        }
        i += 1;
    }
    let body: String = chars[start + 1..i.min(chars.len())].iter().collect();
    (body, (i + 1).min(chars.len()))
}

/// The regex of a `__name__=~"..."` (or the name of `__name__="..."`) matcher.
fn name_matcher(body: &str) -> Option<String> {
    for m in split_matchers(body) {
        let m = m.trim();
        if let Some(rest) = m.strip_prefix("__name__") {
            let rest = rest.trim_start();
            let (op_len, _) = if rest.starts_with("=~") {
                (2, true)
            } else if rest.starts_with("!=") || rest.starts_with("!~") {
                continue;
            } else if rest.starts_with('=') {
                (1, false)
            } else {
                continue;
            };
            let v = rest[op_len..].trim();
            return Some(unquote(v));
        }
    }
    None
}

/// The matchers of a `{...}` body, split on top-level commas.
pub fn split_matchers(body: &str) -> Vec<String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let end = skip_string(&chars, i);
            cur.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if c == ',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 {
        let q = v.chars().next().unwrap_or('"');
        if (q == '"' || q == '\'' || q == '`') && v.ends_with(q) {
            return v[1..v.len() - 1].replace("\\\\", "\\");
        }
    }
    v.to_string()
}
