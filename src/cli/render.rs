//! Text rendering shared by the commands: aligned tables, numbers with
//! units, call-stack trees, JSON output, and the escaping of terminal
//! control characters that every command's output goes through.
//!
//! The table formatter is hand-rolled (~60 lines) rather than taken from
//! `comfy-table`/`tabled`: the CLI only needs left/right-aligned columns
//! separated by two spaces, plain ASCII headers and no borders, and output
//! that stays stable for tests and `grep`. A dependency would add build time
//! on small machines and styling we would have to switch off.

use std::fmt::{self, Write as _};

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
        let mut widths = self.header_widths();
        for row in &self.rows {
            widen(&mut widths, row);
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let _ = self.write_line(&mut out, &widths, row);
        }
        out
    }

    /// Writes this table's headers and the rows `rows()` yields (called
    /// twice: once to size the columns, once to print), so no row is held
    /// in memory: for tables of big documents. Rows added with
    /// [`Table::row`] are not printed.
    pub fn write_streamed<W, I>(&self, out: &mut W, rows: impl Fn() -> I) -> fmt::Result
    where
        W: fmt::Write + ?Sized,
        I: Iterator<Item = Vec<String>>,
    {
        let mut widths = self.header_widths();
        for row in rows() {
            widen(&mut widths, &row);
        }
        self.write_line(out, &widths, &self.headers)?;
        for row in rows() {
            self.write_line(out, &widths, &row)?;
        }
        Ok(())
    }

    fn header_widths(&self) -> Vec<usize> {
        self.headers.iter().map(|h| h.chars().count()).collect()
    }

    fn write_line<W: fmt::Write + ?Sized>(
        &self,
        out: &mut W,
        widths: &[usize],
        row: &[String],
    ) -> fmt::Result {
        let n = self.headers.len();
        let mut line = String::new();
        for (i, cell) in row.iter().take(n).enumerate() {
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
        out.write_str(line.trim_end())?;
        out.write_char('\n')
    }
}

fn widen(widths: &mut [usize], row: &[String]) {
    for (w, c) in widths.iter_mut().zip(row) {
        *w = (*w).max(c.chars().count());
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

/// Pretty JSON of any serializable value, with a trailing newline, with
/// terminal controls escaped (see [`write_json`]).
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    let mut out = Vec::new();
    write_json(&mut out, value)?;
    Ok(String::from_utf8(out)?)
}

// ---------------------------------------------------------------------------
// Hostile text: what a file or an API response may contain must not drive
// the terminal (cursor moves, screen clears, title changes, reordered text).

/// Whether `c` must not reach a terminal as it is: C0 controls except `\n`
/// and `\t`, DEL, C1 controls (U+0080..U+009F; U+009B is a one-byte CSI)
/// and the bidi overrides and isolates (U+202A..U+202E, U+2066..U+2069).
pub fn is_terminal_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}'
        | '\u{b}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// Writes `text` with every [`is_terminal_control`] character shown
/// visibly: `\x1b` for C0 and DEL, `\u{9b}` / `\u{202e}` for the rest.
pub fn write_escaped<W: fmt::Write + ?Sized>(out: &mut W, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some(i) = rest.find(is_terminal_control) {
        out.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().unwrap_or_default();
        if (c as u32) < 0x80 {
            write!(out, "\\x{:02x}", c as u32)?;
        } else {
            write!(out, "\\u{{{:x}}}", c as u32)?;
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `text` as [`write_escaped`] writes it (borrowed when nothing changes).
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(is_terminal_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let _ = write_escaped(&mut out, text);
    std::borrow::Cow::Owned(out)
}

/// A text sink for command output: escapes terminal controls and writes
/// to an `io::Write` (stdout, buffered). After the first write error it
/// refuses further text (`fmt::Error`, so renderers stop early) and
/// [`TextOut::finish`] returns that error.
pub struct TextOut<W: std::io::Write> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> TextOut<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, error: None }
    }

    /// Flushes; the first write error if there was one.
    pub fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> fmt::Write for TextOut<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.error.is_some() {
            return Err(fmt::Error);
        }
        struct Io<'a, W: std::io::Write>(&'a mut W, Option<std::io::Error>);
        impl<W: std::io::Write> fmt::Write for Io<'_, W> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.write_all(s.as_bytes()).map_err(|e| {
                    self.1 = Some(e);
                    fmt::Error
                })
            }
        }
        let mut io = Io(&mut self.inner, None);
        let r = write_escaped(&mut io, s);
        if let Some(e) = io.1 {
            self.error = Some(e);
        }
        r
    }
}

