//! Text rendering of diagnostic-log call stacks, shared by the CLI and the
//! OTLP log records: an indented tree, one line per frame with its sample
//! count, blame frames marked.

use std::fmt::Write as _;

use super::diagnostics::{CallStackNode, CallStackTree};

/// Marker printed before a blame frame.
pub const BLAME: &str = "▶";

/// Call-stack trees as indented trees: one line per frame with its sample
/// count; blame frames start with `▶` and end with `[blame]` (plus Apple's
/// insights category when present).
pub fn call_stack_trees(trees: &[CallStackTree], indent: &str) -> String {
    let mut out = String::new();
    if trees.is_empty() {
        let _ = writeln!(out, "{indent}(no call stack)");
    }
    for (t, tree) in trees.iter().enumerate() {
        let per_thread = tree
            .call_stack_per_thread
            .map(|b| b.to_string())
            .unwrap_or_else(|| "-".to_string());
        for (s, stack) in tree.call_stacks.iter().enumerate() {
            let _ = writeln!(
                out,
                "{indent}call stack {}.{} (callStackPerThread: {per_thread})",
                t + 1,
                s + 1
            );
            let n = stack.call_stack_root_frames.len();
            for (i, frame) in stack.call_stack_root_frames.iter().enumerate() {
                frame_lines(&mut out, frame, &format!("{indent}  "), i + 1 == n);
            }
        }
        if tree.call_stacks.is_empty() {
            let _ = writeln!(out, "{indent}(empty call stack tree)");
        }
    }
    out
}

fn frame_lines(out: &mut String, node: &CallStackNode, prefix: &str, last: bool) {
    // Iterative-friendly depth guard: real trees are shallow, but a
    // pathological file must not overflow the stack.
    frame_lines_depth(out, node, prefix, last, 0);
}

const MAX_DEPTH: usize = 512;

fn frame_lines_depth(
    out: &mut String,
    node: &CallStackNode,
    prefix: &str,
    last: bool,
    depth: usize,
) {
    let branch = if last { "└─ " } else { "├─ " };
    let samples = node
        .sample_count
        .map(|c| format!("({c}) "))
        .unwrap_or_default();
    let (mark, tag) = if node.is_blame() {
        let tag = match node.insights_category.as_deref() {
            Some(c) if !c.is_empty() => format!("  [blame, {c}]"),
            _ => "  [blame]".to_string(),
        };
        (format!("{BLAME} "), tag)
    } else {
        (String::new(), String::new())
    };
    let _ = writeln!(
        out,
        "{prefix}{branch}{mark}{samples}{}{tag}",
        node.display()
    );
    if depth >= MAX_DEPTH {
        if !node.sub_frames.is_empty() {
            let _ = writeln!(out, "{prefix}   … (deeper frames omitted)");
        }
        return;
    }
    let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    let n = node.sub_frames.len();
    for (i, child) in node.sub_frames.iter().enumerate() {
        frame_lines_depth(out, child, &child_prefix, i + 1 == n, depth + 1);
    }
}
