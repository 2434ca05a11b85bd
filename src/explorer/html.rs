//! Building blocks of the explorer's pages: escaping (every string that
//! reaches HTML or SVG goes through [`esc`]), times, and the page layout
//! (landmarks, a stylesheet with WCAG AA contrast, no script framework).

use std::fmt::Write as _;

/// HTML/XML text and attribute escaping.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML (SVG): a visible
            // replacement instead.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A URL path segment, percent-encoded (then safe in an attribute too).
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `2026-12-02 16:35:16 UTC`, or `never`.
pub fn when(unix: Option<f64>) -> String {
    unix.and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "never".into())
}

/// `42 s`, `17 min`, `3.2 h`, `2.0 d`.
pub fn age(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} d", s / 86400.0),
    }
}

/// A percentage of a fraction: `0.3712` → `37.1 %`.
pub fn pct(f: f64) -> String {
    format!("{:.1} %", f * 100.0)
}

const CSS: &str = "\
:root{color-scheme:light}\
body{font-family:-apple-system,BlinkMacSystemFont,Segoe UI,Roboto,Helvetica Neue,Arial,Noto Sans,Liberation Sans,sans-serif;margin:0;color:#1a1a1a;background:#fff;line-height:1.4}\
header{background:#b33a1a;color:#fff;padding:.6rem 1rem}header a{color:#fff}\
nav a{margin-right:1rem}\
main{padding:1rem;max-width:90rem}\
h1{font-size:1.4rem;margin:.4rem 0}h2{font-size:1.15rem;margin-top:1.6rem}\
table{border-collapse:collapse;margin:.4rem 0}td,th{padding:.25em .7em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f3f3f3}\
a{color:#0b57a4}a:focus,summary:focus,button:focus{outline:3px solid #f0b400;outline-offset:1px}\
.bad{color:#a50000;font-weight:600}.ok{color:#0a6b0a}.muted{color:#555}\
.high{background:#a50000;color:#fff;padding:0 .3em;border-radius:3px}\
code,.frame{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}\
.tree details{margin-left:1.1rem}.tree summary{cursor:pointer}\
.blame>summary,.blame.leaf{background:#fff1c2;font-weight:600}\
.leaf{margin-left:2.2rem}\
.count{color:#555;margin-right:.4em}\
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #ddd;padding:.4rem;margin:0}\
.chart figcaption{font-size:.9em}";

/// A whole page: `title` (text, escaped here) and `body` (HTML).
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{} · asc-perf-exporter</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <header><nav aria-label=\"Explorer\"><a href=\"/\">asc-perf-exporter</a>\
         <a href=\"/diagnostics\">Diagnostics</a><a href=\"/metrics\">Metrics</a></nav></header>\n\
         <main>\n{body}\n</main>\n</body>\n</html>\n",
        esc(title)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{0}b"), "a\u{fffd}b");
        assert_eq!(seg("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(age(30.0), "30 s");
        assert_eq!(age(7200.0), "2.0 h");
    }
}