/// serde_json's pretty formatter that also writes DEL, C1 controls and the
/// bidi controls as `\uXXXX` escapes (serde_json escapes C0 itself), so
/// JSON output means the same and cannot drive a terminal. Hand-written
/// because serde_json offers no such option; it only overrides how string
/// fragments are written and delegates layout to `PrettyFormatter`.
pub struct SafeJsonFormatter(serde_json::ser::PrettyFormatter<'static>);

impl Default for SafeJsonFormatter {
    fn default() -> Self {
        Self(serde_json::ser::PrettyFormatter::new())
    }
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
            self.0.$name(w $(, $arg)*)
        }
    )*};
}

impl serde_json::ser::Formatter for SafeJsonFormatter {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(is_terminal_control) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
}

/// Writes `value` as pretty JSON plus a newline, escaping terminal controls
/// ([`SafeJsonFormatter`]); streams, so big documents are not held twice.
pub fn write_json<W: std::io::Write, T: Serialize + ?Sized>(
    w: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, SafeJsonFormatter::default());
    value.serialize(&mut ser)?;
    std::io::Write::write_all(&mut ser.into_inner(), b"\n").map_err(serde_json::Error::io)
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

pub use crate::asc::model::callstack::{BLAME, call_stack_trees, write_call_stack_trees};

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
        let rows = || {
            [["x", "1"], ["long", "768.7 ms"]]
                .into_iter()
                .map(|r| r.map(String::from).to_vec())
        };
        let mut streamed = String::new();
        Table::new(["A", "VALUE"])
            .right(&[1])
            .write_streamed(&mut streamed, rows)
            .unwrap();
        assert_eq!(streamed, t.render());
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
    fn terminal_controls_are_escaped_visibly() {
        let hostile = "a\u{1b}[2Jb\u{1b}]0;pwned\u{7}c\u{9b}d\u{202e}e\u{7f}\r\tok\n";
        assert_eq!(
            escape_text(hostile),
            "a\\x1b[2Jb\\x1b]0;pwned\\x07c\\u{9b}d\\u{202e}e\\x7f\\x0d\tok\n"
        );
        assert!(matches!(
            escape_text("plain ▶ …"),
            std::borrow::Cow::Borrowed(_)
        ));
        let json = json(&serde_json::json!({"k\u{202e}": hostile})).unwrap();
        assert!(!json.contains(is_terminal_control), "{json}");
        assert!(json.contains("\\u202e") && json.contains("\\u009b") && json.contains("\\u007f"));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["k\u{202e}"], hostile, "the JSON means the same");
    }

    #[test]
    fn blame_frames_are_marked() {
        let mut leaf = CallStackNode::default();
        leaf.symbol_name = Some("-[DB exec]".into());
        leaf.binary_name = Some("App".into());
        leaf.is_blame_frame = Some(true);
        leaf.sample_count = Some(3);
        let root = CallStackNode::frame("libsystem: pwrite", vec![leaf]);
        let trees = vec![CallStackTree {
            call_stack_per_thread: Some(true),
            call_stacks: vec![crate::asc::model::CallStack {
                call_stack_root_frames: vec![root],
            }],
        }];
        let s = call_stack_trees(&trees, "");
        assert!(
            s.contains("  └─ libsystem: pwrite\n     ▶ (3) App: -[DB exec]  [blame]\n"),
            "{s}"
        );
    }
}
