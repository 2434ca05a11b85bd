//! "Copy as Markdown": a signature as a bug-report body (the metadata,
//! Apple's insight and each log's call-stack tree), for
//! `GET /api/v1/signatures/{id}.md` and the signature page's copy button.
//!
//! Apple's strings go into the Markdown as text: inline values in code
//! spans (backticks in them widen the fence, so nothing breaks out of the
//! span), the trees in fenced blocks whose fence is longer than any run of
//! backticks inside. No HTML is produced.

use std::fmt::Write as _;

use crate::asc::model::callstack::call_stack_trees;
use crate::refresh::snapshot::{AppSnapshot, BuildSnapshot};

use super::views::{log_entries, signature_detail};
use crate::asc::model::DiagnosticSignature;

/// At most this many logs' trees go into one report.
const MAX_LOGS: usize = 3;

pub fn signature_markdown(a: &AppSnapshot, b: &BuildSnapshot, sig: &DiagnosticSignature) -> String {
    let d = signature_detail(a, b, sig);
    let s = &d.signature;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} signature {}\n",
        s.diagnostic_type,
        code(&s.signature)
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let row = |out: &mut String, k: &str, v: &str| {
        let _ = writeln!(out, "| {k} | {} |", code(v));
    };
    row(&mut out, "App", &format!("{} ({})", a.app.name, a.app.id));
    row(&mut out, "Bundle id", &a.app.bundle_id);
    row(
        &mut out,
        "Build",
        &format!("{} ({})", s.build, s.version.as_deref().unwrap_or("?")),
    );
    row(&mut out, "Type", &s.diagnostic_type);
    row(&mut out, "Weight", &format!("{:.2}%", s.weight * 100.0));
    row(&mut out, "Signature id", &s.id);
    if let Some(i) = &s.insight {
        let versions: Vec<String> = i
            .reference_versions
            .iter()
            .map(|v| format!("{} {:.2}%", v.version, v.weight * 100.0))
            .collect();
        row(
            &mut out,
            "Apple's insight",
            &format!(
                "{} {} (reference versions: {})",
                i.insight_type.as_deref().unwrap_or(""),
                i.direction.as_deref().unwrap_or(""),
                if versions.is_empty() {
                    "none".to_string()
                } else {
                    versions.join(", ")
                }
            ),
        );
    }
    for i in &d.apple_insights {
        let _ = writeln!(
            out,
            "\n> {} {}{}",
            code(i.category.as_deref().unwrap_or("insight")),
            code(i.text.as_deref().unwrap_or("")),
            i.url
                .as_deref()
                .map(|u| format!(" ({})", code(u)))
                .unwrap_or_default()
        );
    }
    let logs = log_entries(b, &sig.id);
    if logs.is_empty() {
        let _ = writeln!(out, "\nNo logs fetched for this signature.");
    }
    for (n, l) in logs.iter().take(MAX_LOGS).enumerate() {
        let m = &l.diagnostic_meta_data;
        let _ = writeln!(
            out,
            "\n### Log {} of {}: {} on {} ({}), app {} ({})\n",
            n + 1,
            logs.len(),
            code(m.event.as_deref().unwrap_or("event")),
            code(m.device_type.as_deref().unwrap_or("?")),
            code(m.os_version.as_deref().unwrap_or("?")),
            code(m.app_version.as_deref().unwrap_or("?")),
            code(m.build_version.as_deref().unwrap_or("?")),
        );
        if let Some(detail) = &m.event_detail {
            let _ = writeln!(out, "{}\n", code(detail));
        }
        let tree = call_stack_trees(&l.call_stack_tree, "");
        let fence = "`".repeat(longest_run(&tree, '`').max(2) + 1);
        let _ = writeln!(out, "{fence}text\n{}{fence}", tree);
    }
    if logs.len() > MAX_LOGS {
        let _ = writeln!(
            out,
            "\n({} more logs: {})",
            logs.len() - MAX_LOGS,
            code(&s.links.logs)
        );
    }
    out
}

/// `s` as a Markdown code span: a fence of one more backtick than the
/// longest run inside, padded with spaces when `s` starts or ends with one.
/// Line breaks become spaces (a span is one line here).
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.is_empty() {
        return "` `".to_string();
    }
    let fence = "`".repeat(longest_run(&s, '`') + 1);
    if s.starts_with('`') || s.ends_with('`') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_hold_any_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(code("line\nbreak"), "`line break`");
        assert_eq!(code(""), "` `");
    }
}
