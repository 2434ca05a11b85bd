//! The explorer's HTML pages, rendered on the server from the views
//! ([`super::views`]): `/apps/{id}`, `/diagnostics`, `/diagnostics/{id}`.
//! No script framework and no build step: call-stack trees are nested
//! `<details>` (collapsible by mouse and keyboard without script); the one
//! script copies the Markdown report. Every string from Apple or the
//! configuration goes through [`esc`] (or [`seg`] in URLs).

use std::fmt::Write as _;

use crate::asc::model::CallStackNode;
use crate::asc::model::DiagnosticSignature;
use crate::refresh::snapshot::{AppSnapshot, BuildSnapshot, Snapshot};

use super::html::{age, esc, page, pct, seg, when};
use super::markdown::signature_markdown;
use super::svg;
use super::views::{self, SignatureFilter};

fn opt(s: Option<&str>) -> String {
    esc(s.unwrap_or("–"))
}

/// `/apps/{id}`: status, insights, top call sites, each metric across
/// versions as small charts, the newest builds.
pub fn app_page(a: &AppSnapshot, now: f64) -> String {
    let d = views::app_detail(a, now);
    let s = &d.summary;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{}</h1>\n<p><code>{}</code> · <code>{}</code> · latest version <strong>{}</strong> · data {} ({})</p>\n",
        esc(&s.name),
        esc(&s.id),
        esc(&s.bundle_id),
        opt(s.latest_version.as_deref()),
        s.data_age_seconds
            .map(age)
            .map(|a| format!("{a} old"))
            .unwrap_or_else(|| "never fetched".into()),
        esc(&when(s.last_success_unix)),
    );
    if s.refresh_failed {
        let _ = writeln!(
            b,
            "<p class=bad role=status>The latest refresh failed: {}. This is the last good data.</p>",
            opt(s.last_error.as_deref())
        );
    }
    b.push_str("<h2 id=insights>Active insights</h2>\n");
    if s.regressions.is_empty() && s.trending_up.is_empty() {
        b.push_str("<p class=muted>No regression or trend Apple reports.</p>\n");
    } else {
        b.push_str("<table><thead><tr><th scope=col>Kind</th><th scope=col>Metric</th><th scope=col>Version</th><th scope=col>Apple's summary</th><th scope=col>Worst change</th></tr></thead><tbody>\n");
        for i in s.regressions.iter().chain(&s.trending_up) {
            let worst = i
                .populations
                .iter()
                .filter_map(|p| p.delta_percentage)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
            let _ = writeln!(
                b,
                "<tr><td>{}{}</td><td>{} <span class=muted>({})</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(i.kind),
                if i.high_impact {
                    " <span class=high>high impact</span>"
                } else {
                    ""
                },
                opt(i.metric.as_deref()),
                opt(i.category.as_deref()),
                opt(i.latest_version.as_deref()),
                opt(i.summary.as_deref()),
                worst
                    .map(|w| format!("+{w:.1} %"))
                    .unwrap_or_else(|| "–".into()),
            );
        }
        b.push_str("</tbody></table>\n");
    }
    b.push_str("<h2 id=call-sites>Top call sites (performance overview)</h2>\n");
    call_site_table(&mut b, &s.top_call_sites);
    b.push_str("<h2 id=metrics>Metrics across versions</h2>\n<p class=muted>p50 and p90 of the first device Apple reports for each metric; bars: error margin; shaded: Apple's goal bands (good, fair, poor); dashed: Apple's recommended goal; the latest version is marked.</p>\n<div class=charts>\n");
    for m in &d.metrics {
        b.push_str(&svg::metric_chart(m));
    }
    b.push_str("</div>\n<h2 id=builds>Newest builds</h2>\n");
    if d.builds.is_empty() {
        b.push_str("<p class=muted>No build followed.</p>\n");
    } else {
        b.push_str("<table><thead><tr><th scope=col>Build</th><th scope=col>Version</th><th scope=col>Uploaded</th><th scope=col>State</th><th scope=col>Metrics</th><th scope=col>Signatures</th></tr></thead><tbody>\n");
        for bv in &d.builds {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/diagnostics?app={}&amp;build={}\">{}</a></td></tr>",
                esc(&bv.number),
                opt(bv.version.as_deref()),
                opt(bv.uploaded_date.as_deref()),
                opt(bv.processing_state.as_deref()),
                if bv.has_metrics {
                    "yes"
                } else {
                    "not measured"
                },
                seg(&s.id),
                seg(&bv.id),
                bv.signatures,
            );
        }
        b.push_str("</tbody></table>\n");
    }
    page(&s.name, &b)
}

