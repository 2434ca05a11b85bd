//! Server-rendered SVG: a metric across versions ([`metric_chart`]) and a
//! signature's flame graph ([`flamegraph`], drawn by the `inferno` crate
//! from folded stacks). Hand-written charts: a polyline and a few marks per
//! metric do not justify a plotting crate, and each string is escaped here.

use std::fmt::Write as _;

use crate::asc::api::natural_cmp;
use crate::asc::model::{CallStackNode, DiagnosticLogs};

use super::html::esc;
use super::views::{DatasetView, MetricView};

const W: f64 = 320.0;
const H: f64 = 140.0;
const PAD: f64 = 28.0;

/// A metric's p50 and p90 across versions, for the first device Apple
/// reports (`all_iphones` when present): lines with error-margin bars,
/// Apple's goal bands shaded, the recommended goal dashed, the latest
/// version marked. A `<figure>` with
/// a caption and a text alternative.
pub fn metric_chart(m: &MetricView) -> String {
    let device = m
        .datasets
        .iter()
        .find(|d| d.device == "all_iphones")
        .or(m.datasets.first())
        .map(|d| d.device.clone())
        .unwrap_or_default();
    let series: Vec<&DatasetView> = m
        .datasets
        .iter()
        .filter(|d| d.device == device && (d.percentile == "p50" || d.percentile == "p90"))
        .collect();
    let mut versions: Vec<&str> = series
        .iter()
        .flat_map(|d| d.points.iter())
        .filter_map(|p| p.version.as_deref())
        .collect();
    versions.sort_by(|a, b| natural_cmp(a, b));
    versions.dedup();
    let values = series.iter().flat_map(|d| {
        d.points
            .iter()
            .filter_map(|p| p.value.map(|v| (v, p.error_margin.unwrap_or(0.0))))
            .flat_map(|(v, e)| [v - e, v + e])
            .chain(d.recommended_goal)
    });
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let title = format!("{} ({}, {})", m.metric, m.category, unit_or_none(&m.unit));
    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=chart><figcaption><strong>{}</strong> <span class=muted>{} · {}</span></figcaption>",
        esc(&m.metric),
        esc(&m.category),
        esc(&format!("{} · {}", device, unit_or_none(&m.unit)))
    );
    if versions.is_empty() || !lo.is_finite() {
        out.push_str("<p class=muted>No points.</p></figure>\n");
        return out;
    }
    let (lo, hi) = if hi > lo {
        (lo.min(0.0), hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let x = |i: usize| {
        if versions.len() == 1 {
            W / 2.0
        } else {
            PAD + i as f64 * (W - 2.0 * PAD) / (versions.len() - 1) as f64
        }
    };
    let y = |v: f64| H - PAD - (v - lo) / (hi - lo) * (H - 2.0 * PAD);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\">",
        esc(&title)
    );
    let _ = write!(
        out,
        "<line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#888\"/><text x=\"2\" y=\"{t}\" font-size=\"10\" fill=\"#333\">{}</text><text x=\"2\" y=\"{b}\" font-size=\"10\" fill=\"#333\">{}</text>",
        esc(&short(hi)),
        esc(&short(lo)),
        b = H - PAD,
        r = W - PAD,
        t = PAD,
    );
    // Apple's goal bands (good, fair, poor), within the drawn range.
    for g in &m.goals {
        let from = g.lower_bound.unwrap_or(lo).max(lo);
        let to = g.upper_bound.unwrap_or(hi).min(hi);
        if to <= from {
            continue;
        }
        let color = match g.goal.as_str() {
            "good" => "#0a6b0a",
            "fair" => "#b36b00",
            "poor" => "#a50000",
            _ => "#555",
        };
        let _ = write!(
            out,
            "<rect x=\"{PAD}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" fill-opacity=\"0.1\"><title>goal band {}</title></rect>",
            y(to),
            W - 2.0 * PAD,
            y(from) - y(to),
            esc(&g.goal)
        );
    }
    for d in &series {
        if let Some(g) = d.recommended_goal {
            let _ = write!(
                out,
                "<line x1=\"{PAD}\" y1=\"{gy:.1}\" x2=\"{r}\" y2=\"{gy:.1}\" stroke=\"#0a6b0a\" stroke-dasharray=\"4 3\"><title>recommended goal {} {}</title></line>",
                esc(&short(g)),
                esc(&d.percentile),
                gy = y(g),
                r = W - PAD,
            );
        }
    }
    for d in &series {
        let color = if d.percentile == "p90" {
            "#b33a1a"
        } else {
            "#0b57a4"
        };
        let mut points = String::new();
        for p in &d.points {
            let (Some(v), Some(ver)) = (p.value, p.version.as_deref()) else {
                continue;
            };
            let Some(i) = versions.iter().position(|x| *x == ver) else {
                continue;
            };
            let _ = write!(points, "{:.1},{:.1} ", x(i), y(v));
            if let Some(e) = p.error_margin.filter(|e| *e > 0.0) {
                let _ = write!(
                    out,
                    "<line x1=\"{xi:.1}\" y1=\"{:.1}\" x2=\"{xi:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-opacity=\"0.5\"/>",
                    y(v - e),
                    y(v + e),
                    xi = x(i)
                );
            }
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{} {} {}</title></circle>",
                x(i),
                y(v),
                esc(ver),
                esc(&d.percentile),
                esc(&short(v))
            );
        }
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/><text x=\"{}\" y=\"12\" font-size=\"10\" fill=\"{color}\">{}</text>",
            points.trim_end(),
            if d.percentile == "p90" {
                W - 60.0
            } else {
                W - 110.0
            },
            esc(&d.percentile)
        );
    }
    let last = versions.len() - 1;
    let _ = writeln!(
        out,
        "<line x1=\"{xl:.1}\" y1=\"{PAD}\" x2=\"{xl:.1}\" y2=\"{b}\" stroke=\"#333\" stroke-dasharray=\"2 2\"/><text x=\"{xl:.1}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#333\">{} (latest)</text><text x=\"{PAD}\" y=\"{ty}\" font-size=\"10\" fill=\"#333\">{}</text></svg></figure>",
        esc(versions[last]),
        if last > 0 {
            esc(versions[0])
        } else {
            String::new()
        },
        xl = x(last),
        b = H - PAD,
        ty = H - 8.0,
    );
    out
}

