//! The settings table of `docs/configuration.md`, generated from the
//! declaration (`tests/config.rs` fails when the file is stale and says how
//! to regenerate it).

use serde_json::Value;

use super::{Config, DEMO_DEFAULTS, Setting, load};

/// Marks the generated part of `docs/configuration.md`.
pub const BEGIN: &str =
    "<!-- BEGIN GENERATED: settings (UPDATE_DOCS=1 cargo test --test config docs) -->";
pub const END: &str = "<!-- END GENERATED: settings -->";

/// The value of `key` in `tree` (dotted path).
pub fn lookup<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(tree, |node, part| node.get(part))
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) if s.is_empty() => "none".into(),
        Value::String(s) => format!("`{s}`"),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => format!(
            "`{}`",
            a.iter()
                .map(|x| x
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string()))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Object(m) if m.is_empty() => "none".into(),
        other => format!("`{other}`"),
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn flag_cell(s: &Setting) -> String {
    let Some(flag) = s.flag_name() else {
        return "–".into();
    };
    let mut cell = format!("`{flag}`");
    if s.is_list() {
        cell.push_str(" (repeatable)");
    }
    if !s.global.is_empty() {
        let own: Vec<String> = s.aliases.iter().map(|a| format!("`--{a}`")).collect();
        cell.push_str(&format!(", or {} in every command", own.join(", ")));
    }
    cell
}

fn env_cell(s: &Setting) -> String {
    if s.env.is_empty() {
        return "–".into();
    }
    let names: Vec<String> = s.env.iter().map(|e| format!("`{e}`")).collect();
    let mut cell = names.join(" or ");
    if s.is_list() {
        cell.push_str(" (comma-separated)");
    }
    if s.key == "log.level" {
        cell.push_str("; `RUST_LOG` wins over every source");
    }
    cell
}

/// The generated markdown: the settings table, then the older flag names
/// still accepted.
pub fn markdown() -> String {
    let defaults = serde_json::to_value(Config::default()).expect("the defaults serialize");
    let mut out = String::new();
    out.push_str("| key | flag | environment | default | meaning |\n");
    out.push_str("|---|---|---|---|---|\n");
    for s in load::all() {
        let mut default = lookup(&defaults, s.key).map(show).unwrap_or_default();
        if let Some((_, demo)) = DEMO_DEFAULTS.iter().find(|(k, _)| *k == s.key) {
            default.push_str(&format!(" (`{demo}` with `--demo`)"));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.key,
            flag_cell(s),
            env_cell(s),
            escape(&default),
            escape(&s.doc_line())
        ));
    }
    out.push_str("\nOlder flag names, still accepted (hidden from `--help`): ");
    let old: Vec<String> = load::all()
        .filter(|s| s.global.is_empty())
        .flat_map(|s| {
            s.aliases
                .iter()
                .map(move |a| format!("`--{a}` (`--{}`)", s.flag))
        })
        .collect();
    out.push_str(&old.join(", "));
    out.push_str(".\n");
    out
}

/// `text` with its generated part replaced by [`markdown`]; `None` when the
/// markers are missing.
pub fn regenerate(text: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = text[start..].find(END)? + start;
    Some(format!(
        "{}\n{}{}",
        &text[..start],
        markdown(),
        &text[end..]
    ))
}
