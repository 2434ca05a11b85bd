//! Text rendering of diagnostic-log call stacks, shared by the CLI and the
//! OTLP log records: one line per frame with its sample count, blame frames
//! marked, as a tree that indents only where it branches.
//!
//! A call stack is mostly a chain (each frame has one sub-frame: a
//! backtrace), so a frame's only sub-frame is printed under it at the same
//! indentation; frames with several sub-frames get `├─`/`└─` branches. The
//! output is thus linear in the number of frames for real stacks, and the
//! indentation stops growing after [`MAX_INDENT_LEVELS`] nested branches so
//! that even a hostile tree of [`MAX_CALL_STACK_DEPTH`] frames renders in
//! bounded space. The walk is iterative (no recursion on the tree).
//!
//! [`MAX_CALL_STACK_DEPTH`]: super::decode::MAX_CALL_STACK_DEPTH

use std::fmt;

use super::diagnostics::{CallStackNode, CallStackTree};

/// Marker printed before a blame frame.
pub const BLAME: &str = "▶";

/// Nested branch levels that indent; deeper branches keep the indentation
/// of this level.
pub const MAX_INDENT_LEVELS: usize = 32;

/// Call-stack trees as indented trees: one line per frame with its sample
/// count; blame frames start with `▶` and end with `[blame]` (plus Apple's
/// insights category when present).
pub fn call_stack_trees(trees: &[CallStackTree], indent: &str) -> String {
    let mut out = String::new();
    let _ = write_call_stack_trees(&mut out, trees, indent);
    out
}

/// [`call_stack_trees`] into any writer (streamed output).
pub fn write_call_stack_trees<W: fmt::Write + ?Sized>(
    out: &mut W,
    trees: &[CallStackTree],
    indent: &str,
) -> fmt::Result {
    if trees.is_empty() {
        writeln!(out, "{indent}(no call stack)")?;
    }
    for (t, tree) in trees.iter().enumerate() {
        let per_thread = tree
            .call_stack_per_thread
            .map(|b| b.to_string())
            .unwrap_or_else(|| "-".to_string());
        for (s, stack) in tree.call_stacks.iter().enumerate() {
            writeln!(
                out,
                "{indent}call stack {}.{} (callStackPerThread: {per_thread})",
                t + 1,
                s + 1
            )?;
            write_frames(out, &stack.call_stack_root_frames, &format!("{indent}  "))?;
        }
        if tree.call_stacks.is_empty() {
            writeln!(out, "{indent}(empty call stack tree)")?;
        }
    }
    Ok(())
}

/// A frame still to print.
struct Pending<'a> {
    node: &'a CallStackNode,
    /// Printed before the glyph.
    line_prefix: String,
    /// `├─ `, `└─ `, or empty for the only sub-frame of a frame.
    glyph: &'static str,
    /// Prefix of this frame's sub-frames.
    child_prefix: String,
    /// Branch levels in `child_prefix`.
    levels: usize,
}

fn push_branches<'a>(
    stack: &mut Vec<Pending<'a>>,
    children: &'a [CallStackNode],
    prefix: &str,
    levels: usize,
) {
    let n = children.len();
    // Reverse, so that the first child is printed first.
    for (i, child) in children.iter().enumerate().rev() {
        let last = i + 1 == n;
        let mut child_prefix = prefix.to_string();
        if levels < MAX_INDENT_LEVELS {
            child_prefix.push_str(if last { "   " } else { "│  " });
        }
        stack.push(Pending {
            node: child,
            line_prefix: prefix.to_string(),
            glyph: if last { "└─ " } else { "├─ " },
            child_prefix,
            levels: levels + 1,
        });
    }
}

fn write_frames<W: fmt::Write + ?Sized>(
    out: &mut W,
    roots: &[CallStackNode],
    prefix: &str,
) -> fmt::Result {
    let mut stack = Vec::new();
    push_branches(&mut stack, roots, prefix, 0);
    while let Some(p) = stack.pop() {
        write_line(out, p.node, &p.line_prefix, p.glyph)?;
        match p.node.sub_frames.as_slice() {
            [] => {}
            [only] => stack.push(Pending {
                node: only,
                line_prefix: p.child_prefix.clone(),
                glyph: "",
                child_prefix: p.child_prefix,
                levels: p.levels,
            }),
            many => push_branches(&mut stack, many, &p.child_prefix, p.levels),
        }
    }
    Ok(())
}

fn write_line<W: fmt::Write + ?Sized>(
    out: &mut W,
    node: &CallStackNode,
    prefix: &str,
    glyph: &str,
) -> fmt::Result {
    out.write_str(prefix)?;
    out.write_str(glyph)?;
    if node.is_blame() {
        write!(out, "{BLAME} ")?;
    }
    if let Some(c) = node.sample_count {
        write!(out, "({c}) ")?;
    }
    out.write_str(&node.display())?;
    if node.is_blame() {
        match node.insights_category.as_deref() {
            Some(c) if !c.is_empty() => write!(out, "  [blame, {c}]")?,
            _ => out.write_str("  [blame]")?,
        }
    }
    out.write_char('\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::model::CallStack;

    fn tree(roots: Vec<CallStackNode>) -> Vec<CallStackTree> {
        vec![CallStackTree {
            call_stack_per_thread: Some(true),
            call_stacks: vec![CallStack {
                call_stack_root_frames: roots,
            }],
        }]
    }

    #[test]
    fn chains_stay_in_one_column_and_branches_indent() {
        let f = |name: &str, subs| CallStackNode::frame(name, subs);
        let roots = vec![f(
            "a",
            vec![f("b", vec![f("c", vec![f("d", vec![])]), f("e", vec![])])],
        )];
        assert_eq!(
            call_stack_trees(&tree(roots), ""),
            "call stack 1.1 (callStackPerThread: true)\n  └─ a\n     b\n     ├─ c\n     │  d\n     └─ e\n"
        );
    }

    #[test]
    fn deep_chains_render_in_linear_space() {
        let mut node = CallStackNode::frame("leaf", vec![]);
        for i in 0..4096 {
            node = CallStackNode::frame(format!("f{i}"), vec![node]);
        }
        let text = call_stack_trees(&tree(vec![node]), "");
        assert_eq!(text.lines().count(), 4098);
        assert!(
            text.lines().skip(1).all(|l| l.len() < 20),
            "chains do not indent"
        );
        // A caterpillar (every frame branches) stops indenting.
        let mut node = CallStackNode::frame("leaf", vec![]);
        for i in 0..2000 {
            node = CallStackNode::frame(
                format!("f{i}"),
                vec![node, CallStackNode::frame("x", vec![])],
            );
        }
        let text = call_stack_trees(&tree(vec![node]), "");
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= 2 + 3 * (MAX_INDENT_LEVELS + 1) + 10, "{widest}");
    }
}