fn unit_or_none(u: &str) -> &str {
    if u.is_empty() { "no unit" } else { u }
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// The signature's logs merged into one flame graph: each log's call
/// stacks folded (`root;…;frame self-samples`, a frame's samples less its
/// sub-frames'), drawn by `inferno` (searchable and zoomable on its own).
/// `None` when the logs hold no frame.
pub fn flamegraph(title: &str, logs: &[&DiagnosticLogs]) -> Option<Vec<u8>> {
    let mut folded: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for l in logs {
        for p in &l.product_data {
            for log in &p.diagnostic_logs {
                for tree in &log.call_stack_tree {
                    for stack in &tree.call_stacks {
                        for root in &stack.call_stack_root_frames {
                            fold(root, &mut folded);
                        }
                    }
                }
            }
        }
    }
    if folded.is_empty() {
        return None;
    }
    let lines: Vec<String> = folded.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = printable(title);
    opts.count_name = "samples".to_string();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut out).ok()?;
    Some(out)
}

/// Control characters (not allowed in XML) as U+FFFD, line breaks as
/// spaces: `inferno` escapes markup but passes these through.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Frames of one path drawn in the flame graph; what is deeper is one box.
const MAX_FLAME_DEPTH: usize = 256;

/// Folds one tree into `out` (path → self samples), iteratively.
fn fold(root: &CallStackNode, out: &mut std::collections::BTreeMap<String, u64>) {
    let name = |n: &CallStackNode| {
        // Symbol and binary, without address and offset (they differ
        // from device to device), so that the logs' frames merge.
        let shown = match (n.symbol_name.as_deref(), n.binary_name.as_deref()) {
            (Some(sym), Some(bin)) => format!("{sym} ({bin})"),
            (Some(sym), None) => sym.to_string(),
            _ => n.display(),
        };
        let mut s = printable(&shown).replace(';', " ");
        if n.is_blame() {
            s.insert_str(0, "▶ ");
        }
        s
    };
    let mut stack: Vec<(&CallStackNode, String, usize)> = vec![(root, name(root), 1)];
    while let Some((node, path, depth)) = stack.pop() {
        let own = node.sample_count.unwrap_or(1).max(0) as u64;
        if depth >= MAX_FLAME_DEPTH && !node.sub_frames.is_empty() {
            // Deeper frames are folded into one: paths would grow with the
            // square of the depth.
            *out.entry(format!("{path};… deeper frames")).or_default() += own.max(1);
            continue;
        }
        let below: u64 = node
            .sub_frames
            .iter()
            .map(|c| c.sample_count.unwrap_or(1).max(0) as u64)
            .sum();
        let selfs = if node.sub_frames.is_empty() {
            own.max(1)
        } else {
            own.saturating_sub(below)
        };
        if selfs > 0 {
            *out.entry(path.clone()).or_default() += selfs;
        }
        for c in &node.sub_frames {
            stack.push((c, format!("{path};{}", name(c)), depth + 1));
        }
    }
}
