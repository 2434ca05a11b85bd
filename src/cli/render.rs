//! Text rendering shared by the commands: aligned tables, numbers with
//! units, call-stack trees, and JSON output.
//!
//! The table formatter is hand-rolled (~60 lines) rather than taken from
//! `comfy-table`/`tabled`: the CLI only needs left/right-aligned columns
//! separated by two spaces, plain ASCII headers and no borders, and output
//! that stays stable for tests and `grep`. A dependency would add build time
//! on small machines and styling we would have to switch off.

use std::fmt::Write as _;

use serde::Serialize;

use crate::asc::model::DiagnosticMetaData;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A borderless table: a header row, then rows, columns padded to the
/// widest cell (counted in characters, so `▶` and `…` align too).
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with the given headers, all columns left-aligned.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let align = vec![Align::Left; headers.len()];
        Self {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    /// Right-aligns the given columns (numbers).
    pub fn right(mut self, columns: &[usize]) -> Self {
        for &c in columns {
            if let Some(a) = self.align.get_mut(c) {
                *a = Align::Right;
            }
        }
        self
    }

    /// Appends a row; missing cells are blank, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in `\n`.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let last = i + 1 == n;
                match self.align[i] {
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                    Align::Left => {
                        line.push_str(cell);
                        if !last {
                            line.push_str(&" ".repeat(pad));
                        }
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A number as a person reads it: the shortest exact form (`768.7`, `750`),
/// rounded to 3 decimals when longer.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = v.to_string();
    match s.split_once('.') {
        Some((_, frac)) if frac.len() > 3 => {
            let r = format!("{v:.3}");
            r.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => s,
    }
}

/// A value with its unit display name: `768.7 ms`, `6.5%`.
pub fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "" => num(v),
        "%" => format!("{}%", num(v)),
        u => format!("{} {u}", num(v)),
    }
}

/// An optional value with unit, `-` when absent.
pub fn opt_unit(v: Option<f64>, unit: &str) -> String {
    v.map(|v| with_unit(v, unit))
        .unwrap_or_else(|| "-".to_string())
}

/// A signed percentage: `+10%`, `-3.5%`.
pub fn delta(p: f64) -> String {
    if p > 0.0 {
        format!("+{}%", num(p))
    } else {
        format!("{}%", num(p))
    }
}

/// An optional string, `-` when absent or empty.
pub fn dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}

/// Pretty JSON of any serializable value, with a trailing newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// The metadata lines of one diagnostic log, `key: value`, indented.
pub fn metadata(m: &DiagnosticMetaData, indent: &str) -> String {
    let fields = [
        ("bundleId", &m.bundle_id),
        ("deviceType", &m.device_type),
        ("osVersion", &m.os_version),
        ("appVersion", &m.app_version),
        ("buildVersion", &m.build_version),
        ("platformArchitecture", &m.platform_architecture),
        ("event", &m.event),
        ("eventDetail", &m.event_detail),
        ("writesCaused", &m.writes_caused),
    ];
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in fields {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            let _ = writeln!(out, "{indent}{k:<width$}  {v}");
        }
    }
    out
}

pub use crate::asc::model::callstack::{BLAME, call_stack_trees};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asc::model::{CallStackNode, CallStackTree};

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["A", "VALUE"]).right(&[1]);
        t.row(["x", "1"]);
        t.row(["long", "768.7 ms"]);
        assert_eq!(
            t.render(),
            "A        VALUE\nx            1\nlong  768.7 ms\n"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(768.7), "768.7");
        assert_eq!(num(750.0), "750");
        assert_eq!(num(0.123456), "0.123");
        assert_eq!(with_unit(6.5, "%"), "6.5%");
        assert_eq!(with_unit(2014.3, "ms"), "2014.3 ms");
        assert_eq!(delta(10.0), "+10%");
    }

    #[test]
    fn blame_frames_are_marked() {
        let leaf = CallStackNode {
            symbol_name: Some("-[DB exec]".into()),
            binary_name: Some("App".into()),
            is_blame_frame: Some(true),
            sample_count: Some(3),
            ..Default::default()
        };
        let root = CallStackNode {
            raw_frame: Some("libsystem: pwrite".into()),
            sub_frames: vec![leaf],
            ..Default::default()
        };
        let trees = vec![CallStackTree {
            call_stack_per_thread: Some(true),
            call_stacks: vec![crate::asc::model::CallStack {
                call_stack_root_frames: vec![root],
            }],
        }];
        let s = call_stack_trees(&trees, "");
        assert!(s.contains("└─ libsystem: pwrite"), "{s}");
        assert!(s.contains("   └─ ▶ (3) App: -[DB exec]  [blame]"), "{s}");
    }
}