fn call_site_table(b: &mut String, sites: &[views::CallSite]) {
    if sites.is_empty() {
        b.push_str("<p class=muted>No call sites: no performance overview for this app (not measured, or <code>refresh.overview</code> is off).</p>\n");
        return;
    }
    b.push_str("<table><thead><tr><th scope=col>Type</th><th scope=col>File:line</th><th scope=col>Signature</th><th scope=col>Weight</th><th scope=col>Count</th><th scope=col>Trend</th></tr></thead><tbody>\n");
    for c in sites {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(c.diagnostic_type),
            opt(c.location.as_deref()),
            esc(&c.signature),
            c.weight.map(pct).unwrap_or_else(|| "–".into()),
            c.count.map(|n| n.to_string()).unwrap_or_else(|| "–".into()),
            esc(&c.trend),
        );
    }
    b.push_str("</tbody></table>\n");
}

/// `/diagnostics`: signatures by weight per build and type, with each
/// signature's weight in the app's other followed builds (its trend).
pub fn diagnostics_page(s: &Snapshot, filter: &SignatureFilter) -> String {
    let list = views::signature_list(s, filter);
    let mut b = String::from("<h1>Diagnostic signatures</h1>\n");
    let _ = writeln!(
        b,
        "<p class=muted>{} signatures of the builds the exporter follows, heaviest first per build. JSON: <a href=\"/api/v1/signatures\">/api/v1/signatures</a>.</p>",
        list.signatures.len()
    );
    let mut current = (String::new(), String::new());
    for sig in &list.signatures {
        if (sig.app_id.clone(), sig.build_id.clone()) != current {
            if !current.0.is_empty() {
                b.push_str("</tbody></table>\n");
            }
            current = (sig.app_id.clone(), sig.build_id.clone());
            let _ = writeln!(
                b,
                "<h2><a href=\"/apps/{}\">{}</a> build {} ({})</h2>\n<table><thead><tr><th scope=col>Type</th><th scope=col>Weight</th><th scope=col>Signature</th><th scope=col>Across builds</th><th scope=col>Logs</th></tr></thead><tbody>",
                seg(&sig.app_id),
                esc(&sig.app),
                esc(&sig.build),
                opt(sig.version.as_deref())
            );
        }
        let across = s
            .app(&sig.app_id)
            .map(|a| {
                a.builds
                    .iter()
                    .filter_map(|bs| {
                        bs.signatures
                            .iter()
                            .find(|x| x.id == sig.id)
                            .map(|x| format!("{} {}", esc(&bs.build.number), pct(x.weight())))
                    })
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td><a href=\"/diagnostics/{}\"><code>{}</code></a></td><td>{across}</td><td>{}</td></tr>",
            esc(&sig.diagnostic_type),
            pct(sig.weight),
            seg(&sig.id),
            esc(&sig.signature),
            sig.logs,
        );
    }
    if !current.0.is_empty() {
        b.push_str("</tbody></table>\n");
    }
    page("Diagnostics", &b)
}

/// `/diagnostics/{id}`: the signature, Apple's insight, each log's
/// metadata and call-stack tree, the flame graph link, copy as Markdown.
pub fn signature_page(a: &AppSnapshot, build: &BuildSnapshot, sig: &DiagnosticSignature) -> String {
    let d = views::signature_detail(a, build, sig);
    let s = &d.signature;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1><code>{}</code></h1>\n<table><tbody>\
         <tr><th scope=row>App</th><td><a href=\"/apps/{}\">{}</a></td></tr>\
         <tr><th scope=row>Build</th><td>{} ({})</td></tr>\
         <tr><th scope=row>Type</th><td>{}</td></tr>\
         <tr><th scope=row>Weight</th><td>{}</td></tr>\
         <tr><th scope=row>Signature id</th><td><code>{}</code></td></tr>",
        esc(&s.signature),
        seg(&s.app_id),
        esc(&s.app),
        esc(&s.build),
        opt(s.version.as_deref()),
        esc(&s.diagnostic_type),
        pct(s.weight),
        esc(&s.id),
    );
    if let Some(i) = &s.insight {
        let versions: Vec<String> = i
            .reference_versions
            .iter()
            .map(|v| format!("{} {}", esc(&v.version), pct(v.weight)))
            .collect();
        let _ = write!(
            b,
            "<tr><th scope=row>Apple's insight</th><td>{} {} <span class=muted>{}</span></td></tr>",
            opt(i.insight_type.as_deref()),
            opt(i.direction.as_deref()),
            versions.join(" · ")
        );
    }
    b.push_str("</tbody></table>\n");
    for i in &d.apple_insights {
        let link = i
            .url
            .as_deref()
            .filter(|u| u.starts_with("https://"))
            .map(|u| {
                format!(
                    " <a href=\"{}\" rel=\"noopener noreferrer\">Apple's article</a>",
                    esc(u)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            b,
            "<p><strong>{}</strong>: {}{link}</p>",
            opt(i.category.as_deref()),
            opt(i.text.as_deref())
        );
    }
    let _ = writeln!(
        b,
        "<p><a href=\"/diagnostics/{id}/flamegraph.svg\">Flame graph</a> · <a href=\"/api/v1/signatures/{id}.md\">Markdown</a> · \
         <button type=button id=copy>Copy as Markdown</button> · <a href=\"/api/v1/signatures/{id}\">JSON</a></p>\n\
         <pre id=markdown hidden>{}</pre>\n\
         <script>document.getElementById('copy').addEventListener('click',function(){{\
         navigator.clipboard.writeText(document.getElementById('markdown').textContent).then(function(){{\
         document.getElementById('copy').textContent='Copied';}});}});</script>",
        esc(&signature_markdown(a, build, sig)),
        id = seg(&s.id),
    );
    let logs = views::log_entries(build, &sig.id);
    if logs.is_empty() {
        b.push_str("<p class=muted>No logs fetched for this signature (<code>diagnostics.logs</code>).</p>\n");
    }
    for (n, (log, meta)) in logs.iter().zip(&d.log_metadata).enumerate() {
        let _ = writeln!(
            b,
            "<section aria-labelledby=log{n}><h2 id=log{n}>Log {} of {}</h2>\n<p>{} · {} · iOS {} · app {} ({}) · {} frames, {} blame</p>",
            n + 1,
            logs.len(),
            opt(meta.event.as_deref()),
            opt(meta.device_type.as_deref()),
            opt(meta.os_version.as_deref()),
            opt(meta.app_version.as_deref()),
            opt(meta.build_version.as_deref()),
            meta.frames,
            meta.blame_frames,
        );
        if let Some(detail) = &meta.event_detail {
            let _ = writeln!(b, "<p class=muted>{}</p>", esc(detail));
        }
        b.push_str("<div class=tree>\n");
        for tree in &log.call_stack_tree {
            for (i, stack) in tree.call_stacks.iter().enumerate() {
                let _ = writeln!(b, "<details open><summary>Call stack {}</summary>", i + 1);
                for root in &stack.call_stack_root_frames {
                    frames_html(&mut b, root);
                }
                b.push_str("</details>\n");
            }
        }
        b.push_str("</div></section>\n");
    }
    page(&s.signature, &b)
}

/// One frame and its sub-frames as nested `<details>` (a leaf as a line),
/// iteratively: Apple's trees can be thousands of frames deep. Blame
/// frames carry the class `blame` and a `▶`; the paths to them are open.
fn frames_html(out: &mut String, root: &CallStackNode) {
    enum Step<'a> {
        Open(&'a CallStackNode),
        Close,
    }
    let mut stack = vec![Step::Open(root)];
    while let Some(step) = stack.pop() {
        let node = match step {
            Step::Close => {
                out.push_str("</details>\n");
                continue;
            }
            Step::Open(n) => n,
        };
        let blame = node.is_blame();
        let label = format!(
            "<span class=count>{}</span><span class=frame>{}{}</span>",
            node.sample_count.map(|c| c.to_string()).unwrap_or_default(),
            if blame { "▶ " } else { "" },
            esc(&node.display())
        );
        if node.sub_frames.is_empty() {
            let _ = writeln!(
                out,
                "<div class=\"leaf{}\">{label}</div>",
                if blame { " blame" } else { "" }
            );
            continue;
        }
        let _ = writeln!(
            out,
            "<details{}{}><summary>{label}</summary>",
            if blame { " class=blame" } else { "" },
            if contains_blame(node) { " open" } else { "" },
        );
        stack.push(Step::Close);
        for child in node.sub_frames.iter().rev() {
            stack.push(Step::Open(child));
        }
    }
}

/// Whether a blame frame is at or below `node` (iteratively).
fn contains_blame(node: &CallStackNode) -> bool {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.is_blame() {
            return true;
        }
        stack.extend(n.sub_frames.iter());
    }
    false
}
